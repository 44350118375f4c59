"""The suites' progress line: counts, per-suite totals, what runs, and when it is shown."""

from __future__ import annotations

import pytest

from harness.suite_progress import INTERVAL_ENV, ProgressHooks, SuiteProgress, short_duration, suite_of

pytest_plugins = ["pytester"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


IDS = [
    "suites/lb/test_vip.py::test_a",
    "suites/lb/test_vip.py::test_b",
    "suites/dns/test_dns.py::test_c[node1]",
    "suites/updates/test_rolling.py::test_d",
]


def _end(p: SuiteProgress, nodeid: str, outcome: str = "passed", xfail: bool = False) -> None:
    when_outcome = [("setup", "passed"), ("call", outcome), ("teardown", "passed")]
    for when, out in when_outcome:
        p.phase_ended(nodeid, when, out, xfail and when == "call")


def test_suite_names_come_from_the_directory_under_suites() -> None:
    assert suite_of("suites/lb/test_vip.py::test_a[x/y]") == "lb"
    assert suite_of("tests/lab/test_uml_lab.py::test_x") == "lab"
    assert suite_of("test_top.py::test_x") == "test_top.py"
    assert short_duration(59.9) == "59 s"
    assert short_duration(252) == "4 m 12 s"


def test_line_counts_outcomes_names_the_running_checks_and_the_open_suites() -> None:
    clock = Clock()
    p = SuiteProgress(clock=clock)
    p.collected(IDS)
    for nodeid in IDS:
        p.check_started(nodeid)
    clock.now += 10
    _end(p, IDS[0])
    _end(p, IDS[2], outcome="skipped", xfail=True)
    clock.now += 242
    _end(p, IDS[1], outcome="failed")
    line = p.line()
    assert line.startswith("progress: 3 of 4 checks done (75%), 1 expected failures, 1 failed, 4 m 12 s elapsed")
    assert "; running 1: test_rolling.py::test_d 4 m 12 s" in line
    # Finished suites drop out; the open one shows done/total.
    assert line.endswith("; suites: updates 0/1")
    assert "lb" not in line.split("suites:")[1]


def test_a_failed_setup_counts_once_as_failed() -> None:
    p = SuiteProgress(clock=Clock())
    p.collected(IDS[:1])
    p.check_started(IDS[0])
    p.phase_ended(IDS[0], "setup", "failed", False)
    p.phase_ended(IDS[0], "teardown", "passed", False)
    assert p.line().startswith("progress: 1 of 1 checks done (100%), 1 failed,")


def test_line_is_due_once_per_interval() -> None:
    clock = Clock()
    p = SuiteProgress(clock=clock, interval_s=20)
    p.collected(IDS)
    assert not p.due()
    clock.now += 19.9
    assert not p.due()
    clock.now += 0.2
    assert p.due()
    assert not p.due()  # shown: the next one is 20 s away
    clock.now += 21
    assert p.due()


def test_hooks_strip_the_group_suffix_and_write_when_due() -> None:
    clock = Clock()
    lines: list[str] = []
    hooks = ProgressHooks(SuiteProgress(clock=clock, interval_s=5), lines.append, lambda i: i.split("@")[0])
    hooks.progress.collected(IDS)
    hooks.pytest_runtest_logstart(IDS[0] + "@lb", ("", 0, ""))
    assert lines == []
    clock.now += 6

    class Report:
        nodeid = IDS[0] + "@lb"
        when = "teardown"
        outcome = "passed"

    hooks.pytest_runtest_logreport(Report())
    assert lines == ["progress: 1 of 4 checks done (25%), 6 s elapsed; suites: dns 0/1, lb 1/2, updates 0/1"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_real_session_prints_progress_lines(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    pytester.makepyfile(
        test_slow="""
        import time, pytest
        @pytest.mark.parametrize("i", range(4))
        def test_sleeps(i):
            time.sleep(0.4)
        """
    )
    monkeypatch.setenv(INTERVAL_ENV, "0.3")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=4)
    progress = [line for line in result.outlines if line.startswith("progress: ")]
    assert progress, result.stdout.str()
    assert all(" of 4 checks done" in line for line in progress), progress


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_one_long_check_still_gets_lines_while_it_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    # No check starts or ends for 2 s: only the timer can write, and it must, naming the check.
    pytester.makepyfile(test_long="import time\ndef test_long():\n    time.sleep(2)\n")
    monkeypatch.setenv(INTERVAL_ENV, "0.4")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=1)
    during = [ln for ln in result.outlines if ln.startswith("progress: 0 of 1 checks done")]
    assert len(during) >= 2, result.stdout.str()
    assert all("running 1: test_long.py::test_long" in ln for ln in during), during


def test_the_line_can_be_turned_off_and_a_bad_interval_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    monkeypatch.setenv(INTERVAL_ENV, "0")
    assert not [ln for ln in pytester.runpytest_subprocess().outlines if ln.startswith("progress: ")]
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"{INTERVAL_ENV}='soon' is not a number of seconds; showing progress every 20 s"])
