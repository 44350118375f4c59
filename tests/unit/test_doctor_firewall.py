"""The doctor's iptables findings, on ``FIREWALL_SCRIPT`` output recorded on the lab.

Recorded on a bookworm node (iptables 1.8.9): the node as it is (nft, u32 accepted),
the same script through ``iptables-legacy``, and through nft with the xtables
extensions hidden (``XTABLES_LIBDIR=/nonexistent``), which makes iptables print
exactly the refusal of moby#43382: "Couldn't load match `u32':No such file or directory".
"""

from __future__ import annotations

from pathlib import Path

from harness.doctor.capabilities import Capability
from harness.doctor.firewall import ABSENT, PRESENT, UNKNOWN, parse_backend, parse_firewall, parse_u32
from harness.doctor.report import DoctorReport
from harness.run_verdict import doctor_findings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "doctor"
NFT = (FIXTURES / "firewall-nft-present.txt").read_text()
LEGACY = (FIXTURES / "firewall-legacy.txt").read_text()
NO_U32 = (FIXTURES / "firewall-nft-u32-missing.txt").read_text()
ENGINE_20 = {"kernel": "6.18", "engine": "20.10.24+dfsg1", "mtu": "1500"}


def _report(outputs: dict[str, str], engine: dict[str, str] = ENGINE_20) -> DoctorReport:
    return DoctorReport(
        capabilities={n: {"iptables": Capability("iptables", True, "ok")} for n in outputs},
        facts={n: dict(engine) for n in outputs},
        firewall={n: parse_firewall(text) for n, text in outputs.items()},
        cluster={n: f"198.18.32.{i + 11}" for i, n in enumerate(outputs)},
        measured_at=1.0,
    )


def test_recorded_outputs_parse() -> None:
    nft, legacy, no_u32 = parse_firewall(NFT), parse_firewall(LEGACY), parse_firewall(NO_U32)
    assert (nft.backend, nft.version, nft.u32) == ("nft", "v1.8.9 (nf_tables)", PRESENT)
    assert (legacy.backend, legacy.version, legacy.u32) == ("legacy", "v1.8.9 (legacy)", PRESENT)
    assert (no_u32.backend, no_u32.u32) == ("nft", ABSENT)
    assert "Couldn't load match `u32'" in no_u32.reason


def test_one_backend_everywhere_is_no_finding() -> None:
    report = _report({"node1": NFT, "node2": NFT, "node3": NFT})
    assert report.firewall_findings() == []
    assert doctor_findings(report) == []


def test_a_mixed_backend_cluster_is_a_run_verdict_warning_naming_each_side() -> None:
    report = _report({"node1": NFT, "node2": LEGACY, "node3": NFT})
    findings = doctor_findings(report)
    assert len(findings) == 1, findings
    assert findings[0].startswith(
        "doctor: iptables backends differ between nodes (legacy on node2; nft on node1, node3)"
    )
    assert "moby#46636" in findings[0]
    assert "FIREWALL iptables backends differ" in report.table()


def test_a_missing_u32_on_nft_names_the_node_and_the_refusal() -> None:
    report = _report({"node1": NFT, "node2": NFT, "node3": NO_U32})
    findings = doctor_findings(report)
    assert len(findings) == 1, findings
    assert findings[0].startswith(
        "doctor: iptables u32 match missing on node3 (nft, iptables v1.8.9 (nf_tables))"
    )
    assert "Couldn't load match `u32'" in findings[0] and "moby#43382" in findings[0]


def test_u32_is_not_required_from_engine_24_on() -> None:
    """Engine 24.0 matches VXLAN with xt_bpf (moby#45281): a missing u32 is no finding there."""
    engine = {**ENGINE_20, "engine": "26.1.5+dfsg1"}
    assert _report({"node1": NFT, "node2": NO_U32}, engine).firewall_findings() == []


def test_the_kernel_refusal_and_an_unmeasurable_probe_are_told_apart() -> None:
    kernel = "Warning: Extension u32 revision 0 not supported, missing kernel module?\niptables: No chain/target/match by that name."
    assert parse_u32(1, kernel)[0] == ABSENT
    assert parse_u32(1, "unshare: unshare failed: Operation not permitted")[0] == UNKNOWN
    assert parse_backend("sh: 1: iptables: not found")[0] == UNKNOWN


def test_the_firewall_survives_doctor_json() -> None:
    report = _report({"node1": NFT, "node2": LEGACY})
    again = DoctorReport.from_dict(report.to_dict())
    assert again.firewall == report.firewall
    assert again.firewall_findings() == report.firewall_findings() != []
    assert DoctorReport.from_dict({**report.to_dict(), "firewall": {}}).firewall == {}
