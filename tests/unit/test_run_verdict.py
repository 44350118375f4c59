"""One verdict per run: passed, failed, expected failures, flaky and skipped counted apart."""

from __future__ import annotations

from pathlib import Path

from harness.doctor.capabilities import Capability
from harness.doctor.ports import PortCheck
from harness.doctor.report import DoctorReport
from harness.run_verdict import run_verdict

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="suites.overlay" name="test_pair[a]"/>
<testcase classname="suites.overlay" name="test_pair[b]">
  <properties><property name="flaky" value="node1->node2 icmp: flaky: first pass 0/5"/></properties>
</testcase>
<testcase classname="suites.overlay" name="test_pair[enc]">
  <skipped type="pytest.xfail" message="unmet capability esp on node1, node2: kernel lacks ESP. The check ran and failed as predicted: x"/>
</testcase>
<testcase classname="suites.lb" name="test_vip">
  <skipped type="pytest.xfail" message="unmet capability esp on node1, node2: kernel lacks ESP. The check ran and failed as predicted: y"/>
</testcase>
<testcase classname="suites.dns" name="test_skip"><skipped type="pytest.skip" message="needs two nodes"/></testcase>
</testsuite></testsuites>
"""

FAILED = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="1">
<testcase classname="suites.faults" name="test_partition"><failure message="node2 did not recover">x</failure></testcase>
</testsuite></testsuites>
"""


def _doctor(blocked: bool = False, unknown: bool = False) -> DoctorReport:
    cap = (
        Capability("esp", False, "could not measure esp: x", unknown=True)
        if unknown
        else Capability("esp", True, "ok")
    )
    ports = [PortCheck("node1", "node2", 7946, "udp", False, "no datagram arrived")] if blocked else []
    return DoctorReport(capabilities={"node1": {"esp": cap}}, ports=ports)


def test_each_outcome_is_counted_on_its_own(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    v = run_verdict([junit], _doctor(), 0, strict=False)
    assert v.counts == {"passed": 1, "failed": 0, "xfailed": 2, "flaky": 1, "skipped": 1}
    assert v.expected_failures() == ["2 x unmet capability esp on node1, node2: kernel lacks ESP"]
    assert v.passed and v.exit_code == 0
    assert v.summary().startswith(
        "verdict: PASSED: 1 passed, 0 failed, 2 expected failures, 1 flaky, 1 skipped"
    )
    assert "warning: 1 checks passed only on a retry" in v.summary()
    # Strict: a flaky check fails the run.
    assert run_verdict([junit], _doctor(), 0, strict=True).exit_code == 1


def test_doctor_findings_and_log_lines_are_warnings_and_strict_failures(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        JUNIT.replace(
            '<properties><property name="flaky" value="node1->node2 icmp: flaky: first pass 0/5"/></properties>',
            "",
        )
    )
    clean = run_verdict([junit], _doctor(), 0, strict=True)
    assert clean.passed, clean.summary()
    for doctor, lines, needle in [
        (_doctor(blocked=True), 0, "doctor: port 7946/udp blocked from node1 to node2"),
        (_doctor(unknown=True), 0, "doctor: capability esp could not be measured on node1"),
        (_doctor(), 3, "3 unexpected dockerd error lines"),
        (None, 0, "the doctor's report is missing"),
    ]:
        loose = run_verdict([junit], doctor, lines, strict=False)
        assert loose.passed and any(needle in w for w in loose.warnings), loose.warnings
        assert run_verdict([junit], doctor, lines, strict=True).exit_code == 1


def test_a_failure_in_any_phase_fails_the_run_and_no_check_is_no_pass(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(JUNIT)
    b.write_text(FAILED)
    v = run_verdict([a, b], _doctor(), 0, strict=False)
    assert v.count("failed") == 1 and v.exit_code == 1
    assert "FAILED suites.faults::test_partition: node2 did not recover" in v.summary()
    empty = run_verdict([tmp_path / "missing.xml"], _doctor(), 0, strict=False)
    assert not empty.passed and "no check ran" in empty.summary()
