"""A run directory read back into one shape, for the HTML page and the history.

Only files are read: nothing here dials a host, so a report can be made from a
copied run directory long after its cluster is gone. A directory that is not a
run directory, or whose files are not the harness's, is refused with one line
saying what is missing, rather than rendered as an empty page.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserInputError
from harness.rundir import (
    JUNIT,
    JUNIT_FILES,
    LOG_SCAN,
    LOG_SCAN_FAULTS,
    RunDir,
    RunInfo,
    RunRecord,
    artifact_name,
)

OUTCOMES = ("passed", "failed", "xfailed", "flaky", "skipped")


@dataclass
class Check:
    name: str  # "classname::name", as the verdict names it
    outcome: str  # one of OUTCOMES
    message: str = ""
    duration_s: float | None = None
    properties: dict[str, str] = field(default_factory=dict)
    artifact: str | None = None  # the failure bundle, relative to the run directory


@dataclass
class RunData:
    run_dir: Path
    run_id: str
    started_at: str
    nodes: list[dict[str, Any]]
    record: RunRecord  # reports/report.json, with nothing set when the run wrote none
    verdict: dict[str, Any]
    checks: list[Check]
    doctor: dict[str, Any] | None = None
    matrices: dict[str, dict[str, Any]] = field(default_factory=dict)  # by network
    mtu: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by network
    log_scan: dict[str, Any] | None = None
    log_scan_faults: dict[str, Any] | None = None  # the fault phase's window, never counted
    notes: dict[str, str] = field(default_factory=dict)  # run.json's choices with why
    upgrade: dict[str, Any] | None = None  # reports/upgrade-report.json, when an upgrade ran

    @property
    def run_key(self) -> str:
        """One run: a run directory reused against the same hosts keeps its run id, so the
        start time tells its runs apart."""
        return f"{self.run_id}@{self.started_at}"

    @property
    def identity(self) -> str:
        """Which cluster ran: sorted node names with their addresses."""
        return ",".join(sorted(f"{n.get('name')}={n.get('address')}" for n in self.nodes))

    @property
    def engines(self) -> dict[str, str]:
        facts = (self.doctor or {}).get("facts", {})
        return {node: str(f.get("engine", "")) for node, f in sorted(facts.items())}

    @property
    def networks(self) -> list[str]:
        return sorted(set(self.matrices) | set(self.mtu))


def _optional_json(path: Path) -> Any:
    """Side reports are shown when they are sound; a damaged one only leaves its section out."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _nodeids(classname: str, name: str) -> list[str]:
    """The pytest node ids a JUnit classname can stand for: the module path ends at some
    dot, whatever follows is a class."""
    parts = classname.split(".")
    return ["::".join(["/".join(parts[:i]) + ".py", *parts[i:], name]) for i in range(len(parts), 0, -1)]


def _junit_cases(path: Path) -> list[tuple[str, str, str, float | None, dict[str, str]]]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UserInputError(
            f"{path} is not a readable JUnit file ({exc})", "rerun the suites, or remove the damaged file"
        ) from exc
    out = []
    for case in root.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        try:
            duration: float | None = float(case.get("time", ""))
        except ValueError:
            duration = None
        out.append((case.get("classname", ""), case.get("name", ""), case.get("time", ""), duration, props))
    return out


def _checks(rd: RunDir, verdict: dict[str, Any]) -> list[Check]:
    reports = rd.reports
    artifacts = rd.artifacts
    bundles = {p.name for p in artifacts.iterdir() if p.is_dir()} if artifacts.is_dir() else set()
    extra: dict[str, tuple[float | None, dict[str, str], str | None]] = {}
    for filename in JUNIT_FILES:
        if not (reports / filename).is_file():
            continue
        for classname, name, _, duration, props in _junit_cases(reports / filename):
            bundle = next((b for b in map(artifact_name, _nodeids(classname, name)) if b in bundles), None)
            where = f"{artifacts.relative_to(rd.path)}/{bundle}" if bundle else None
            extra[f"{classname}::{name}"] = (duration, props, where)
    out = []
    for c in verdict.get("checks", []):
        duration, props, bundle = extra.get(c["name"], (None, {}, None))
        out.append(Check(c["name"], c["outcome"], c.get("message") or "", duration, props, bundle))
    return out


def _verdict_from_files(rd: RunDir, log_scan: Any) -> dict[str, Any]:
    """A run that wrote JUnit but no report.json (plain pytest with --harness-run-dir, or a
    run cut short) still gets the verdict ``run`` would have given it."""
    from harness.run_verdict import run_verdict

    unexpected = sum(len(v) for v in (log_scan or {}).get("unexpected", {}).values())
    files = [rd.junit(f) for f in JUNIT_FILES]
    return run_verdict(files, rd.doctor_report(), unexpected, strict=False).to_dict()


def _network_of(path: Path, prefix: str) -> str:
    return path.name[len(prefix) : -len(".json")]


def _nodes(inventory: Any, doctor: Any, info: RunInfo) -> list[dict[str, Any]]:
    """The cluster's nodes. ``down`` removes inventory.json, and ``run`` reports after its
    teardown, so then the doctor's record of what it measured names the nodes, and a local
    lab's variables give their roles and releases as terraform/local assigned them."""
    if isinstance(inventory, dict) and inventory.get("nodes"):
        return list(inventory["nodes"])
    measured = (doctor or {}).get("cluster", {}) if isinstance(doctor, dict) else {}
    variables = info.variables
    local = info.target == "local" and "manager_count" in variables
    out = []
    for i, (name, address) in enumerate(measured.items()):
        node: dict[str, Any] = {"name": name, "address": address, "role": "", "labels": {}}
        if local:
            node["role"] = "manager" if i < int(variables["manager_count"]) else "worker"
            release = (variables.get("node_releases") or {}).get(name, variables.get("image_release"))
            node["labels"] = {"harness.release": release} if release else {}
        out.append(node)
    return out


def load_run(run_dir: Path) -> RunData:
    rd = RunDir(run_dir)
    if not run_dir.exists():
        raise UserInputError(
            f"run directory {run_dir} does not exist", "pass a directory under runs/, e.g. runs/lab"
        )
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir} is not a directory", "pass a run directory, e.g. runs/lab")
    info = rd.require_info("pass a directory that 'swarm-harness up' or 'run' created, e.g. runs/lab")
    reports = rd.reports
    has_junit = any(rd.junit(f).is_file() for f in JUNIT_FILES)
    record = rd.read_record()
    if record is None and not has_junit:
        raise UserInputError(
            f"{run_dir} holds no results yet (no {_relative(rd, rd.record_path)}, no {_relative(rd, rd.junit(JUNIT))})",
            f"run the suites first: swarm-harness run --inventory {rd.inventory}",
        )
    record = record or RunRecord(started_at="")
    inventory = _optional_json(rd.inventory) or {}
    doctor = rd.doctor_data()
    log_scan = _optional_json(rd.report(LOG_SCAN))
    verdict = record.verdict or _verdict_from_files(rd, log_scan)
    matrices = {
        _network_of(p, "matrix-"): m
        for p in sorted(reports.glob("matrix-*.json"))
        if isinstance(m := _optional_json(p), dict)
    }
    mtu = {
        _network_of(p, "mtu-"): m
        for p in sorted(reports.glob("mtu-*.json"))
        if isinstance(m := _optional_json(p), list)
    }
    return RunData(
        run_dir=run_dir,
        run_id=info.run_id,
        started_at=str(record.started_at or info.created_at or ""),
        nodes=_nodes(inventory, doctor, info),
        record=record,
        verdict=verdict,
        checks=_checks(rd, verdict),
        doctor=doctor,
        matrices=matrices,
        mtu=mtu,
        log_scan=log_scan if isinstance(log_scan, dict) else None,
        log_scan_faults=faults
        if isinstance(faults := _optional_json(rd.report(LOG_SCAN_FAULTS)), dict)
        else None,
        notes=info.notes,
        upgrade=upgrade if isinstance(upgrade := _optional_json(rd.upgrade_report), dict) else None,
    )


def _relative(rd: RunDir, path: Path) -> str:
    return str(path.relative_to(rd.path))
