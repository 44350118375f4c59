"""Kernel and tool capabilities of one node, each with the reason behind its verdict.

Checks run in a throwaway network namespace (``unshare -n``) so probing for
VXLAN or ESP support never changes the node's real network state.

Each verdict is one of three: present, absent (the kernel's own refusal is the
evidence), or unknown (the probe itself could not run: no namespace, no ``ip``,
an error that is not the kernel saying "not supported"). Only an absent
capability can excuse a check's failure; unknown is never taken for absent.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from typing import Any

from harness.transport.local import CommandHost

# A test key for a throwaway SA: never used for traffic (the namespace has no links).
_TEST_KEY = "0x" + "0102030405060708091011121314151617181920"
_SA = "src 198.18.255.1 dst 198.18.255.2 proto esp spi 0x1000 reqid 1 mode transport"

KNOWN = ("vxlan", "ipvs", "esp", "tcpdump", "iptables")


@dataclass(frozen=True)
class Capability:
    name: str
    present: bool
    reason: str
    unknown: bool = False  # could not be measured (``present`` is then False): see ``reason``

    @property
    def state(self) -> str:
        return "present" if self.present else "unknown" if self.unknown else "absent"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capability:
        return cls(str(data["name"]), bool(data["present"]), str(data["reason"]), bool(data.get("unknown")))


def _unknown(name: str, why: str) -> Capability:
    return Capability(name, False, f"could not measure {name}: {why}", unknown=True)


# How a kernel says it lacks a feature, as ``ip`` prints it (extack text, or the errno's
# strerror): ENOENT/EPROTONOSUPPORT/EOPNOTSUPP/ENOSYS. Anything else (EPERM from a
# confined probe, a missing command) means the probe did not get an answer.
_KERNEL_REFUSALS = (
    "not found",
    "not supported",
    "unknown device type",
    "no such file or directory",
    "function not implemented",
)


def _kernel_refused(out: str) -> bool:
    text = out.lower()
    return "command not found" not in text and any(r in text for r in _KERNEL_REFUSALS)


def _probe_blocker(host: CommandHost) -> str | None:
    """Why the namespace probes cannot run on ``host`` at all, or None when they can."""
    rc, out = _probe(
        host, "for c in unshare ip; do command -v $c >/dev/null || { echo no $c; exit 1; }; done"
    )
    if rc != 0:
        return f"'{out.removeprefix('no ')}' is not installed on the node"
    rc, out = _probe(host, "unshare -n true 2>&1")
    if rc != 0:
        return f"cannot create a throwaway network namespace ('unshare -n' said: {out or f'exit {rc}'})"
    return None


def _probe(host: CommandHost, script: str) -> tuple[int, str]:
    """Run ``script``; return its status and its last line of output."""
    res = host.run(f"sh -c {shlex.quote(script)}", timeout_s=30)
    lines = (res.stdout.strip() + "\n" + res.stderr.strip()).strip().splitlines()
    return res.exit_status, (lines[-1] if lines else "")


def check_vxlan(host: CommandHost, blocker: str | None = None) -> Capability:
    if blocker:
        return _unknown("vxlan", blocker)
    rc, out = _probe(host, "unshare -n ip link add hx0 type vxlan id 42 dstport 4789 2>&1")
    if rc == 0:
        return Capability("vxlan", True, "kernel created a VXLAN device")
    if not _kernel_refused(out):
        return _unknown(
            "vxlan", f"creating a VXLAN device failed with '{out}', which is not a kernel refusal"
        )
    return Capability("vxlan", False, f"kernel refused a VXLAN device: {out}")


def check_esp(host: CommandHost, blocker: str | None = None) -> Capability:
    if blocker:
        return _unknown("esp", blocker)
    cbc = (
        f"unshare -n ip xfrm state add {_SA} enc 'cbc(aes)' 0x{'01' * 16} "
        f"auth 'hmac(sha256)' 0x{'02' * 32} 2>&1"
    )
    rc, out = _probe(host, cbc)
    if rc != 0 and not _kernel_refused(out):
        return _unknown("esp", f"adding a test ESP SA failed with '{out}', which is not a kernel refusal")
    if rc != 0:
        return Capability(
            "esp",
            False,
            f"kernel lacks ESP (INET_ESP): adding an ESP SA failed with '{out}'; "
            "encrypted overlays will drop all cross-node traffic",
        )
    gcm = f"unshare -n ip xfrm state add {_SA} aead 'rfc4106(gcm(aes))' {_TEST_KEY} 128 2>&1"
    rc, out = _probe(host, gcm)
    if rc != 0 and not _kernel_refused(out):
        return _unknown("esp", f"adding a test AES-GCM SA failed with '{out}', which is not a kernel refusal")
    if rc != 0:
        return Capability(
            "esp",
            False,
            f"kernel has ESP but not AES-GCM (rfc4106(gcm(aes))), which Docker uses: '{out}'",
        )
    return Capability("esp", True, "kernel accepted an AES-GCM ESP security association")


def check_ipvs(host: CommandHost) -> Capability:
    rc, out = _probe(
        host,
        "if [ -e /proc/net/ip_vs ]; then echo loaded; "
        "elif [ ! -e /proc/modules ]; then echo nomodules; "
        "elif ! command -v modprobe >/dev/null; then echo nomodprobe; "
        "elif modprobe -n -q ip_vs; then echo module; "
        "else echo nomodule; fi",
    )
    effect = "service VIPs and the ingress routing mesh cannot carry traffic"
    if rc == 0 and out == "loaded":
        return Capability("ipvs", True, "IPVS loaded (/proc/net/ip_vs)")
    if rc == 0 and out == "module":
        return Capability("ipvs", True, "IPVS available as the ip_vs module")
    if rc == 0 and out == "nomodules":
        return Capability(
            "ipvs", False, f"kernel has no IP_VS (no /proc/net/ip_vs and no module support): {effect}"
        )
    if rc == 0 and out == "nomodule":
        return Capability(
            "ipvs", False, f"kernel has no IP_VS (no /proc/net/ip_vs, no ip_vs module): {effect}"
        )
    if rc == 0 and out == "nomodprobe":
        return _unknown(
            "ipvs", "no /proc/net/ip_vs and modprobe is not installed, so a module cannot be looked up"
        )
    return _unknown("ipvs", f"the probe failed (exit {rc}): {out}")


def check_tool(host: CommandHost, name: str) -> Capability:
    rc, out = _probe(host, f"command -v {name}")
    if rc == 0:
        return Capability(name, True, f"{name} at {out}")
    return Capability(name, False, f"{name} is not installed on the host")


def node_capabilities(host: CommandHost) -> dict[str, Capability]:
    blocker = _probe_blocker(host)
    caps = [
        check_vxlan(host, blocker),
        check_ipvs(host),
        check_esp(host, blocker),
        check_tool(host, "tcpdump"),
        check_tool(host, "iptables"),
    ]
    return {c.name: c for c in caps}


# One round trip for all facts. Each is printed as ``name=value`` so a command that prints
# an extra line (or none) cannot shift the others, as reading them by line position would:
# a client without a daemon prints an empty line, then fails, which made the MTU "unknown".
FACTS_SCRIPT = (
    'echo "kernel=$(uname -r)"; '
    "echo \"engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null | grep . || echo unknown)\"; "
    "echo \"mtu=$(ip -o link show dev eth0 2>/dev/null | sed -n 's/.* mtu \\([0-9]*\\) .*/\\1/p' | grep . || echo unknown)\""
)
FACTS = ("kernel", "engine", "mtu")


def parse_facts(stdout: str) -> dict[str, str]:
    """The facts ``FACTS_SCRIPT`` printed; a fact it did not print is empty."""
    facts = dict.fromkeys(FACTS, "")
    for line in stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in facts and not facts[name]:
            facts[name] = value.strip()
    return facts


def node_facts(host: CommandHost) -> dict[str, str]:
    return parse_facts(host.run(FACTS_SCRIPT, timeout_s=30).stdout)
