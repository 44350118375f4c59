"""Which machine kind ``--kind auto`` gives a local lab on this machine, and why.

nspawn machines share this machine's kernel: they are the lightest and quickest kind,
but the VIP, the ingress routing mesh and encrypted overlays can only pass where that
kernel has IPVS and ESP with AES-GCM (and VXLAN for any overlay at all). Where it
lacks one of them, those checks could only ever be expected failures, so auto picks
User-Mode Linux machines, which bring their own kernel with all three, at native CPU
speed. The kernel is measured the doctor's way (a throwaway network namespace, the
kernel's own refusal as the evidence), here on this machine rather than in a node.
An unmeasurable capability counts as lacking: auto never bets a run on a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.doctor.capabilities import Capability, node_capabilities
from harness.transport.local import CommandHost, LocalHost

AUTO = "auto"
# What the default suites need of a kernel the machines share.
NEEDS = ("vxlan", "ipvs", "esp")


@dataclass(frozen=True)
class KindChoice:
    kind: str
    reason: str

    def line(self) -> str:
        return f"machine kind: {self.kind} ({self.reason})"


def choose(caps: Mapping[str, Capability]) -> KindChoice:
    """nspawn when this kernel has everything in ``NEEDS``, otherwise uml, with why."""
    lacking = [caps[n] for n in NEEDS if n in caps and not caps[n].present]
    lacking += [Capability(n, False, f"could not measure {n}", unknown=True) for n in NEEDS if n not in caps]
    if not lacking:
        return KindChoice(
            "nspawn", "this machine's kernel has VXLAN, IPVS and ESP, so the machines can share it"
        )
    what = "; ".join(f"{c.name} {c.state}: {c.reason}" for c in lacking)
    return KindChoice(
        "uml",
        f"this machine's kernel lacks what the suites need ({what}); UML machines bring their own kernel",
    )


def resolve(kind: str, host: CommandHost | None = None) -> KindChoice:
    """``kind`` as asked; ``auto`` measured on ``host`` (default: this machine)."""
    if kind != AUTO:
        return KindChoice(kind, "as asked with --kind")
    return choose(node_capabilities(host or LocalHost()))
