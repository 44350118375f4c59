"""Kernel and tool capabilities of one node, each with the reason behind its verdict.

Checks run in a throwaway network namespace (``unshare -n``) so probing for
VXLAN or ESP support never changes the node's real network state.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from typing import Any

from harness.transport.ssh import SSHHost

# A test key for a throwaway SA: never used for traffic (the namespace has no links).
_TEST_KEY = "0x" + "0102030405060708091011121314151617181920"
_SA = "src 198.18.255.1 dst 198.18.255.2 proto esp spi 0x1000 reqid 1 mode transport"

KNOWN = ("vxlan", "ipvs", "esp", "tcpdump", "iptables")


@dataclass(frozen=True)
class Capability:
    name: str
    present: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe(host: SSHHost, script: str) -> tuple[int, str]:
    """Run ``script``; return its status and its last line of output."""
    res = host.run(f"sh -c {shlex.quote(script)}", timeout_s=30)
    lines = (res.stdout.strip() + "\n" + res.stderr.strip()).strip().splitlines()
    return res.exit_status, (lines[-1] if lines else "")


def check_vxlan(host: SSHHost) -> Capability:
    rc, out = _probe(host, "unshare -n ip link add hx0 type vxlan id 42 dstport 4789 2>&1")
    if rc == 0:
        return Capability("vxlan", True, "kernel created a VXLAN device")
    return Capability("vxlan", False, f"kernel refused a VXLAN device: {out}")


def check_esp(host: SSHHost) -> Capability:
    cbc = (
        f"unshare -n ip xfrm state add {_SA} enc 'cbc(aes)' 0x{'01' * 16} "
        f"auth 'hmac(sha256)' 0x{'02' * 32} 2>&1"
    )
    rc, out = _probe(host, cbc)
    if rc != 0:
        return Capability(
            "esp",
            False,
            f"kernel lacks ESP (INET_ESP): adding an ESP SA failed with '{out}'; "
            "encrypted overlays will drop all cross-node traffic",
        )
    gcm = f"unshare -n ip xfrm state add {_SA} aead 'rfc4106(gcm(aes))' {_TEST_KEY} 128 2>&1"
    rc, out = _probe(host, gcm)
    if rc != 0:
        return Capability(
            "esp",
            False,
            f"kernel has ESP but not AES-GCM (rfc4106(gcm(aes))), which Docker uses: '{out}'",
        )
    return Capability("esp", True, "kernel accepted an AES-GCM ESP security association")


def check_ipvs(host: SSHHost) -> Capability:
    rc, out = _probe(
        host,
        "if [ -e /proc/net/ip_vs ]; then echo loaded; "
        "elif command -v modprobe >/dev/null && modprobe -n -q ip_vs; then echo module; "
        "else echo absent; exit 1; fi",
    )
    if rc == 0:
        return Capability("ipvs", True, f"IPVS {'loaded' if out == 'loaded' else 'available as a module'}")
    return Capability(
        "ipvs",
        False,
        "kernel has no IP_VS (no /proc/net/ip_vs and no ip_vs module): service VIPs "
        "and the ingress routing mesh cannot carry traffic",
    )


def check_tool(host: SSHHost, name: str) -> Capability:
    rc, out = _probe(host, f"command -v {name}")
    if rc == 0:
        return Capability(name, True, f"{name} at {out}")
    return Capability(name, False, f"{name} is not installed on the host")


def node_capabilities(host: SSHHost) -> dict[str, Capability]:
    caps = [
        check_vxlan(host),
        check_ipvs(host),
        check_esp(host),
        check_tool(host, "tcpdump"),
        check_tool(host, "iptables"),
    ]
    return {c.name: c for c in caps}


def node_facts(host: SSHHost) -> dict[str, str]:
    res = host.run(
        "uname -r; docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown; "
        "ip -o link show dev eth0 2>/dev/null | sed -n 's/.* mtu \\([0-9]*\\) .*/\\1/p' | grep . || echo unknown",
        timeout_s=30,
    )
    lines = [*res.stdout.splitlines(), "", "", ""]
    return {"kernel": lines[0].strip(), "engine": lines[1].strip(), "mtu": lines[2].strip()}
