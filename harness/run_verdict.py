"""One verdict per run, from everything the run measured.

The suites' JUnit files say which checks passed, failed, failed as a missing
capability predicts (xfail), passed only on a retry (flaky) or were skipped; the
doctor adds what it found wrong between the nodes (blocked ports, capabilities
it could not measure); the log scan adds dockerd error lines nobody explained.
Each is counted on its own, so "16 skipped" never hides 16 expected failures,
and the exit status follows the verdict:

- 0: every check passed (expected failures, flaky checks, doctor findings and
  unexpected log lines are warnings, listed);
- 1: a check failed, or, with ``--strict``, any of those warnings.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.doctor.report import DoctorReport, aggregate

FLAKY_PROPERTY = "flaky"  # JUnit property a check records when it passed only on a retry


@dataclass
class CheckOutcome:
    name: str
    outcome: str  # passed, failed, xfailed, flaky, skipped
    message: str = ""


@dataclass
class RunVerdict:
    checks: list[CheckOutcome] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # doctor: blocked ports, unmeasurable capabilities, firewalls
    unexpected_log_lines: int = 0
    strict: bool = False

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.checks)

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("passed", "failed", "xfailed", "flaky", "skipped")}

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.count("flaky"):
            out.append(f"{self.count('flaky')} checks passed only on a retry")
        out += self.findings
        if self.unexpected_log_lines:
            out.append(
                f"{self.unexpected_log_lines} unexpected dockerd error lines (reports/dockerd-log-scan.json)"
            )
        return out

    @property
    def passed(self) -> bool:
        if self.count("failed") or not self.checks:
            return False
        return not (self.strict and self.warnings)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def expected_failures(self) -> list[str]:
        """The reasons of the expected failures, one line per distinct reason with its count."""
        reasons: dict[str, int] = {}
        for c in self.checks:
            if c.outcome == "xfailed":
                head = c.message.split(". The check ran", 1)[0]
                reasons[head] = reasons.get(head, 0) + 1
        return [f"{n} x {reason}" for reason, n in reasons.items()]

    def summary(self) -> str:
        c = self.counts
        head = (
            f"verdict: {'PASSED' if self.passed else 'FAILED'}{' (strict)' if self.strict else ''}: "
            f"{c['passed']} passed, {c['failed']} failed, {c['xfailed']} expected failures, "
            f"{c['flaky']} flaky, {c['skipped']} skipped"
        )
        lines = [head]
        if not self.checks:
            lines.append("  no check ran")
        lines += [
            f"  FAILED {x.name}: {x.message.splitlines()[0][:200] if x.message else ''}"
            for x in self.checks
            if x.outcome == "failed"
        ]
        lines += [f"  expected failure: {r[:300]}" for r in self.expected_failures()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "strict": self.strict,
            "counts": self.counts,
            "expected_failures": self.expected_failures(),
            "warnings": self.warnings,
            "checks": [asdict(c) for c in self.checks],
        }


def junit_outcomes(path: Path) -> list[CheckOutcome]:
    """Each testcase of a pytest JUnit file with its outcome, xfail and flaky told apart."""
    if not path.is_file():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        failed = case.find("failure")
        if failed is None:
            failed = case.find("error")
        skipped = case.find("skipped")
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        if failed is not None:
            out.append(CheckOutcome(name, "failed", failed.get("message") or ""))
        elif skipped is not None and skipped.get("type") == "pytest.xfail":
            out.append(CheckOutcome(name, "xfailed", skipped.get("message") or ""))
        elif skipped is not None:
            out.append(CheckOutcome(name, "skipped", skipped.get("message") or ""))
        elif FLAKY_PROPERTY in props:
            out.append(CheckOutcome(name, "flaky", props[FLAKY_PROPERTY]))
        else:
            out.append(CheckOutcome(name, "passed"))
    return out


def doctor_findings(doctor: DoctorReport | None) -> list[str]:
    """What the doctor found wrong that no check's own verdict covers."""
    if doctor is None:
        return ["the doctor's report is missing: capabilities and ports were not measured"]
    blocked = [f"port {p.label} blocked from {p.src} to {p.dst}: {p.detail}" for p in doctor.blocked_ports()]
    unknown = aggregate(
        (f"capability {c.name} could not be measured", n, c.reason)
        for n, caps in sorted(doctor.capabilities.items())
        for c in caps.values()
        if c.unknown
    )
    firewall = doctor.firewall_findings()
    return [f"doctor: {line}" for line in blocked + unknown + firewall + doctor.addressing]


def run_verdict(
    junit_files: list[Path],
    doctor: DoctorReport | None,
    unexpected_log_lines: int,
    strict: bool,
    log_findings: list[str] | None = None,
) -> RunVerdict:
    """``log_findings``: what the log scan could not do (a node's journal unreadable)."""
    checks = [c for path in junit_files for c in junit_outcomes(path)]
    return RunVerdict(checks, doctor_findings(doctor) + list(log_findings or []), unexpected_log_lines, strict)
