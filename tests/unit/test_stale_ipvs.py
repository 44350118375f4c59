"""The stale-IPVS check's verdict on recorded observations (moby#36878).

Each case is what a node's client would record through the VIP if the fault were
there: the pinned UDP flow blackholed after the update, an answer from a replaced
task, a TCP connection to one, or nothing sent at all. The healthy case must pass
and every broken one must name the node's flow and what it met.
"""

from __future__ import annotations

import pytest

from harness import verdict
from harness.probe.lb import Answers
from harness.probe.stale_ipvs import NodeFlows, before_symptom, node_problems, symptom, update_problems

OLD = {"aaaaaaaaaaa1", "aaaaaaaaaaa2", "aaaaaaaaaaa3"}
NEW = {"bbbbbbbbbbb1", "bbbbbbbbbbb2", "bbbbbbbbbbb3"}
FLOW = "udp://lb-vip-1a2b3c:9090 from source port 41007"
TCP = "http://lb-vip-1a2b3c:8080/"


def _udp(by: dict[str, int], errors: dict[str, int] | None = None, sent: int = 3) -> Answers:
    return Answers(FLOW, sent, by, errors or {})


def _tcp(by: dict[str, int], errors: dict[str, int] | None = None, sent: int = 10) -> Answers:
    return Answers(TCP, sent, by, errors or {})


BEFORE = _udp({"aaaaaaaaaaa2": 1}, sent=1)
HEALTHY_TCP = _tcp({"bbbbbbbbbbb1": 4, "bbbbbbbbbbb2": 3, "bbbbbbbbbbb3": 3})


def test_a_flow_that_moved_to_a_new_task_and_fresh_connections_to_new_tasks_pass() -> None:
    flows = NodeFlows("node2", BEFORE, _udp({"bbbbbbbbbbb3": 3}), HEALTHY_TCP)
    assert node_problems(flows, OLD, NEW) == []


def test_a_blackholed_pinned_flow_is_named_with_the_task_it_reached_before() -> None:
    flows = NodeFlows("node2", BEFORE, _udp({}, {"timeout": 3}), HEALTHY_TCP)
    problems = node_problems(flows, OLD, NEW)
    assert len(problems) == 1
    assert FLOW in problems[0] and "aaaaaaaaaaa2" in problems[0] and "moby#36878" in problems[0]
    kind = symptom("node2", flows.pinned_after, problems)
    # Never excusable as a missing IPVS: the same flow was answered before the update.
    assert kind.kind == verdict.LOSS and kind.nodes == ("node2",)


def test_an_answer_from_a_replaced_task_is_reported_on_either_protocol() -> None:
    udp_stale = NodeFlows("node1", BEFORE, _udp({"aaaaaaaaaaa2": 3}), HEALTHY_TCP)
    assert node_problems(udp_stale, OLD, NEW) == [
        "the pinned UDP flow reached tasks the update replaced: {'aaaaaaaaaaa2': 3}"
    ]
    tcp_stale = NodeFlows("node1", BEFORE, _udp({"bbbbbbbbbbb1": 3}), _tcp({"bbbbbbbbbbb1": 9, "aaaaaaaaaaa1": 1}))
    assert node_problems(tcp_stale, OLD, NEW) == ["fresh TCP connections reached tasks the update replaced: {'aaaaaaaaaaa1': 1}"]
    assert symptom("node1", tcp_stale.tcp_after, ["x"]).kind == verdict.WRONG_ANSWER


def test_partial_loss_and_strangers_are_reported() -> None:
    flows = NodeFlows(
        "node3",
        BEFORE,
        _udp({"bbbbbbbbbbb1": 2}, {"timeout": 1}),
        _tcp({"bbbbbbbbbbb2": 8, "ccccccccccc9": 1}, {"ECONNRESET": 1}),
    )
    problems = node_problems(flows, OLD, NEW)
    assert any("1 of 3 requests of " + FLOW in p for p in problems)
    assert any("1 of 10 fresh TCP connections" in p for p in problems)
    assert any("neither old nor new" in p and "ccccccccccc9" in p for p in problems)


def test_nothing_sent_after_the_update_cannot_pass() -> None:
    flows = NodeFlows("node1", BEFORE, _udp({}, sent=0), _tcp({}, sent=0))
    assert node_problems(flows, OLD, NEW) == ["no request was sent through the VIP after the update"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (OLD, NEW, []),
        (set(), NEW, ["the service had no running task before the update"]),
        (OLD, set(), ["the service has no running task after the update"]),
        (OLD, {"aaaaaaaaaaa1", "bbbbbbbbbbb2"}, ["the update kept tasks ['aaaaaaaaaaa1']: it must replace every one"]),
    ],
)
def test_the_update_must_replace_every_task(old: set[str], new: set[str], expected: list[str]) -> None:
    assert update_problems(old, new) == expected


def test_silence_before_the_update_is_judged_like_a_vip_without_ipvs() -> None:
    """Only this phase can match the ipvs signature: nothing answered at all."""
    silent = before_symptom("node1", _udp({}, {"timeout": 1}, sent=1))
    assert silent.kind == verdict.TIMEOUT and silent.nodes == ("node1",)
    refused = before_symptom("node1", _udp({}, {"ECONNREFUSED": 1}, sent=1))
    assert refused.kind == verdict.REFUSED
