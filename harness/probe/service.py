"""Run the probe as a global service on a network and drive its agent.

A global service gives every node exactly one probe task, so "from every node"
means "from that node's probe task". The agent is driven over SSH, one call per
source node and batch, which keeps a full matrix cheap: through the task's control
port when it has one (``harness.probe.agent_control``: no process started), else with
``docker exec``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from dataclasses import dataclass
from typing import Any

import docker.errors
import docker.types

from harness.cluster import Cluster
from harness.probe.agent import BatchReply, parse_batch_reply
from harness.probe.agent_control import (
    CONTROL_PORT,
    GWBRIDGE,
    ControlUnavailable,
    control_call,
    controllable,
    gwbridge_addresses,
)
from harness.probe.image import image_ref
from harness.retry import NotYet, eventually
from harness.transport.result import CommandError
from harness.transport.ssh import run_parallel

log = logging.getLogger(__name__)

HTTP_PORT = 8080
UDP_PORT = 9090
TCP_PORT = 9091
DEPLOY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ProbeTask:
    node: str
    container_id: str
    address: str  # the task's IP on the probe's network
    control_address: str = ""  # its IP on docker_gwbridge, where the control port answers


@dataclass(frozen=True)
class ProbeDeployment:
    service: str
    network: str
    tasks: dict[str, ProbeTask]  # by node name


def service_name(network: str, suffix: str = "") -> str:
    return f"probe-{network}{'-' + suffix if suffix else ''}"[:63]


def deploy_global_probe(
    cluster: Cluster,
    network: str,
    labels: dict[str, str],
    suffix: str = "",
    version: str = "v1",
    timeout_s: float = DEPLOY_TIMEOUT_S,
) -> ProbeDeployment:
    client = cluster.manager_docker()
    name = service_name(network, suffix)
    existing = [s for s in client.services.list(filters={"name": name}) if s.name == name]
    if not existing:
        client.services.create(
            image_ref(version),
            name=name,
            mode=docker.types.ServiceMode("global"),
            networks=[network],
            labels=labels,
            container_labels=labels,
            command=["python3", "/agent.py", "serve", "--control-port", str(CONTROL_PORT)],
            env=[
                "PROBE_NODE={{.Node.Hostname}}",
                "PROBE_SLOT={{.Task.Slot}}",
                "PROBE_TASK={{.Task.Name}}",
            ],
        )
        log.info("deployed global probe %s on %s", name, network)
    return wait_global_probe(cluster, name, network, timeout_s)


def wait_global_probe(
    cluster: Cluster,
    name: str,
    network: str,
    timeout_s: float = DEPLOY_TIMEOUT_S,
    nodes: list[str] | None = None,
) -> ProbeDeployment:
    client = cluster.manager_docker()
    id_to_name = {n.id: n.hostname for n in cluster.swarm_nodes()}
    host_to_node = {n.name: n.name for n in cluster.nodes}

    def _check() -> ProbeDeployment:
        svc = client.services.get(name)
        tasks: dict[str, ProbeTask] = {}
        seen = []
        for t in svc.tasks(filters={"desired-state": "running"}):
            state = t["Status"]["State"]
            hostname = id_to_name.get(t.get("NodeID", ""), "?")
            seen.append(f"{hostname}:{state}")
            if state != "running":
                continue
            cid = t["Status"].get("ContainerStatus", {}).get("ContainerID", "")
            addr = ""
            for att in t.get("NetworksAttachments", []):
                if att["Network"]["Spec"]["Name"] == network and att.get("Addresses"):
                    addr = att["Addresses"][0].split("/")[0]
            node = host_to_node.get(hostname, hostname)
            if cid and addr:
                tasks[node] = ProbeTask(node, cid, addr)
        wanted = nodes or [n.name for n in cluster.nodes]
        missing = [n for n in wanted if n not in tasks]
        if missing:
            raise NotYet(f"no running probe task yet on {', '.join(missing)} (tasks: {', '.join(seen)})")
        command = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Command") or []
        if "--control-port" in command:  # not a service an older harness made and left
            tasks = with_control_addresses(cluster, tasks)
        if silent := not_serving(cluster, [tasks[n] for n in wanted]):
            raise NotYet("probe task running but not serving yet: " + "; ".join(f"{n}: {e}" for n, e in silent.items()))
        return ProbeDeployment(name, network, tasks)

    return eventually(
        _check,
        timeout_s,
        f"probe service {name} to run on every node",
        interval_s=1,
        hint=f"run 'docker service ps --no-trunc {name}' on a manager to see why tasks do not start",
    )


def with_control_addresses(cluster: Cluster, tasks: dict[str, ProbeTask]) -> dict[str, ProbeTask]:
    """The tasks with their docker_gwbridge address, where each node has one (a task on
    an internal overlay has none and is driven with ``docker exec``)."""

    def _node(node: str) -> dict[str, str]:
        try:
            return gwbridge_addresses(cluster.docker(node).api.inspect_network(GWBRIDGE))
        except docker.errors.NotFound:
            return {}

    found = run_parallel([cluster.host(n) for n in tasks], lambda h: _node(h.name))
    out = {}
    for node, task in tasks.items():
        addrs = found.get(node)
        addr = addrs.get(task.container_id, "") if isinstance(addrs, dict) else ""
        out[node] = dataclasses.replace(task, control_address=addr)
    return out


def not_serving(cluster: Cluster, tasks: list[ProbeTask]) -> dict[str, str]:
    """The tasks whose agent does not answer its own /health yet, with why.

    Swarm reports a task "running" once its container has started, before the agent
    inside has bound its ports: on a loaded machine a dial sent right then is refused
    (measured: ECONNREFUSED from two of three fresh tasks under 4 xdist workers), which
    a check would report as a broken overlay.
    """
    by_node: dict[str, list[ProbeTask]] = {}
    for t in tasks:
        by_node.setdefault(t.node, []).append(t)

    def _node(node: str) -> dict[str, str]:
        out = {}
        for t in by_node[node]:  # a node's tasks one after another, the nodes in parallel
            key = node if len(by_node[node]) == 1 else f"{node} task {t.container_id[:12]}"
            if t.control_address and t.container_id not in _FELL_BACK:
                try:
                    reply = control_call(cluster.host(node), node, t.control_address, ["health"], None, 30)
                    if not reply.get("ok"):
                        out[key] = str(reply.get("error") or "unhealthy")
                    continue
                except ControlUnavailable as exc:
                    if not exc.prohibited:  # bound last by serve: not listening means not serving yet
                        out[key] = f"control port not answering yet ({exc})"
                        continue
                    _note_exec_fallback(t, str(exc))
            res = cluster.host(node).run(f"docker exec {t.container_id} python3 /agent.py health", timeout_s=30)
            if not res.ok:
                out[key] = res.tail(1) or f"health exited {res.exit_status}"
        return out

    results = run_parallel([cluster.host(n) for n in by_node], lambda h: _node(h.name))
    out: dict[str, str] = {}
    for node, found in results.items():
        # A node that could not be asked (an SSH error) is not known to serve either.
        out.update({node: str(found)} if isinstance(found, BaseException) else found)
    return out


def wait_serving(cluster: Cluster, service: str, replicas: int, timeout_s: float = 90.0) -> list[ProbeTask]:
    """Until ``replicas`` tasks of the probe ``service`` run and each one's agent answers its
    own /health; the running tasks (``address`` left empty: callers dial by name or port).

    The readiness gate of ``wait_global_probe``, for a replicated service that a check
    sends requests to right after creating it: swarm's "running" comes before the agent
    listens (see ``not_serving``), and a refused request would be reported as the fault.
    """
    client = cluster.manager_docker()

    def _check() -> list[ProbeTask]:
        ids = {n.id: n.hostname for n in cluster.swarm_nodes()}
        tasks = client.services.get(service).tasks(filters={"desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        if len(running) != replicas:
            raise NotYet(f"{len(running)} of {replicas} tasks of {service} running")
        found = [
            ProbeTask(ids.get(t.get("NodeID", ""), "?"), t["Status"]["ContainerStatus"]["ContainerID"], "")
            for t in running
        ]
        if silent := not_serving(cluster, found):
            raise NotYet(f"tasks of {service} running but not serving yet: {silent}")
        return found

    return eventually(
        _check,
        timeout_s,
        f"{replicas} tasks of {service} to run and serve",
        interval_s=1,
        hint=f"run 'docker service ps --no-trunc {service}' on a manager to see why tasks do not start",
    )


def remove_service(cluster: Cluster, name: str) -> None:
    client = cluster.manager_docker()
    for s in client.services.list(filters={"name": name}):
        if s.name == name:
            s.remove()


def agent(
    cluster: Cluster, task: ProbeTask, args: list[str], stdin: Any = None, timeout_s: float = 60.0
) -> Any:
    """Run one agent command inside ``task``'s container; return its JSON output."""
    if task.control_address and controllable(args) and task.container_id not in _FELL_BACK:
        try:
            return control_call(cluster.host(task.node), task.node, task.control_address, args, stdin, timeout_s)
        except ControlUnavailable as exc:
            _note_exec_fallback(task, str(exc))
    cmd = (
        "docker exec -i " + task.container_id + " python3 /agent.py " + " ".join(shlex.quote(a) for a in args)
    )
    data = json.dumps(stdin).encode() if stdin is not None else None
    res = cluster.host(task.node).run(cmd, timeout_s=timeout_s, input_bytes=data)
    if res.failed:
        raise CommandError(
            f"probe agent on {task.node} failed: `{' '.join(args)}` exited {res.exit_status}: {res.tail(3)}",
            "check that the probe task still runs on that node ('docker ps')",
            res,
        )
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError:
        raise CommandError(
            f"probe agent on {task.node} printed no JSON for `{' '.join(args)}`: {res.tail(3)}",
            "the probe image may be stale; rerun to reship it",
            res,
        ) from None


_FELL_BACK: set[str] = set()


def _note_exec_fallback(task: ProbeTask, why: str) -> None:
    """Said once per task: its calls go by ``docker exec`` from now on, so a control port
    that fails (e.g. its connect timing out on an overloaded node) costs that only once; a
    task that ended fails there with docker's own error."""
    if task.container_id not in _FELL_BACK:
        _FELL_BACK.add(task.container_id)
        log.info("probe agent on %s: control port unavailable (%s); using docker exec", task.node, why)


def batch(
    cluster: Cluster, task: ProbeTask, ops: list[dict[str, Any]], timeout_s: float = 90.0
) -> list[BatchReply]:
    """Run ``ops`` as one agent batch inside ``task``; one typed reply per op, in order."""
    result = agent(cluster, task, ["batch"], stdin=ops, timeout_s=timeout_s)
    assert isinstance(result, list)
    return [parse_batch_reply(doc) for doc in result]
