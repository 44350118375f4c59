"""The shop stack's deployment and its checks, shared by the suite and by the harness's
own break-on-purpose tests, so a break proves the very check the suite runs.
"""

from __future__ import annotations

import concurrent.futures
import shlex
from collections.abc import Mapping
from pathlib import Path

from harness.cluster import LABEL_RUN, LABEL_TEST, Cluster
from harness.probe.agent import BatchReply, TcpReply
from harness.probe.service import TCP_PORT, ProbeTask, batch, not_serving
from harness.retry import NotYet, eventually

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
    hostnames = {n.id: n.hostname for n in cluster.swarm_nodes()}

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
        # Running comes before listening: a dial to a replica whose agent has not bound its
        # port yet is refused, which would read as a dependency the stack cannot reach.
        if silent := not_serving(cluster, [t for ts in out.values() for t in ts]):
            raise NotYet(f"replicas running but not serving yet: {silent}")
        return out

    return eventually(
        _check, 180, f"stack {stack} to run all replicas", interval_s=2, hint=f"run 'docker stack ps {stack}'"
    )


def dial_by_name(
    cluster: Cluster, tasks: dict[str, list[ProbeTask]], edges: dict[str, tuple[str, ...]]
) -> dict[str, BatchReply]:
    """From each replica of each service, a TCP dial to each named peer; results by edge.
    All replicas dial at once: a name that must not resolve costs a resolver timeout."""
    jobs = [(src, task, peers) for src, peers in edges.items() for task in tasks[src]]

    def _one(job: tuple[str, ProbeTask, tuple[str, ...]]) -> dict[str, BatchReply]:
        src, task, peers = job
        ops = [{"id": p, "op": "tcp", "host": p, "port": TCP_PORT, "timeout_s": 3} for p in peers]
        return {f"{src}@{task.node}->{r.id}": r for r in batch(cluster, task, ops)}

    out: dict[str, BatchReply] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        for part in pool.map(_one, jobs):
            out.update(part)
    return out


def leftovers(cluster: Cluster, stack: str) -> list[str]:
    label = f"com.docker.stack.namespace={stack}"
    client = cluster.manager_docker()
    services = [s.name for s in client.services.list(filters={"label": label})]
    networks = [n.name for n in client.networks.list(filters={"label": label})]
    counts = {
        node: res.stdout
        for node, res in cluster.run_all(f"docker ps -aq --filter label={label} | wc -l").items()
    }
    return leftover_problems(services, networks, counts)


def leftover_problems(
    services: list[str], networks: list[str], container_counts: dict[str, str]
) -> list[str]:
    """What ``docker stack rm`` left: services and networks by name, and per node the
    output of counting the stack's containers there (``wc -l``). A node whose count
    cannot be read is named too: an unreadable node is not a clean one."""
    found = [f"service {s}" for s in services] + [f"network {n}" for n in networks]
    for node, out in sorted(container_counts.items()):
        count = out.strip()
        if not count.isdigit():
            found.append(f"container count on {node} unreadable: {count!r}")
        elif count != "0":
            found.append(f"{count} containers on {node}")
    return found


FORBIDDEN = {src: tuple(db for db in DATABASES if db not in peers) for src, peers in ALLOWED.items()}


def expected_edges(tasks: dict[str, list[ProbeTask]], edges: dict[str, tuple[str, ...]]) -> list[str]:
    """The result keys ``dial_by_name`` must return: every replica of each source to each
    of its peers."""
    return sorted(
        f"{src}@{t.node}->{peer}"
        for src, peers in edges.items()
        for t in tasks.get(src, [])
        for peer in peers
    )


def unreachable(results: Mapping[str, BatchReply], expected: list[str] | None = None) -> dict[str, str]:
    """Dependency edges whose dial failed, with the error each replica saw; with
    ``expected``, also every edge that was never dialed (a replica left out of the
    dials would otherwise pass)."""
    out = {edge: str(r.error) for edge, r in results.items() if not r.ok}
    out.update({edge: "not dialed" for edge in expected or [] if edge not in results})
    return out


def leaked(results: Mapping[str, BatchReply]) -> list[str]:
    """Forbidden edges that got through, or at least connected."""
    return sorted(edge for edge, r in results.items() if r.ok or (isinstance(r, TcpReply) and r.connected))
