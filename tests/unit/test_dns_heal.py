"""The post-disconnect DNS check's judgement (moby#53141), on agent replies shaped as the
probe prints them: the node that cannot resolve is named with what it got."""

from __future__ import annotations

from harness.probe.agent import DnsReply
from harness.probe.dns import NXDOMAIN, name_view_problems

SVC = "fault-dns-abc123"
VIP = "198.19.129.20"
TASKS = {"198.19.129.21", "198.19.129.22", "198.19.129.23"}


def _ok(name: str, addresses: set[str]) -> DnsReply:
    return DnsReply(name=name, ok=True, addresses=tuple(sorted(addresses)))


def _healthy() -> dict[str, DnsReply]:
    return {SVC: _ok(SVC, {VIP}), f"tasks.{SVC}": _ok(f"tasks.{SVC}", TASKS)}


def test_every_node_resolving_the_vip_and_the_tasks_is_no_problem() -> None:
    seen = {n: _healthy() for n in ("node1", "node2", "node3")}
    assert name_view_problems(seen, SVC, VIP, TASKS) == []


def test_an_nxdomain_that_does_not_heal_names_the_node_and_what_it_got() -> None:
    broken = {
        SVC: DnsReply(name=SVC, ok=False, error=NXDOMAIN),
        f"tasks.{SVC}": _ok(f"tasks.{SVC}", {"198.19.129.21"}),
    }
    seen = {"node1": _healthy(), "node2": _healthy(), "node3": broken}
    problems = name_view_problems(seen, SVC, VIP, TASKS)
    assert problems == [
        f"{SVC}: node3 got [] (extra [], missing ['{VIP}'], error NXDOMAIN)",
        f"tasks.{SVC}: node3 got ['198.19.129.21'] (extra [], missing ['198.19.129.22', '198.19.129.23'], "
        "error none)",
    ]


def test_a_stale_task_address_and_a_missing_answer_are_problems_too() -> None:
    stale = {SVC: _ok(SVC, {VIP}), f"tasks.{SVC}": _ok(f"tasks.{SVC}", TASKS | {"198.19.129.9"})}
    seen = {"node1": stale, "node2": {SVC: _ok(SVC, {VIP})}}
    problems = name_view_problems(seen, SVC, VIP, TASKS)
    assert problems[0].startswith(f"tasks.{SVC}: node1 got") and "extra ['198.19.129.9']" in problems[0]
    assert problems[1] == (
        f"tasks.{SVC}: node2 got [] (extra [], missing {sorted(TASKS)}, error no result)"
    )


def test_dnsrr_wants_the_task_set_for_the_service_name() -> None:
    seen = {"node1": {SVC: _ok(SVC, TASKS), f"tasks.{SVC}": _ok(f"tasks.{SVC}", TASKS)}}
    assert name_view_problems(seen, SVC, None, TASKS) == []
