"""The overlay networks under test: one plain, one ``--opt encrypted``, both attachable."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import docker.errors

from harness.cluster import Cluster
from harness.errors import SwarmError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    encrypted: bool

    @property
    def kind(self) -> str:
        return "encrypted" if self.encrypted else "plain"


DEFAULT_NETWORKS = (NetworkSpec("harness-plain", False), NetworkSpec("harness-encrypted", True))


def ensure_networks(cluster: Cluster, specs: tuple[NetworkSpec, ...] = DEFAULT_NETWORKS) -> list[str]:
    """Create missing networks; refuse an existing one whose kind differs."""
    client = cluster.manager_docker()
    actions = []
    for spec in specs:
        found = [n for n in client.networks.list(names=[spec.name]) if n.name == spec.name]
        if found:
            attrs = client.api.inspect_network(found[0].id)
            encrypted = "encrypted" in (attrs.get("Options") or {})
            if attrs.get("Driver") != "overlay" or encrypted != spec.encrypted:
                raise SwarmError(
                    f"network {spec.name} exists but is not a {spec.kind} overlay "
                    f"(driver {attrs.get('Driver')}, encrypted={encrypted})",
                    "remove it or configure other network names",
                )
            continue
        options = {"encrypted": ""} if spec.encrypted else {}
        client.networks.create(
            spec.name,
            driver="overlay",
            attachable=True,
            options=options,
            labels={"com.swarm-harness.run": cluster.run_id, "com.swarm-harness.network": spec.kind},
        )
        log.info("created %s overlay %s", spec.kind, spec.name)
        actions.append(f"network {spec.name}")
    return actions


def network_gone(exc: docker.errors.APIError) -> bool:
    """Whether a failed network removal says the network no longer exists.

    A swarm network deleted meanwhile answers 500 "network ... not found", not 404:
    taken for busy, it was asked again every second, each time logged by dockerd.
    """
    return isinstance(exc, docker.errors.NotFound) or "not found" in str(exc.explanation or "")


def remove_swarm_network(client: docker.DockerClient, network: str) -> str | None:
    """Remove one swarm-scoped network (name or id): None once it is gone, else why it is busy.

    The manager's listing lags a removal (another check's, or 'docker stack rm'), so
    swarmkit itself is asked first: that costs a 404, where a DELETE of a network that is
    already gone is a 500 "not found" that dockerd logs as an error, which the run's log
    scan would count against a healthy run.
    """
    try:
        client.api.inspect_network(network, scope="swarm")
    except docker.errors.NotFound:
        return None
    try:
        client.api.remove_network(network)
    except docker.errors.APIError as exc:
        return None if network_gone(exc) else str(exc.explanation)
    return None

