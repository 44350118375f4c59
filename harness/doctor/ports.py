"""Are the swarm's ports reachable between every pair of nodes?

TCP ports are dialled. UDP has no handshake, so each receiver counts arrivals
with an iptables rule appended to the end of its INPUT chain: a datagram that
an earlier rule drops, or that never arrives, leaves the count at zero. The
counting rules carry a unique comment and are always removed.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from harness.cluster import Cluster
from harness.transport.ssh import raise_first, run_parallel

VXLAN_PORT = 4789


@dataclass(frozen=True)
class PortCheck:
    src: str
    dst: str
    port: int
    proto: str
    ok: bool
    detail: str

    @property
    def label(self) -> str:
        return f"{self.port}/{self.proto}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tcp_cmd(address: str, port: int) -> str:
    return f"timeout 3 bash -c '</dev/tcp/{address}/{port}' 2>&1"


def check_ports(cluster: Cluster, data_path_port: int | None = None) -> list[PortCheck]:
    vxlan = data_path_port or VXLAN_PORT
    nodes = list(cluster.nodes)
    # Swarm traffic flows between the swarm (data path) addresses, not the SSH ones.
    addr = {n.name: n.data_path_address or n.address for n in nodes}
    dp_addr = addr
    token = secrets.token_hex(4)
    udp_ports = (7946, vxlan)

    def _comment(src: str, port: int) -> str:
        return f"swarm-harness-doctor-{token}-{src}-{port}"

    def _add_counters(host_name: str) -> None:
        rules = [
            f"iptables -w -A INPUT -p udp -s {(dp_addr if port == vxlan else addr)[src]} --dport {port} "
            f"-m comment --comment {_comment(src, port)}"
            for src in addr
            if src != host_name
            for port in udp_ports
        ]
        cluster.run(host_name, " && ".join(rules), timeout_s=30).check(
            hint="the doctor needs iptables on every node to count UDP arrivals"
        )

    def _remove_counters(host_name: str) -> None:
        script = (
            "iptables -w -S INPUT | grep -- 'swarm-harness-doctor-" + token + "' | "
            "sed 's/^-A /-D /' | while read -r rule; do eval iptables -w $rule; done"
        )
        cluster.run(host_name, script, timeout_s=30)

    def _send(src: str) -> list[PortCheck]:
        out = []
        sends = []
        for dst in addr:
            if dst == src:
                continue
            ports = [7946] + ([2377] if cluster.inventory.node(dst).is_manager else [])
            for port in ports:
                res = cluster.run(src, _tcp_cmd(addr[dst], port), timeout_s=15)
                out.append(
                    PortCheck(
                        src,
                        dst,
                        port,
                        "tcp",
                        res.ok,
                        "connected" if res.ok else (res.tail(1) or f"exit {res.exit_status}"),
                    )
                )
            for port in udp_ports:
                target = (dp_addr if port == vxlan else addr)[dst]
                sends.append(f"echo swarm-harness-doctor > /dev/udp/{target}/{port}")
        script = "for i in 1 2 3; do " + "; ".join(sends) + "; done; true"
        cluster.run(src, f"bash -c {shlex.quote(script)}", timeout_s=30)
        return out

    hosts = list(cluster.hosts.values())
    try:
        raise_first(run_parallel(hosts, lambda h: _add_counters(h.name)))
        tcp_results = raise_first(run_parallel(hosts, lambda h: _send(h.name)))
        counters = raise_first(
            run_parallel(hosts, lambda h: cluster.run(h.name, "iptables -w -L INPUT -v -x -n", timeout_s=30))
        )
    finally:
        run_parallel(hosts, lambda h: _remove_counters(h.name))
    checks: list[PortCheck] = [c for name in addr for c in tcp_results[name]]
    for dst, res in counters.items():
        text = res.stdout
        for src in addr:
            if src == dst:
                continue
            for port in udp_ports:
                count = _count(text, _comment(src, port))
                checks.append(
                    PortCheck(
                        src,
                        dst,
                        port,
                        "udp",
                        count > 0,
                        f"{count} of 3 datagrams arrived"
                        if count
                        else "no datagram arrived (blocked on the path or by a firewall)",
                    )
                )
    return sorted(checks, key=lambda c: (c.src, c.dst, c.port, c.proto))


def _count(iptables_listing: str, comment: str) -> int:
    for line in iptables_listing.splitlines():
        if comment in line:
            parts = line.split()
            try:
                return int(parts[0])
            except (ValueError, IndexError):
                return 0
    return 0
