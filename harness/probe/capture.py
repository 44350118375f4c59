"""Encryption on the wire: capture the underlay while probe traffic crosses the overlay.

An ``--opt encrypted`` overlay has shipped plaintext before (CVE-2023-28840/1/2),
so "encrypted" is checked where it matters: on the source node's underlay
interface, with tcpdump in the node's host namespace. The same capture on a
plain overlay must show plaintext VXLAN for that network's VNI; if it does not,
the capture itself is broken and the encrypted verdict would mean nothing.
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
from harness.verdict import Symptom

log = logging.getLogger(__name__)

VXLAN_PORT = 4789
_VNI_RE = re.compile(r"VXLAN, flags \[[^\]]*\] \([^)]*\), vni (\d+)")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    tag = f"/tmp/swarm-harness-capture-{secrets.token_hex(4)}"
    # tcpdump runs in the background on the node; traffic starts only once it is listening.
    cluster.run(
        src,
        f"nohup timeout {duration_s + 60} tcpdump -i {iface} -nn -l -T vxlan "
        f"'host {peer} and (udp port {port} or ip proto 50)' >{tag}.txt 2>{tag}.err </dev/null & "
        f"echo $! >{tag}.pid",
    ).check(hint=f"is tcpdump installed on {src}?")
    try:

        def _listening() -> None:
            err = cluster.run(src, f"cat {tag}.err").stdout
            if "listening on" not in err:
                raise NotYet(f"tcpdump not listening yet: {err.strip()[-200:] or 'no output'}")

        eventually(_listening, 20, f"tcpdump on {src} to start", interval_s=0.3)
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
        # The pid is timeout's, started as a background job (SIGINT ignored). coreutils
        # 9.1 (bookworm) still passed a SIGINT on to tcpdump; 9.10 (forky) keeps the
        # inherited ignore and the capture ran on until its own deadline. SIGTERM stops
        # both, and tcpdump -l has written every line by then.
        cluster.run(src, f"kill -TERM $(cat {tag}.pid) 2>/dev/null; true")

        def _stopped() -> None:
            if cluster.run(src, f"kill -0 $(cat {tag}.pid) 2>/dev/null").ok:
                raise NotYet("tcpdump still running")

        eventually(_stopped, 20, f"tcpdump on {src} to stop", interval_s=0.3)
        text = cluster.run(src, f"cat {tag}.txt; rm -f {tag}.txt {tag}.err {tag}.pid").stdout
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
    if cap.vxlan_plaintext == 0:
        return [
            f"the capture on {cap.src}:{cap.interface} saw no plaintext VXLAN for VNI {cap.vni} of the plain "
            f"network {cap.network} while {cap.requests_sent} requests went to {cap.dst}: the capture itself "
            "is broken, so no encryption verdict can be trusted (check tcpdump and the data path port)"
        ]
    return []


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
    return out


def encrypted_symptoms(cap: WireCapture, dst_address: str) -> list[Symptom]:
    """The encrypted verdict's observations: plaintext on the wire is never a missing ESP."""
    nodes = (cap.src, cap.dst)
    out = []
    if cap.vxlan_plaintext:
        out.append(Symptom(verdict.PLAINTEXT, nodes, f"{cap.vxlan_plaintext} plaintext VXLAN packets, VNI {cap.vni}"))
    if cap.esp == 0:
        out.append(Symptom(verdict.NO_ESP, nodes, f"no ESP packets for {cap.requests_sent} requests"))
    if dst_address not in cap.sa_peers:
        out.append(Symptom(verdict.NO_ESP, nodes, f"no xfrm SA towards {dst_address}"))
    return out
