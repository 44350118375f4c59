"""The drivers suite's verdicts catch what they claim, on synthetic observations shaped
like the probe agent's results: none, host, bridge, macvlan, a taken port, and overlay
isolation with its sanity inverse.
"""

from __future__ import annotations

from harness.probe.agent import DnsReply, IfacesReply, TcpReply
from harness.probe.service import ProbeDeployment, ProbeTask
from suites.drivers.checks import (
    bridge_dns_problem,
    host_network_problems,
    ingress_conflict_problem,
    none_network_problems,
    pair_dial_problems,
    taken_port_errors,
)
from suites.drivers.isolation import internal_verdict, isolation_verdict

NODES = ("node1", "node2", "node3")


def _dial(ok: bool, connected: bool | None = None, error: str | None = None) -> TcpReply:
    return TcpReply(ok=ok, connected=ok if connected is None else connected, error=None if ok else error)


# --- none ------------------------------------------------------------------------------------


def test_none_network_with_loopback_only_passes() -> None:
    assert none_network_problems({n: ["lo"] for n in NODES}) == {}


def test_none_network_with_an_interface_is_named_per_node() -> None:
    seen = {n: ["lo"] for n in NODES}
    seen["node2"] = ["eth0", "lo"]
    seen["node3"] = []
    assert none_network_problems(seen) == {"node2": ["eth0", "lo"], "node3": []}


# --- host -------------------------------------------------------------------------------------

LINKS = ["lo", "eth0", "docker0", "docker_gwbridge", "veth1a2b"]


def test_host_network_sharing_the_node_passes_whatever_veths_come_and_go() -> None:
    seen = IfacesReply(interfaces=("docker0", "docker_gwbridge", "eth0", "lo", "veth9z"), hostname="node1")
    assert host_network_problems(seen, LINKS, "node1", _dial(True)) == []


def test_host_network_in_its_own_namespace_is_caught() -> None:
    seen = IfacesReply.from_dict({"interfaces": ["eth0", "lo"], "hostname": "3f2a1b0c9d8e"})
    problems = host_network_problems(seen, LINKS, "node1", _dial(False, error="connection refused"))
    assert problems == [
        f"interfaces ['eth0', 'lo'], node has {sorted(LINKS)}",
        "hostname '3f2a1b0c9d8e', node is 'node1'",
        "node's sshd on 127.0.0.1:22 not reachable: connection refused",
    ]


def test_host_network_ignores_overlay_devices_other_checks_create_meanwhile() -> None:
    seen = IfacesReply.from_dict(
        {"interfaces": ["docker0", "docker_gwbridge", "eth0", "lo"], "hostname": "node1", "netns": "net:[1]"}
    )
    links = [*LINKS, "vx-001001-abcde"]
    assert host_network_problems(seen, links, "node1", _dial(True), "net:[1]") == []


def test_host_network_in_another_namespace_is_caught_even_with_the_same_links() -> None:
    seen = IfacesReply(interfaces=tuple(sorted(LINKS)), hostname="node1", netns="net:[4026532999]")
    problems = host_network_problems(seen, LINKS, "node1", _dial(True), "net:[4026531840]")
    assert problems == ["network namespace net:[4026532999], node's is net:[4026531840]"]


def test_host_network_missing_one_link_is_caught() -> None:
    seen = IfacesReply.from_dict({"interfaces": ["eth0", "lo", "docker0"], "hostname": "node1"})
    problems = host_network_problems(seen, LINKS, "node1", _dial(True))
    assert len(problems) == 1 and problems[0].startswith("interfaces ['eth0', 'lo', 'docker0']")


# --- bridge -----------------------------------------------------------------------------------


def _dns(addresses: list[str] | None = None, error: str | None = None) -> DnsReply:
    return DnsReply(ok=bool(addresses), addresses=tuple(addresses or []), error=error)


def test_bridge_user_resolves_and_default_does_not_passes() -> None:
    assert (
        bridge_dns_problem("br", "srv", "172.20.0.2", _dns(["172.20.0.2"]), "dft", _dns(error="timeout"))
        is None
    )


def test_bridge_user_bridge_not_resolving_is_caught_before_judging_the_default() -> None:
    """The sanity inverse: if the user bridge's resolver does not answer, "the default
    bridge does not resolve" proves nothing and must not pass."""
    problem = bridge_dns_problem(
        "br", "srv", "172.20.0.2", _dns(error="timeout"), "dft", _dns(error="timeout")
    )
    assert problem == "srv on br resolved to [], want [172.20.0.2]"


def test_bridge_user_bridge_resolving_a_wrong_address_is_caught() -> None:
    problem = bridge_dns_problem("br", "srv", "172.20.0.2", _dns(["172.20.0.9"]), "dft", _dns())
    assert problem == "srv on br resolved to ['172.20.0.9'], want [172.20.0.2]"


def test_bridge_default_bridge_resolving_a_name_is_caught() -> None:
    problem = bridge_dns_problem("br", "srv", "172.20.0.2", _dns(["172.20.0.2"]), "dft", _dns(["172.17.0.3"]))
    assert problem == "dft on the default bridge resolved to ['172.17.0.3']"


# --- macvlan ----------------------------------------------------------------------------------

ADDRESSES = {"node1": "198.18.0.130", "node2": "198.18.0.146", "node3": "198.18.0.162"}


def _mesh(ok: bool = True) -> dict[str, TcpReply]:
    return {
        f"{s}->{d}:{a}": _dial(ok, error="timed out")
        for s in ADDRESSES
        for d, a in ADDRESSES.items()
        if d != s
    }


def test_macvlan_every_pair_answering_passes() -> None:
    assert pair_dial_problems(ADDRESSES, _mesh()) == {}


def test_macvlan_a_pair_that_does_not_answer_is_named() -> None:
    results = _mesh()
    results["node2->node3:198.18.0.162"] = _dial(False, error="timed out")
    assert pair_dial_problems(ADDRESSES, results) == {"node2->node3:198.18.0.162": "timed out"}


def test_macvlan_a_pair_never_dialed_is_not_a_pass() -> None:
    results = _mesh()
    del results["node3->node1:198.18.0.130"]
    assert pair_dial_problems(ADDRESSES, results) == {"node3->node1:198.18.0.130": "not dialed"}


def test_macvlan_on_one_node_only_is_not_cross_host() -> None:
    problems = pair_dial_problems({"node1": "198.18.0.130"}, {})
    assert list(problems) == ["nodes"] and "needs two or more" in problems["nodes"]


# --- a taken port -------------------------------------------------------------------------------


def test_taken_ingress_port_refused_naming_the_port_passes() -> None:
    refusal = "port '31234' is already in use by service 'port-a' (x1) as an ingress port"
    assert ingress_conflict_problem(31234, refusal) is None


def test_taken_ingress_port_accepted_is_caught() -> None:
    assert ingress_conflict_problem(31234, None) == "a second service on ingress port 31234 was accepted"


def test_taken_ingress_port_refused_for_another_reason_is_caught() -> None:
    problem = ingress_conflict_problem(31234, "rpc error: code = Unknown desc = update out of sequence")
    assert problem is not None and problem.startswith("the refusal does not say port 31234 is already in use")
    other_port = ingress_conflict_problem(3123, "port '31234' is already in use by service 'port-a'")
    assert other_port is not None


def test_taken_host_port_error_must_name_that_port() -> None:
    errors = [
        "starting container failed: error while creating mount source path",
        "Bind for 0.0.0.0:31734 failed: port is already allocated",
    ]
    assert taken_port_errors(errors, 31734) == [errors[1]]
    assert taken_port_errors(errors, 3173) == []
    assert taken_port_errors(errors[:1], 31734) == []


# --- overlay isolation and --internal ------------------------------------------------------------

OTHER = ProbeDeployment(
    "probe-iso", "iso", {n: ProbeTask(n, f"c{i}", f"10.9.0.{i + 2}") for i, n in enumerate(NODES)}
)


def _pairs(ok: bool, targets: list[str], error: str = "timed out") -> dict[str, TcpReply]:
    return {f"{n}->{t}": _dial(ok, error=error) for n in NODES for t in targets}


TARGETS = [f"{n}:{t.address}" for n, t in OTHER.tasks.items()]


def test_isolation_holding_with_a_live_other_overlay_passes() -> None:
    problems = isolation_verdict(
        "plain", OTHER, _pairs(True, TARGETS), _pairs(False, TARGETS), _pairs(False, ["by-name"], "NXDOMAIN")
    )
    assert problems == []


def test_isolation_a_dead_other_overlay_cannot_pass_as_isolated() -> None:
    problems = isolation_verdict(
        "plain", OTHER, _pairs(False, TARGETS), _pairs(False, TARGETS), _pairs(False, ["by-name"])
    )
    assert len(problems) == 1 and problems[0].startswith("sanity: tasks on iso must reach each other")
    assert isolation_verdict("plain", OTHER, {}, {}, {})[0].startswith("sanity: tasks on iso must reach")


def test_isolation_reached_by_address_or_by_name_is_named_per_node() -> None:
    across = _pairs(False, TARGETS)
    across["node2->node3:10.9.0.4"] = _dial(False, connected=True, error="no greeting")
    names = _pairs(True, ["by-name"])
    problems = isolation_verdict("plain", OTHER, _pairs(True, TARGETS), across, names)
    assert problems == [
        "tasks on plain reached tasks on iso: ['node2->node3:10.9.0.4']",
        "probe-iso on iso was reachable by name from ['node1->by-name', 'node2->by-name', 'node3->by-name']",
    ]


SSHD = [f"{n}:22" for n in NODES]


def test_internal_overlay_with_no_route_out_passes() -> None:
    assert internal_verdict("int", _pairs(True, TARGETS), _pairs(True, SSHD), _pairs(False, SSHD)) == []


def test_internal_overlay_reaching_node_addresses_is_caught() -> None:
    escaped = _pairs(False, SSHD)
    escaped["node1->node3:22"] = _dial(True)
    problems = internal_verdict("int", _pairs(True, TARGETS), _pairs(True, SSHD), escaped)
    assert problems == ["the internal overlay int reached node addresses: ['node1->node3:22']"]


def test_internal_overlay_whose_sanity_dials_fail_or_are_missing_is_not_a_pass() -> None:
    dead = internal_verdict("int", _pairs(True, TARGETS), _pairs(False, SSHD), _pairs(False, SSHD))
    assert len(dead) == 1 and dead[0].startswith("sanity: these dials must work")
    assert "node2->node1:22" in dead[0]
    empty = internal_verdict("int", {}, {}, {})
    assert empty == ["sanity: these dials must work: {'none': 'a sanity dial set is empty'}"]
