"""Bootstrap is idempotent, keeps join tokens secret, and refuses a node of another swarm."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.errors import SwarmError
from harness.retry import NotYet, eventually
from harness.rundir import RunDir
from harness.swarm.bootstrap import bootstrap
from tests.lab.conftest import cli


def _node_ids(cluster: Cluster) -> dict[str, str]:
    return {n.attrs["Description"]["Hostname"]: n.id for n in cluster.manager_docker().nodes.list()}


def test_first_bootstrap_formed_the_swarm(shared_run_dir: Path, shared_cluster: Cluster) -> None:
    first = (shared_run_dir / "bootstrap-1.out").read_text()
    assert "init on node1" in first and "join node2 as worker" in first and "join node3 as worker" in first
    nodes = shared_cluster.manager_docker().nodes.list()
    assert (
        sorted((n.attrs["Status"]["State"], n.attrs["Spec"]["Availability"]) for n in nodes)
        == [("ready", "active")] * 3
    )
    addrs = sorted(n.attrs["Status"]["Addr"] for n in nodes)
    assert addrs == ["198.18.4.11", "198.18.4.12", "198.18.4.13"]
    labels = {n.attrs["Description"]["Hostname"]: n.attrs["Spec"]["Labels"] for n in nodes}
    assert labels["node2"]["harness.node"] == "node2"
    assert labels["node2"]["harness.release"] == "bookworm"


def test_second_bootstrap_changes_nothing(shared_run_dir: Path, shared_cluster: Cluster) -> None:
    before = _node_ids(shared_cluster)
    res = cli("bootstrap", "--inventory", str(RunDir(shared_run_dir).inventory))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "bootstrap: no changes (swarm already formed)" in res.stdout
    assert _node_ids(shared_cluster) == before


def test_join_tokens_never_reach_the_run_directory(shared_run_dir: Path, shared_cluster: Cluster) -> None:
    tokens = [
        shared_cluster.run("node1", f"docker swarm join-token -q {role}").check().stdout.strip()
        for role in ("worker", "manager")
    ]
    assert all(t.startswith("SWMTKN-") for t in tokens)
    leaks = []
    for path in shared_run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [str(path) for t in tokens if t.encode() in data]
    assert leaks == []


def test_node_in_another_swarm_is_an_error(shared_cluster: Cluster) -> None:
    node3 = shared_cluster.hosts["node3"]
    old_id = _node_ids(shared_cluster)["node3"]
    node3.run("docker swarm leave --force").check()
    node3.run("docker swarm init --advertise-addr 198.18.4.13").check()
    try:
        with pytest.raises(SwarmError, match="node3 belongs to another swarm"):
            bootstrap(shared_cluster)
    finally:
        node3.run("docker swarm leave --force").check()
        shared_cluster.run("node1", f"docker node rm --force {old_id}")
        shared_cluster.close()

    def _down() -> None:
        states = {n.id: n.attrs["Status"]["State"] for n in shared_cluster.manager_docker().nodes.list()}
        if old_id in states:
            raise NotYet(f"old node3 entry still listed ({states[old_id]})")

    eventually(_down, 30, "the old node3 entry to go")
    report = bootstrap(shared_cluster)
    assert report.actions[:1] == ["join node3 as worker"]
    assert sorted(_node_ids(shared_cluster)) == ["node1", "node2", "node3"]
