"""The reachability matrix: every ordered node pair, over each protocol, on one network.

Follows the Kubernetes e2e pattern, with nothing hidden by the retry:

1. converge: wait (at most ``converge_timeout_s``) until every pair answers one
   ping, because a fresh overlay needs a few seconds of gossip before each peer's
   FDB entry exists; the time each pair took is recorded, pairs that never
   answer are measured anyway (and fail);
2. measure: ``PROBES[protocol]`` probes per pair and protocol, each answered or
   lost on its own (UDP is sent once per probe, each ICMP echo is a probe);
3. retry only the (pair, protocol) cells that lost any probe, once.

A cell passes when every probe of one pass was answered by the destination's own
task. A cell that lost probes on the first pass and none on the retry is *flaky*:
it passes, is reported with its count, and fails strict mode. A cell that lost
probes on both passes fails, its loss over all probes stated. Each source node
runs its whole row in one agent batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import verdict
from harness.cluster import Cluster
from harness.errors import WaitTimeout
from harness.probe.agent import BatchReply, HttpReply, PingReply, TcpReply, UdpReply
from harness.probe.pairs import CellId, OnPair, PairId
from harness.probe.service import HTTP_PORT, TCP_PORT, UDP_PORT, ProbeDeployment, ProbeTask, batch
from harness.retry import NotYet, eventually, until_elapsed
from harness.transport.ssh import raise_first, run_parallel
from harness.verdict import Symptom

log = logging.getLogger(__name__)

PROTOCOLS = ("icmp", "tcp", "udp", "http")
# Probes per pair and protocol and pass. Datagram protocols show loss directly, so
# they get more; TCP hides loss as a retransmission, so a few connections suffice to
# prove reachability and identity. 30% loss escapes 5+5+3+3 probes with p < 0.01.
PROBES = {"icmp": 5, "udp": 5, "tcp": 3, "http": 3}
PROBE_TIMEOUT_S = 3.0
CONVERGE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Attempt:
    """One pass over a (pair, protocol) cell: how many probes, how many answered, what failed."""

    sent: int
    answered: int
    errors: tuple[str, ...]
    # Each answered probe's round trip: the echo's RTT, or a dial's connect-to-answer time.
    latency_ms: tuple[float, ...] = ()

    @property
    def clean(self) -> bool:
        return self.sent > 0 and self.answered == self.sent


@dataclass(frozen=True)
class PairCheck(OnPair):
    src: str
    dst: str
    protocol: str
    ok: bool
    detail: str
    attempts: tuple[Attempt, ...] = ()

    @property
    def flaky(self) -> bool:
        """Passed, but only on the retry."""
        return self.ok and len(self.attempts) > 1

    @property
    def lost(self) -> int:
        return sum(a.sent - a.answered for a in self.attempts)

    @property
    def sent(self) -> int:
        return sum(a.sent for a in self.attempts)

    @property
    def latency_ms(self) -> float | None:
        """The median round trip of the answered probes of the last pass (None: none answered).

        The probes of a pass run at once, so this is latency under that small concurrent load,
        a figure to compare between pairs, networks and runs rather than an idle-path RTT.
        """
        times = sorted(self.attempts[-1].latency_ms) if self.attempts else []
        if not times:
            return None
        mid = len(times) // 2
        return round(times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2, 3)

    def symptom(self) -> Symptom:
        """What this failed cell observed, for the capability rule."""
        errors = [e for a in self.attempts for e in a.errors]
        if any(e.startswith("answered by") for e in errors):
            kind = verdict.WRONG_ANSWER
        elif any(a.answered for a in self.attempts):
            # Some probes answered: a path that works at times is loss, never a missing capability.
            kind = verdict.LOSS
        else:
            kinds = {verdict.kind_of_error(e) for e in errors} or {verdict.OTHER}
            kind = kinds.pop() if len(kinds) == 1 else verdict.OTHER
        return Symptom(kind, (self.src, self.dst), f"{self.protocol}: {self.detail}")


def _cell(src: str, dst: str, proto: str, attempts: list[Attempt]) -> PairCheck:
    ok = attempts[-1].clean
    first = attempts[0]
    errors = sorted({e for a in attempts for e in a.errors})
    if ok and len(attempts) == 1:
        detail = f"{first.answered}/{first.sent} answered by the task on {dst}"
    elif ok:
        detail = (
            f"flaky: first pass {first.answered}/{first.sent} answered ({'; '.join(first.errors[:3])}), "
            f"retry {attempts[-1].answered}/{attempts[-1].sent}"
        )
    else:
        sent = sum(a.sent for a in attempts)
        answered = sum(a.answered for a in attempts)
        what = "no answer" if answered == 0 else f"loss: {sent - answered} of {sent} probes lost"
        detail = f"{what} over {len(attempts)} passes ({'; '.join(errors[:3]) or 'no error text'})"
    return PairCheck(src, dst, proto, ok, detail, tuple(attempts))


@dataclass
class MatrixResult:
    network: str
    checks: list[PairCheck] = field(default_factory=list)
    converge_s: dict[PairId, float | None] = field(default_factory=dict)  # s to the first echo

    @property
    def pairs(self) -> list[PairId]:
        return sorted({c.pair for c in self.checks})

    @property
    def retried(self) -> int:
        """Cells that needed the second pass."""
        return sum(len(c.attempts) > 1 for c in self.checks)

    def failing_pairs(self) -> dict[PairId, list[PairCheck]]:
        out: dict[PairId, list[PairCheck]] = {}
        for c in self.checks:
            if not c.ok:
                out.setdefault(c.pair, []).append(c)
        return out

    def flaky(self) -> list[PairCheck]:
        return [c for c in self.checks if c.flaky]

    def for_pair(self, pair: PairId) -> list[PairCheck]:
        return [c for c in self.checks if c.pair == pair]

    def symptoms(self) -> list[Symptom]:
        return [c.symptom() for cs in self.failing_pairs().values() for c in cs]

    def summary(self) -> str:
        failing = self.failing_pairs()
        head = f"{len(failing)} of {len(self.pairs)} pairs failed on network {self.network}"
        lines = [head]
        for pair, checks in sorted(failing.items()):
            lines.append(f"  {pair}: " + "; ".join(f"{c.protocol}: {c.detail}" for c in checks))
        flaky = self.flaky()
        if flaky:
            lines.append(f"  flaky (passed only on the retry): {len(flaky)} cells")
            lines += [f"  {c.pair}: {c.protocol}: {c.detail}" for c in flaky]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "pass_rule": "a cell passes when every probe of one pass is answered by the destination's task",
            "probes_per_pass": PROBES,
            "retried": self.retried,
            "flaky": [
                {"pair": str(c.pair), "protocol": c.protocol, "detail": c.detail} for c in self.flaky()
            ],
            "converge_s": {str(pair): s for pair, s in self.converge_s.items()},
            "checks": [
                {**asdict(c), "lost": c.lost, "sent": c.sent, "flaky": c.flaky, "latency_ms": c.latency_ms}
                for c in self.checks
            ],
            "summary": self.summary(),
        }


# Convergence asks each pair for one echo with a short timeout, again every second.
CONVERGE_PROBE = {"op": "ping", "count": 1, "timeout_s": 1.0}


def _ops(dst: ProbeTask, proto: str) -> list[dict[str, Any]]:
    """The probes of one cell, as agent batch items."""
    base: dict[str, Any] = {"timeout_s": PROBE_TIMEOUT_S}
    if proto == "converge":
        return [{**CONVERGE_PROBE, "host": dst.address}]
    if proto == "icmp":
        # Separate echoes run concurrently, so a silent path costs one timeout, not five.
        return [{**base, "op": "ping", "host": dst.address, "count": 1}] * PROBES["icmp"]
    if proto == "tcp":
        return [{**base, "op": "tcp", "host": dst.address, "port": TCP_PORT}] * PROBES["tcp"]
    if proto == "udp":
        return [{**base, "op": "udp", "host": dst.address, "port": UDP_PORT, "attempts": 1}] * PROBES["udp"]
    if proto == "http":
        return [{**base, "op": "http", "url": f"http://{dst.address}:{HTTP_PORT}/"}] * PROBES["http"]
    raise ValueError(f"unknown protocol {proto!r} (known: {', '.join(PROTOCOLS)})")


def _answered_by(res: BatchReply) -> str | None:
    """The hostname of the task that answered a dial (pings carry none)."""
    return res.hostname if isinstance(res, TcpReply | UdpReply | HttpReply) else None


def _attempt(dst: ProbeTask, proto: str, results: Sequence[BatchReply]) -> Attempt:
    """Judge one cell's probe results: answered means by the destination's own task."""
    expected = dst.container_id[:12]
    answered = 0
    problems: list[str] = []
    latency: list[float] = []
    for res in results:
        if not res.ok:
            problems.append(str(res.error or "failed"))
        elif proto not in ("icmp", "converge") and _answered_by(res) != expected:
            who = _answered_by(res)
            problems.append(f"answered by {who!r}, expected the task on {dst.node} ({expected})")
        else:
            answered += 1
            rtt = res.rtt_ms if isinstance(res, PingReply) else ()
            latency.append(round(float(rtt[0]) if rtt else float(getattr(res, "duration_s", 0.0)) * 1000, 3))
    return Attempt(len(results), answered, tuple(problems), tuple(latency))


def _pass(cluster: Cluster, deployment: ProbeDeployment, cells: list[CellId]) -> dict[CellId, Attempt]:
    """Probe ``cells`` with one batch per source node, all sources in parallel."""
    by_src: dict[str, list[CellId]] = {}
    for cell in cells:
        by_src.setdefault(cell.src, []).append(cell)

    def _row(src: str) -> dict[CellId, Attempt]:
        ops: list[dict[str, Any]] = []
        spans: list[tuple[CellId, int, int]] = []
        for cell in by_src[src]:
            cell_ops = _ops(deployment.tasks[cell.dst], cell.protocol)
            spans.append((cell, len(ops), len(ops) + len(cell_ops)))
            ops.extend(cell_ops)
        results = batch(cluster, deployment.tasks[src], ops)
        return {c: _attempt(deployment.tasks[c.dst], c.protocol, results[a:b]) for c, a, b in spans}

    hosts = [cluster.host(src) for src in by_src]
    rows = raise_first(run_parallel(hosts, lambda h: _row(h.name)))
    return {cell: att for row in rows.values() for cell, att in row.items()}


def converge(
    cluster: Cluster, deployment: ProbeDeployment, timeout_s: float = CONVERGE_TIMEOUT_S
) -> dict[PairId, float | None]:
    """Seconds until each pair first answered a ping; None for pairs that never did."""
    nodes = sorted(deployment.tasks)
    waiting = [CellId(s, d, "converge") for s in nodes for d in nodes if s != d]
    started = time.monotonic()
    seen: dict[PairId, float | None] = {c.pair: None for c in waiting}

    def _step() -> None:
        nonlocal waiting
        results = _pass(cluster, deployment, waiting)
        for cell, attempt in results.items():
            if attempt.answered:
                seen[cell.pair] = round(time.monotonic() - started, 2)
        waiting = [c for c in waiting if not results[c].answered]
        if waiting:
            raise NotYet(
                f"{len(waiting)} pairs not answering yet: " + ", ".join(str(c.pair) for c in waiting)
            )

    try:
        eventually(_step, timeout_s, f"every pair on {deployment.network} to answer a ping", interval_s=1)
    except WaitTimeout as exc:
        log.info("%s; measuring anyway", exc.message)
    return seen


def run_matrix(
    cluster: Cluster,
    deployment: ProbeDeployment,
    protocols: tuple[str, ...] = PROTOCOLS,
    retry_after_s: float = 3.0,
    converge_timeout_s: float = CONVERGE_TIMEOUT_S,
) -> MatrixResult:
    nodes = sorted(deployment.tasks)
    cells = [CellId(s, d, p) for s in nodes for d in nodes if s != d for p in protocols]
    converge_s = converge(cluster, deployment, converge_timeout_s) if converge_timeout_s > 0 else {}
    attempts: dict[CellId, list[Attempt]] = {c: [a] for c, a in _pass(cluster, deployment, cells).items()}
    lossy = [c for c in cells if not attempts[c][-1].clean]
    if lossy:
        log.info(
            "%s: %d cells lost probes on the first pass; retrying them once", deployment.network, len(lossy)
        )
        until_elapsed(time.monotonic(), retry_after_s, "a pause before the retry pass")
        for c, a in _pass(cluster, deployment, lossy).items():
            attempts[c].append(a)
    return MatrixResult(
        deployment.network, [_cell(c.src, c.dst, c.protocol, attempts[c]) for c in cells], converge_s
    )


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
