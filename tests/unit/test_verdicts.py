"""Each suite's verdict catches what it claims, on synthetic observations shaped like
the probe agent's and the engine's, naming the nodes: DNS, load-balancer spread,
encryption on the wire, the shop stack and the new leader's updates.

Every broken case is paired with a healthy one, so neither a verdict that always
complains nor one that never does can pass these tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.probe.agent import DnsReply, TcpReply
from harness.probe.capture import (
    OutsideCapture,
    WireCapture,
    encrypted_problems,
    encrypted_symptoms,
    plain_problems,
)
from harness.probe.dns import NXDOMAIN, absence_problems, address_problems, control
from harness.probe.lb import Answers, spread_problems
from harness.probe.service import ProbeDeployment, ProbeTask
from suites.faults.checks import converged_problems, spec_version
from suites.stack.shop import ALLOWED, expected_edges, leaked, leftover_problems, unreachable

NODES = ("node1", "node2", "node3")


def _dns(addresses: list[str] | None = None, error: str | None = None) -> DnsReply:
    return DnsReply(ok=bool(addresses), addresses=tuple(addresses or []), error=error)


# --- DNS ---------------------------------------------------------------------------

TASKS = {"10.0.1.2", "10.0.1.3"}


def test_dns_every_node_agreeing_with_the_manager_passes() -> None:
    seen = {n: _dns(sorted(TASKS)) for n in NODES}
    assert address_problems("tasks.web", seen, TASKS) == []


def test_dns_a_stale_address_on_one_node_is_named_with_what_is_extra() -> None:
    seen = {n: _dns(sorted(TASKS)) for n in NODES}
    seen["node2"] = _dns([*sorted(TASKS), "10.0.1.9"])
    problems = address_problems("tasks.web", seen, TASKS)
    assert problems == [
        "node2 got ['10.0.1.2', '10.0.1.3', '10.0.1.9'] (extra ['10.0.1.9'], missing [], error none)"
    ]


def test_dns_a_missing_address_on_one_node_is_named_with_what_is_missing() -> None:
    seen = {n: _dns(sorted(TASKS)) for n in NODES}
    seen["node3"] = _dns(["10.0.1.2"])
    problems = address_problems("tasks.web", seen, TASKS)
    assert problems == ["node3 got ['10.0.1.2'] (extra [], missing ['10.0.1.3'], error none)"]


def test_dns_a_broken_name_fails_on_every_node_with_the_resolver_error() -> None:
    seen = {n: _dns(error="timeout") for n in NODES}
    problems = address_problems("tasks.web", seen, TASKS)
    assert [p.split(" ")[0] for p in problems] == list(NODES)
    assert all("missing ['10.0.1.2', '10.0.1.3'], error timeout" in p for p in problems)


PROBES = ProbeDeployment(
    "probe-net", "net", {n: ProbeTask(n, f"c{i}", f"10.0.0.{i + 2}") for i, n in enumerate(NODES)}
)


def _absent(name_result: DnsReply, control_result: DnsReply) -> dict[str, DnsReply]:
    ctl, _ = control(PROBES)
    return {"gone": name_result, ctl: control_result}


def test_dns_control_is_the_probes_own_tasks() -> None:
    assert control(PROBES) == ("tasks.probe-net", {"10.0.0.2", "10.0.0.3", "10.0.0.4"})


@pytest.mark.parametrize("error", [NXDOMAIN, "timeout"])
def test_dns_a_gone_name_passes_when_the_resolver_answers_the_control(error: str) -> None:
    ctl, ctl_addresses = control(PROBES)
    up = _dns(sorted(ctl_addresses))
    seen = {n: _absent(_dns(error=error), up) for n in NODES}
    assert absence_problems("gone", seen, ctl, ctl_addresses) == []


def test_dns_a_gone_name_still_resolving_on_one_node_is_named() -> None:
    ctl, ctl_addresses = control(PROBES)
    up = _dns(sorted(ctl_addresses))
    seen = {n: _absent(_dns(error=NXDOMAIN), up) for n in NODES}
    seen["node1"] = _absent(_dns(["10.0.1.2"]), up)
    assert absence_problems("gone", seen, ctl, ctl_addresses) == ["node1 still resolves ['10.0.1.2']"]


def test_dns_down_does_not_pass_for_a_name_that_is_gone() -> None:
    """The vacuous pass this guards against: with the resolver dead, every name gives
    no address, so "gone" alone would always hold."""
    ctl, ctl_addresses = control(PROBES)
    up = _dns(sorted(ctl_addresses))
    seen = {n: _absent(_dns(error=NXDOMAIN), up) for n in NODES}
    seen["node2"] = _absent(_dns(error="timeout"), _dns(error="timeout"))
    problems = absence_problems("gone", seen, ctl, ctl_addresses)
    assert len(problems) == 1
    assert problems[0].startswith("node2 resolver not answering: the control name tasks.probe-net gave []")
    assert "error timeout" in problems[0] and "proves nothing" in problems[0]


def test_dns_a_control_missing_a_probe_task_is_not_an_answering_resolver() -> None:
    ctl, ctl_addresses = control(PROBES)
    seen = {n: _absent(_dns(error=NXDOMAIN), _dns(sorted(ctl_addresses))) for n in NODES}
    seen["node3"] = _absent(_dns(error=NXDOMAIN), _dns(["10.0.0.2"]))
    problems = absence_problems("gone", seen, ctl, ctl_addresses)
    assert len(problems) == 1 and problems[0].startswith("node3 resolver not answering")
    assert "missing ['10.0.0.3', '10.0.0.4']" in problems[0]
    assert "the resolver answered NXDOMAIN" in problems[0]


def test_dns_a_node_without_the_control_result_is_not_proven() -> None:
    ctl, ctl_addresses = control(PROBES)
    seen = {n: _absent(_dns(error=NXDOMAIN), _dns(sorted(ctl_addresses))) for n in NODES}
    seen["node2"] = {"gone": _dns(error=NXDOMAIN)}
    problems = absence_problems("gone", seen, ctl, ctl_addresses)
    assert len(problems) == 1 and "error no result" in problems[0] and problems[0].startswith("node2 ")


# --- load-balancer spread ------------------------------------------------------------

BACKENDS = {"aaa", "bbb", "ccc"}


def _answers(by_backend: dict[str, int], errors: dict[str, int] | None = None) -> Answers:
    errors = errors or {}
    return Answers("http://web:8080/", sum(by_backend.values()) + sum(errors.values()), by_backend, errors)


def test_lb_an_even_spread_passes() -> None:
    assert spread_problems(_answers({"aaa": 10, "bbb": 10, "ccc": 10}), BACKENDS) == []


def test_lb_a_replica_that_never_answers_is_named() -> None:
    problems = spread_problems(_answers({"aaa": 15, "bbb": 15}), BACKENDS)
    assert problems == ["backends answering fewer than 2 times: {'ccc': 0}"]


def test_lb_a_replica_answering_once_is_below_the_minimum() -> None:
    problems = spread_problems(_answers({"aaa": 15, "bbb": 14, "ccc": 1}), BACKENDS)
    assert problems == ["backends answering fewer than 2 times: {'ccc': 1}"]
    assert spread_problems(_answers({"aaa": 15, "bbb": 14, "ccc": 1}), BACKENDS, min_each=1) == []


def test_lb_an_unknown_backend_answering_is_named() -> None:
    problems = spread_problems(_answers({"aaa": 10, "bbb": 10, "ccc": 9, "zzz": 1}), BACKENDS)
    assert problems == ["foreign backends answered: ['zzz']"]


def test_lb_failed_requests_are_counted_against_what_was_sent() -> None:
    problems = spread_problems(_answers({"aaa": 10, "bbb": 9, "ccc": 9}, {"timed out": 2}), BACKENDS)
    assert problems == ["2 of 30 requests failed: {'timed out': 2}"]


def test_lb_nothing_answering_at_all_reports_every_replica_and_the_errors() -> None:
    problems = spread_problems(_answers({}, {"connection refused": 30}), BACKENDS)
    assert problems == [
        "backends answering fewer than 2 times: {'aaa': 0, 'bbb': 0, 'ccc': 0}",
        "30 of 30 requests failed: {'connection refused': 30}",
    ]


def test_lb_no_backend_or_no_request_is_not_a_spread() -> None:
    assert spread_problems(_answers({}), set()) == [
        "no backends to spread over: the service has no running task",
        "no request was sent",
    ]


# --- encryption on the wire ------------------------------------------------------------


def _cap(network: str, plaintext: int, esp: int, sa_peers: list[str], answered: int = 120) -> WireCapture:
    return WireCapture(
        network=network,
        vni=4097,
        src="node1",
        dst="node2",
        interface="eth0",
        port=4789,
        vxlan_plaintext=plaintext,
        esp=esp,
        other_vxlan=0,
        requests_sent=120,
        sa_peers=sa_peers,
        requests_answered=answered,
        path_problems=() if answered else ("node1, network harness-plain: missing neighbour: node2's task",),
    )


def test_wire_plain_network_with_plaintext_vxlan_passes() -> None:
    assert plain_problems(_cap("harness-plain", 240, 0, [])) == []


def test_wire_a_capture_that_saw_nothing_on_the_plain_network_is_itself_broken() -> None:
    problems = plain_problems(_cap("harness-plain", 0, 0, []))
    assert len(problems) == 1
    assert "the capture on node1:eth0 saw no plaintext VXLAN for VNI 4097" in problems[0]
    assert "the capture itself is broken" in problems[0]


def test_wire_a_path_that_answered_nothing_is_named_as_the_path_not_the_capture() -> None:
    # Nothing crossed (no neighbour entry: the kernel sends nothing), so the capture is
    # not to blame, and the message carries the tables' diagnosis.
    (problem,) = plain_problems(_cap("harness-plain", 0, 0, [], answered=0))
    assert "none of 120 requests from node1 reached node2 over the plain network harness-plain" in problem
    assert "the overlay path is broken, not the capture" in problem
    assert "missing neighbour: node2's task" in problem


def test_wire_encrypted_network_with_esp_only_and_an_sa_passes() -> None:
    assert encrypted_problems(_cap("harness-encrypted", 0, 240, ["198.18.0.12"]), "198.18.0.12") == []


def test_wire_plaintext_vxlan_on_the_encrypted_network_is_caught() -> None:
    """The case that matters (CVE-2023-28840): ESP and SAs present, yet plaintext leaks."""
    problems = encrypted_problems(_cap("harness-encrypted", 3, 240, ["198.18.0.12"]), "198.18.0.12")
    assert problems == [
        "3 PLAINTEXT VXLAN packets of the encrypted network harness-encrypted (VNI 4097) left node1 "
        "for node2: traffic is not encrypted"
    ]


def test_wire_encrypted_network_sent_entirely_in_plaintext_is_caught_three_ways() -> None:
    problems = encrypted_problems(_cap("harness-encrypted", 240, 0, []), "198.18.0.12")
    assert len(problems) == 3
    assert "PLAINTEXT VXLAN" in problems[0]
    assert problems[1] == "no ESP packets from node1 to node2 while 120 requests were sent"
    assert problems[2] == "node1 holds no xfrm SA towards node2 (198.18.0.12); SAs for: none"


def test_wire_an_sa_for_another_peer_only_is_not_an_sa_for_the_destination() -> None:
    problems = encrypted_problems(_cap("harness-encrypted", 0, 240, ["198.18.0.13"]), "198.18.0.12")
    assert problems == ["node1 holds no xfrm SA towards node2 (198.18.0.12); SAs for: ['198.18.0.13']"]


def _outside(cap: WireCapture, plaintext: int, esp: int) -> WireCapture:
    return dataclasses.replace(cap, outside=OutsideCapture("shv-lab-1", plaintext, esp, 0))


def test_wire_outside_the_node_must_agree_with_the_inside() -> None:
    """A node whose own capture looks right (a tcpdump or kernel that lies) is still caught
    by the capture on this machine's bridge port, and a broken outside capture is named."""
    good_enc = _cap("harness-encrypted", 0, 240, ["198.18.0.12"])
    assert encrypted_problems(_outside(good_enc, 0, 240), "198.18.0.12") == []
    leaked = encrypted_problems(_outside(good_enc, 5, 240), "198.18.0.12")
    assert leaked == [
        "5 PLAINTEXT VXLAN packets of the encrypted network harness-encrypted (VNI 4097) crossed the lab "
        "bridge from node1 for node2 (captured outside the node, on this machine's shv-lab-1): traffic is "
        "not encrypted on the wire"
    ]
    symptoms = encrypted_symptoms(_outside(good_enc, 5, 240), "198.18.0.12")
    assert [s.kind for s in symptoms] == ["plaintext"]  # never excusable as a missing ESP
    no_esp = encrypted_problems(_outside(good_enc, 0, 0), "198.18.0.12")
    assert no_esp == [
        "no ESP packets from node1 to node2 on the wire outside the node (this machine's shv-lab-1) "
        "while 120 requests were sent"
    ]
    good_plain = _cap("harness-plain", 240, 0, [])
    assert plain_problems(_outside(good_plain, 240, 0)) == []
    (blind,) = plain_problems(_outside(good_plain, 0, 0))
    assert "outside node1, on this machine's shv-lab-1, saw no plaintext VXLAN for VNI 4097" in blind


# --- the shop stack ---------------------------------------------------------------------


def _task(node: str) -> ProbeTask:
    return ProbeTask(node, f"c-{node}", "")


SHOP_TASKS = {
    "frontend": [_task("node1"), _task("node2")],
    "payment": [_task("node2"), _task("node3")],
}


def _dial(ok: bool, connected: bool | None = None, error: str | None = None) -> TcpReply:
    return TcpReply(ok=ok, connected=ok if connected is None else connected, error=error)


def test_stack_expected_edges_name_every_replica_and_peer() -> None:
    assert expected_edges(SHOP_TASKS, {"payment": ALLOWED["payment"]}) == [
        "payment@node2->payment-db",
        "payment@node3->payment-db",
    ]


def test_stack_a_removed_dependency_is_unreachable_from_each_replica() -> None:
    edges = expected_edges(SHOP_TASKS, {"payment": ("payment-db",)})
    healthy = {e: _dial(True) for e in edges}
    assert unreachable(healthy, edges) == {}
    broken = {e: _dial(False, error="NXDOMAIN") for e in edges}
    assert unreachable(broken, edges) == {e: "NXDOMAIN" for e in edges}


def test_stack_a_replica_left_out_of_the_dials_is_not_a_pass() -> None:
    edges = expected_edges(SHOP_TASKS, {"payment": ("payment-db",)})
    partial = {"payment@node2->payment-db": _dial(True)}
    assert unreachable(partial, edges) == {"payment@node3->payment-db": "not dialed"}


def test_stack_a_forbidden_database_reached_or_merely_connected_is_a_leak() -> None:
    results = {
        "frontend@node1->order-db": _dial(True),
        "frontend@node2->order-db": _dial(False, connected=True, error="no greeting"),
        "frontend@node1->payment-db": _dial(False, error="timeout"),
    }
    assert leaked(results) == ["frontend@node1->order-db", "frontend@node2->order-db"]
    assert leaked({"frontend@node1->payment-db": _dial(False, error="timeout")}) == []


def test_stack_rm_leftovers_name_the_object_and_the_node() -> None:
    assert leftover_problems([], [], {"node1": "0\n", "node2": "0\n", "node3": "0\n"}) == []
    assert leftover_problems(["shop_frontend"], ["shop_order-data"], {"node1": "0\n", "node3": "1\n"}) == [
        "service shop_frontend",
        "network shop_order-data",
        "1 containers on node3",
    ]


def test_stack_rm_an_unreadable_node_is_not_a_clean_one() -> None:
    assert leftover_problems([], [], {"node1": "0\n", "node2": ""}) == [
        "container count on node2 unreadable: ''"
    ]


# --- the new leader's updates ----------------------------------------------------------------

V1, V2 = "swarm-harness/probe:v1", "swarm-harness/probe:v2"


def _service(version: int, replicas: int, image: str) -> dict[str, Any]:
    return {
        "Version": {"Index": version},
        "Spec": {
            "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": f"{image}@sha256:abc"}},
        },
    }


def _swarm_task(node_id: str, image: str, state: str = "running", desired: str = "running") -> dict[str, Any]:
    return {
        "NodeID": node_id,
        "DesiredState": desired,
        "Status": {"State": state},
        "Spec": {"ContainerSpec": {"Image": image}},
    }


def test_leader_update_carried_out_passes() -> None:
    tasks = [_swarm_task("n2", V2), _swarm_task("n3", V2), _swarm_task("n2", V1, "shutdown", "shutdown")]
    assert converged_problems(_service(14, 2, V2), tasks, 2, V2, 12, {"n1"}) == []
    assert spec_version(_service(14, 2, V2)) == 14


def test_leader_update_accepted_but_not_recorded_is_caught() -> None:
    tasks = [_swarm_task("n2", V1), _swarm_task("n3", V1)]
    problems = converged_problems(_service(12, 2, V1), tasks, 2, V2, 12, {"n1"})
    assert problems == [
        "spec version 12 is not newer than 12: the update was not recorded",
        f"spec image {V1}, want {V2}",
        f"0 of 2 tasks run {V2} (running: ['{V1}', '{V1}'])",
    ]


def test_leader_update_recorded_but_tasks_not_moved_is_caught() -> None:
    tasks = [_swarm_task("n2", V2), _swarm_task("n3", V1), _swarm_task("n3", V2, "preparing")]
    problems = converged_problems(_service(14, 2, V2), tasks, 2, V2, 12, {"n1"})
    assert problems == [f"1 of 2 tasks run {V2} (running: ['{V1}', '{V2}'])"]


def test_leader_scale_not_carried_out_is_caught() -> None:
    problems = converged_problems(_service(13, 1, V1), [_swarm_task("n2", V1)], 2, V1, 12, set())
    assert problems == ["spec asks for 1 replicas, want 2", f"1 of 2 tasks run {V1} (running: ['{V1}'])"]


def test_leader_tasks_claimed_on_the_stopped_node_are_caught() -> None:
    tasks = [_swarm_task("n1", V2), _swarm_task("n3", V2)]
    problems = converged_problems(_service(14, 2, V2), tasks, 2, V2, 12, {"n1"})
    assert problems == ["tasks reported running on stopped nodes ['n1']"]
