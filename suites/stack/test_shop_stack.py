"""A microservices stack deployed with ``docker stack deploy`` across the hosts.

Every replica of every service dials each of its dependencies by service name; every
replica also tries each database it must not reach, which must fail. ``docker stack
rm`` must then leave no service, network or container behind on any node.
"""

from __future__ import annotations

import concurrent.futures
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.probe.service import TCP_PORT, ProbeTask, batch
from harness.retry import NotYet, eventually
from harness.swarm.cluster import LABEL_RUN, LABEL_TEST, Cluster
from suites.context import OverlayContext

pytestmark = pytest.mark.xdist_group("stack")

COMPOSE = Path(__file__).with_name("shop.yml")
SERVICES = ("frontend", "auth", "catalog", "order", "payment")
DATABASES = ("auth-db", "catalog-db", "order-db", "payment-db")
REPLICAS = {**{s: 2 for s in SERVICES}, **{d: 1 for d in DATABASES}}
# Who must reach whom, by service name. Each service owns exactly one database.
ALLOWED = {
    "frontend": ("auth", "catalog", "order", "payment"),
    "auth": ("auth-db",),
    "catalog": ("catalog-db",),
    "order": ("order-db", "payment", "catalog"),
    "payment": ("payment-db",),
}


def deploy(cluster: Cluster, stack: str, labels: dict[str, str]) -> None:
    env = f"HARNESS_RUN_ID={shlex.quote(labels[LABEL_RUN])} HARNESS_TEST_ID={shlex.quote(labels[LABEL_TEST])}"
    remote = f"/tmp/{stack}.yml"
    host = cluster.host(cluster.first_manager.name)
    host.run(f"cat > {remote}", input_bytes=COMPOSE.read_bytes()).check()
    host.run(
        f"{env} docker stack deploy --resolve-image never --compose-file {remote} {stack} && rm -f {remote}",
        timeout_s=180,
    ).check(hint=f"run 'docker stack ps {stack} --no-trunc' on {host.name}")


def replicas(cluster: Cluster, stack: str) -> dict[str, list[ProbeTask]]:
    """Every running replica of every service, by short service name."""
    client = cluster.manager_docker()
    hostnames = {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()}

    def _check() -> dict[str, list[ProbeTask]]:
        out: dict[str, list[ProbeTask]] = {}
        short = {}
        for svc in client.services.list(filters={"label": f"com.docker.stack.namespace={stack}"}):
            name = svc.name.removeprefix(f"{stack}_")
            short[name] = svc.name
            for t in svc.tasks(filters={"desired-state": "running"}):
                cid = t["Status"].get("ContainerStatus", {}).get("ContainerID")
                if t["Status"]["State"] == "running" and cid:
                    out.setdefault(name, []).append(ProbeTask(hostnames[t["NodeID"]], cid, ""))
        short_of = {n: len(out.get(n, [])) for n, want in REPLICAS.items() if len(out.get(n, [])) != want}
        if short_of:
            raise NotYet(f"running replicas {short_of}, want {REPLICAS}")
        return out

    return eventually(
        _check, 180, f"stack {stack} to run all replicas", interval_s=2, hint=f"run 'docker stack ps {stack}'"
    )


def dial_by_name(
    cluster: Cluster, tasks: dict[str, list[ProbeTask]], edges: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """From each replica of each service, a TCP dial to each named peer; results by edge.
    All replicas dial at once: a name that must not resolve costs a resolver timeout."""
    jobs = [(src, task, peers) for src, peers in edges.items() for task in tasks[src]]

    def _one(job: tuple[str, ProbeTask, tuple[str, ...]]) -> dict[str, Any]:
        src, task, peers = job
        ops = [{"id": p, "op": "tcp", "host": p, "port": TCP_PORT, "timeout_s": 3} for p in peers]
        return {f"{src}@{task.node}->{r['id']}": r for r in batch(cluster, task, ops)}

    out: dict[str, Any] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        for part in pool.map(_one, jobs):
            out.update(part)
    return out


def leftovers(cluster: Cluster, stack: str) -> list[str]:
    label = f"com.docker.stack.namespace={stack}"
    client = cluster.manager_docker()
    found = [f"service {s.name}" for s in client.services.list(filters={"label": label})]
    found += [f"network {n.name}" for n in client.networks.list(filters={"label": label})]
    for node, res in cluster.run_all(f"docker ps -aq --filter label={label} | wc -l").items():
        if res.stdout.strip() not in ("", "0"):
            found.append(f"{res.stdout.strip()} containers on {node}")
    return found


def test_shop_stack_reaches_its_dependencies_and_nothing_else(
    plain_overlay: OverlayContext, record_property: Callable[[str, object], None]
) -> None:
    ctx = plain_overlay
    stack = ctx.name("shop")
    mark = time.monotonic()

    def _phase(name: str) -> None:
        nonlocal mark
        record_property(f"{name}_s", round(time.monotonic() - mark, 1))
        mark = time.monotonic()

    deploy(ctx.cluster, stack, ctx.labels)
    _phase("deploy")
    try:
        tasks = replicas(ctx.cluster, stack)
        _phase("running")
        nodes_used = sorted({t.node for ts in tasks.values() for t in ts})
        assert len(nodes_used) > 1, f"the stack ran on {nodes_used} only; it must span hosts"
        allowed = dial_by_name(ctx.cluster, tasks, ALLOWED)
        _phase("allowed_dials")
        forbidden_edges = {
            src: tuple(db for db in DATABASES if db not in peers) for src, peers in ALLOWED.items()
        }
        forbidden = dial_by_name(ctx.cluster, tasks, forbidden_edges)
        _phase("forbidden_dials")
    finally:
        ctx.cluster.run(ctx.cluster.first_manager, f"docker stack rm {stack}").check()
    broken = {edge: r["error"] for edge, r in allowed.items() if not r["ok"]}
    assert not broken, f"dependencies not reachable by name: {broken}"
    leaked = sorted(edge for edge, r in forbidden.items() if r["ok"] or r["connected"])
    assert not leaked, f"reached a database it must not: {leaked}"

    def _gone() -> None:
        left = leftovers(ctx.cluster, stack)
        if left:
            raise NotYet(", ".join(left))

    eventually(_gone, 90, f"'docker stack rm {stack}' to remove everything", interval_s=2)
    _phase("removal")
