"""``run``'s serial phases (perf, disruptive): selecting suites without such checks is no failure."""

from __future__ import annotations

import logging

import pytest

from harness.cli_swarm import PYTEST_NO_TESTS, phase_rc


def test_a_phase_that_selected_nothing_is_not_a_failure_but_is_said(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert phase_rc(PYTEST_NO_TESTS, "perf") == 0
    assert "no perf checks in the selected suites" in caplog.text


@pytest.mark.parametrize("rc", [0, 1, 2, 130])
def test_other_exit_statuses_pass_through(rc: int) -> None:
    assert phase_rc(rc, "disruptive") == rc
