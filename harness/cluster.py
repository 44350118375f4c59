"""A provisioned cluster: its inventory, one SSH connection and Docker client per node."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from docker import DockerClient

from harness.inventory.schema import Inventory, Node
from harness.transport.docker_api import docker_client
from harness.transport.result import Result
from harness.transport.ssh import SSHHost, raise_first, run_parallel

log = logging.getLogger(__name__)

T = TypeVar("T")

LABEL_RUN = "com.swarm-harness.run"
LABEL_TEST = "com.swarm-harness.test"


@dataclass(frozen=True)
class SwarmNode:
    """One node as a manager lists it (``docker node inspect``), read once from the raw attrs.

    The SDK hands out nested dicts; every reader used to walk ``attrs["Description"]
    ["Hostname"]`` itself. Keys a node does not report (a worker has no ManagerStatus,
    a node just joining may lack its engine description) take the defaults below.
    """

    id: str
    hostname: str
    role: str = ""  # Spec.Role: manager or worker
    availability: str = ""  # Spec.Availability: active, pause or drain
    state: str = ""  # Status.State: ready, down, unknown, disconnected
    engine_version: str = ""  # Description.Engine.EngineVersion
    addr: str = ""  # Status.Addr: the address the manager sees the node at
    leader: bool = False  # ManagerStatus.Leader
    reachability: str | None = None  # ManagerStatus.Reachability; None for a worker
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)  # Spec.Labels

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> SwarmNode:
        spec = attrs.get("Spec") or {}
        desc = attrs.get("Description") or {}
        status = attrs.get("Status") or {}
        manager = attrs.get("ManagerStatus")
        return cls(
            id=str(attrs.get("ID", "")),
            hostname=str(desc.get("Hostname", "")),
            role=str(spec.get("Role", "")),
            availability=str(spec.get("Availability", "")),
            state=str(status.get("State", "")),
            engine_version=str((desc.get("Engine") or {}).get("EngineVersion", "")),
            addr=str(status.get("Addr", "")),
            leader=bool((manager or {}).get("Leader", False)),
            reachability=None if manager is None else str(manager.get("Reachability", "")),
            labels=dict(spec.get("Labels") or {}),
        )


class Cluster:
    def __init__(self, inventory: Inventory, run_id: str = "adhoc") -> None:
        self.inventory = inventory
        self.run_id = run_id
        self.hosts: dict[str, SSHHost] = {n.name: SSHHost.for_node(inventory, n) for n in inventory.nodes}
        self._docker: dict[str, DockerClient] = {}
        self._lock = threading.Lock()

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.inventory.nodes

    @property
    def first_manager(self) -> Node:
        return self.inventory.managers[0]

    def host(self, node: str | Node) -> SSHHost:
        return self.hosts[node if isinstance(node, str) else node.name]

    def docker(self, node: str | Node) -> DockerClient:
        name = node if isinstance(node, str) else node.name
        with self._lock:
            if name not in self._docker:
                self._docker[name] = docker_client(self.hosts[name])
            return self._docker[name]

    def forget_docker(self, node: str | Node) -> None:
        """Drop a node's Docker client, e.g. after its engine restarted (pooled streams died)."""
        name = node if isinstance(node, str) else node.name
        with self._lock:
            client = self._docker.pop(name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def manager_docker(self) -> DockerClient:
        return self.docker(self.first_manager)

    def swarm_nodes(self, via: str | Node | None = None) -> list[SwarmNode]:
        """Every node as the manager ``via`` (the first manager by default) lists it now."""
        client = self.docker(via) if via is not None else self.manager_docker()
        return [SwarmNode.from_attrs(n.attrs) for n in client.nodes.list()]

    def run(self, node: str | Node, command: str, timeout_s: float = 120.0) -> Result:
        return self.host(node).run(command, timeout_s=timeout_s)

    def run_all(self, command: str, timeout_s: float = 120.0) -> dict[str, Result]:
        return raise_first(run_parallel(self.hosts.values(), lambda h: h.run(command, timeout_s=timeout_s)))

    def each(self, fn: Callable[[Node], T]) -> dict[str, T]:
        """Apply ``fn`` to every node in parallel; raise the first failure."""
        by_name = {n.name: n for n in self.nodes}
        return raise_first(run_parallel(self.hosts.values(), lambda h: fn(by_name[h.name])))

    def docker_json(self, node: str | Node, command: str, timeout_s: float = 60.0) -> list[Any]:
        """Run a docker CLI command with ``--format '{{json .}}'``; one object per line."""
        res = self.run(node, command, timeout_s=timeout_s).check()
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def labels(self, test_id: str | None = None) -> dict[str, str]:
        out = {LABEL_RUN: self.run_id}
        if test_id:
            out[LABEL_TEST] = test_id[:200]
        return out

    def close(self) -> None:
        for client in self._docker.values():
            with contextlib.suppress(Exception):
                client.close()
        self._docker.clear()
        for h in self.hosts.values():
            h.close()
