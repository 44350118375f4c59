"""Is a service whole again? Every node resolves its tasks and reaches each of them."""

from __future__ import annotations

from typing import Any

from harness.cluster import Cluster
from harness.probe.agent import DnsReply
from harness.probe.service import HTTP_PORT, ProbeDeployment, batch, wait_global_probe
from harness.retry import NotYet, eventually
from harness.swarm.services import running_task_ips
from harness.transport.ssh import run_parallel


def subset(probes: ProbeDeployment, nodes: list[str]) -> ProbeDeployment:
    return ProbeDeployment(
        probes.service, probes.network, {n: t for n, t in probes.tasks.items() if n in nodes}
    )


def _node_view(cluster: Cluster, probes: ProbeDeployment, node: str, svc: str, want: set[str]) -> str | None:
    task = probes.tasks[node]
    ops: list[dict[str, Any]] = [{"id": "dns", "op": "dns", "name": f"tasks.{svc}"}]
    ops += [
        {"id": ip, "op": "http", "url": f"http://{ip}:{HTTP_PORT}/", "timeout_s": 2} for ip in sorted(want)
    ]
    res = {r.id: r for r in batch(cluster, task, ops)}
    dns = res["dns"]
    got = set(dns.addresses) if isinstance(dns, DnsReply) else set()
    problems = []
    if got != want:
        problems.append(f"tasks.{svc} -> {sorted(got)}")
    dead = [ip for ip in sorted(want) if not res[ip].ok]
    if dead:
        problems.append(f"no HTTP answer from {dead}")
    return f"{node}: " + ", ".join(problems) if problems else None


def wait_service_whole(
    cluster: Cluster,
    probes: ProbeDeployment,
    svc: str,
    replicas: int,
    timeout_s: float,
    nodes: list[str] | None = None,
) -> None:
    """Until ``svc`` runs ``replicas`` tasks and, from each of ``nodes``, DNS lists exactly
    them and each answers HTTP. The global probe is re-read each time, since a node's
    probe task may itself have been restarted by the fault."""
    names = nodes or sorted(probes.tasks)

    def _check() -> None:
        want = running_task_ips(cluster, svc, probes.network)
        if len(want) != replicas:
            raise NotYet(f"{len(want)} of {replicas} tasks of {svc} running")
        try:
            current = subset(wait_global_probe(cluster, probes.service, probes.network, 5, names), names)
        except Exception as exc:
            raise NotYet(f"probe tasks not all running: {exc}") from None
        hosts = [cluster.host(n) for n in names]
        views = run_parallel(hosts, lambda h: _node_view(cluster, current, h.name, svc, want))
        bad = [str(v) for v in views.values() if v is not None]
        if bad:
            raise NotYet(f"running tasks {sorted(want)}; " + "; ".join(bad))

    eventually(
        _check,
        timeout_s,
        f"service {svc} to be whole from every node",
        interval_s=2,
        hint="see the artifact bundle: dockerd journal, network inspect -v, overlay FDB",
    )
