"""``swarm-harness run``: up, bootstrap, doctor, suites, report, and always teardown."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.doctor.report import DoctorReport, run_doctor
from harness.interrupts import stop_child
from harness.inventory import Inventory, load_inventory
from harness.lab.images import probe_recipe
from harness.probe.image import ensure_probe_images
from harness.rundir import JUNIT, LOG_SCAN, RunDir, RunRecord
from harness.swarm.bootstrap import SwarmSettings, bootstrap
from harness.swarm.networks import NetworkSpec, ensure_networks

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MARKERS = "not disruptive and not upgrade and not perf"
# The checks wait on the cluster (task starts, gossip, timeouts), not on this machine's
# CPU, so the worker count is not tied to local cores. Measured on a 2-core machine:
# the default suites took 481 s with 2 workers and 404 s with 4 (under other load).
DEFAULT_WORKERS = "4"


@dataclass
class StageTimer:
    stages: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one stage; its start and its end, with the time it took, go to the log
        as plain lines (readable in a CI log, no cursor tricks)."""
        log.info("== %s (stage %d)", name, len(self.stages) + 1)
        started = time.monotonic()
        outcome = "failed"
        try:
            result = fn(*args, **kwargs)
            outcome = "done"
            return result
        finally:
            self.stages[name] = round(time.monotonic() - started, 2)
            log.info("== %s %s in %.1f s (%.0f s so far)", name, outcome, self.stages[name], sum(self.stages.values()))


def prepare_cluster(
    inventory: Inventory,
    run_dir: Path,
    settings: SwarmSettings,
    networks: tuple[NetworkSpec, ...],
    timer: StageTimer,
) -> dict[str, Any]:
    """Bootstrap, create networks, ship probe images, run the doctor; return a summary."""
    rd = RunDir(run_dir)
    cluster = Cluster(inventory, rd.run_id())
    try:
        report = timer.run("bootstrap", bootstrap, cluster, settings)
        net_actions = timer.run("networks", ensure_networks, cluster, networks)
        shipped = timer.run("probe images", ensure_probe_images, cluster, probe_recipe())
        doctor = timer.run("doctor", run_doctor, cluster, True, settings.data_path_port)
    finally:
        cluster.close()
    rd.write_doctor(doctor)
    print(doctor.table(), flush=True)
    return {
        "bootstrap_actions": report.actions + net_actions,
        "probe_images": shipped,
        "unmet": [list(u) for u in doctor.unmet(["vxlan", "ipvs", "esp"])],
    }


def run_suites(
    inventory_path: Path,
    run_dir: Path,
    suites: list[str],
    markers: str,
    strict: bool,
    extra: list[str],
    workers: str = DEFAULT_WORKERS,
    junit_name: str = JUNIT,
) -> int:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *suites,
        f"--harness-inventory={inventory_path}",
        f"--harness-run-dir={run_dir}",
        f"--junitxml={RunDir(run_dir).junit(junit_name)}",
        "-o",
        "junit_family=xunit2",
        "-p",
        "no:cacheprovider",
        "-rA",
    ]
    if markers:
        cmd += ["-m", markers]
    if workers and workers != "0":
        cmd += ["-n", workers, "--dist", "loadgroup"]
    if strict:
        cmd.append("--harness-strict")
    cmd += extra
    log.info("running suites: %s", " ".join(cmd[3:]))
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, text=True)
    try:
        return proc.wait()
    except KeyboardInterrupt as exc:
        # pytest removes what the tests labelled only if it is allowed to finish.
        stop_child(proc, exc, "pytest", 120)
        raise


def junit_counts(path: Path) -> dict[str, int]:
    if not path.is_file():
        return {}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for s in suites:
        for k in counts:
            counts[k] += int(s.get(k, 0))
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def write_report(run_dir: Path, record: RunRecord) -> Path:
    return RunDir(run_dir).write_record(record)


def inventory_at(run_dir: Path) -> Inventory:
    return load_inventory(RunDir(run_dir).inventory)


def saved_doctor(run_dir: Path) -> DoctorReport | None:
    """The doctor's report the run measured, or None when it is missing or unreadable."""
    return RunDir(run_dir).doctor_report()


def scan_logs(
    inventory: Inventory,
    run_dir: Path,
    since_epoch: int | None = None,
    until_epoch: int | None = None,
    name: str = LOG_SCAN,
) -> dict[str, Any]:
    """Scan every node's dockerd journal, between the given times, against the allow-list.

    ``run`` scans the default suites' window for its verdict, and the fault-injection
    window on its own: lines a fault causes on purpose (gossip sendto refused by the
    partition, missed heartbeats) are recorded there, never counted against the run.
    """
    from harness.doctor.logscan import scan

    rd = RunDir(run_dir)
    doctor = rd.doctor_report()
    cluster = Cluster(inventory, rd.run_id())
    try:
        result = scan(cluster, doctor, since_epoch, until_epoch)
    finally:
        cluster.close()
    rd.write_report(name, result.to_dict())
    print(result.summary(), flush=True)
    return {
        "clean": result.clean,
        "unexpected": sum(len(v) for v in result.unexpected.values()),
        "findings": result.findings(),
    }


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    """Per-test properties (recovery times, measured MTUs) from a JUnit file, by test name."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if props:
            out[case.get("name", "")] = props
    return out
