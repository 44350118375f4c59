"""Pair ids are values in code and ``src->dst`` wherever they are written out."""

from __future__ import annotations

import json

from harness.probe.matrix import Attempt, MatrixResult, _cell
from harness.probe.mtu import PairMTU
from harness.probe.pairs import CellId, PairId


def test_a_pair_prints_as_the_reports_spell_it() -> None:
    pair = PairId("node1", "node2")
    assert str(pair) == f"{pair}" == "node1->node2"
    assert pair.reverse == PairId("node2", "node1") and pair.nodes == ("node1", "node2")
    assert CellId("node1", "node2", "udp").pair == pair


def test_pairs_sort_as_their_text_did() -> None:
    names = ["node10", "node2", "node1", "a-b", "a"]
    pairs = [PairId(s, d) for s in names for d in names if s != d]
    assert [str(p) for p in sorted(pairs)] == sorted(str(p) for p in pairs)


def test_the_matrix_keys_by_pair_and_writes_the_text_form() -> None:
    bad = _cell("node1", "node2", "tcp", [Attempt(3, 0, ("timeout",) * 3)] * 2)
    flaky = _cell("node2", "node1", "icmp", [Attempt(5, 0, ("timeout",)), Attempt(5, 5, ())])
    result = MatrixResult("net", [bad, flaky], {PairId("node1", "node2"): None, PairId("node2", "node1"): 1.5})
    assert list(result.failing_pairs()) == [PairId("node1", "node2")]
    assert result.for_pair(PairId("node2", "node1")) == [flaky]
    assert result.pairs == [PairId("node1", "node2"), PairId("node2", "node1")]
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["converge_s"] == {"node1->node2": None, "node2->node1": 1.5}
    assert doc["flaky"][0]["pair"] == "node2->node1"
    assert "pair" not in doc["checks"][0] and doc["checks"][0]["src"] == "node1"
    assert "  node1->node2: tcp: no answer" in result.summary()


def test_an_mtu_row_names_its_pair() -> None:
    row = PairMTU("node1", "node3", 1450, 3, 3, "", "sender", "", 1450, "", True, "")
    assert row.pair == PairId("node1", "node3")
