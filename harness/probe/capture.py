"""Encryption on the wire: capture the underlay while probe traffic crosses the overlay.

An ``--opt encrypted`` overlay has shipped plaintext before (CVE-2023-28840/1/2),
so "encrypted" is checked where it matters: on the source node's underlay
interface, with tcpdump in the node's host namespace. The same capture on a
plain overlay must show plaintext VXLAN for that network's VNI; if it does not,
the capture itself is broken and the encrypted verdict would mean nothing.

Where the inventory names the wire outside the node (the local lab: each node's port
of the lab bridge on this machine, ``provider_data.wire_interfaces``), the same
capture runs there as well, at once. That is the stronger proof: nothing inside the
node, a tcpdump or a kernel of its own, can change what crosses the bridge.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from harness import verdict
from harness.cluster import Cluster
from harness.errors import WaitTimeout
from harness.inventory.schema import Node
from harness.probe.agent import HttpReply, LoadReply
from harness.probe.fdb import measure_problems
from harness.probe.service import HTTP_PORT, ProbeDeployment, agent
from harness.retry import NotYet, eventually
from harness.swarm.bootstrap import swarm_address
from harness.transport.local import CommandHost, LocalHost
from harness.verdict import Symptom

log = logging.getLogger(__name__)

VXLAN_PORT = 4789
_VNI_RE = re.compile(r"VXLAN, flags \[[^\]]*\] \([^)]*\), vni (\d+)")


@dataclass(frozen=True)
class OutsideCapture:
    """What the capture outside the source node saw: on this machine, on that node's port of the lab bridge."""

    interface: str
    vxlan_plaintext: int
    esp: int
    other_vxlan: int


@dataclass(frozen=True)
class WireCapture:
    network: str
    vni: int
    src: str
    dst: str
    interface: str
    port: int
    vxlan_plaintext: int  # VXLAN packets carrying this network's VNI
    esp: int  # ESP packets between the two nodes
    other_vxlan: int
    requests_sent: int
    sa_peers: list[str]  # peers with an xfrm SA on the source node
    requests_answered: int = 0
    # When no request was answered: the overlay's VXLAN table problems on the two nodes
    # (a missing neighbour or FDB entry sends nothing to capture), read right after.
    path_problems: tuple[str, ...] = ()
    outside: OutsideCapture | None = None  # None where the inventory names no wire outside the nodes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def outside_interface(cluster: Cluster, node: str) -> str | None:
    """The interface on this machine that carries ``node``'s underlay, if the inventory
    names one: only a local lab's (its provider runs on this machine)."""
    inv = cluster.inventory
    if inv.provider != "local":
        return None
    names = inv.provider_data.get("wire_interfaces") or {}
    name = names.get(node) if isinstance(names, dict) else None
    return str(name) if name else None


class Tcpdump:
    """tcpdump in the background on ``host`` (a node over SSH, or this machine), from
    listening until stopped; its lines are read back at the end."""

    def __init__(self, host: CommandHost, interface: str, bpf: str, duration_s: int) -> None:
        self.host, self.interface = host, interface
        self.tag = f"/tmp/swarm-harness-capture-{secrets.token_hex(4)}"
        self.command = (
            f"nohup timeout {duration_s + 60} tcpdump -i {interface} -nn -l -T vxlan '{bpf}' "
            f">{self.tag}.txt 2>{self.tag}.err </dev/null & echo $! >{self.tag}.pid"
        )

    def start(self) -> None:
        self.host.run(self.command, timeout_s=30).check(hint=f"is tcpdump installed on {self.host.name}?")

        def _listening() -> None:
            err = self.host.run(f"cat {self.tag}.err", timeout_s=30).stdout
            if "listening on" not in err:
                raise NotYet(f"tcpdump not listening yet: {err.strip()[-200:] or 'no output'}")

        eventually(_listening, 20, f"tcpdump on {self.host.name} ({self.interface}) to start", interval_s=0.3)

    def stop(self) -> str:
        # The pid is timeout's, started as a background job (SIGINT ignored). coreutils
        # 9.1 (bookworm) still passed a SIGINT on to tcpdump; 9.10 (forky) keeps the
        # inherited ignore and the capture ran on until its own deadline. SIGTERM stops
        # both, and tcpdump -l has written every line by then.
        self.host.run(f"kill -TERM $(cat {self.tag}.pid) 2>/dev/null; true", timeout_s=30)

        def _stopped() -> None:
            if self.host.run(f"kill -0 $(cat {self.tag}.pid) 2>/dev/null", timeout_s=30).ok:
                raise NotYet("tcpdump still running")

        eventually(_stopped, 20, f"tcpdump on {self.host.name} ({self.interface}) to stop", interval_s=0.3)
        tag = self.tag
        return self.host.run(f"cat {tag}.txt; rm -f {tag}.txt {tag}.err {tag}.pid", timeout_s=30).stdout


def network_vni(cluster: Cluster, network: str) -> int:
    # Not verbose: a verbose inspect makes dockerd log an error line per remote endpoint.
    attrs = cluster.manager_docker().api.inspect_network(network)
    vnis = (attrs.get("Options") or {}).get("com.docker.network.driver.overlay.vxlanid_list", "")
    if not vnis:
        raise ValueError(f"network {network} has no VXLAN id (is it an overlay?)")
    return int(str(vnis).split(",")[0])


def underlay_interface(cluster: Cluster, node: Node) -> str:
    addr = swarm_address(node)
    res = cluster.run(node, f"ip -o -4 addr show | awk '$4 ~ /^{addr}\\// {{print $2}}'").check()
    return res.stdout.strip()


def parse_tcpdump(text: str, vni: int) -> tuple[int, int, int]:
    """(plaintext VXLAN packets of ``vni``, ESP packets, VXLAN packets of other VNIs)."""
    mine = esp = other = 0
    for line in text.splitlines():
        if "ESP(" in line:
            esp += 1
            continue
        m = _VNI_RE.search(line)
        if m:
            if int(m.group(1)) == vni:
                mine += 1
            else:
                other += 1
    return mine, esp, other


def capture(
    cluster: Cluster,
    probes: ProbeDeployment,
    network: str,
    src: str,
    dst: str,
    data_path_port: int | None = None,
    duration_s: int = 6,
) -> WireCapture:
    vni = network_vni(cluster, network)
    src_node, dst_node = cluster.inventory.node(src), cluster.inventory.node(dst)
    iface = underlay_interface(cluster, src_node)
    port = data_path_port or VXLAN_PORT
    peer = swarm_address(dst_node)
    bpf = f"host {peer} and (udp port {port} or ip proto 50)"
    inside = Tcpdump(cluster.host(src), iface, bpf, duration_s)
    outside_iface = outside_interface(cluster, src)
    # The bridge port also carries the source's traffic to every other node: the same filter.
    outside = Tcpdump(LocalHost(), outside_iface, bpf, duration_s) if outside_iface else None
    # tcpdump runs in the background; traffic starts only once every capture is listening.
    started: list[Tcpdump] = []
    try:
        for dump in (inside, outside):
            if dump is not None:
                dump.start()
                started.append(dump)
        url = f"http://{probes.tasks[dst].address}:{HTTP_PORT}/"
        _wait_path(cluster, probes, src, url)
        load = LoadReply.from_dict(
            agent(
                cluster,
                probes.tasks[src],
                ["load", url, "--duration-s", str(duration_s), "--interval-s", "0.05", "--timeout-s", "1"],
                timeout_s=duration_s + 30,
            )
        )
    finally:
        texts = {id(dump): dump.stop() for dump in started}
    text = texts[id(inside)]
    outside_seen = None
    if outside is not None:
        o_mine, o_esp, o_other = parse_tcpdump(texts[id(outside)], vni)
        outside_seen = OutsideCapture(outside.interface, o_mine, o_esp, o_other)
    mine, esp, other = parse_tcpdump(text, vni)
    xfrm = cluster.run(src, "ip xfrm state 2>/dev/null").stdout
    answered = load.sent - load.failed
    path: tuple[str, ...] = ()
    if answered == 0 and mine == 0 and esp == 0:
        path = tuple(
            p.text() for p in measure_problems(cluster, probes) if p.node in (src, dst)
        ) or (f"no table problem on {src} or {dst}; errors: {load.errors}",)
    sa_peers = sorted(set(re.findall(r"^src \S+ dst (\S+)", xfrm, re.MULTILINE)))
    return WireCapture(
        network=network,
        vni=vni,
        src=src,
        dst=dst,
        interface=iface,
        port=port,
        vxlan_plaintext=mine,
        esp=esp,
        other_vxlan=other,
        requests_sent=load.sent,
        sa_peers=sa_peers,
        requests_answered=answered,
        path_problems=path,
        outside=outside_seen,
    )


def _wait_path(cluster: Cluster, probes: ProbeDeployment, src: str, url: str, timeout_s: float = 30) -> None:
    """Give a freshly deployed probe time to become reachable (overlay peers converge by gossip).

    A path that never works (an encrypted overlay without ESP) is not an error here:
    the capture that follows is what judges it.
    """

    def _reachable() -> None:
        res = HttpReply.from_dict(
            agent(cluster, probes.tasks[src], ["http", url, "--timeout-s", "1"], timeout_s=30)
        )
        if not res.ok:
            raise NotYet(str(res.error))

    try:
        eventually(_reachable, timeout_s, f"{url} to answer from {src}", interval_s=1)
    except WaitTimeout as exc:
        log.info("capture proceeds without a working path: %s", exc.message)


def plain_problems(cap: WireCapture) -> list[str]:
    if cap.vxlan_plaintext == 0 and cap.requests_answered == 0:
        # Nothing crossed, so nothing could be seen: the path is what is broken.
        return [
            f"none of {cap.requests_sent} requests from {cap.src} reached {cap.dst} over the plain network "
            f"{cap.network}, so the capture had nothing to see (the overlay path is broken, not the "
            f"capture): {'; '.join(cap.path_problems)}; see the overlay matrix and the VXLAN tables check"
        ]
    out = []
    if cap.vxlan_plaintext == 0:
        out.append(
            f"the capture on {cap.src}:{cap.interface} saw no plaintext VXLAN for VNI {cap.vni} of the plain "
            f"network {cap.network} while {cap.requests_sent} requests went to {cap.dst}: the capture itself "
            "is broken, so no encryption verdict can be trusted (check tcpdump and the data path port)"
        )
    if cap.outside is not None and cap.outside.vxlan_plaintext == 0:
        out.append(
            f"the capture outside {cap.src}, on this machine's {cap.outside.interface}, saw no plaintext VXLAN "
            f"for VNI {cap.vni} of the plain network {cap.network} while {cap.requests_sent} requests went to "
            f"{cap.dst}: that capture is broken (is {cap.outside.interface} {cap.src}'s port of the lab bridge?), "
            "so its encrypted verdict cannot be trusted"
        )
    return out


def encrypted_problems(cap: WireCapture, dst_address: str) -> list[str]:
    out = []
    if cap.vxlan_plaintext:
        out.append(
            f"{cap.vxlan_plaintext} PLAINTEXT VXLAN packets of the encrypted network {cap.network} "
            f"(VNI {cap.vni}) left {cap.src} for {cap.dst}: traffic is not encrypted"
        )
    if cap.esp == 0:
        out.append(f"no ESP packets from {cap.src} to {cap.dst} while {cap.requests_sent} requests were sent")
    if dst_address not in cap.sa_peers:
        out.append(
            f"{cap.src} holds no xfrm SA towards {cap.dst} ({dst_address}); SAs for: {cap.sa_peers or 'none'}"
        )
    if (outside := cap.outside) is not None:
        if outside.vxlan_plaintext:
            out.append(
                f"{outside.vxlan_plaintext} PLAINTEXT VXLAN packets of the encrypted network {cap.network} "
                f"(VNI {cap.vni}) crossed the lab bridge from {cap.src} for {cap.dst} (captured outside the "
                f"node, on this machine's {outside.interface}): traffic is not encrypted on the wire"
            )
        if outside.esp == 0:
            out.append(
                f"no ESP packets from {cap.src} to {cap.dst} on the wire outside the node (this machine's "
                f"{outside.interface}) while {cap.requests_sent} requests were sent"
            )
    return out


def encrypted_symptoms(cap: WireCapture, dst_address: str) -> list[Symptom]:
    """The encrypted verdict's observations: plaintext on the wire is never a missing ESP."""
    nodes = (cap.src, cap.dst)
    plaintext = cap.vxlan_plaintext + (cap.outside.vxlan_plaintext if cap.outside else 0)
    out = []
    if plaintext:
        out.append(Symptom(verdict.PLAINTEXT, nodes, f"{plaintext} plaintext VXLAN packets, VNI {cap.vni}"))
    if cap.esp == 0 or (cap.outside is not None and cap.outside.esp == 0):
        out.append(Symptom(verdict.NO_ESP, nodes, f"no ESP packets for {cap.requests_sent} requests"))
    if dst_address not in cap.sa_peers:
        out.append(Symptom(verdict.NO_ESP, nodes, f"no xfrm SA towards {dst_address}"))
    return out
