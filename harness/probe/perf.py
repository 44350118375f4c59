"""Data-path performance between node pairs, on the underlay and on each overlay.

iperf3 (Debian's, in the probe image) measures TCP stream throughput with one and with
four streams and UDP loss at a stated rate, and prints JSON; the agent's ``rr`` measures
the TCP request/response rate and its latency percentiles the way netperf's TCP_RR does
(one connection, one transaction in flight; netperf itself is not in Debian main).

The underlay is measured from a container in each node's own network namespace (host
network), the overlay from the network's global probe tasks, both with the same tools,
so the overlay/underlay ratio compares the paths and not the programs. Pairs are measured
one after another, never two at once: on a shared CPU two transfers would each report
about half of what the path carries.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import verdict
from harness.cluster import Cluster
from harness.probe.containers import label_flags
from harness.probe.image import image_ref
from harness.probe.pairs import OnPair, PairId
from harness.probe.service import TCP_PORT, ProbeDeployment
from harness.retry import NotYet, eventually
from harness.swarm.bootstrap import swarm_address
from harness.transport.result import CommandError
from harness.transport.ssh import raise_first, run_parallel

log = logging.getLogger(__name__)

OVERLAY_IPERF_PORT = 5201  # inside each probe task
# The underlay containers share each node's network namespace: ports of their own, apart
# from the agent's defaults that the drivers suite's host-network service binds.
UNDERLAY_IPERF_PORT = 5301
UNDERLAY_ECHO_PORT = 19091
UNDERLAY_HTTP_PORT = 18080
UNDERLAY_UDP_PORT = 19090

SECONDS_PER_TEST = 2  # each of tcp x1, tcp x4, udp and rr
STREAMS = 4
TESTS_PER_PATH = 4  # tcp, tcp x STREAMS, udp, rr
UDP_RATE = "100M"  # bits/s offered; the loss at this rate is reported
CONNECT_TIMEOUT_MS = 3000  # a path that carries nothing fails in 3 s, not at iperf3's default
ALL_PAIRS_UP_TO = 4  # nodes; a larger cluster is sampled (see sample_pairs)
# The physical reference of the overlay/underlay throughput ratio on a link-bound path:
# VXLAN carries 1450 of every 1500 bytes. A CPU-bound path also pays the encapsulation
# on each side, per packet.
VXLAN_PAYLOAD_RATIO = 1450 / 1500
DEFAULT_TOLERANCE_PCT = 10.0
UNDERLAY = "underlay"


@dataclass(frozen=True)
class Iperf3Result:
    """The end summary of one iperf3 ``-J`` run; ``error`` when the run failed."""

    bits_per_second: float = 0.0
    retransmits: int | None = None
    lost_percent: float | None = None
    jitter_ms: float | None = None
    error: str | None = None

    @property
    def mbps(self) -> float:
        return round(self.bits_per_second / 1e6, 1)


def parse_iperf3(doc: Mapping[str, Any]) -> Iperf3Result:
    """TCP: what the receiver got (``sum_received``) and the sender's retransmits. UDP: the
    receiver's rate, loss and jitter (``sum``, iperf3 3.9+ also ``sum_received``)."""
    if doc.get("error"):
        return Iperf3Result(error=str(doc["error"]))
    end = doc.get("end") or {}
    if "sum_received" in end and "sum" not in end:  # TCP
        return Iperf3Result(
            bits_per_second=float(end["sum_received"].get("bits_per_second", 0.0)),
            retransmits=end.get("sum_sent", {}).get("retransmits"),
        )
    udp = end.get("sum_received") or end.get("sum")
    if not udp:
        return Iperf3Result(error="iperf3 printed no end summary")
    return Iperf3Result(
        bits_per_second=float(udp.get("bits_per_second", 0.0)),
        lost_percent=float(udp.get("lost_percent", 0.0)),
        jitter_ms=float(udp.get("jitter_ms", 0.0)),
    )


def sample_pairs(nodes: list[str], all_up_to: int = ALL_PAIRS_UP_TO) -> list[PairId]:
    """Every ordered pair up to ``all_up_to`` nodes (12 pairs at 4); beyond, each node to the
    next one and to the one halfway round the sorted list (2N pairs, every node sending
    and receiving twice), so the time grows with N and not N squared."""
    names = sorted(nodes)
    if len(names) <= all_up_to:
        return [PairId(a, b) for a in names for b in names if a != b]
    n = len(names)
    picked = {PairId(names[i], names[(i + step) % n]) for i in range(n) for step in (1, n // 2)}
    return sorted(picked)


@dataclass(frozen=True)
class Endpoint:
    """Where one node's measurements run and listen: a container and the address peers dial."""

    node: str
    container_id: str
    address: str
    iperf_port: int
    echo_port: int


@dataclass(frozen=True)
class PathFigures(OnPair):
    """One ordered pair over one path (``underlay`` or an overlay's name)."""

    src: str
    dst: str
    path: str
    tcp_mbps: float = 0.0
    tcp_retransmits: int | None = None
    tcp_streams_mbps: float = 0.0
    udp_mbps: float = 0.0
    udp_loss_pct: float | None = None
    rr_per_s: float = 0.0
    rr_p50_us: float = 0.0
    rr_p90_us: float = 0.0
    rr_p99_us: float = 0.0
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class PairPerf(OnPair):
    """A pair's overlay against its underlay: the ratios the verdict reads."""

    src: str
    dst: str
    overlay: PathFigures
    underlay: PathFigures

    def ratio(self, figure: str) -> float | None:
        base = float(getattr(self.underlay, figure))
        return round(float(getattr(self.overlay, figure)) / base, 3) if base > 0 else None

    def ratios(self) -> dict[str, float | None]:
        return {f: self.ratio(f) for f in ("tcp_mbps", "tcp_streams_mbps", "rr_per_s")}

    def problems(self, tolerance_pct: float) -> list[str]:
        """What falls short: a path that did not measure, or a ratio below 1 - tolerance."""
        out = [f"{fig.path}: {e}" for fig in (self.underlay, self.overlay) for e in fig.errors]
        if out:
            return out
        floor = 1 - tolerance_pct / 100
        for figure, ratio in self.ratios().items():
            if ratio is not None and ratio < floor:
                out.append(
                    f"{figure} {getattr(self.overlay, figure)} on {self.overlay.path} is {ratio:.2f} of the "
                    f"underlay's {getattr(self.underlay, figure)} (below {floor:.2f})"
                )
        return out


def overlay_endpoints(probes: ProbeDeployment) -> dict[str, Endpoint]:
    """The network's global probe tasks, dialled at their overlay addresses."""
    return {
        n: Endpoint(n, t.container_id, t.address, OVERLAY_IPERF_PORT, TCP_PORT) for n, t in probes.tasks.items()
    }


def start_underlay_endpoints(cluster: Cluster, name: str, labels: dict[str, str]) -> dict[str, Endpoint]:
    """A probe container in every node's own network namespace (``--network host``),
    serving the agent's echo on its own ports, dialled at the node's swarm address."""
    agent = f"python3 /agent.py serve --http-port {UNDERLAY_HTTP_PORT} --udp-port {UNDERLAY_UDP_PORT} "
    agent += f"--tcp-port {UNDERLAY_ECHO_PORT}"

    def _start(node: str) -> Endpoint:
        # One left by an interrupted session would hold the name (and the ports).
        cluster.run(node, f"docker rm -f {shlex.quote(name)} >/dev/null 2>&1 || true", timeout_s=60)
        res = cluster.run(
            node,
            f"docker run -d --name {shlex.quote(name)} {label_flags(labels)} --network host {image_ref('v1')} {agent}",
            timeout_s=60,
        ).check(hint=f"run 'docker logs {name}' on {node}")
        address = swarm_address(cluster.inventory.node(node))
        return Endpoint(node, res.stdout.strip(), address, UNDERLAY_IPERF_PORT, UNDERLAY_ECHO_PORT)

    return raise_first(run_parallel([cluster.host(n.name) for n in cluster.nodes], lambda h: _start(h.name)))


def stop_underlay_endpoints(cluster: Cluster, name: str) -> None:
    cluster.run_all(f"docker rm -f {shlex.quote(name)} >/dev/null 2>&1 || true", timeout_s=60)


def _exec(cluster: Cluster, ep: Endpoint, command: str, timeout_s: float) -> str:
    res = cluster.host(ep.node).run(f"docker exec {ep.container_id} {command}", timeout_s=timeout_s)
    if res.failed and not res.stdout.strip():
        raise CommandError(
            f"perf on {ep.node}: `{command}` exited {res.exit_status}: {res.tail(3)}",
            "check that the measuring container still runs on that node ('docker ps')",
            res,
        )
    return res.stdout


def start_iperf_servers(cluster: Cluster, endpoints: Mapping[str, Endpoint], timeout_s: float = 30.0) -> None:
    """An iperf3 server in each endpoint's container, and wait until it and the agent's
    echo server listen.

    ``docker exec -d`` returns before iperf3 has bound its port; a client dialling then is
    refused and would be reported as a broken path. A second start in the same container
    (another check of the session) fails to bind and exits; the first keeps serving.
    """
    for ep in endpoints.values():
        cluster.host(ep.node).run(f"docker exec -d {ep.container_id} iperf3 -s -p {ep.iperf_port}", timeout_s=30)

    def _listening() -> None:
        waiting = []
        for ep in endpoints.values():
            for port in (ep.iperf_port, ep.echo_port):
                # LISTEN (state 0A) on the port, IPv4 or dual-stack IPv6 (iperf3's default).
                probe = f"grep -qsE ':{port:04X} [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6"
                if not cluster.host(ep.node).run(f"docker exec {ep.container_id} {probe}", timeout_s=30).ok:
                    waiting.append(f"{ep.node} port {port}")
        if waiting:
            raise NotYet(f"not listening yet: {', '.join(waiting)}")

    eventually(_listening, timeout_s, "the iperf3 and echo servers to listen", interval_s=0.5)


def iperf3(cluster: Cluster, src: Endpoint, dst: Endpoint, extra: str, seconds: int = SECONDS_PER_TEST) -> Iperf3Result:
    cmd = (
        f"iperf3 -c {shlex.quote(dst.address)} -p {dst.iperf_port} -J -t {seconds} "
        f"--connect-timeout {CONNECT_TIMEOUT_MS} {extra}"
    )
    out = _exec(cluster, src, cmd, timeout_s=seconds + 30)
    try:
        return parse_iperf3(json.loads(out))
    except json.JSONDecodeError:
        return Iperf3Result(error=f"iperf3 printed no JSON: {out.strip()[-200:]}")


def measure_path(
    cluster: Cluster, path: str, src: Endpoint, dst: Endpoint, seconds: int = SECONDS_PER_TEST
) -> PathFigures:
    """The four tests of one pair on one path, one after another, ``seconds`` each."""
    errors: list[str] = []

    def _ok(name: str, result: Iperf3Result) -> Iperf3Result:
        if result.error:
            errors.append(f"{name}: {result.error}")
        return result

    tcp = _ok("tcp", iperf3(cluster, src, dst, "", seconds))
    streams = _ok(f"tcp x{STREAMS}", iperf3(cluster, src, dst, f"-P {STREAMS}", seconds))
    udp = _ok("udp", iperf3(cluster, src, dst, f"-u -b {UDP_RATE}", seconds))
    rr_out = _exec(
        cluster,
        src,
        f"python3 /agent.py rr {shlex.quote(dst.address)} {dst.echo_port} --duration-s {seconds}",
        timeout_s=seconds + 30,
    )
    try:
        rr = json.loads(rr_out)
    except json.JSONDecodeError:
        rr = {"ok": False, "error": f"agent printed no JSON: {rr_out.strip()[-200:]}"}
    if not rr.get("ok"):
        errors.append(f"rr: {rr.get('error')}")
    return PathFigures(
        src=src.node,
        dst=dst.node,
        path=path,
        tcp_mbps=tcp.mbps,
        tcp_retransmits=tcp.retransmits,
        tcp_streams_mbps=streams.mbps,
        udp_mbps=udp.mbps,
        udp_loss_pct=udp.lost_percent,
        rr_per_s=float(rr.get("per_second", 0.0)),
        rr_p50_us=float(rr.get("p50_us", 0.0)),
        rr_p90_us=float(rr.get("p90_us", 0.0)),
        rr_p99_us=float(rr.get("p99_us", 0.0)),
        errors=tuple(errors),
    )


def measure_pairs(
    cluster: Cluster,
    path: str,
    endpoints: Mapping[str, Endpoint],
    pairs: list[PairId],
    stop_when_silent: bool = False,
    seconds: int = SECONDS_PER_TEST,
) -> list[PathFigures]:
    """Each pair in turn. With ``stop_when_silent`` (the doctor found a capability the
    path needs missing), a first pair that carried nothing at all ends the measurement:
    every pair would wait out the same timeouts (an encrypted overlay without ESP: about
    12 s a pair) to show the same known cause. Otherwise every pair is measured, so a
    broken pair never hides how the others fare."""
    start_iperf_servers(cluster, endpoints)
    out = []
    for pair in pairs:
        figures = measure_path(cluster, path, endpoints[pair.src], endpoints[pair.dst], seconds)
        log.info("perf %s on %s: %s", pair, path, figures)
        out.append(figures)
        if stop_when_silent and len(out) == 1 and len(figures.errors) == TESTS_PER_PATH:
            break
    return out


def symptoms(figures: list[PathFigures]) -> list[verdict.Symptom]:
    return [
        verdict.Symptom(verdict.kind_of_error(e), f.pair.nodes, f"{f.path}: {e}") for f in figures for e in f.errors
    ]


def to_dicts(figures: list[PathFigures]) -> list[dict[str, Any]]:
    return [asdict(f) for f in figures]


def from_dicts(rows: list[dict[str, Any]]) -> list[PathFigures]:
    return [PathFigures(**{**row, "errors": tuple(row.get("errors", ()))}) for row in rows]
