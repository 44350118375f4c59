"""What a failed check that ``needs`` capabilities means, given the doctor's report.

The rule the pytest plugin applies to every ``needs`` check: an expected failure
only when the failure is what a measured-absent capability causes; kept apart from
the plugin so the rule is plain code, read and tested without pytest's hooks.
"""

from __future__ import annotations

from harness.doctor.report import DoctorReport, aggregate
from harness.doctor.signatures import judge
from harness.verdict import CheckFailure


def unmet_text(unmet: list[tuple[str, str, str]]) -> str:
    """One clause per capability and reason, all its nodes named: what a check's report says."""
    return "; ".join(f"unmet capability {line}" for line in aggregate(unmet))


def needs_verdict(
    needs: list[str], report: DoctorReport, exc: BaseException | None, strict: bool
) -> tuple[str, str]:
    """The outcome of a failed check that needs capabilities: ("xfail" | "failed", message).

    An expected failure only when every failed observation the check reported is what
    a capability the doctor measured *absent* produces, on a node lacking it; never in
    strict mode, never for an unrelated assertion or exception, never when the
    capability could only be reported unknown.
    """
    unmet = report.unmet(needs)
    text = unmet_text(unmet)
    if strict:
        return "failed", f"strict mode: {text}"
    if report.unknown(needs):
        return "failed", f"{text}; a capability that could not be measured never excuses a failure"
    if not isinstance(exc, CheckFailure):
        what = f"{type(exc).__name__}" if exc is not None else "an error"
        return "failed", (
            f"{text}; but this failure ({what}) reports no observations, so it is not one the "
            "missing capability causes: it is a real failure"
        )
    judgement = judge(exc.symptoms, report.lacking(needs))
    if not judgement.expected:
        return "failed", f"{text}; but {judgement.reason}: a real failure"
    return "xfail", f"{text}. The check ran and failed as predicted ({judgement.reason}): {exc.message[:300]}"
