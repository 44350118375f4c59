"""The local lab as a provider: machines on this host, made by ``terraform/local``.

What the lab adds to a plain Terraform target: its spec is checked before anything
is made (names, counts, releases, a subnet free on this host, the same shape as a
lab that already exists), the run's SSH key and the machine images exist before
the apply, and its teardown removes by name whatever Terraform did not know about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, UserInputError
from harness.lab import images, lab, network, purge
from harness.lab.naming import MAX_NODES, validate_lab_name
from harness.provision.terraform_target import READY_TIMEOUT_S, TerraformTarget
from harness.rundir import RunDir, RunInfo

log = logging.getLogger(__name__)

# Software-emulated VMs boot systemd, the kernel's modules and dockerd slowly.
VM_READY_TIMEOUT_S = 900.0
# UML machines boot in ~15 s alone; three together with dockerd load two cores for minutes.
UML_READY_TIMEOUT_S = 420.0
_READY_TIMEOUT_BY_KIND_S = {"vm": VM_READY_TIMEOUT_S, "uml": UML_READY_TIMEOUT_S}


@dataclass
class LocalSpec:
    lab: str = "lab"
    nodes: int = 3
    managers: int = 1
    release: str = "bookworm"
    node_releases: dict[str, str] = field(default_factory=dict)
    subnet: str = "198.18.0.0/24"
    kind: str = "nspawn"
    kind_reason: str = ""  # why this kind, when --kind auto chose it

    def validate(self) -> None:
        validate_lab_name(self.lab)
        if not 1 <= self.nodes <= MAX_NODES:
            raise UserInputError(
                f"node count {self.nodes} is outside 1..{MAX_NODES}", "pass --nodes between 1 and 16"
            )
        if not 1 <= self.managers <= self.nodes:
            raise UserInputError(
                f"manager count {self.managers} must be between 1 and the node count {self.nodes}",
                "pass --managers (an odd number such as 1 or 3)",
            )
        images.machine_recipe(self.release, self.kind)
        for node, rel in self.node_releases.items():
            index = node[4:] if node.startswith("node") else ""
            if not index.isdigit() or not 1 <= int(index) <= self.nodes:
                raise UserInputError(
                    f"--node-release names {node!r}, which is not a node of this lab",
                    f"use node1..node{self.nodes}",
                )
            images.machine_recipe(rel, self.kind)
        net = network.parse_subnet(self.subnet)
        if net.num_addresses < 11 + self.nodes + 1:
            raise UserInputError(f"subnet {self.subnet} is too small for {self.nodes} nodes", "use a /24")

    def releases(self) -> set[str]:
        return {self.release, *self.node_releases.values()}

    def variables(self, run_dir: Path, harness_command: str) -> dict[str, object]:
        return {
            "lab_name": self.lab,
            "node_count": self.nodes,
            "manager_count": self.managers,
            "image_release": self.release,
            "node_releases": self.node_releases,
            "subnet": self.subnet,
            "machine_kind": self.kind,
            "run_dir": str(run_dir.resolve()),
            "harness_command": harness_command,
        }


class LocalLab(TerraformTarget):
    """``terraform/local``: lab machines (nspawn, VM or UML) behind a bridge on this host."""

    hosts_word = "machines"

    def __init__(self, spec: LocalSpec, harness_command: str = "") -> None:
        super().__init__("local")
        self.spec = spec
        self.harness_command = harness_command
        self.run_id_prefix = spec.lab
        self.ready_timeout_s = _READY_TIMEOUT_BY_KIND_S.get(spec.kind, READY_TIMEOUT_S)

    def check(self, run_dir: RunDir, info: RunInfo | None) -> None:
        self.spec.validate()
        lab.preflight(self.spec.kind)
        self.runner(run_dir)  # fails early when terraform is missing
        _check_lab_free(self.spec, run_dir.path, info)
        if info is not None and info.variables and info.variables.get("lab_name") != self.spec.lab:
            raise UserInputError(
                f"{run_dir} belongs to lab {info.variables.get('lab_name')!r}, not {self.spec.lab!r}",
                "use another --run-dir",
            )

    def variables(self, run_dir: RunDir, info: RunInfo) -> dict[str, Any]:
        return self.spec.variables(run_dir.path, self.harness_command)

    def notes(self) -> dict[str, str]:
        return {"machine_kind": f"{self.spec.kind}: {self.spec.kind_reason}"} if self.spec.kind_reason else {}

    def up(self, run_dir: RunDir, variables: dict[str, Any]) -> None:
        run_dir.ensure_ssh_key()
        if self.spec.kind_reason:
            log.info("machine kind: %s (%s)", self.spec.kind, self.spec.kind_reason)
        for release in sorted(self.spec.releases()):
            recipe = images.machine_recipe(release, self.spec.kind)
            if not images.is_cached(recipe):
                log.info("image for %s is not cached yet: building it once", release)
            images.ensure_image(recipe)
        log.info("creating lab %s: %d machines on %s", self.spec.lab, self.spec.nodes, self.spec.subnet)
        super().up(run_dir, variables)

    def down(self, run_dir: RunDir) -> None:
        """Terraform's destroy, then whatever it did not know about (an interrupted create)
        by the lab's name prefix: a lab's teardown does not depend on its state file."""
        try:
            self.runner(run_dir).destroy()
        except (HarnessError, KeyboardInterrupt) as exc:
            log.warning("terraform destroy failed (%s); purging lab %s by name", exc, self.spec.lab)
        removed = purge.purge(self.spec.lab)
        if removed:
            log.info("purged %d leftover lab objects", len(removed))


def _check_lab_free(spec: LocalSpec, run_dir: Path, info: RunInfo | None) -> None:
    existing = lab.read_lab(spec.lab)
    if existing is not None and existing["run_dir"] != str(run_dir.resolve()):
        raise UserInputError(
            f"lab {spec.lab!r} already exists (run directory {existing['run_dir']})",
            f"run 'swarm-harness down --run-dir {existing['run_dir']}' or choose another --lab",
        )
    _check_same_shape(spec, run_dir, info)
    network.check_no_overlap(network.parse_subnet(spec.subnet), f"shb-{spec.lab}")


# The spec's variables that fix a lab's shape, with the option that sets each.
_SHAPE_OPTIONS = {
    "subnet": "--subnet",
    "node_count": "--nodes",
    "manager_count": "--managers",
    "image_release": "--release",
    "node_releases": "--node-release",
    "machine_kind": "--kind",
}


def _check_same_shape(spec: LocalSpec, run_dir: Path, info: RunInfo | None) -> None:
    """Re-running ``up`` on a lab that exists is a no-op only with the same shape.

    Terraform would apply a new shape piecemeal (a new subnet on new machines behind the
    old bridge, a smaller node count destroying machines with their Docker state), so a
    different shape is refused before anything changes, naming what differs.
    """
    existing = lab.read_lab(spec.lab)
    if existing is None:
        return
    old: dict[str, object] = dict(info.variables) if info is not None else {}
    old.setdefault("subnet", existing.get("subnet"))
    new = spec.variables(run_dir, "")
    differs = [
        f"{option} {_shown(old[key])} -> {_shown(new[key])}"
        for key, option in _SHAPE_OPTIONS.items()
        if key in old
        and old[key] != new[key]
        and not (key == "node_releases" and not old[key] and not new[key])
    ]
    if differs:
        raise UserInputError(
            f"lab {spec.lab!r} exists with another shape ({'; '.join(differs)}); nothing was changed",
            f"run 'swarm-harness down --run-dir {run_dir}' first, then 'up' with the new options",
        )


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    return str(value)
