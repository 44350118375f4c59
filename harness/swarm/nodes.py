"""Swarm nodes as a manager sees them: engine versions, availability, tasks still on a node.

Every read goes through ``via``, a manager named by the caller: while one manager's
engine is being replaced, another one answers.
"""

from __future__ import annotations

from typing import Any

from harness.cluster import Cluster

# Task states in which a container may still run on its node (a drain flips the desired
# state at once; the containers stop later).
LIVE_TASK_STATES = ("running", "starting", "preparing", "assigned")


def node_rows(cluster: Cluster, via: str) -> dict[str, dict[str, Any]]:
    """Each node's attributes, by hostname."""
    return {n.attrs["Description"]["Hostname"]: n.attrs for n in cluster.docker(via).nodes.list()}


def engine_versions(cluster: Cluster, via: str) -> dict[str, str]:
    return {h: a["Description"]["Engine"]["EngineVersion"] for h, a in node_rows(cluster, via).items()}


def leader(cluster: Cluster, via: str) -> str | None:
    rows = node_rows(cluster, via)
    return next((h for h, a in rows.items() if a.get("ManagerStatus", {}).get("Leader")), None)


def drained(cluster: Cluster, via: str) -> list[str]:
    return sorted(
        h for h, a in node_rows(cluster, via).items() if a.get("Spec", {}).get("Availability") == "drain"
    )


def node_id(cluster: Cluster, via: str, name: str) -> str:
    return next(
        str(n.id) for n in cluster.docker(via).nodes.list() if n.attrs["Description"]["Hostname"] == name
    )


def set_availability(cluster: Cluster, via: str, name: str, availability: str) -> None:
    node = cluster.docker(via).nodes.get(node_id(cluster, via, name))
    spec = node.attrs["Spec"]
    spec["Availability"] = availability
    node.update(spec)


def live_tasks(cluster: Cluster, via: str, nid: str) -> int:
    """How many tasks may still have a container on the node with id ``nid``."""
    tasks = cluster.docker(via).api.tasks(filters={"node": nid})
    return sum(1 for t in tasks if t["Status"]["State"] in LIVE_TASK_STATES)
