"""What a check saw when it failed, in a form the capability rule can judge.

A check that needs a capability (``needs("esp")``) may only become an expected
failure when its failure is the one the capability's absence produces, on the
nodes that lack it. Free text cannot be judged that way, so such checks raise
``CheckFailure`` with one ``Symptom`` per failed observation: what kind of
failure it was and which nodes it involved. Anything else (an unrelated
assertion, an exception, a wrong answer) stays a plain failure.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of failed observation. The capability signatures (harness/doctor/signatures.py)
# name the kinds their absence produces; every other kind is always a real failure.
TIMEOUT = "timeout"  # no answer at all within the deadline
REFUSED = "refused"  # the peer (or a firewall) rejected the connection
NO_ESP = "no-esp"  # an encrypted path showed no ESP packets or no SAs
MISSING_TOOL = "missing-tool"  # a host tool the check runs is not installed
WRONG_ANSWER = "wrong-answer"  # somebody answered, but not who should have
LOSS = "loss"  # some probes answered, others were lost
PLAINTEXT = "plaintext"  # traffic that must be encrypted crossed the wire in clear
OTHER = "other"

KINDS = (TIMEOUT, REFUSED, NO_ESP, MISSING_TOOL, WRONG_ANSWER, LOSS, PLAINTEXT, OTHER)


@dataclass(frozen=True)
class Symptom:
    """One failed observation: its kind, the nodes it involved, and what was seen."""

    kind: str
    nodes: tuple[str, ...]
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown symptom kind {self.kind!r} (known: {', '.join(KINDS)})")

    def text(self) -> str:
        return f"{'->'.join(self.nodes)}: {self.kind}: {self.detail}"


class CheckFailure(AssertionError):
    """A check's failure with the observations behind it (an AssertionError, so pytest shows it as one)."""

    def __init__(self, message: str, symptoms: list[Symptom]) -> None:
        super().__init__(message)
        self.message = message
        self.symptoms = list(symptoms)

    def __str__(self) -> str:
        return self.message


def kind_of_error(error: str | None) -> str:
    """Classify a probe's error text (the agent's ``error_text``) into a symptom kind.

    Only errors that mean "nothing answered" are timeouts: a refused connection,
    a resolver failure or a wrong body must never pass for a missing capability
    whose absence shows as silence.
    """
    text = (error or "").lower()
    if not text:
        return OTHER
    # EHOSTUNREACH is silence too: the peer's ARP/neighbour request went unanswered.
    if any(s in text for s in ("timeout", "timed out", "no reply", "etimedout", "ehostunreach")):
        return TIMEOUT
    if "refused" in text or "econnreset" in text:
        return REFUSED
    if "not found" in text and ("command" in text or "tcpdump" in text):
        return MISSING_TOOL
    return OTHER
