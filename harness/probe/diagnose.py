"""Explain a failing matrix with what the doctor measures *now*, so a failure names its cause.

A fault that appears after bootstrap (a dropped VXLAN port, a flushed rule) is
invisible in the report taken before the suites, so the suites re-measure the
nodes of the failing pairs when a check fails (``remeasure``) and say when each
figure was taken. Loss is a finding of its own: a path that answers at times is
never blamed on a missing capability.
"""

from __future__ import annotations

import time

from harness import verdict
from harness.doctor.report import DoctorReport
from harness.overlay_tables import TableProblem
from harness.probe.matrix import MatrixResult
from harness.probe.pairs import PairId

VXLAN_PORT = 4789


def _when(doctor: DoctorReport) -> str:
    if not doctor.measured_at:
        return "measured at an unknown time"
    return "measured " + time.strftime("%H:%M:%S UTC", time.gmtime(doctor.measured_at))


def failing_nodes(result: MatrixResult) -> list[str]:
    return sorted({n for cs in result.failing_pairs().values() for c in cs for n in (c.src, c.dst)})


def diagnose(
    result: MatrixResult,
    encrypted: bool,
    doctor: DoctorReport,
    data_path_port: int | None = None,
    tables: list[TableProblem] | None = None,
) -> list[str]:
    """One line per likely cause of the failing pairs in ``result``; ``tables``: the VXLAN
    table problems read when the check failed (an entry of a failing pair's peer missing
    or pointing elsewhere explains that pair alone)."""
    failing = result.failing_pairs()
    if not failing:
        return []
    lines: list[str] = []
    when = _when(doctor)
    lossy = sorted(
        {c.pair for cs in failing.values() for c in cs if c.symptom().kind == verdict.LOSS}
    )
    if lossy:
        lost = [c for cs in failing.values() for c in cs if c.pair in lossy]
        lines.append(
            "packet loss, not a dead path: "
            + "; ".join(f"{c.pair} {c.protocol} lost {c.lost} of {c.sent}" for c in lost)
            + " (look for a lossy link, a rate limit or an iptables statistic/DROP rule on these nodes)"
        )
    silent_nodes = sorted(
        {n for cs in failing.values() for c in cs if c.pair not in lossy for n in (c.src, c.dst)}
    )
    if encrypted:
        lacking = [
            n
            for n in silent_nodes
            if n in doctor.capabilities
            and "esp" in doctor.capabilities[n]
            and doctor.capabilities[n]["esp"].state == "absent"
        ]
        if lacking:
            reason = doctor.capabilities[lacking[0]]["esp"].reason
            lines.append(
                f"ESP unavailable on {', '.join(lacking)} ({when}): {reason} "
                "(an --opt encrypted overlay cannot install its IPsec SAs there)"
            )
    unmeasured = [n for n in silent_nodes if n not in doctor.capabilities]
    if unmeasured:
        lines.append(f"the doctor has no measurement of {', '.join(unmeasured)} ({when})")
    vxlan = data_path_port or VXLAN_PORT
    for p in doctor.blocked_ports():
        if PairId(p.src, p.dst) in failing or PairId(p.dst, p.src) in failing:
            what = "VXLAN data path port" if p.port == vxlan else "swarm port"
            lines.append(f"{what} {p.label} blocked from {p.src} to {p.dst} ({when}): {p.detail}")
    for t in tables or []:
        if t.peer and (PairId(t.node, t.peer) in failing or PairId(t.peer, t.node) in failing):
            lines.append(f"VXLAN table on {t.node} for peer {t.peer}: {t.detail}")
    if not lines:
        lines.append(
            f"the doctor found no cause ({when}): collect 'docker network inspect -v', 'ip -d link' and "
            "the dockerd journal on the nodes named above"
        )
    return lines
