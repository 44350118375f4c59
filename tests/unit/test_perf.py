"""The perf suite's arithmetic on recorded iperf3 output: parsing, pair sampling, ratios and
the verdict's wording, and the early stop on a path that carries nothing.

The JSON files under tests/fixtures/iperf3 were recorded with Debian's iperf3 3.12 on
loopback (``-J -t 1``; ``-P 4``; ``-u -b 100M``; a client to a closed port).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import verdict
from harness.probe import perf
from harness.probe.pairs import PairId
from harness.probe.perf import Endpoint, PairPerf, PathFigures, parse_iperf3, sample_pairs

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "iperf3"


def recorded(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return doc


def test_tcp_is_what_the_receiver_got_with_the_senders_retransmits() -> None:
    one = parse_iperf3(recorded("tcp-1-stream"))
    assert one.error is None and one.lost_percent is None
    assert one.mbps == pytest.approx(9523.7, abs=0.1) and one.retransmits == 5
    four = parse_iperf3(recorded("tcp-4-streams"))
    assert four.mbps == pytest.approx(8041.6, abs=0.1) and four.retransmits == 7


def test_udp_is_the_receivers_rate_loss_and_jitter() -> None:
    udp = parse_iperf3(recorded("udp-100M"))
    assert udp.lost_percent == pytest.approx(3.72, abs=0.01)
    assert udp.mbps == pytest.approx(85.0, abs=0.1) and udp.jitter_ms is not None


def test_a_failed_run_is_its_error_and_classified_as_refused() -> None:
    refused = parse_iperf3(recorded("refused"))
    assert refused.error == "unable to connect to server: Connection refused" and refused.mbps == 0
    assert verdict.kind_of_error(refused.error) == verdict.REFUSED
    assert verdict.kind_of_error("unable to connect to server: Connection timed out") == verdict.TIMEOUT
    assert parse_iperf3({"start": {}, "end": {}}).error == "iperf3 printed no end summary"


@pytest.mark.parametrize("n", [2, 3, 4])
def test_small_clusters_measure_every_ordered_pair(n: int) -> None:
    nodes = [f"node{i}" for i in range(1, n + 1)]
    assert len(sample_pairs(nodes)) == n * (n - 1)


@pytest.mark.parametrize("n", [5, 10, 16])
def test_larger_clusters_send_and_receive_twice_per_node(n: int) -> None:
    nodes = [f"node{i:02d}" for i in range(1, n + 1)]
    pairs = sample_pairs(nodes)
    assert len(pairs) == 2 * n and len(set(pairs)) == len(pairs)
    for node in nodes:
        assert sum(p.src == node for p in pairs) == 2 and sum(p.dst == node for p in pairs) == 2
    assert all(p.src != p.dst for p in pairs)


def _figures(path: str, tcp: float, streams: float, rr: float, errors: tuple[str, ...] = ()) -> PathFigures:
    return PathFigures("node1", "node2", path, tcp_mbps=tcp, tcp_streams_mbps=streams, rr_per_s=rr, errors=errors)


def test_ratios_and_what_falls_below_the_tolerance() -> None:
    row = PairPerf("node1", "node2", _figures("plain", 950, 1800, 4000), _figures(perf.UNDERLAY, 1000, 2000, 8000))
    assert row.ratios() == {"tcp_mbps": 0.95, "tcp_streams_mbps": 0.9, "rr_per_s": 0.5}
    assert row.problems(10) == ["rr_per_s 4000 on plain is 0.50 of the underlay's 8000 (below 0.90)"]
    assert row.problems(60) == []
    # An underlay that measured nothing gives no ratio instead of a division by zero.
    assert PairPerf("node1", "node2", _figures("plain", 1, 1, 1), _figures(perf.UNDERLAY, 0, 0, 0)).ratio("tcp_mbps") is None


def test_a_path_error_is_the_problem_and_a_symptom_naming_the_pair() -> None:
    silent = _figures("encrypted", 0, 0, 0, ("tcp: unable to connect to server: Connection timed out",))
    row = PairPerf("node1", "node2", silent, _figures(perf.UNDERLAY, 1000, 2000, 8000))
    assert row.problems(10) == ["encrypted: tcp: unable to connect to server: Connection timed out"]
    (symptom,) = perf.symptoms([silent])
    assert symptom.kind == verdict.TIMEOUT and symptom.nodes == ("node1", "node2")


def test_figures_round_trip_through_the_saved_json() -> None:
    figures = [_figures("plain", 1, 2, 3, ("udp: x",))]
    assert perf.from_dicts(json.loads(json.dumps(perf.to_dicts(figures)))) == figures


def test_a_silent_first_pair_ends_the_path_only_when_the_cause_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(perf, "start_iperf_servers", lambda cluster, endpoints: None)

    def fake_path(cluster: object, path: str, src: Endpoint, dst: Endpoint, seconds: int) -> PathFigures:
        calls.append(f"{src.node}->{dst.node}")
        errors = tuple(f"{t}: Connection timed out" for t in ("tcp", "tcp x4", "udp", "rr"))
        return PathFigures(src.node, dst.node, path, errors=errors if path == "encrypted" else ())

    monkeypatch.setattr(perf, "measure_path", fake_path)
    eps = {n: Endpoint(n, f"c-{n}", f"10.0.0.{i}", 5201, 9091) for i, n in enumerate(("node1", "node2", "node3"))}
    pairs = sample_pairs(list(eps))
    assert len(perf.measure_pairs(object(), "plain", eps, pairs, stop_when_silent=True)) == 6  # type: ignore[arg-type]
    calls.clear()
    # Without a known cause, every pair is measured: one broken pair must not hide the rest.
    assert len(perf.measure_pairs(object(), "encrypted", eps, pairs)) == 6  # type: ignore[arg-type]
    calls.clear()
    assert len(perf.measure_pairs(object(), "encrypted", eps, pairs, stop_when_silent=True)) == 1  # type: ignore[arg-type]
    assert calls == [str(PairId("node1", "node2"))]
