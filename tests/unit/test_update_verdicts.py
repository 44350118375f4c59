"""The rolling-update verdicts catch what they claim, on synthetic update records and
load results shaped like the manager's samples and the agent's ``load`` output: an
outage during a start-first update, a task too many, a batch larger than the
parallelism, failures outside a stop-first update's window.
"""

from __future__ import annotations

from harness.probe.agent import LoadReply
from harness.probe.image import image_ref
from harness.probe.traffic import NodeLoad, TrafficSummary
from harness.swarm.updates import Sample, UpdateRecord
from suites.updates.checks import (
    parallelism_problems,
    start_first_problems,
    stop_first_problems,
    version_problems,
)

V1, V2 = image_ref("v1"), image_ref("v2")
NODES = ("node1", "node2", "node3")


def _record(*running: tuple[int, int], state: str = "completed") -> UpdateRecord:
    """Samples of (v1 running, v2 running), one a second."""
    samples = [
        Sample(float(i), {k: v for k, v in ((V1, a), (V2, b)) if v}, "updating")
        for i, (a, b) in enumerate(running)
    ]
    return UpdateRecord("web", state, "", float(len(running)), samples)


def _load(
    sent: int = 100,
    failed: int = 0,
    versions: dict[str, int] | None = None,
    window: tuple[float, float] | None = None,
) -> LoadReply:
    return LoadReply(
        sent=sent,
        failed=failed,
        versions=versions if versions is not None else {"v1": (sent - failed) // 2, "v2": (sent - failed) // 2},
        errors={"connection refused": failed} if failed else {},
        first_failure_s=window[0] if window else None,
        last_failure_s=window[1] if window else None,
    )


def _traffic(
    loads: dict[str, LoadReply], started: dict[str, tuple[float, float]] | None = None
) -> TrafficSummary:
    started = started or {}
    return TrafficSummary(
        "http://web:8080/",
        [NodeLoad(n, r, *started.get(n, (100.0, 100.5))) for n, r in sorted(loads.items())],
    )


# --- start-first with a healthcheck: zero loss, one extra task at most ---------------------

CLEAN_START_FIRST = _record((3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3))


def test_start_first_without_loss_passes() -> None:
    traffic = _traffic({n: _load() for n in NODES})
    assert start_first_problems(CLEAN_START_FIRST, traffic, 3, 200) == []


def test_start_first_an_outage_on_one_node_is_caught() -> None:
    loads = {n: _load() for n in NODES}
    loads["node2"] = _load(failed=4, window=(3.1, 3.4))
    problems = start_first_problems(CLEAN_START_FIRST, _traffic(loads), 3, 200)
    assert len(problems) == 1
    assert problems[0].startswith("start-first with healthcheck lost requests: 4 of 300 requests")
    assert "node2 3.10-3.40s" in problems[0]


def test_start_first_more_than_one_extra_task_is_caught() -> None:
    record = _record((3, 0), (3, 2), (1, 3), (0, 3))
    problems = start_first_problems(record, _traffic({n: _load() for n in NODES}), 3, 200)
    assert len(problems) == 1 and problems[0].startswith("5 tasks ran at once, more than 3 + 1")


def test_start_first_traffic_that_never_saw_v2_did_not_span_the_update() -> None:
    traffic = _traffic({n: _load(versions={"v1": 100}) for n in NODES})
    problems = start_first_problems(CLEAN_START_FIRST, traffic, 3, 200)
    assert len(problems) == 1 and problems[0].startswith(
        "traffic did not span the update (versions {'v1': 300})"
    )


def test_start_first_too_little_traffic_and_an_unfinished_update_are_caught() -> None:
    record = _record((3, 0), (3, 1), state="paused")
    traffic = _traffic({n: _load(sent=20) for n in NODES})
    problems = start_first_problems(record, traffic, 3, 200)
    assert problems[0] == "update ended 'paused', want 'completed': "
    assert problems[1].startswith("only 60 requests sent, want 200 or more")


# --- stop-first: failures only while the update runs ------------------------------------------------

# The update ran from 110 s to 130 s on the harness's clock; the loads started at 100-100.5 s.
BEGIN_S, END_S = 110.0, 130.0
STOP_FIRST = _record((3, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2), (0, 3))


def test_stop_first_failures_inside_the_update_pass() -> None:
    loads = {n: _load(failed=6, window=(12.0, 25.0)) for n in NODES}
    assert stop_first_problems(STOP_FIRST, _traffic(loads), 3, 200, BEGIN_S, END_S) == []


def test_stop_first_without_failures_passes() -> None:
    assert (
        stop_first_problems(STOP_FIRST, _traffic({n: _load() for n in NODES}), 3, 200, BEGIN_S, END_S) == []
    )


def test_stop_first_failures_before_the_update_began_are_named() -> None:
    loads = {n: _load(failed=6, window=(12.0, 25.0)) for n in NODES}
    loads["node1"] = _load(failed=9, window=(2.0, 25.0))  # at ~102 s: 8 s before the update
    problems = stop_first_problems(STOP_FIRST, _traffic(loads), 3, 200, BEGIN_S, END_S)
    assert len(problems) == 1
    assert problems[0].startswith(
        "requests failed outside the update: {'node1': 'first failure 7.50s or more before"
    )


def test_stop_first_failures_after_the_update_ended_are_named() -> None:
    loads = {n: _load(failed=6, window=(12.0, 25.0)) for n in NODES}
    loads["node3"] = _load(failed=9, window=(12.0, 40.0))  # at ~140 s: 10 s after it completed
    problems = stop_first_problems(STOP_FIRST, _traffic(loads), 3, 200, BEGIN_S, END_S)
    assert len(problems) == 1
    assert "'node3': 'last failure 10.00s or more after the 20.00s window'" in problems[0]


def test_stop_first_a_load_of_unknown_start_cannot_place_its_failures() -> None:
    summary = TrafficSummary("http://web:8080/", [NodeLoad("node1", _load(failed=2, window=(12.0, 13.0)))])
    assert summary.failures_outside(BEGIN_S, END_S) == {
        "node1": "failures at 12.00-13.00s of a load whose start was not recorded"
    }


def test_stop_first_two_tasks_down_at_once_is_caught() -> None:
    record = _record((3, 0), (1, 0), (1, 2), (0, 3))
    problems = stop_first_problems(record, _traffic({n: _load() for n in NODES}), 3, 200, BEGIN_S, END_S)
    assert len(problems) == 1 and problems[0].startswith("2 tasks down at once, more than 1")


# --- parallelism and delay ----------------------------------------------------------------------------------


def test_parallelism_honoured_passes() -> None:
    record = _record((4, 0), (3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3), (0, 4))
    starts = [0.0, 3.5, 7.0, 10.4]
    assert parallelism_problems(record, starts, 4, 1, 3.0) == []
    pairs = _record((4, 0), (2, 0), (2, 2), (0, 2), (0, 4))
    assert parallelism_problems(pairs, [0.0, 0.2, 3.6, 3.7], 4, 2, 3.0) == []


def test_parallelism_exceeded_is_caught() -> None:
    record = _record((4, 0), (3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3), (0, 4))
    problems = parallelism_problems(record, [0.0, 0.4, 4.0, 8.5], 4, 1, 3.0)
    assert problems == ["2 tasks replaced within 3 s, parallelism 1: created at [0.0, 0.4, 4.0, 8.5] s"]


def test_parallelism_ignoring_the_delay_finishes_too_fast() -> None:
    record = _record((4, 0), (2, 0), (2, 2), (0, 2), (0, 4))
    problems = parallelism_problems(record, [0.0, 0.1, 3.0, 3.1], 4, 2, 3.0)
    assert problems == []  # two batches 3 s apart: honoured
    problems = parallelism_problems(record, [0.0, 0.1, 2.0, 2.1], 4, 2, 3.0)
    assert any(p.startswith("4 tasks replaced within 3 s, parallelism 2") for p in problems)
    assert any(p.startswith("update finished too fast for 2 batches 3 s apart") for p in problems)


def test_parallelism_more_tasks_down_than_allowed_is_caught() -> None:
    record = _record((4, 0), (2, 0), (2, 2), (0, 2), (0, 4))
    problems = parallelism_problems(record, [0.0, 3.5, 7.0, 10.4], 4, 1, 3.0)
    assert len(problems) == 1 and problems[0].startswith("2 tasks down at once, parallelism 1")


def test_parallelism_missing_new_tasks_are_caught() -> None:
    record = _record((4, 0), (3, 1), (2, 2))
    problems = parallelism_problems(record, [0.0, 3.5], 4, 1, 3.0)
    assert problems[0] == "expected 4 new tasks, saw 2"


# --- every node sees only the new version --------------------------------------------------------


def test_versions_every_node_seeing_only_the_new_version_passes() -> None:
    assert version_problems({n: _load(versions={"v2": 20}, sent=20) for n in NODES}, "v2") == {}


def test_versions_a_node_still_reaching_the_old_version_is_named() -> None:
    seen = {n: _load(versions={"v2": 20}, sent=20) for n in NODES}
    seen["node3"] = _load(versions={"v1": 1, "v2": 19}, sent=20)
    assert list(version_problems(seen, "v2")) == ["node3"]


def test_versions_a_node_with_failures_or_no_traffic_is_named() -> None:
    seen = {n: _load(versions={"v2": 20}, sent=20) for n in NODES}
    seen["node1"] = _load(versions={"v2": 18}, sent=20, failed=2)
    seen["node2"] = _load(versions={}, sent=0)
    assert sorted(version_problems(seen, "v2")) == ["node1", "node2"]


def test_the_timeline_puts_every_node_on_the_first_clients_clock() -> None:
    early = NodeLoad("node1", LoadReply(sent=5, failed=1, per_second=((2, 1), (2, 0))), 100.0, 100.4)
    late = NodeLoad("node2", LoadReply(sent=3, failed=3, per_second=((0, 3),)), 102.2, 102.5)
    unplaced = NodeLoad("node3", LoadReply(sent=1, per_second=((1, 0),)))
    timeline = TrafficSummary("http://web:8080/", [early, late, unplaced]).timeline()
    assert timeline == {
        "node1": [[2, 1], [2, 0]],
        "node2": [[0, 0], [0, 0], [0, 3]],  # launched 2.2 s after node1's client
        "node3": [[1, 0]],  # no launch time recorded: drawn from zero
    }
    assert TrafficSummary("u", [early]).to_dict()["timeline"] == {"node1": [[2, 1], [2, 0]]}
