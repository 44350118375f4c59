"""Each node's iptables backend (legacy or nft) and whether the ``u32`` match works there.

Docker programs its Swarm rules (ingress, encrypted-overlay marks) through the
``iptables`` command, so the backend that command drives decides which kernel tables
hold them. Nodes that disagree (some legacy, some nft) split the cluster's rules and
break published ports on some nodes only (moby#46636). Engines before 24.0 mark
encrypted VXLAN traffic with ``-m u32``; on nft the match is missing on some
distributions, so the mark rule is refused and the encrypted overlay passes no
traffic (moby#43382: "Couldn't load match `u32'"). Both are measured per node: the
backend from ``iptables -V``, the match by adding a rule like Docker's in a throwaway
namespace (``unshare -n``), so the node's real tables never change.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from harness.transport.ssh import SSHHost

PRESENT, ABSENT, UNKNOWN = "present", "absent", "unknown"

# The match of Docker 20.10's mark rule for VNI 4097 (libnetwork/drivers/overlay/encryption.go),
# without its "-p udp --dport": only the u32 extension is under test, so no other one can fail it.
U32_RULE = "-w -A OUTPUT -m u32 --u32 '0>>22&0x3C@12&0xFFFFFF00=1048832' -j ACCEPT"
FIREWALL_SCRIPT = (
    f'iptables -V 2>&1; out=$(unshare -n iptables {U32_RULE} 2>&1); echo "u32-rc=$?"; echo "$out"'
)
# The first engine that matches VXLAN with xt_bpf instead of u32 (moby#45281).
U32_UNUSED_FROM_ENGINE = 24

_VERSION = re.compile(r"iptables v(\S+)(?: \((\w+)\))?")


@dataclass(frozen=True)
class Firewall:
    backend: str  # "nft", "legacy" or "unknown"
    version: str  # as ``iptables -V`` prints it, e.g. "v1.8.9 (nf_tables)"
    u32: str  # present, absent or unknown
    reason: str  # what the u32 probe said

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Firewall:
        return cls(str(data["backend"]), str(data["version"]), str(data["u32"]), str(data["reason"]))


def parse_backend(version_output: str) -> tuple[str, str]:
    """(backend, version text) from ``iptables -V``: ``iptables v1.8.9 (nf_tables)`` is nft,
    ``(legacy)`` or no suffix (before 1.8) is legacy."""
    m = _VERSION.search(version_output)
    if not m:
        return UNKNOWN, version_output.strip().splitlines()[0] if version_output.strip() else "no output"
    mode = m.group(2) or "legacy"
    backend = "nft" if mode == "nf_tables" else "legacy" if mode == "legacy" else UNKNOWN
    return backend, f"v{m.group(1)}" + (f" ({m.group(2)})" if m.group(2) else "")


def parse_u32(rc: int, output: str) -> tuple[str, str]:
    """(state, reason) from adding Docker's u32 rule: rc 0 is present; the extension's
    library or the kernel's xt_u32 missing is absent; anything else (no unshare, no
    permission) could not be measured."""
    text = " ".join(output.split())
    if rc == 0:
        return PRESENT, "a rule with -m u32 was accepted"
    if "Couldn't load match `u32'" in text or re.search(r"Extension u32 .*not supported", text):
        return ABSENT, f"a rule with -m u32 was refused: {text[:200]}"
    return UNKNOWN, f"could not measure the u32 match (exit {rc}): {text[:200] or 'no output'}"


def parse_firewall(stdout: str) -> Firewall:
    head, sep, rest = stdout.partition("u32-rc=")
    backend, version = parse_backend(head)
    if not sep:
        return Firewall(backend, version, UNKNOWN, "the u32 probe printed nothing")
    rc_text, _, out = rest.partition("\n")
    rc = int(rc_text.strip()) if rc_text.strip().isdigit() else -1
    u32, reason = parse_u32(rc, out)
    return Firewall(backend, version, u32, reason)


def check_firewall(host: SSHHost) -> Firewall:
    return parse_firewall(host.run(f"sh -c {shlex.quote(FIREWALL_SCRIPT)}", timeout_s=30).stdout)


def _engine_major(engine: str) -> int | None:
    m = re.match(r"(\d+)\.", engine)
    return int(m.group(1)) if m else None


def firewall_findings(firewalls: dict[str, Firewall], engines: dict[str, str]) -> list[str]:
    """What is wrong with the nodes' firewalls: mixed backends, an unmeasured backend, and
    (on engines that use it) a missing or unmeasured u32 match. ``engines``: node -> version."""
    out = []
    by_backend: dict[str, list[str]] = {}
    for node, fw in sorted(firewalls.items()):
        by_backend.setdefault(fw.backend, []).append(node)
    known = {b: ns for b, ns in by_backend.items() if b != UNKNOWN}
    if len(known) > 1:
        split = "; ".join(f"{b} on {', '.join(ns)}" for b, ns in sorted(known.items()))
        out.append(
            f"iptables backends differ between nodes ({split}): Docker's rules land in different kernel "
            "tables per node and published ports break on some (moby#46636); switch every node to one "
            "backend (update-alternatives --set iptables ...) and restart dockerd"
        )
    if UNKNOWN in by_backend:
        out.append(f"iptables backend could not be read on {', '.join(by_backend[UNKNOWN])} ('iptables -V')")
    for node, fw in sorted(firewalls.items()):
        major = _engine_major(engines.get(node, ""))
        if major is not None and major >= U32_UNUSED_FROM_ENGINE:
            continue  # this engine matches VXLAN with xt_bpf: u32 is not needed
        if fw.u32 == ABSENT:
            out.append(
                f"iptables u32 match missing on {node} ({fw.backend}, iptables {fw.version}): {fw.reason}; "
                "Docker cannot install the encrypted overlay's mark rule there and the encrypted overlay "
                "passes no traffic (moby#43382); install the xtables u32 extension and the xt_u32 module"
            )
        elif fw.u32 == UNKNOWN:
            out.append(f"iptables u32 match on {node}: {fw.reason}")
    return out
