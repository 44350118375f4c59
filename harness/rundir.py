"""A run directory: everything one provisioned cluster needs, in one place.

Holds the SSH key pair, known_hosts, Terraform state, ``inventory.json``, the
doctor's ``doctor.json``, ``reports/`` and ``artifacts/``. Its ``run.json`` names
the run id that labels every Docker object the run creates. ``RunDir`` is the only
code that spells these names: every other module asks it for a path or a record,
so a run directory written by one command reads the same in every other.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.doctor.report import DoctorReport
from harness.doctor.saved import load_saved, save_report
from harness.errors import UserInputError
from harness.lab import hostcmd

log = logging.getLogger(__name__)

# The run id of a cluster used without a run record (a static YAML inventory).
ADHOC_RUN_ID = "adhoc"
JUNIT = "junit.xml"
JUNIT_DISRUPTIVE = "junit-disruptive.xml"
JUNIT_PERF = "junit-perf.xml"
JUNIT_FILES = (JUNIT, JUNIT_PERF, JUNIT_DISRUPTIVE)
LOG_SCAN = "dockerd-log-scan.json"
LOG_SCAN_FAULTS = "dockerd-log-scan-faults.json"


@dataclass
class RunInfo:
    """``run.json``: which run this is, on which target, and how far provisioning got."""

    run_id: str
    target: str
    created_at: str
    variables: dict[str, Any] = field(default_factory=dict)
    status: str = "new"
    # Choices the harness made for this run, each with why (e.g. the machine kind auto picked).
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.notes:  # a run without choices writes the record it always wrote
            del data["notes"]
        return data

    @classmethod
    def from_dict(cls, data: object) -> RunInfo:
        """Only ``run_id`` is required: a record another version wrote still reads."""
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            raise ValueError("not a harness run record (no run_id)")
        if not isinstance(data.get("variables") or {}, dict):
            raise ValueError("not a harness run record (variables is not an object)")
        return cls(
            run_id=data["run_id"],
            target=str(data.get("target") or ""),
            created_at=str(data.get("created_at") or ""),
            variables=dict(data.get("variables") or {}),
            status=str(data.get("status") or "new"),
            notes={str(k): str(v) for k, v in dict(data.get("notes") or {}).items()},
        )


@dataclass
class RunRecord:
    """``reports/report.json``: what one ``swarm-harness run`` did, stage by stage.

    A field stays None until its stage ran and is then left out of the file, so the
    JSON holds the keys in the order the stages set them, as it always has.
    """

    started_at: str
    summary: dict[str, Any] | None = None  # bootstrap actions, probe images, unmet needs
    pytest_exit_code: int | None = None
    junit: dict[str, int] | None = None
    perf_exit_code: int | None = None
    junit_perf: dict[str, int] | None = None
    disruptive_exit_code: int | None = None
    junit_disruptive: dict[str, int] | None = None
    fault_timings: dict[str, dict[str, str]] | None = None
    dockerd_log_scan: dict[str, Any] | None = None
    dockerd_log_scan_faults: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    error: str | None = None
    stages_s: dict[str, float] | None = None
    total_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Keys this version does not know are ignored; missing ones stay None."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["started_at"] = str(values.get("started_at") or "")
        return cls(**values)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserInputError(
            f"{path} is not a readable {what} ({exc.__class__.__name__}: {str(exc)[:120]})",
            "pass a run directory written by 'swarm-harness up' or 'run', or rerun the run",
        ) from exc


def matrix_name(network: str) -> str:
    """A network's reachability matrix under ``reports/``."""
    return f"matrix-{network}.json"


def mtu_name(network: str) -> str:
    """A network's per-pair MTU report under ``reports/``."""
    return f"mtu-{network}.json"


def wire_name(network: str) -> str:
    """A network's wire capture under ``reports/``."""
    return f"wire-{network}.json"


def default_run_dir(lab: str) -> Path:
    return Path("runs") / lab


def new_run_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def artifact_name(nodeid: str) -> str:
    """The folder a failed check's bundle gets under ``artifacts/``, from its pytest node id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)[:150]


@dataclass(frozen=True)
class RunDir:
    """The paths and files of one run directory; nothing is created until asked."""

    path: Path

    @classmethod
    def of_inventory(cls, inventory_path: Path | str) -> RunDir:
        """The run directory an ``inventory.json`` (or a static YAML inventory) sits in."""
        return cls(Path(inventory_path).resolve().parent)

    def __str__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------- paths

    @property
    def info_path(self) -> Path:
        return self.path / "run.json"

    @property
    def inventory(self) -> Path:
        return self.path / "inventory.json"

    @property
    def doctor(self) -> Path:
        return self.path / "doctor.json"

    @property
    def up_log(self) -> Path:
        return self.path / "up.log"

    @property
    def ssh_dir(self) -> Path:
        return self.path / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def terraform_dir(self) -> Path:
        return self.path / "tf"

    @property
    def terraformrc(self) -> Path:
        return self.path / "terraformrc"

    @property
    def reports(self) -> Path:
        return self.path / "reports"

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    def report(self, name: str) -> Path:
        """A file under ``reports/``: a JUnit file, a log scan, a suite's own JSON."""
        return self.reports / name

    @property
    def record_path(self) -> Path:
        return self.report("report.json")

    @property
    def report_html(self) -> Path:
        return self.report("report.html")

    @property
    def upgrade_report(self) -> Path:
        return self.report("upgrade-report.json")

    def junit(self, name: str = JUNIT) -> Path:
        return self.report(name)

    def matrix(self, network: str) -> Path:
        return self.report(matrix_name(network))

    def mtu(self, network: str) -> Path:
        return self.report(mtu_name(network))

    def wire(self, network: str) -> Path:
        return self.report(wire_name(network))

    def artifact_dir(self, nodeid: str) -> Path:
        return self.artifacts / artifact_name(nodeid)

    def write_report(self, name: str, data: Any) -> Path:
        """A JSON file under ``reports/``, the directory made on the way."""
        out = self.report(name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        return out

    # ------------------------------------------------------------- run.json

    def read_info(self) -> RunInfo | None:
        """``run.json``, or None when there is none; a damaged one is refused in one line."""
        if not self.info_path.is_file():
            return None
        try:
            return RunInfo.from_dict(_read_json(self.info_path, "run record (run.json)"))
        except ValueError as exc:
            raise UserInputError(
                f"{self.info_path} is not a harness run record (no run_id)",
                "pass a directory that 'swarm-harness up' or 'run' created",
            ) from exc

    def write_info(self, info: RunInfo) -> None:
        tmp = self.info_path.with_name("run.json.tmp")
        tmp.write_text(json.dumps(info.to_dict(), indent=2) + "\n")
        tmp.rename(self.info_path)

    def require_info(self, hint: str = "pass the --run-dir that 'swarm-harness up' created") -> RunInfo:
        """``run.json``; without one the directory is refused, with what to pass instead."""
        info = self.read_info()
        if info is None:
            raise UserInputError(f"{self.path} is not a run directory (no {self.info_path.name})", hint)
        return info

    def run_id(self) -> str:
        """The id that labels the run's Docker objects; ``adhoc`` without a run record."""
        info = self.read_info()
        return info.run_id if info is not None else ADHOC_RUN_ID

    # ------------------------------------------------------------- doctor.json

    def _read_doctor(self) -> tuple[dict[str, Any] | None, str]:
        """``doctor.json`` as written, or None with what was wrong (empty when it is missing)."""
        if not self.doctor.is_file():
            return None, ""
        try:
            data = json.loads(self.doctor.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return None, str(exc)
        return (data, "") if isinstance(data, dict) else (None, "not a JSON object")

    def doctor_data(self) -> dict[str, Any] | None:
        """The raw report, for a page that shows whatever a sound file holds."""
        return self._read_doctor()[0]

    def doctor_report(self) -> DoctorReport | None:
        """The doctor's report the run measured, or None when it is missing or unreadable."""
        return load_saved(self.doctor)

    def write_doctor(self, report: DoctorReport) -> None:
        save_report(report, self.doctor)

    # ------------------------------------------------------------- reports/report.json

    def read_record(self) -> RunRecord | None:
        """``reports/report.json``, or None when the run wrote none."""
        if not self.record_path.is_file():
            return None
        loaded = _read_json(self.record_path, "run report (report.json)")
        if not isinstance(loaded, dict):
            raise UserInputError(f"{self.record_path} is not a harness run report", "rerun the run")
        return RunRecord.from_dict(loaded)

    def write_record(self, record: RunRecord) -> Path:
        return self.write_report("report.json", record.to_dict())

    # ------------------------------------------------------------- ssh

    def ensure_ssh_key(self) -> Path:
        self.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = self.ssh_key
        if not key.exists():
            hostcmd.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarm-harness", "-f", str(key)]
            )
        self.known_hosts.touch(mode=0o600, exist_ok=True)
        return key
