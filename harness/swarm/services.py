"""Replicated test services and the manager's view of their tasks.

The image a service runs is its caller's to name (the probe's ``image_ref``): the
swarm layer starts what it is given and knows no image of its own.
"""

from __future__ import annotations

import logging
from typing import Any

import docker.types

from harness.cluster import Cluster
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)


def create_probe_service(
    cluster: Cluster,
    name: str,
    network: str,
    labels: dict[str, str],
    image: str,
    replicas: int = 2,
    endpoint_mode: str = "vip",
    aliases: list[str] | None = None,
    healthcheck: docker.types.Healthcheck | None = None,
    drain_s: float = 0,
    update_config: docker.types.UpdateConfig | None = None,
) -> Any:
    """A replicated service of the probe ``image`` (a reference). ``drain_s`` makes each task keep serving that long after
    SIGTERM (with a grace period to match), as a service built for zero-downtime does."""
    client = cluster.manager_docker()
    env = ["PROBE_NODE={{.Node.Hostname}}", "PROBE_SLOT={{.Task.Slot}}", "PROBE_TASK={{.Task.Name}}"]
    extra: dict[str, Any] = {}
    if drain_s:
        env.append(f"PROBE_DRAIN_S={drain_s}")
        extra["stop_grace_period"] = int((drain_s + 5) * 1_000_000_000)
    if healthcheck is not None:
        extra["healthcheck"] = healthcheck
    if update_config is not None:
        extra["update_config"] = update_config
    return client.services.create(
        image,
        name=name,
        mode=docker.types.ServiceMode("replicated", replicas=replicas),
        networks=[docker.types.NetworkAttachmentConfig(network, aliases=aliases or [])],
        endpoint_spec=docker.types.EndpointSpec(mode=endpoint_mode),
        labels=labels,
        container_labels=labels,
        env=env,
        **extra,
    )


def running_task_ips(cluster: Cluster, service: str, network: str) -> set[str]:
    """IPs on ``network`` of the service's tasks that are running, from the manager's view."""
    svc = cluster.manager_docker().services.get(service)
    ips: set[str] = set()
    for t in svc.tasks(filters={"desired-state": "running"}):
        if t["Status"]["State"] != "running":
            continue
        for att in t.get("NetworksAttachments", []):
            if att["Network"]["Spec"]["Name"] == network:
                ips.update(a.split("/")[0] for a in att.get("Addresses", []))
    return ips


def service_vip(cluster: Cluster, service: str, network: str) -> str:
    client = cluster.manager_docker()
    net_id = client.networks.get(network).id
    svc = client.services.get(service)
    for vip in svc.attrs.get("Endpoint", {}).get("VirtualIPs", []):
        if vip["NetworkID"] == net_id:
            return str(vip["Addr"]).split("/")[0]
    raise KeyError(f"{service} has no VIP on {network}")


def wait_replicas(
    cluster: Cluster, service: str, network: str, replicas: int, timeout_s: float = 90
) -> set[str]:
    def _check() -> set[str]:
        ips = running_task_ips(cluster, service, network)
        if len(ips) != replicas:
            raise NotYet(f"{len(ips)} of {replicas} tasks of {service} running")
        return ips

    return eventually(
        _check,
        timeout_s,
        f"{replicas} running tasks of {service}",
        hint=f"run 'docker service ps --no-trunc {service}' on a manager",
    )


def scale(cluster: Cluster, service: str, replicas: int) -> None:
    cluster.manager_docker().services.get(service).scale(replicas)


def task_errors(cluster: Cluster, service: str) -> list[str]:
    """The engine's error text of each task that failed or was rejected, newest first."""
    tasks = cluster.manager_docker().services.get(service).tasks()
    tasks.sort(key=lambda t: t["Status"].get("Timestamp", ""), reverse=True)
    return [str(t["Status"]["Err"]) for t in tasks if t["Status"].get("Err")]
