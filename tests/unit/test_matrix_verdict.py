"""The matrix's pass rule, flaky cells, loss, and the diagnosis built on them, on synthetic probe results."""

from __future__ import annotations

from harness import verdict
from harness.doctor.capabilities import KNOWN, Capability
from harness.doctor.report import DoctorReport
from harness.doctor.signatures import SIGNATURES, judge
from harness.probe.agent import HttpReply, PingReply, TcpReply
from harness.probe.diagnose import diagnose
from harness.probe.matrix import PROBES, Attempt, MatrixResult, _attempt, _cell
from harness.probe.service import ProbeTask

DST = ProbeTask("node2", "abcdef123456789", "198.19.128.5")


def _ok(n: int) -> list[TcpReply]:
    return [TcpReply(ok=True, hostname="abcdef123456")] * n


def _lost(n: int) -> list[TcpReply]:
    return [TcpReply(ok=False, error="timeout")] * n


def test_a_cell_passes_only_when_every_probe_is_answered_by_the_destination() -> None:
    assert _attempt(DST, "tcp", _ok(3)).clean
    assert not _attempt(DST, "tcp", _ok(2) + _lost(1)).clean
    wrong = _attempt(DST, "http", [*_ok(2), HttpReply(ok=True, hostname="ffffffffffff")])
    assert not wrong.clean
    assert "answered by 'ffffffffffff', expected the task on node2" in wrong.errors[0]
    # ICMP has no identity to check, but every echo counts.
    assert _attempt(DST, "icmp", [PingReply(ok=True)] * 5).clean
    timed = _attempt(DST, "icmp", [PingReply(ok=True, rtt_ms=(0.4,)), PingReply(ok=False, error="timeout")])
    assert timed.latency_ms == (0.4,), "only answered probes are timed, an echo by its RTT"
    dials = [TcpReply(ok=True, hostname="abcdef123456", duration_s=d) for d in (0.002, 0.001, 0.009)]
    assert _cell("node1", "node2", "tcp", [_attempt(DST, "tcp", dials)]).latency_ms == 2.0, "median, ms"
    assert _cell("node1", "node2", "tcp", [_attempt(DST, "tcp", _lost(3))]).latency_ms is None
    assert not _attempt(DST, "icmp", [PingReply(ok=True)] * 4 + [PingReply(ok=False, error="timeout")]).clean


def test_loss_on_both_passes_fails_with_the_loss_counted() -> None:
    cell = _cell("node1", "node2", "udp", [Attempt(5, 3, ("timeout",) * 2), Attempt(5, 4, ("timeout",))])
    assert not cell.ok
    assert cell.lost == 3 and cell.sent == 10
    assert cell.detail.startswith("loss: 3 of 10 probes lost over 2 passes")
    assert cell.symptom().kind == verdict.LOSS  # never a missing capability's silence


def test_a_cell_that_passes_only_on_the_retry_is_flaky_and_reported() -> None:
    cell = _cell("node1", "node2", "icmp", [Attempt(5, 0, ("timeout",)), Attempt(5, 5, ())])
    assert cell.ok and cell.flaky
    result = MatrixResult("net", [cell, _cell("node2", "node1", "icmp", [Attempt(5, 5, ())])])
    assert result.flaky() == [cell]
    assert "flaky (passed only on the retry): 1 cells" in result.summary()
    assert result.to_dict()["flaky"] == [{"pair": "node1->node2", "protocol": "icmp", "detail": cell.detail}]
    assert result.failing_pairs() == {}


def test_silence_is_a_timeout_symptom_and_a_wrong_answer_is_not() -> None:
    silent = _cell("node1", "node2", "tcp", [Attempt(3, 0, ("timeout",) * 3)] * 2)
    assert silent.symptom().kind == verdict.TIMEOUT
    assert silent.symptom().nodes == ("node1", "node2")
    refused = _cell("node1", "node2", "tcp", [Attempt(3, 0, ("ECONNREFUSED: Connection refused",) * 3)] * 2)
    assert refused.symptom().kind == verdict.REFUSED
    wrong = _cell("node1", "node2", "http", [Attempt(3, 0, ("answered by 'x', expected the task",) * 3)] * 2)
    assert wrong.symptom().kind == verdict.WRONG_ANSWER


def _doctor(esp: str) -> DoctorReport:
    cap = {
        "present": Capability("esp", True, "ok"),
        "absent": Capability("esp", False, "kernel lacks ESP (INET_ESP)"),
        "unknown": Capability("esp", False, "could not measure esp: unshare refused", unknown=True),
    }[esp]
    return DoctorReport(capabilities={n: {"esp": cap} for n in ("node1", "node2", "node3")}, measured_at=1.0)


def test_diagnosis_calls_loss_loss_and_not_a_missing_capability() -> None:
    lossy = _cell("node1", "node2", "udp", [Attempt(5, 3, ("timeout",) * 2), Attempt(5, 4, ("timeout",))])
    causes = diagnose(MatrixResult("enc", [lossy]), True, _doctor("absent"))
    assert causes[0].startswith("packet loss, not a dead path: node1->node2 udp lost 3 of 10")
    assert not any("ESP" in c for c in causes)


def test_diagnosis_names_esp_only_when_measured_absent_and_says_when() -> None:
    silent = _cell("node1", "node2", "tcp", [Attempt(3, 0, ("timeout",) * 3)] * 2)
    result = MatrixResult("enc", [silent])
    assert diagnose(result, True, _doctor("absent"))[0].startswith(
        "ESP unavailable on node1, node2 (measured 00:00:01 UTC): kernel lacks ESP"
    )
    assert diagnose(result, True, _doctor("unknown"))[0].startswith("the doctor found no cause")
    missing = DoctorReport(capabilities={"node3": {}}, measured_at=1.0)
    assert "no measurement of node1, node2" in diagnose(result, True, missing)[0]


def test_every_capability_the_doctor_measures_has_a_signature() -> None:
    assert set(SIGNATURES) == set(KNOWN)


def test_judge_requires_every_symptom_to_match_on_a_lacking_node() -> None:
    t12 = verdict.Symptom(verdict.TIMEOUT, ("node1", "node2"), "tcp: timeout")
    t13 = verdict.Symptom(verdict.TIMEOUT, ("node1", "node3"), "tcp: timeout")
    loss = verdict.Symptom(verdict.LOSS, ("node1", "node3"), "udp: loss")
    assert judge([t12, t13], {"esp": {"node1"}}).expected
    assert not judge([t12, t13], {"esp": {"node3"}}).expected
    assert not judge([t13, loss], {"esp": {"node3"}}).expected
    assert not judge([], {"esp": {"node1"}}).expected
    assert judge([verdict.Symptom(verdict.REFUSED, ("node2",), "VIP")], {"ipvs": {"node2"}}).expected
    assert not judge([verdict.Symptom(verdict.REFUSED, ("node2",), "x")], {"esp": {"node2"}}).expected
    assert PROBES["icmp"] >= 5 and PROBES["udp"] >= 5
