"""The reachability matrix: every ordered node pair, over each protocol, on one network.

Follows the Kubernetes e2e pattern: try every pair once, retry only the
failures, then report "N of M pairs failed" with each failing pair and
protocol. Each source node runs its whole row in one agent batch.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from harness.probe.service import HTTP_PORT, TCP_PORT, UDP_PORT, ProbeDeployment, ProbeTask, batch
from harness.retry import NotYet, eventually
from harness.swarm.cluster import Cluster
from harness.transport.ssh import raise_first, run_parallel

log = logging.getLogger(__name__)

PROTOCOLS = ("icmp", "tcp", "udp", "http")


@dataclass(frozen=True)
class PairCheck:
    src: str
    dst: str
    protocol: str
    ok: bool
    detail: str

    @property
    def pair(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass
class MatrixResult:
    network: str
    checks: list[PairCheck] = field(default_factory=list)
    retried: int = 0

    @property
    def pairs(self) -> list[str]:
        return sorted({c.pair for c in self.checks})

    def failing_pairs(self) -> dict[str, list[PairCheck]]:
        out: dict[str, list[PairCheck]] = {}
        for c in self.checks:
            if not c.ok:
                out.setdefault(c.pair, []).append(c)
        return out

    def for_pair(self, pair: str) -> list[PairCheck]:
        return [c for c in self.checks if c.pair == pair]

    def summary(self) -> str:
        failing = self.failing_pairs()
        head = f"{len(failing)} of {len(self.pairs)} pairs failed on network {self.network}"
        lines = [head]
        for pair, checks in sorted(failing.items()):
            lines.append(f"  {pair}: " + "; ".join(f"{c.protocol}: {c.detail}" for c in checks))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "retried": self.retried,
            "checks": [asdict(c) for c in self.checks],
            "summary": self.summary(),
        }


def _ops(dst: ProbeTask, protocols: tuple[str, ...]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for proto in protocols:
        op: dict[str, Any] = {"id": f"{dst.node}|{proto}", "timeout_s": 3}
        if proto == "icmp":
            op.update(op="ping", host=dst.address, count=2)
        elif proto == "tcp":
            op.update(op="tcp", host=dst.address, port=TCP_PORT)
        elif proto == "udp":
            op.update(op="udp", host=dst.address, port=UDP_PORT)
        elif proto == "http":
            op.update(op="http", url=f"http://{dst.address}:{HTTP_PORT}/")
        ops.append(op)
    return ops


def _judge(src: str, dst: ProbeTask, proto: str, res: dict[str, Any]) -> PairCheck:
    expected = dst.container_id[:12]
    if proto == "icmp":
        ok = bool(res.get("ok")) and int(res.get("received", 0)) > 0
        detail = (
            f"{res.get('received', 0)}/{res.get('sent', 0)} replies"
            if ok
            else str(res.get("error") or "no reply")
        )
        return PairCheck(src, dst.node, proto, ok, detail)
    if not res.get("ok"):
        return PairCheck(src, dst.node, proto, False, str(res.get("error") or "failed"))
    got = res.get("hostname")
    if got != expected:
        return PairCheck(
            src, dst.node, proto, False, f"answered by {got!r}, expected the task on {dst.node} ({expected})"
        )
    return PairCheck(src, dst.node, proto, True, f"answered by {got}")


def _row(
    cluster: Cluster, deployment: ProbeDeployment, src: str, wanted: list[tuple[str, str]]
) -> list[PairCheck]:
    """Run the checks ``wanted`` (dst, protocol) from ``src`` in one batch."""
    task = deployment.tasks[src]
    ops: list[dict[str, Any]] = []
    for dst, proto in wanted:
        ops.extend(_ops(deployment.tasks[dst], (proto,)))
    results = batch(cluster, task, ops)
    out = []
    for op, res in zip(ops, results, strict=True):
        dst, proto = op["id"].split("|")
        out.append(_judge(src, deployment.tasks[dst], proto, res))
    return out


def run_matrix(
    cluster: Cluster,
    deployment: ProbeDeployment,
    protocols: tuple[str, ...] = PROTOCOLS,
    retry_after_s: float = 3.0,
) -> MatrixResult:
    nodes = sorted(deployment.tasks)
    plan = {src: [(dst, p) for dst in nodes if dst != src for p in protocols] for src in nodes}

    def _pass(todo: dict[str, list[tuple[str, str]]]) -> list[PairCheck]:
        hosts = [cluster.host(src) for src, items in todo.items() if items]
        rows = raise_first(run_parallel(hosts, lambda h: _row(cluster, deployment, h.name, todo[h.name])))
        return [c for row in rows.values() for c in row]

    latest: dict[tuple[str, str, str], PairCheck] = {}
    todo = plan
    passes = 0

    def _attempt() -> None:
        nonlocal todo, passes
        passes += 1
        for c in _pass(todo):
            latest[(c.src, c.dst, c.protocol)] = c
        todo = {}
        for c in latest.values():
            if not c.ok:
                todo.setdefault(c.src, []).append((c.dst, c.protocol))
        if todo:
            log.info(
                "%s: %d checks failing after pass %d",
                deployment.network,
                sum(len(v) for v in todo.values()),
                passes,
            )
            raise _StillFailing()

    # Two passes at most: all checks, then only the failures.
    with contextlib.suppress(_StillFailing):
        Retrying(
            stop=stop_after_attempt(2),
            wait=wait_fixed(retry_after_s),
            retry=retry_if_exception_type(_StillFailing),
            reraise=True,
        )(_attempt)
    order = [(src, dst, p) for src in nodes for dst, p in plan[src]]
    result = MatrixResult(deployment.network, [latest[k] for k in order])
    result.retried = passes - 1
    return result


class _StillFailing(Exception):
    pass


def wait_matrix_passes(
    cluster: Cluster,
    deployment: ProbeDeployment,
    timeout_s: float = 60,
    protocols: tuple[str, ...] = PROTOCOLS,
) -> MatrixResult:
    """A known-good baseline before breaking something on purpose.

    A freshly deployed overlay needs a few seconds of gossip before every
    peer's FDB entry exists; a check that then breaks one path must start from
    a matrix that passes, or it cannot tell its own fault from convergence.
    """

    def _check() -> MatrixResult:
        result = run_matrix(cluster, deployment, protocols, retry_after_s=1)
        if result.failing_pairs():
            raise NotYet(result.summary().replace("\n", ";"))
        return result

    return eventually(
        _check,
        timeout_s,
        f"the reachability matrix on {deployment.network} to pass",
        interval_s=2,
        hint="run 'swarm-harness doctor' against this inventory to see which port or capability is missing",
    )
