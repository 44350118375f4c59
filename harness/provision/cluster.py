"""Bring a cluster of hosts up and down through Terraform, in a run directory.

``up`` either finishes with every host answering SSH with dockerd active, or
tears down whatever it created: a failed or interrupted ``up`` leaves nothing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, UserInputError
from harness.inventory import Inventory, parse_inventory
from harness.lab import images, lab, network, purge
from harness.lab.naming import MAX_NODES, validate_lab_name
from harness.provision.terraform import TerraformRunner
from harness.rundir import RunInfo, ensure_ssh_key, new_run_id, read_info, write_info
from harness.transport.ssh import SSHHost, run_parallel

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0
# Software-emulated VMs boot systemd, the kernel's modules and dockerd slowly.
VM_READY_TIMEOUT_S = 900.0
# UML machines boot in ~15 s alone; three together with dockerd load two cores for minutes.
UML_READY_TIMEOUT_S = 420.0
READY_PROBE = "systemctl is-active --quiet docker && docker info --format '{{.ServerVersion}}'"


@dataclass
class LocalSpec:
    lab: str = "lab"
    nodes: int = 3
    managers: int = 1
    release: str = "bookworm"
    node_releases: dict[str, str] = field(default_factory=dict)
    subnet: str = "198.18.0.0/24"
    kind: str = "nspawn"

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


@contextlib.contextmanager
def _logged_to(path: Path) -> Iterator[None]:
    """The run directory keeps a full log of its own provisioning, for as long as it lasts."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


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
        if key in old and old[key] != new[key] and not (key == "node_releases" and not old[key] and not new[key])
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


def wait_ready(inventory: Inventory, timeout_s: float = READY_TIMEOUT_S) -> dict[str, str]:
    """Wait until every host answers SSH with dockerd active; return engine versions."""
    hosts = [SSHHost.for_node(inventory, n) for n in inventory.nodes]
    results = run_parallel(hosts, lambda h: h.wait_ready(timeout_s, READY_PROBE))
    versions: dict[str, str] = {}
    for name, res in results.items():
        if isinstance(res, BaseException):
            for h in hosts:
                h.close()
            raise res
        versions[name] = res.stdout.strip()
    for h in hosts:
        h.close()
    return versions


def up_local(
    spec: LocalSpec, run_dir: Path, harness_command: str, ready_timeout_s: float | None = None
) -> Inventory:
    spec.validate()
    lab.preflight(spec.kind)
    if ready_timeout_s is None:
        by_kind = {"vm": VM_READY_TIMEOUT_S, "uml": UML_READY_TIMEOUT_S}
        ready_timeout_s = by_kind.get(spec.kind, READY_TIMEOUT_S)
    TerraformRunner("local", run_dir)  # fails early when terraform is missing
    info = read_info(run_dir)
    _check_lab_free(spec, run_dir, info)
    created_dir = not run_dir.exists()
    if info is not None and info.variables and info.variables.get("lab_name") != spec.lab:
        raise UserInputError(
            f"{run_dir} belongs to lab {info.variables.get('lab_name')!r}, not {spec.lab!r}",
            "use another --run-dir",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with _logged_to(run_dir / "up.log"):
        if info is None:
            info = RunInfo(
                run_id=new_run_id(spec.lab),
                target="local",
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
        variables = spec.variables(run_dir, harness_command)
        info.variables = variables
        info.status = "provisioning"
        write_info(run_dir, info)
        runner = TerraformRunner("local", run_dir)
        try:
            ensure_ssh_key(run_dir)
            for release in sorted(spec.releases()):
                recipe = images.machine_recipe(release, spec.kind)
                if not images.is_cached(recipe):
                    log.info("image for %s is not cached yet: building it once", release)
                images.ensure_image(recipe)
            log.info("creating lab %s: %d machines on %s", spec.lab, spec.nodes, spec.subnet)
            runner.prepare(variables)
            outputs = runner.apply()
            inventory = parse_inventory(outputs, f"{run_dir}/tf (terraform output)", run_dir)
            log.info("waiting for SSH and dockerd on %d machines", len(inventory.nodes))
            versions = wait_ready(inventory, ready_timeout_s)
            for name, version in sorted(versions.items()):
                log.info("  %s: Docker Engine %s", name, version)
        except (HarnessError, KeyboardInterrupt, Exception) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            log.error("up %s; tearing down what it created", why)
            _teardown(runner, spec.lab)
            _after_up(run_dir, info, created_dir, None, why)
            raise
        _after_up(run_dir, info, created_dir, inventory)
        return inventory


def _after_up(
    run_dir: Path, info: RunInfo, created_dir: bool, inventory: Inventory | None, why: str = "failed"
) -> None:
    """Record how ``up`` ended: a failed run's new directory goes, an old one is marked
    failed or interrupted, so no record claims a provisioning that no longer happens."""
    if inventory is not None:
        inventory.write(run_dir / "inventory.json")
        info.status = "up"
    elif created_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    else:
        info.status = why
    write_info(run_dir, info)


def _teardown(runner: TerraformRunner, lab_name: str) -> None:
    try:
        runner.destroy()
    except (HarnessError, KeyboardInterrupt) as exc:
        log.warning("terraform destroy failed (%s); purging lab %s by name", exc, lab_name)
    # Whatever Terraform did not know about (an interrupted create) goes by its prefix.
    removed = purge.purge(lab_name)
    if removed:
        log.info("purged %d leftover lab objects", len(removed))


def down(run_dir: Path) -> None:
    info = read_info(run_dir)
    if info is None:
        raise UserInputError(
            f"{run_dir} is not a run directory (no run.json)",
            "pass the --run-dir printed by 'swarm-harness up'; 'swarm-harness purge --lab NAME' "
            "removes one lab's leftovers without a run directory",
        )
    runner = TerraformRunner(info.target, run_dir)
    lab_name = str(info.variables.get("lab_name", ""))
    if info.target == "local" and lab_name:
        _teardown(runner, lab_name)
    else:
        runner.destroy()
    info.status = "down"
    write_info(run_dir, info)
    (run_dir / "inventory.json").unlink(missing_ok=True)


def parse_vars(pairs: list[str]) -> dict[str, object]:
    """``-var NAME=VALUE`` pairs; VALUE is JSON when it parses as JSON, else a string."""
    import json

    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserInputError(f"-var {pair!r} is not NAME=VALUE", "e.g. -var owner=alice")
        name, value = pair.split("=", 1)
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def up_terraform(
    target: str, run_dir: Path, user_vars: dict[str, object], ready_timeout_s: float = READY_TIMEOUT_S
) -> Inventory:
    """Provision a non-local target (a cloud module) with the user's variables.

    The harness adds ``run_id`` and ``run_dir``; everything else comes from
    ``-var`` options or ``TF_VAR_*`` in the environment. A failed apply is
    always followed by a destroy, so nothing billable is left behind.
    """
    runner = TerraformRunner(target, run_dir)
    created_dir = not run_dir.exists()
    info = read_info(run_dir)
    if info is not None and info.target != target:
        raise UserInputError(f"{run_dir} holds a {info.target} run, not {target}", "use another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    with _logged_to(run_dir / "up.log"):
        if info is None:
            info = RunInfo(
                run_id=new_run_id(target),
                target=target,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
        variables = {**user_vars, "run_id": info.run_id, "run_dir": str(run_dir.resolve())}
        info.variables = variables
        info.status = "provisioning"
        write_info(run_dir, info)
        try:
            runner.prepare(variables)
            outputs = runner.apply()
            inventory = parse_inventory(outputs, f"{run_dir}/tf (terraform output)", run_dir)
            log.info("waiting for SSH and dockerd on %d hosts", len(inventory.nodes))
            wait_ready(inventory, ready_timeout_s)
        except (HarnessError, KeyboardInterrupt, Exception) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            log.error("up %s; destroying what it created", why)
            try:
                runner.destroy()
            except HarnessError as exc:
                log.error(
                    "destroy failed too: %s; run 'swarm-harness down --run-dir %s'", exc.one_line(), run_dir
                )
                info.status = "failed"
                write_info(run_dir, info)
                raise
            _after_up(run_dir, info, created_dir, None, why)
            raise
        _after_up(run_dir, info, created_dir, inventory)
        return inventory


def list_runs(root: Path) -> list[tuple[Path, RunInfo, float]]:
    """Run directories under ``root`` with their age in seconds, oldest first."""
    import calendar

    out = []
    for run_json in sorted(root.glob("*/run.json")):
        info = read_info(run_json.parent)
        if info is None:
            continue
        created = calendar.timegm(time.strptime(info.created_at, "%Y-%m-%dT%H:%M:%SZ"))
        out.append((run_json.parent, info, time.time() - created))
    return sorted(out, key=lambda r: -r[2])


def parse_duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise UserInputError(f"duration {text!r} is not like 30m, 6h or 2d", "use a number and s, m, h or d")
    return float(text[:-1]) * units[text[-1]]
