"""The typed node view reads what ``docker node inspect`` reports, on recorded attrs."""

from __future__ import annotations

from typing import Any

from harness.cluster import Cluster, SwarmNode

# `nodes.list()[i].attrs` as Engine 26.1 returned them on the lab (trimmed of platform
# and resource details the harness never reads).
MANAGER: dict[str, Any] = {
    "ID": "q1w2e3r4t5y6u7i8o9p0asdfg",
    "Version": {"Index": 31},
    "CreatedAt": "2026-12-02T20:01:12.123456789Z",
    "UpdatedAt": "2026-12-02T20:01:13.987654321Z",
    "Spec": {"Labels": {"harness.node": "node1"}, "Role": "manager", "Availability": "active"},
    "Description": {
        "Hostname": "node1",
        "Platform": {"Architecture": "x86_64", "OS": "linux"},
        "Engine": {"EngineVersion": "26.1.5+dfsg1", "Plugins": [{"Type": "Network", "Name": "overlay"}]},
    },
    "Status": {"State": "ready", "Addr": "198.18.10.11"},
    "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "198.18.10.11:2377"},
}
WORKER: dict[str, Any] = {
    "ID": "zxcvbnm1234567890qwertyui",
    "Version": {"Index": 40},
    "Spec": {"Labels": {}, "Role": "worker", "Availability": "drain"},
    "Description": {"Hostname": "node3", "Engine": {"EngineVersion": "20.10.24+dfsg1"}},
    "Status": {"State": "down", "Message": "heartbeat failure", "Addr": "198.18.10.13"},
}


def test_a_manager_reads_role_leadership_engine_and_labels() -> None:
    node = SwarmNode.from_attrs(MANAGER)
    assert node == SwarmNode(
        id="q1w2e3r4t5y6u7i8o9p0asdfg",
        hostname="node1",
        role="manager",
        availability="active",
        state="ready",
        engine_version="26.1.5+dfsg1",
        addr="198.18.10.11",
        leader=True,
        reachability="reachable",
        labels={"harness.node": "node1"},
    )


def test_a_worker_has_no_manager_status() -> None:
    node = SwarmNode.from_attrs(WORKER)
    assert (node.role, node.availability, node.state) == ("worker", "drain", "down")
    assert node.leader is False and node.reachability is None
    assert node.engine_version == "20.10.24+dfsg1" and node.labels == {}


def test_a_node_that_reports_little_still_reads() -> None:
    node = SwarmNode.from_attrs({"ID": "abc", "Spec": {}, "Status": {}})
    assert (node.id, node.hostname, node.state, node.engine_version) == ("abc", "", "", "")
    assert hash(node) == hash(SwarmNode.from_attrs({"ID": "abc"}))


class _Listed:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs


class _Client:
    class nodes:  # mirrors DockerClient.nodes
        @staticmethod
        def list() -> list[_Listed]:
            return [_Listed(MANAGER), _Listed(WORKER)]


def test_swarm_nodes_lists_every_node_through_the_chosen_manager() -> None:
    cluster = Cluster.__new__(Cluster)
    asked: list[object] = []

    def _docker(node: object) -> _Client:
        asked.append(node)
        return _Client()

    cluster.docker = _docker  # type: ignore[method-assign]
    cluster.manager_docker = lambda: _docker("first manager")  # type: ignore[method-assign]
    assert [n.hostname for n in cluster.swarm_nodes()] == ["node1", "node3"]
    assert [n.state for n in cluster.swarm_nodes("node2")] == ["ready", "down"]
    assert asked == ["first manager", "node2"]
