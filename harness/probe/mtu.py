"""MTU across the overlay: the don't-fragment boundary, the measured path MTU, a 1 MB body.

Small requests passing while large ones hang is the classic overlay MTU bug
(moby #24906, #36689): VXLAN adds 50 bytes (ESP more) to every packet. For each
ordered node pair, a DF ping that fills the overlay MTU exactly must pass and one
byte more must fail; the largest DF ping that passes is the measured path MTU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.inventory.schema import Node
from harness.probe.service import HTTP_PORT, ProbeDeployment, batch
from harness.swarm.bootstrap import swarm_address
from harness.swarm.cluster import Cluster
from harness.transport.ssh import raise_first, run_parallel

IP_ICMP_HEADERS = 28  # 20 bytes IPv4 + 8 bytes ICMP echo
VXLAN_OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PairMTU:
    src: str
    dst: str
    overlay_mtu: int
    at_mtu_ok: bool
    at_mtu_detail: str
    over_mtu_failed: bool
    over_mtu_detail: str
    measured_path_mtu: int
    body_intact: bool
    body_detail: str

    @property
    def pair(self) -> str:
        return f"{self.src}->{self.dst}"

    def problems(self) -> list[str]:
        out = []
        if not self.at_mtu_ok:
            out.append(f"DF ping of {self.overlay_mtu} bytes (the overlay MTU) failed: {self.at_mtu_detail}")
        if not self.over_mtu_failed:
            out.append(f"DF ping of {self.overlay_mtu + 1} bytes passed although it exceeds the overlay MTU")
        if not self.body_intact:
            out.append(f"1 MiB HTTP body did not cross intact: {self.body_detail}")
        return out


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


def _ping(dst_ip: str, size: int, tag: str) -> dict[str, Any]:
    return {"id": tag, "op": "ping", "host": dst_ip, "size": size, "df": True, "count": 2, "timeout_s": 2}


def _row(cluster: Cluster, probes: ProbeDeployment, src: str, mtu: int) -> list[PairMTU]:
    task = probes.tasks[src]
    dsts = [d for d in sorted(probes.tasks) if d != src]
    payload = mtu - IP_ICMP_HEADERS
    ops: list[dict[str, Any]] = []
    for d in dsts:
        ip = probes.tasks[d].address
        ops.append(_ping(ip, 56, f"{d}|small"))
        ops.append(_ping(ip, payload, f"{d}|at"))
        ops.append(_ping(ip, payload + 1, f"{d}|over"))
        ops.append(
            {
                "id": f"{d}|body",
                "op": "http",
                "url": f"http://{ip}:{HTTP_PORT}/bytes?n={BODY_BYTES}",
                "timeout_s": 20,
            }
        )
    res = {r["id"]: r for r in batch(cluster, task, ops)}
    # Measured path MTU: bisect DF ping sizes, all destinations in one batch per round.
    # A path on which even a small ping fails has no MTU to measure (reported as 0).
    lo = {d: 0 for d in dsts}
    hi = {d: (9000 - IP_ICMP_HEADERS if res[f"{d}|small"].get("ok") else 1) for d in dsts}
    while any(hi[d] - lo[d] > 1 for d in dsts):
        probes_ops = [
            _ping(probes.tasks[d].address, (lo[d] + hi[d]) // 2, d) for d in dsts if hi[d] - lo[d] > 1
        ]
        for r in batch(cluster, task, probes_ops):
            mid = int(r["size"])
            if r.get("ok"):
                lo[r["id"]] = mid
            else:
                hi[r["id"]] = mid
    out = []
    for d in dsts:
        at, over, body = res[f"{d}|at"], res[f"{d}|over"], res[f"{d}|body"]
        out.append(
            PairMTU(
                src=src,
                dst=d,
                overlay_mtu=mtu,
                at_mtu_ok=bool(at.get("ok")),
                at_mtu_detail=f"{at.get('received', 0)}/{at.get('sent', 0)} replies {at.get('error') or ''}".strip(),
                over_mtu_failed=not over.get("ok"),
                over_mtu_detail=str(over.get("error") or "replied"),
                measured_path_mtu=lo[d] + IP_ICMP_HEADERS if lo[d] else 0,
                body_intact=bool(body.get("ok"))
                and bool(body.get("intact"))
                and body.get("bytes") == BODY_BYTES,
                body_detail=str(
                    body.get("error") or f"{body.get('bytes')} bytes, intact={body.get('intact')}"
                ),
            )
        )
    return out


def measure(cluster: Cluster, probes: ProbeDeployment, network: str) -> list[PairMTU]:
    mtu = overlay_mtu(cluster, network).task
    hosts = [cluster.host(n) for n in sorted(probes.tasks)]
    rows = raise_first(run_parallel(hosts, lambda h: _row(cluster, probes, h.name, mtu)))
    return [p for row in rows.values() for p in row]


def to_dicts(results: list[PairMTU]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
