"""MTU across the overlay: the don't-fragment boundary, the measured path MTU, a 1 MB body.

Small requests passing while large ones hang is the classic overlay MTU bug
(moby #24906, #36689): VXLAN adds 50 bytes (ESP more) to every packet. For each
ordered node pair, a DF ping that fills the overlay MTU exactly must pass and one
byte more must be refused, by the sender (EMSGSIZE) or the path (ICMP
fragmentation needed), each reported as such; the largest DF ping that is
answered is the measured path MTU. An answered echo of the full size is the far
side's proof that the whole packet arrived (the agent checks its payload).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness import verdict
from harness.cluster import Cluster
from harness.inventory.schema import Node
from harness.probe.agent import BatchReply, HttpReply
from harness.probe.pairs import OnPair
from harness.probe.service import HTTP_PORT, ProbeDeployment, ProbeTask, batch
from harness.swarm.bootstrap import swarm_address
from harness.transport.ssh import raise_first, run_parallel
from harness.verdict import Symptom

IP_ICMP_HEADERS = 28  # 20 bytes IPv4 + 8 bytes ICMP echo
VXLAN_OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
BODY_BYTES = 1024 * 1024


# Probes per kind and pair: small DF pings ride in the same burst as the boundary
# pings, so a lost boundary echo on a lossy path is told apart from one too big.
SMALL_PINGS = 3
AT_MTU_PINGS = 3
BISECT_TRIES = 3  # a bisection step whose echo is lost is asked again, up to this often

# How an over-MTU DF ping was refused: by the sender's own interface, or by the path.
SENDER_REFUSED = "sender"  # EMSGSIZE: the task's interface MTU
PATH_REFUSED = "path"  # ICMP fragmentation needed from a hop on the way
SILENT = "silent"  # nothing came back: a PMTU black hole or loss
ANSWERED = "answered"


def refusal(res: BatchReply) -> str:
    """How a DF ping above the MTU ended, from the agent's reply."""
    if res.ok:
        return ANSWERED
    error = str(res.error or "")
    if error.startswith("EMSGSIZE"):
        return SENDER_REFUSED
    if "fragmentation needed" in error:
        return PATH_REFUSED
    return SILENT


@dataclass(frozen=True)
class PairMTU(OnPair):
    src: str
    dst: str
    overlay_mtu: int
    small_answered: int  # of SMALL_PINGS
    at_mtu_answered: int  # of AT_MTU_PINGS
    at_mtu_detail: str
    over_mtu: str  # SENDER_REFUSED, PATH_REFUSED, SILENT or ANSWERED
    over_mtu_detail: str
    measured_path_mtu: int  # 0 when the bisection could not conclude
    measured_detail: str
    body_intact: bool
    body_detail: str

    @property
    def at_mtu_ok(self) -> bool:
        return self.at_mtu_answered == AT_MTU_PINGS

    @property
    def over_mtu_failed(self) -> bool:
        return self.over_mtu in (SENDER_REFUSED, PATH_REFUSED)

    @property
    def lossy(self) -> bool:
        """Some pings of a size answered and others did not: loss, which says nothing about size.

        A path too small for the boundary answers none of its pings; one that answers
        some of them carries the size and loses packets.
        """
        return 0 < self.small_answered < SMALL_PINGS or 0 < self.at_mtu_answered < AT_MTU_PINGS

    @property
    def dead(self) -> bool:
        return self.small_answered == 0

    def problems(self) -> list[str]:
        out = []
        if self.dead:
            out.append(
                f"no small DF ping ({SMALL_PINGS} sent) was answered either: the path is dead, not too "
                "small, so no MTU can be measured"
            )
        elif self.lossy:
            out.append(
                f"packet loss: {SMALL_PINGS - self.small_answered} of {SMALL_PINGS} small and "
                f"{AT_MTU_PINGS - self.at_mtu_answered} of {AT_MTU_PINGS} full-size DF pings in the same "
                "burst were lost; a size the path cannot carry loses all of them, so this is loss, not size"
            )
        if not self.at_mtu_ok and not self.dead:
            cause = "loss (see above)" if self.lossy else "the path is smaller than the overlay MTU"
            out.append(
                f"DF ping of {self.overlay_mtu} bytes (the overlay MTU) answered {self.at_mtu_answered} of "
                f"{AT_MTU_PINGS} while small pings passed: {cause}: {self.at_mtu_detail}"
            )
        if self.over_mtu == ANSWERED:
            out.append(f"DF ping of {self.overlay_mtu + 1} bytes passed although it exceeds the overlay MTU")
        elif self.over_mtu == SILENT and not self.dead:
            out.append(
                f"DF ping of {self.overlay_mtu + 1} bytes vanished without a local EMSGSIZE or an ICMP "
                f"'fragmentation needed' from the path (a PMTU black hole): {self.over_mtu_detail}"
            )
        if not self.body_intact:
            out.append(f"1 MiB HTTP body did not cross intact: {self.body_detail}")
        if not self.dead and self.measured_path_mtu != self.overlay_mtu:
            out.append(
                f"measured path MTU {self.measured_path_mtu or 'inconclusive'} != overlay MTU "
                f"{self.overlay_mtu}: {self.measured_detail}"
            )
        return out

    def symptoms(self) -> list[Symptom]:
        """The observations behind ``problems``: only a dead path is silence."""
        nodes = (self.src, self.dst)
        problems = self.problems()
        if not problems:
            return []
        if self.dead:
            kind = verdict.TIMEOUT
        elif self.lossy:
            kind = verdict.LOSS
        else:
            kind = verdict.OTHER
        return [Symptom(kind, nodes, p) for p in problems]


# How the engine sizes a task's interface on an overlay (libnetwork's overlay driver,
# ``maxMTU``): ``com.docker.network.driver.mtu`` is the MTU of the underlay it may use
# (1500 when unset); VXLAN's 50 bytes come off it, and on an encrypted overlay ESP's
# 26 more, rounded down to a multiple of 4.
ENGINE_DEFAULT_UNDERLAY_MTU = 1500
ESP_EXPANSION = 26  # SPI 4 + sequence 4 + IV 8 + pad length 1 + next header 1 + ICV 8


@dataclass(frozen=True)
class OverlayMTU:
    """What one overlay promises its tasks and asks of every node's underlay."""

    network: str
    driver_mtu: int | None  # the network's com.docker.network.driver.mtu option, if set
    encrypted: bool

    @property
    def underlay(self) -> int:
        """The smallest underlay MTU that carries a full task packet unfragmented."""
        return self.driver_mtu or ENGINE_DEFAULT_UNDERLAY_MTU

    @property
    def task(self) -> int:
        mtu = self.underlay - VXLAN_OVERHEAD
        if self.encrypted:
            mtu -= ESP_EXPANSION
            mtu -= mtu % 4
        return mtu

    @property
    def overhead(self) -> int:
        return self.underlay - self.task

    def overhead_text(self) -> str:
        return f"{self.overhead} bytes of VXLAN" + (" and ESP" if self.encrypted else "")


def overlay_mtu(cluster: Cluster, network: str) -> OverlayMTU:
    """The overlay's MTU as the engine sizes its tasks' interfaces, from its options."""
    options = cluster.manager_docker().api.inspect_network(network).get("Options") or {}
    opt = options.get("com.docker.network.driver.mtu")
    return OverlayMTU(network, int(opt) if opt else None, "encrypted" in options)


def underlay_mtus(cluster: Cluster) -> dict[str, int]:
    """MTU of the interface carrying each node's swarm address."""

    def _one(node: Node) -> int:
        addr = swarm_address(node)
        # `ip`, not /sys/class/net: in some containers sysfs shows another namespace's links.
        script = (
            f"ip -o link show dev $(ip -o -4 addr show | awk '$4 ~ /^{addr}\\// {{print $2}}') "
            "| sed -n 's/.* mtu \\([0-9]*\\) .*/\\1/p'"
        )
        return int(cluster.run(node, script).check().stdout.strip())

    return cluster.each(_one)


def underlay_problems(overlay: OverlayMTU, underlays: dict[str, int]) -> list[str]:
    """Nodes whose underlay cannot carry a full overlay packet without fragmenting it."""
    return [
        f"{node}: underlay MTU {mtu} < overlay MTU {overlay.task} + {overlay.overhead_text()}; large "
        f"packets are fragmented on the wire (or dropped where fragments are filtered): recreate "
        f"{overlay.network} with --opt com.docker.network.driver.mtu={mtu} (the underlay's MTU; the "
        f"engine takes the encapsulation off it)"
        for node, mtu in sorted(underlays.items())
        if mtu < overlay.underlay
    ]


def _ping(dst_ip: str, size: int) -> dict[str, Any]:
    return {"op": "ping", "host": dst_ip, "size": size, "df": True, "count": 1, "timeout_s": 2}


def _bisect(
    cluster: Cluster, task: ProbeTask, dsts: dict[str, str], hi0: dict[str, int]
) -> dict[str, tuple[int, str]]:
    """Largest DF payload each destination answers: (payload, how it ended).

    The upper bound moves down only on a refusal (EMSGSIZE or ICMP fragmentation
    needed); a lost echo is asked again up to ``BISECT_TRIES`` times and, if it stays
    lost, the bisection of that destination stops as inconclusive instead of
    mistaking loss for size.
    """
    lo = {d: 0 for d in dsts}
    hi = dict(hi0)
    tries = {d: 0 for d in dsts}
    ended: dict[str, str] = {}
    while True:
        active = [d for d in dsts if d not in ended and hi[d] - lo[d] > 1]
        if not active:
            break
        mids = {d: (lo[d] + hi[d]) // 2 for d in active}
        for d, r in zip(active, batch(cluster, task, [_ping(dsts[d], mids[d]) for d in active]), strict=True):
            how = refusal(r)
            if how == ANSWERED:
                lo[d], tries[d] = mids[d], 0
            elif how in (SENDER_REFUSED, PATH_REFUSED):
                hi[d], tries[d] = mids[d], 0
            else:
                tries[d] += 1
                if tries[d] >= BISECT_TRIES:
                    ended[d] = f"the echo of {mids[d]} bytes was lost {BISECT_TRIES} times: inconclusive"
    return {
        d: (0, ended[d]) if d in ended else (lo[d], f"bisected between {lo[d]} answered and {hi[d]} refused")
        for d in dsts
    }


def _row(cluster: Cluster, probes: ProbeDeployment, src: str, mtu: int) -> list[PairMTU]:
    task = probes.tasks[src]
    dsts = {d: probes.tasks[d].address for d in sorted(probes.tasks) if d != src}
    payload = mtu - IP_ICMP_HEADERS
    ops: list[dict[str, Any]] = []
    spans: dict[tuple[str, str], tuple[int, int]] = {}

    def _add(d: str, what: str, items: list[dict[str, Any]]) -> None:
        spans[(d, what)] = (len(ops), len(ops) + len(items))
        ops.extend(items)

    for d, ip in dsts.items():
        # One burst: small and boundary pings interleaved, so loss hits both alike.
        _add(d, "small", [_ping(ip, 56)] * SMALL_PINGS)
        _add(d, "at", [_ping(ip, payload)] * AT_MTU_PINGS)
        _add(d, "over", [_ping(ip, payload + 1)])
        _add(
            d,
            "body",
            [{"op": "http", "url": f"http://{ip}:{HTTP_PORT}/bytes?n={BODY_BYTES}", "timeout_s": 20}],
        )
    results = batch(cluster, task, ops)

    def _res(d: str, what: str) -> list[BatchReply]:
        a, b = spans[(d, what)]
        return results[a:b]

    answered = {d: sum(r.ok for r in _res(d, "small")) for d in dsts}
    # A path on which no small ping answers has no MTU to measure.
    bisected = _bisect(
        cluster,
        task,
        {d: ip for d, ip in dsts.items() if answered[d]},
        {d: 9000 - IP_ICMP_HEADERS for d in dsts if answered[d]},
    )
    out = []
    for d in dsts:
        at, over = _res(d, "at"), _res(d, "over")[0]
        body_intact, body_detail = _body(_res(d, "body")[0])
        at_errors = sorted({str(r.error) for r in at if not r.ok})
        size, how = bisected.get(d, (0, "not bisected: the path answered no small ping"))
        out.append(
            PairMTU(
                src=src,
                dst=d,
                overlay_mtu=mtu,
                small_answered=answered[d],
                at_mtu_answered=sum(r.ok for r in at),
                at_mtu_detail="; ".join(at_errors) or "all answered",
                over_mtu=refusal(over),
                over_mtu_detail=str(over.error or "replied"),
                measured_path_mtu=size + IP_ICMP_HEADERS if size else 0,
                measured_detail=how,
                body_intact=body_intact,
                body_detail=body_detail,
            )
        )
    return out


def _body(res: BatchReply) -> tuple[bool, str]:
    """Whether the 1 MiB body crossed whole, and what to say about it."""
    if not isinstance(res, HttpReply):
        return False, str(res.error)
    intact = res.ok and bool(res.intact) and res.bytes == BODY_BYTES
    return intact, str(res.error or f"{res.bytes} bytes, intact={res.intact}")


def measure(cluster: Cluster, probes: ProbeDeployment, network: str) -> list[PairMTU]:
    mtu = overlay_mtu(cluster, network).task
    hosts = [cluster.host(n) for n in sorted(probes.tasks)]
    rows = raise_first(run_parallel(hosts, lambda h: _row(cluster, probes, h.name, mtu)))
    return [p for row in rows.values() for p in row]


def to_dicts(results: list[PairMTU]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
