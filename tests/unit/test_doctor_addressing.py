"""The doctor's addressing findings, on what a 3-node lab's nodes and manager really answered."""

from __future__ import annotations

from harness.doctor.addressing import address_findings, parse_routes, route_findings, swarm_addresses
from harness.doctor.report import DoctorReport
from harness.run_verdict import doctor_findings

# node2 of a lab (ip -4 -o route show), and its manager's swarm, networks and nodes (trimmed).
ROUTES = (
    "198.18.23.0/24 dev eth0 proto kernel scope link src 198.18.23.12 \n"
    "198.19.0.0/24 dev docker0 proto kernel scope link src 198.19.0.1 linkdown \n"
    "198.19.1.0/24 dev docker_gwbridge proto kernel scope link src 198.19.1.1 \n"
)
SWARM = {"DefaultAddrPool": ["198.19.128.0/18"], "SubnetSize": 24}
NETWORKS = [
    {"Name": "harness-plain", "Driver": "overlay", "IPAM": {"Config": [{"Subnet": "198.19.129.0/24"}]}},
    {"Name": "ingress", "Driver": "overlay", "IPAM": {"Config": [{"Subnet": "198.19.128.0/24"}]}},
    {"Name": "bridge", "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "198.19.0.0/24"}]}},
]
NODES = [
    {
        "Description": {"Hostname": "node1"},
        "Status": {"Addr": "198.18.23.11"},
        "ManagerStatus": {"Addr": "198.18.23.11:2377"},
    },
    {"Description": {"Hostname": "node2"}, "Status": {"Addr": "198.18.23.12"}},
    {"Description": {"Hostname": "node3"}, "Status": {"Addr": "198.18.23.13"}},
]
KNOWN = {f"node{i}": (f"198.18.23.1{i}",) for i in (1, 2, 3)}


def test_a_healthy_lab_has_no_finding() -> None:
    swarm = swarm_addresses(SWARM, NETWORKS, NODES)
    assert swarm.overlays == {"harness-plain": ("198.19.129.0/24",), "ingress": ("198.19.128.0/24",)}
    routes = {n: parse_routes(ROUTES) for n in KNOWN}
    assert [r.prefix for r in routes["node2"]] == ["198.18.23.0/24", "198.19.0.0/24", "198.19.1.0/24"]
    assert route_findings(routes, swarm) == [] and address_findings(KNOWN, swarm) == []


def test_a_route_into_an_overlay_names_the_node_the_route_and_the_network() -> None:
    swarm = swarm_addresses(SWARM, NETWORKS, NODES)
    routes = {
        "node1": parse_routes(ROUTES),
        "node2": parse_routes(ROUTES + "198.19.129.0/25 dev eth0 scope link\n"),
    }
    (finding,) = route_findings(routes, swarm)
    assert finding.startswith(
        "route 198.19.129.0/25 dev eth0 on node2 overlaps overlay harness-plain (198.19.129.0/24)"
    )
    assert "moby#50011" in finding


def test_a_route_into_the_pool_only_is_the_next_overlay_waiting_to_break() -> None:
    swarm = swarm_addresses(SWARM, NETWORKS, NODES)
    (finding,) = route_findings({"node3": parse_routes("198.19.160.0/20 dev eth1 proto kernel\n")}, swarm)
    assert "on node3 overlaps the swarm's address pool 198.19.128.0/18" in finding


def test_default_and_special_routes_are_not_findings() -> None:
    routes = parse_routes("default via 198.18.23.1 dev eth0\nunreachable 198.19.129.0/24\nnot a route\n")
    assert routes == []


def test_a_node_joined_on_another_interface_is_named_with_both_addresses() -> None:
    nodes = [*NODES[:2], {"Description": {"Hostname": "node3"}, "Status": {"Addr": "10.0.0.13"}}]
    (finding,) = address_findings(KNOWN, swarm_addresses(SWARM, NETWORKS, nodes))
    assert finding.startswith(
        "node3 joined the swarm as 10.0.0.13, which is not an address the inventory knows"
    )
    assert "198.18.23.13" in finding


def test_a_manager_reported_at_0_0_0_0_is_read_from_its_raft_address() -> None:
    nodes = [
        {
            "Description": {"Hostname": "node1"},
            "Status": {"Addr": "0.0.0.0"},
            "ManagerStatus": {"Addr": "198.18.23.11:2377"},
        }
    ]
    assert swarm_addresses(SWARM, NETWORKS, nodes).node_addrs == {"node1": "198.18.23.11"}


def test_addressing_findings_are_part_of_the_run_verdict_and_survive_doctor_json() -> None:
    report = DoctorReport(
        addressing=["route 198.19.129.0/25 dev eth0 on node2 overlaps overlay harness-plain"]
    )
    again = DoctorReport.from_dict(report.to_dict())
    assert again.addressing == report.addressing
    assert (
        "doctor: route 198.19.129.0/25 dev eth0 on node2 overlaps overlay harness-plain"
        in doctor_findings(again)
    )
    assert "ADDRESS route 198.19.129.0/25" in again.table()
