"""How the absence of each capability shows in a check, so only that can be an expected failure.

A missing ESP makes encrypted paths silent; a missing IPVS makes VIPs and the
ingress mesh silent or refusing, seen from the nodes without it. A failure that
is not of that kind, or involves no node lacking the capability, is a real bug
and must be reported as one, whatever else the doctor found.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import verdict
from harness.verdict import Symptom


@dataclass(frozen=True)
class Signature:
    capability: str
    kinds: frozenset[str]
    shows_as: str  # for messages: how a check fails without the capability

    def explains(self, symptom: Symptom, lacking: set[str]) -> bool:
        return symptom.kind in self.kinds and bool(lacking.intersection(symptom.nodes))


SIGNATURES: dict[str, Signature] = {
    s.capability: s
    for s in (
        Signature(
            "esp",
            frozenset({verdict.TIMEOUT, verdict.NO_ESP}),
            "no answer and no ESP packets or SAs on encrypted paths to or from a node without ESP",
        ),
        Signature(
            "ipvs",
            frozenset({verdict.TIMEOUT, verdict.REFUSED}),
            "VIP or ingress connections time out or are refused on a node without IPVS",
        ),
        Signature(
            "vxlan",
            frozenset({verdict.TIMEOUT}),
            "no answer between tasks on a node that cannot create VXLAN devices",
        ),
        Signature(
            "tcpdump", frozenset({verdict.MISSING_TOOL}), "the capture command is not found on the node"
        ),
        Signature(
            "iptables", frozenset({verdict.MISSING_TOOL}), "the iptables command is not found on the node"
        ),
    )
}

KNOWN_CAPABILITIES = tuple(SIGNATURES)


@dataclass(frozen=True)
class Judgement:
    """Whether a failure is fully explained by missing capabilities, and why (not)."""

    expected: bool
    reason: str


def judge(symptoms: list[Symptom], lacking: dict[str, set[str]]) -> Judgement:
    """Every symptom must be explained by some capability in ``lacking`` (capability -> nodes)."""
    if not symptoms:
        return Judgement(False, "the check failed without saying what it observed")
    unexplained = [
        s
        for s in symptoms
        if not any(SIGNATURES[cap].explains(s, nodes) for cap, nodes in lacking.items() if cap in SIGNATURES)
    ]
    if unexplained:
        shows = "; ".join(
            f"{cap}: {SIGNATURES[cap].shows_as}" for cap in sorted(lacking) if cap in SIGNATURES
        )
        listed = "; ".join(s.text() for s in unexplained[:5])
        more = f" (and {len(unexplained) - 5} more)" if len(unexplained) > 5 else ""
        return Judgement(
            False,
            f"{len(unexplained)} of {len(symptoms)} observations are not what the missing capability "
            f"causes ({shows}): {listed}{more}",
        )
    return Judgement(True, f"all {len(symptoms)} failed observations match")
