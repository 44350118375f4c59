"""Bring a cluster of hosts up and down in a run directory, whatever provides them.

A ``Provider`` knows one kind of target (the local lab, a cloud module); the
sequence around it is the same for all: check before anything exists, record the
run as provisioning, create, read the inventory, wait until every host answers SSH
with dockerd active. ``up`` either finishes there or tears down whatever it
created: a failed or interrupted ``up`` leaves nothing, and no run record that
still claims a provisioning.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError, UserInputError
from harness.inventory import Inventory
from harness.provision.local_lab import LocalLab, LocalSpec
from harness.provision.terraform_target import TerraformTarget
from harness.rundir import RunDir, RunInfo, new_run_id
from harness.transport.ssh import SSHHost, run_parallel

log = logging.getLogger(__name__)

READY_PROBE = "systemctl is-active --quiet docker && docker info --format '{{.ServerVersion}}'"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Provider(Protocol):
    """Where a run's hosts come from. Implementations: ``LocalLab``, ``TerraformTarget``."""

    target: str  # the run record's target: "local" or a module under terraform/
    run_id_prefix: str
    ready_timeout_s: float  # how long its hosts may take to answer once created
    hosts_word: str  # "machines", "hosts": how the log names them

    def check(self, run_dir: RunDir, info: RunInfo | None) -> None:
        """Refuse, before anything is created, what cannot work (tools, names, conflicts)."""

    def variables(self, run_dir: RunDir, info: RunInfo) -> dict[str, Any]:
        """What the run record keeps of how its hosts were asked for."""

    def notes(self) -> dict[str, str]:
        """Choices made for this run, each with why, for the run record and the report."""

    def up(self, run_dir: RunDir, variables: dict[str, Any]) -> None:
        """Create the hosts; on failure, what was created is for ``down`` to remove."""

    def inventory(self, run_dir: RunDir) -> Inventory:
        """The hosts just created."""

    def down(self, run_dir: RunDir) -> None:
        """Remove whatever ``up`` created; raises HarnessError when something may be left."""


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


def wait_ready(inventory: Inventory, timeout_s: float) -> dict[str, str]:
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


def up(provider: Provider, run_dir: Path, ready_timeout_s: float | None = None) -> Inventory:
    """Provision ``run_dir`` with ``provider``: every host ready, or nothing left behind."""
    rd = RunDir(run_dir)
    info = rd.read_info()
    provider.check(rd, info)
    created_dir = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    with _logged_to(rd.up_log):
        if info is None:
            info = RunInfo(
                run_id=new_run_id(provider.run_id_prefix),
                target=provider.target,
                created_at=time.strftime(_TIME_FORMAT, time.gmtime()),
            )
        info.variables = provider.variables(rd, info)
        info.notes = provider.notes()
        info.status = "provisioning"
        rd.write_info(info)
        try:
            provider.up(rd, info.variables)
            inventory = provider.inventory(rd)
            log.info("waiting for SSH and dockerd on %d %s", len(inventory.nodes), provider.hosts_word)
            versions = wait_ready(inventory, ready_timeout_s or provider.ready_timeout_s)
            for name, version in sorted(versions.items()):
                log.info("  %s: Docker Engine %s", name, version)
        # Any failure, a bug included, and a signal (interrupts.Interrupted is a
        # KeyboardInterrupt) take the teardown path; SystemExit is not ours to catch.
        except (Exception, KeyboardInterrupt) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            log.error("up %s; tearing down what it created", why)
            try:
                provider.down(rd)
            except HarnessError as down_exc:
                log.error(
                    "teardown failed too: %s; run 'swarm-harness down --run-dir %s'",
                    down_exc.one_line(),
                    run_dir,
                )
                info.status = "failed"
                rd.write_info(info)
                raise
            _after_up(rd, info, created_dir, None, why)
            raise
        _after_up(rd, info, created_dir, inventory)
        return inventory


def _after_up(
    rd: RunDir, info: RunInfo, created_dir: bool, inventory: Inventory | None, why: str = "failed"
) -> None:
    """Record how ``up`` ended: a failed run's new directory goes, an old one is marked
    failed or interrupted, so no record claims a provisioning that no longer happens."""
    if inventory is not None:
        inventory.write(rd.inventory)
        info.status = "up"
    elif created_dir:
        shutil.rmtree(rd.path, ignore_errors=True)
        return
    else:
        info.status = why
    rd.write_info(info)


def provider_of(info: RunInfo) -> Provider:
    """The provider that made a recorded run, enough of it to tear the run down."""
    lab_name = str(info.variables.get("lab_name", ""))
    if info.target == "local" and lab_name:
        return LocalLab(LocalSpec(lab=lab_name))
    return TerraformTarget(info.target)


def down(run_dir: Path) -> None:
    rd = RunDir(run_dir)
    info = rd.require_info(
        "pass the --run-dir printed by 'swarm-harness up'; 'swarm-harness purge --lab NAME' "
        "removes one lab's leftovers without a run directory"
    )
    provider_of(info).down(rd)
    info.status = "down"
    rd.write_info(info)
    rd.inventory.unlink(missing_ok=True)


def list_runs(root: Path) -> list[tuple[Path, RunInfo, float]]:
    """Run directories under ``root`` with their age in seconds, oldest first."""
    out = []
    for path in sorted(root.glob("*")):
        info = RunDir(path).read_info() if path.is_dir() else None
        if info is None:
            continue
        created = calendar.timegm(time.strptime(info.created_at, _TIME_FORMAT))
        out.append((path, info, time.time() - created))
    return sorted(out, key=lambda r: -r[2])


def parse_duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise UserInputError(f"duration {text!r} is not like 30m, 6h or 2d", "use a number and s, m, h or d")
    return float(text[:-1]) * units[text[-1]]
