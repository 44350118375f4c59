"""The matrix by Engine version pair: on a mixed-version cluster, which pairs of versions
carry traffic.

In moby#51798 an encrypted overlay passed no traffic between 28.5 and 29.1 nodes while
DNS still resolved; in moby#51672 29.x encrypted overlays failed where 28 worked. Those
are faults of a version pair, not of a node, and a list of failing node pairs hides that
shape. Grouping the matrix's pairs by (source Engine, destination Engine) shows it, and
when the failing pairs are exactly every pair of some version pairs, says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.probe.matrix import MatrixResult
from harness.probe.pairs import PairId

UNKNOWN = "unknown"


@dataclass(frozen=True)
class EnginePair:
    """The node pairs from one Engine version to another, and which of them failed."""

    src_engine: str
    dst_engine: str
    pairs: tuple[PairId, ...]
    failing: tuple[PairId, ...]

    def __str__(self) -> str:
        head = f"Engine {self.src_engine} -> {self.dst_engine}: {len(self.failing)} of {len(self.pairs)} pairs failing"
        return head + (f" ({', '.join(map(str, self.failing))})" if self.failing else "")


def engine_pairs(result: MatrixResult, engines: dict[str, str]) -> list[EnginePair]:
    """The matrix's pairs grouped by the Engine versions at each end (``engines``: node ->
    version; a node missing there is ``unknown``), in version order."""
    groups: dict[tuple[str, str], list[PairId]] = {}
    for pair in result.pairs:
        key = (engines.get(pair.src, UNKNOWN), engines.get(pair.dst, UNKNOWN))
        groups.setdefault(key, []).append(pair)
    failing = set(result.failing_pairs())
    return [
        EnginePair(src, dst, tuple(pairs), tuple(p for p in pairs if p in failing))
        for (src, dst), pairs in sorted(groups.items())
    ]


def is_mixed(engines: dict[str, str]) -> bool:
    return len(set(engines.values())) > 1


def version_pattern(rows: list[EnginePair]) -> str | None:
    """When some version pairs fail on every node pair and every other version pair passes
    on all of them, the fault follows the versions: say which. None otherwise (no failure,
    one version only, or failures that do not line up with versions)."""
    if len({r.src_engine for r in rows} | {r.dst_engine for r in rows}) < 2:
        return None
    broken = [r for r in rows if r.failing]
    if not broken or any(len(r.failing) != len(r.pairs) for r in broken) or len(broken) == len(rows):
        return None
    names = "; ".join(f"{r.src_engine} -> {r.dst_engine}" for r in broken)
    return (
        f"every node pair from Engine {names} fails and every other version pair passes: "
        "a fault between these Engine versions, not of one node (compare moby#51798, moby#51672)"
    )
