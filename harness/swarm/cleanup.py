"""Removing the Docker objects a check labelled: services, containers, then networks.

Order matters: a network stays in use until the swarm has deleted the tasks of the
services on it, and every premature removal makes dockerd log an error the run's
log scan would count against the run. So each step waits for the one before it.
"""

from __future__ import annotations

import logging

import docker.errors
import docker.models.networks

from harness.cluster import Cluster
from harness.errors import WaitTimeout
from harness.retry import NotYet, eventually
from harness.swarm.networks import network_gone, remove_swarm_network

log = logging.getLogger(__name__)


def cleanup_by_label(cluster: Cluster, label: str) -> None:
    """Remove every service, container and network carrying ``label`` (``key=value``)."""
    client = cluster.manager_docker()
    removed = set()
    for svc in client.services.list(filters={"label": label}):
        svc.remove()
        removed.add(svc.id)
    quoted = label.replace("'", "")
    # Containers a test ran itself; a service's tasks are left to the swarm to stop
    # gracefully (a forced removal kills them and dockerd logs a fatal task error).
    cluster.run_all(
        f"docker ps -a --filter 'label={quoted}' --format '{{{{.ID}}}} {{{{.Label \"com.docker.swarm.task.id\"}}}}'"
        " | awk '$2 == \"\" {print $1}' | xargs -r docker rm -f",
        timeout_s=60,
    )

    def _tasks_gone() -> None:
        # Until the swarm has deleted a removed service's tasks, its networks are "in use"
        # and each removal attempt makes dockerd log an error: wait for that instead.
        left = [t["ID"][:12] for t in client.api.tasks() if t.get("ServiceID") in removed]
        if left:
            raise NotYet(f"{len(left)} tasks of removed services still listed: {', '.join(left[:5])}")

    if removed:
        try:
            eventually(_tasks_gone, 60, f"the tasks of services labelled {label} to be deleted", interval_s=1)
        except WaitTimeout as exc:
            log.warning("%s; removing their networks anyway", exc.message)

    deleted: set[str] = set()

    def _networks_gone() -> None:
        # A swarm network stays "in use" until its tasks are torn down on every node. The
        # manager may list a network it has just deleted for a moment: never ask twice.
        busy = []
        for net in client.networks.list(filters={"label": label}):
            if net.id in deleted:
                continue
            if net.attrs.get("Scope") == "swarm":
                why = remove_swarm_network(client, net.id)
            else:
                why = _remove_local(net)
            if why is not None:
                busy.append(f"{net.name}: {why}")
                continue
            deleted.add(net.id)
        if busy:
            raise NotYet("; ".join(busy))

    try:
        eventually(_networks_gone, 30, f"networks labelled {label} to be removable", interval_s=1)
    except WaitTimeout as exc:
        log.warning("%s; 'swarm-harness purge' removes them later", exc.message)
    # Node-local networks (bridges, macvlan config-only networks) exist on their node only.
    # Swarm-scoped ones were removed through the manager above; asking a worker (or a
    # manager's stale listing) to remove one only makes dockerd log an error.
    cluster.run_all(
        f"docker network ls -q --filter 'label={quoted}' --filter scope=local | xargs -r docker network rm",
        timeout_s=60,
    )


def _remove_local(net: docker.models.networks.Network) -> str | None:
    try:
        net.remove()
    except docker.errors.APIError as exc:
        return None if network_gone(exc) else str(exc.explanation)
    return None

