"""The MTU verdict tells size from loss, and says who refused the oversized packet."""

from __future__ import annotations

from typing import Any

import pytest

from harness import verdict
from harness.probe import mtu
from harness.probe.agent import PingReply
from harness.probe.mtu import ANSWERED, PATH_REFUSED, SENDER_REFUSED, SILENT, PairMTU, refusal


def _pair(**kw: Any) -> PairMTU:
    base: dict[str, Any] = dict(
        src="node1",
        dst="node2",
        overlay_mtu=1450,
        small_answered=mtu.SMALL_PINGS,
        at_mtu_answered=mtu.AT_MTU_PINGS,
        at_mtu_detail="all answered",
        over_mtu=SENDER_REFUSED,
        over_mtu_detail="EMSGSIZE (exceeds path MTU 1450)",
        measured_path_mtu=1450,
        measured_detail="bisected",
        body_intact=True,
        body_detail="1048576 bytes, intact=True",
    )
    base.update(kw)
    return PairMTU(**base)


def test_a_healthy_pair_has_no_problems() -> None:
    assert _pair().problems() == []
    assert _pair(over_mtu=PATH_REFUSED).problems() == []


def test_a_path_smaller_than_the_overlay_is_named_as_size() -> None:
    problems = _pair(at_mtu_answered=0, at_mtu_detail="timeout", measured_path_mtu=1400).problems()
    assert "answered 0 of 3 while small pings passed: the path is smaller than the overlay MTU" in problems[0]
    assert "measured path MTU 1400 != overlay MTU 1450" in problems[1]
    assert {s.kind for s in _pair(at_mtu_answered=0).symptoms()} == {verdict.OTHER}


def test_loss_is_reported_as_loss_and_never_as_size() -> None:
    pair = _pair(small_answered=2, at_mtu_answered=2, at_mtu_detail="timeout")
    problems = pair.problems()
    assert problems[0].startswith("packet loss: 1 of 3 small and 1 of 3 full-size DF pings")
    assert "loss (see above)" in problems[1]
    assert not any("smaller than the overlay MTU" in p for p in problems)
    assert {s.kind for s in pair.symptoms()} == {verdict.LOSS}
    # Every small ping answered but one full-size echo lost: still loss, the size went through.
    partial = _pair(at_mtu_answered=2, at_mtu_detail="timeout").problems()
    assert partial[0].startswith("packet loss: 0 of 3 small and 1 of 3 full-size")
    assert not any("smaller than the overlay MTU" in p for p in partial)


def test_a_dead_path_is_silence_and_only_that() -> None:
    pair = _pair(small_answered=0, at_mtu_answered=0, over_mtu=SILENT, measured_path_mtu=0, body_intact=False)
    assert pair.problems()[0].startswith("no small DF ping (3 sent) was answered either: the path is dead")
    assert {s.kind for s in pair.symptoms()} == {verdict.TIMEOUT}


@pytest.mark.parametrize(
    "over, text",
    [
        (ANSWERED, "passed although it exceeds the overlay MTU"),
        (SILENT, "vanished without a local EMSGSIZE or an ICMP 'fragmentation needed'"),
    ],
)
def test_one_byte_over_must_be_refused_by_the_sender_or_the_path(over: str, text: str) -> None:
    problems = _pair(over_mtu=over).problems()
    assert len(problems) == 1 and text in problems[0]


def test_refusal_reads_the_agents_reply() -> None:
    assert refusal(PingReply(ok=True)) == ANSWERED
    assert refusal(PingReply(ok=False, error="EMSGSIZE (exceeds path MTU 1450)")) == SENDER_REFUSED
    assert refusal(PingReply(ok=False, error="ICMP fragmentation needed (next-hop MTU 1400)")) == PATH_REFUSED
    assert refusal(PingReply(ok=False, error="timeout")) == SILENT


def _fake_path(path_payload: int, lose: set[int]) -> Any:
    """A batch() that answers DF pings up to ``path_payload`` and loses the sizes in ``lose`` once."""
    lost: set[int] = set()

    def _batch(cluster: Any, task: Any, ops: list[dict[str, Any]], timeout_s: float = 90) -> list[Any]:
        out = []
        for op in ops:
            size = int(op["size"])
            if size in lose and size not in lost:
                lost.add(size)
                out.append(PingReply(ok=False, error="timeout", size=size))
            elif size > path_payload:
                out.append(PingReply(ok=False, error="EMSGSIZE (exceeds path MTU)", size=size))
            else:
                out.append(PingReply(ok=True, size=size))
        return out

    return _batch


def test_bisection_retries_a_lost_echo_instead_of_lowering_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = 1450 - mtu.IP_ICMP_HEADERS
    # Lose the first echo of every size the bisection asks for: the result must not move.
    monkeypatch.setattr(mtu, "batch", _fake_path(payload, set(range(0, 9000))))
    found = mtu._bisect(None, None, {"node2": "198.19.128.3"}, {"node2": 9000 - mtu.IP_ICMP_HEADERS})  # type: ignore[arg-type]
    assert found["node2"][0] == payload


def test_bisection_that_keeps_losing_is_inconclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    def _always_lost(cluster: Any, task: Any, ops: list[dict[str, Any]], timeout_s: float = 90) -> list[Any]:
        return [PingReply(ok=False, error="timeout", size=op["size"]) for op in ops]

    monkeypatch.setattr(mtu, "batch", _always_lost)
    found = mtu._bisect(None, None, {"node2": "x"}, {"node2": 8972})  # type: ignore[arg-type]
    assert found["node2"][0] == 0
    assert "lost 3 times: inconclusive" in found["node2"][1]
    assert (
        _pair(measured_path_mtu=0, measured_detail=found["node2"][1])
        .problems()[0]
        .startswith("measured path MTU inconclusive != overlay MTU 1450")
    )
