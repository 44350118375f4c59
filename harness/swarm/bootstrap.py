"""Form a swarm on the inventory's hosts, idempotently.

Every address is explicit (advertise, data path, address pool) because a guess
is what breaks overlays on multi-NIC hosts. Join tokens are passed through the
Engine API body, never on a command line, and never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from harness.address_pools import SWARM_ADDR_POOL
from harness.cluster import Cluster
from harness.errors import SwarmError
from harness.inventory.schema import Node
from harness.retry import NotYet, eventually, transient_docker_policy

log = logging.getLogger(__name__)

CONVERGE_TIMEOUT_S = 120.0


@dataclass
class SwarmSettings:
    default_addr_pool: str = SWARM_ADDR_POOL
    pool_mask_length: int = 24
    data_path_port: int | None = None


@dataclass
class BootstrapReport:
    cluster_id: str = ""
    actions: list[str] = field(default_factory=list)
    node_ids: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def swarm_address(node: Node) -> str:
    """The address swarm traffic uses: the private one on hosts that also have a public one.

    Cloud modules open 2377, 7946, the VXLAN port and ESP only between private
    addresses, so advertising the SSH (public) address would never form a swarm.
    """
    return node.data_path_address or node.address


def _swarm_info(cluster: Cluster, node: Node) -> dict[str, Any]:
    info: dict[str, Any] = cluster.docker(node).info()
    swarm: dict[str, Any] = info.get("Swarm", {})
    return swarm


def _check_data_path_port(client: Any, wanted: int) -> None:
    """A formed swarm keeps the VXLAN port it was initialised with: asking for another one
    must not end in "no changes", which reads as if the port were in use."""
    client.swarm.reload()
    formed = int(client.swarm.attrs.get("DataPathPort") or 4789)
    if formed != wanted:
        raise SwarmError(
            f"the swarm was formed with data-path port {formed}; --data-path-port {wanted} cannot change it",
            f"omit --data-path-port (or pass {formed}), or form a new swarm: "
            "'swarm-harness down' and 'up' for a lab, 'docker swarm leave --force' on every host otherwise",
        )


def bootstrap(cluster: Cluster, settings: SwarmSettings | None = None) -> BootstrapReport:
    settings = settings or SwarmSettings()
    report = BootstrapReport()
    first = cluster.first_manager
    states = cluster.each(lambda n: _swarm_info(cluster, n))
    lead = states[first.name]
    cluster_id = (lead.get("Cluster") or {}).get("ID", "") if lead.get("LocalNodeState") == "active" else ""
    for node in cluster.nodes:
        st = states[node.name]
        state = st.get("LocalNodeState", "inactive")
        node_cluster = (st.get("Cluster") or {}).get("ID", "")
        if state == "active" and node is not first and not cluster_id:
            raise SwarmError(
                f"{node.name} already belongs to another swarm, but {first.name} is in none",
                f"run 'docker swarm leave --force' on {node.name}, or use fresh hosts",
            )
        if state == "active" and node_cluster and cluster_id and node_cluster != cluster_id:
            raise SwarmError(
                f"{node.name} belongs to another swarm (cluster {node_cluster[:12]}, "
                f"expected {cluster_id[:12]})",
                f"run 'docker swarm leave --force' on {node.name}, or use fresh hosts",
            )
        if state in ("pending", "error", "locked"):
            raise SwarmError(
                f"{node.name} swarm state is {state!r}: {st.get('Error', '')}",
                f"inspect 'docker info' on {node.name}; 'docker swarm leave --force' resets it",
            )
    client = cluster.docker(first)
    if cluster_id and settings.data_path_port:
        _check_data_path_port(client, settings.data_path_port)
    if not cluster_id:
        addr = swarm_address(first)
        log.info("initialising swarm on %s (%s)", first.name, addr)
        kwargs: dict[str, Any] = {
            "advertise_addr": addr,
            "listen_addr": f"{addr}:2377",
            "data_path_addr": addr,
            "default_addr_pool": [settings.default_addr_pool],
            "subnet_size": settings.pool_mask_length,
        }
        if settings.data_path_port:
            kwargs["data_path_port"] = settings.data_path_port
        client.swarm.init(**kwargs)
        report.actions.append(f"init on {first.name}")
        cluster_id = _swarm_info(cluster, first)["Cluster"]["ID"]
    report.cluster_id = cluster_id
    client.swarm.reload()
    tokens = client.swarm.attrs["JoinTokens"]
    joiners = [
        n
        for n in cluster.nodes
        if n is not first and states[n.name].get("LocalNodeState", "inactive") != "active"
    ]

    def _join(node: Node) -> None:
        token = tokens["Manager" if node.is_manager else "Worker"]
        for attempt in transient_docker_policy(60):
            with attempt:
                cluster.docker(node).swarm.join(
                    remote_addrs=[f"{swarm_address(first)}:2377"],
                    join_token=token,
                    listen_addr=f"{swarm_address(node)}:2377",
                    advertise_addr=swarm_address(node),
                    data_path_addr=swarm_address(node),
                )
        log.info("%s joined as %s", node.name, node.role)

    # One at a time: managers because raft membership changes are serial; workers because
    # engines that join at the same instant start NetworkDB's periodic bulk sync in step, and
    # two that pick each other on the same tick both wait out its 30 s timeout (measured:
    # "Bulk sync to node ... timed out" from both workers to each other, within 5 ms, in
    # every soak run whose workers joined together; never with the manager).
    for node in sorted(joiners, key=lambda n: not n.is_manager):  # managers first
        _join(node)
        report.actions.append(f"join {node.name} as {node.role}")
    report.node_ids = {n.name: _swarm_info(cluster, n)["NodeID"] for n in cluster.nodes}
    wait_nodes_ready(cluster, report.node_ids)
    report.actions.extend(apply_labels(cluster, report.node_ids))
    return report


def wait_nodes_ready(
    cluster: Cluster, node_ids: dict[str, str], timeout_s: float = CONVERGE_TIMEOUT_S
) -> None:
    def _check() -> None:
        try:
            rows = {n.id: n for n in cluster.swarm_nodes()}
        except docker.errors.APIError as exc:
            raise NotYet(f"manager API: {exc.explanation}") from None
        bad = []
        for name, nid in node_ids.items():
            row = rows.get(nid)
            if row is None:
                bad.append(f"{name}=absent")
                continue
            avail = row.availability or "?"
            if row.state != "ready" or avail != "active":
                bad.append(f"{name}={row.state}/{avail}")
        if bad:
            raise NotYet(", ".join(bad))

    eventually(
        _check,
        timeout_s,
        "every node to be Ready and Active",
        interval_s=1,
        hint="check dockerd on the nodes named and that 2377/tcp and 7946 are open between them",
    )


def apply_labels(cluster: Cluster, node_ids: dict[str, str]) -> list[str]:
    actions = []
    client = cluster.manager_docker()
    for node in cluster.nodes:
        wanted = {"harness.node": node.name, **node.labels}
        obj = client.nodes.get(node_ids[node.name])
        spec = obj.attrs["Spec"]
        current = spec.get("Labels") or {}
        if all(current.get(k) == v for k, v in wanted.items()):
            continue
        spec["Labels"] = {**current, **wanted}
        obj.update(spec)
        actions.append(f"label {node.name}")
    return actions
