"""Swarm nodes as a manager sees them: engine versions, availability, tasks still on a node.

Every read goes through ``via``, a manager named by the caller: while one manager's
engine is being replaced, another one answers.
"""

from __future__ import annotations

from harness.cluster import Cluster, SwarmNode

# Task states in which a container may still run on its node (a drain flips the desired
# state at once; the containers stop later).
LIVE_TASK_STATES = ("running", "starting", "preparing", "assigned")


def nodes_by_hostname(cluster: Cluster, via: str) -> dict[str, SwarmNode]:
    return {n.hostname: n for n in cluster.swarm_nodes(via)}


def engine_versions(cluster: Cluster, via: str) -> dict[str, str]:
    return {n.hostname: n.engine_version for n in cluster.swarm_nodes(via)}


def leader(cluster: Cluster, via: str) -> str | None:
    return next((n.hostname for n in cluster.swarm_nodes(via) if n.leader), None)


def drained(cluster: Cluster, via: str) -> list[str]:
    return sorted(n.hostname for n in cluster.swarm_nodes(via) if n.availability == "drain")


def node_id(cluster: Cluster, via: str, name: str) -> str:
    return next(n.id for n in cluster.swarm_nodes(via) if n.hostname == name)


def set_availability(cluster: Cluster, via: str, name: str, availability: str) -> None:
    node = cluster.docker(via).nodes.get(node_id(cluster, via, name))
    spec = node.attrs["Spec"]
    spec["Availability"] = availability
    node.update(spec)


def live_tasks(cluster: Cluster, via: str, nid: str) -> int:
    """How many tasks may still have a container on the node with id ``nid``."""
    tasks = cluster.docker(via).api.tasks(filters={"node": nid})
    return sum(1 for t in tasks if t["Status"]["State"] in LIVE_TASK_STATES)
