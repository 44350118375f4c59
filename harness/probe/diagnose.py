"""Explain a failing matrix with what the doctor measured, so a failure names its cause."""

from __future__ import annotations

from harness.doctor.report import DoctorReport
from harness.probe.matrix import MatrixResult

VXLAN_PORT = 4789


def diagnose(
    result: MatrixResult, encrypted: bool, doctor: DoctorReport, data_path_port: int | None = None
) -> list[str]:
    """One line per likely cause of the failing pairs in ``result``."""
    failing = result.failing_pairs()
    if not failing:
        return []
    lines: list[str] = []
    nodes = sorted(
        {c.src for cs in failing.values() for c in cs} | {c.dst for cs in failing.values() for c in cs}
    )
    if encrypted:
        lacking = [n for n in nodes if not doctor.capabilities.get(n, {}).get("esp", _absent()).present]
        if lacking:
            reason = doctor.capabilities[lacking[0]]["esp"].reason
            lines.append(
                f"ESP unavailable on {', '.join(lacking)}: {reason} "
                "(an --opt encrypted overlay cannot install its IPsec SAs there)"
            )
    vxlan = data_path_port or VXLAN_PORT
    for p in doctor.blocked_ports():
        if f"{p.src}->{p.dst}" in failing or f"{p.dst}->{p.src}" in failing:
            what = "VXLAN data path port" if p.port == vxlan else "swarm port"
            lines.append(f"{what} {p.label} blocked from {p.src} to {p.dst}: {p.detail}")
    if not lines:
        lines.append(
            "the doctor found no cause: collect 'docker network inspect -v', 'ip -d link' and "
            "the dockerd journal on the nodes named above"
        )
    return lines


class _absent:
    present = False
    reason = "not measured"
