"""The matrix by Engine version pair, on synthetic matrices of a mixed cluster.

The field's shape (moby#51798): every pair between two versions dead, the rest fine. It
must be named as a fault of those versions; a node's own fault, or a healthy matrix, must not.
"""

from __future__ import annotations

from itertools import permutations

from harness.probe.engine_pairs import engine_pairs, is_mixed, version_pattern
from harness.probe.matrix import PROTOCOLS, MatrixResult, PairCheck
from harness.probe.pairs import PairId

ENGINES = {"node1": "28.5.2", "node2": "28.5.2", "node3": "29.1.0"}


def _matrix(dead: set[tuple[str, str]]) -> MatrixResult:
    checks = [
        PairCheck(src, dst, proto, (src, dst) not in dead, "timeout" if (src, dst) in dead else "ok")
        for src, dst in permutations(sorted(ENGINES), 2)
        for proto in PROTOCOLS
    ]
    return MatrixResult("harness-encrypted", checks)


def test_pairs_are_grouped_by_the_versions_at_each_end() -> None:
    rows = engine_pairs(_matrix(set()), ENGINES)
    assert [(r.src_engine, r.dst_engine, len(r.pairs), len(r.failing)) for r in rows] == [
        ("28.5.2", "28.5.2", 2, 0),
        ("28.5.2", "29.1.0", 2, 0),
        ("29.1.0", "28.5.2", 2, 0),
    ]
    assert version_pattern(rows) is None and is_mixed(ENGINES) and not is_mixed({"a": "1", "b": "1"})


def test_every_pair_across_two_versions_dead_is_named_as_a_version_fault() -> None:
    dead = {(a, b) for a, b in permutations(sorted(ENGINES), 2) if ENGINES[a] != ENGINES[b]}
    rows = engine_pairs(_matrix(dead), ENGINES)
    assert str(rows[1]) == "Engine 28.5.2 -> 29.1.0: 2 of 2 pairs failing (node1->node3, node2->node3)"
    pattern = version_pattern(rows)
    assert pattern is not None and "28.5.2 -> 29.1.0; 29.1.0 -> 28.5.2" in pattern and "moby#51798" in pattern


def test_a_single_dead_pair_or_everything_dead_is_not_a_version_fault() -> None:
    one = engine_pairs(_matrix({("node1", "node3")}), ENGINES)
    assert version_pattern(one) is None and one[1].failing == (PairId("node1", "node3"),)
    everything = engine_pairs(_matrix(set(permutations(sorted(ENGINES), 2))), ENGINES)
    assert version_pattern(everything) is None  # the network is dead, whatever the versions
    assert engine_pairs(_matrix(set()), {"node1": "28.5.2"})[-1].src_engine == "unknown"
