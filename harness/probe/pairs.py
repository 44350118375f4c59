"""Names of what the matrix and MTU checks measure: an ordered node pair, and a pair's protocol cell.

Reports, JSON artifacts and test ids spell a pair ``src->dst``; in code it is a value
with its two nodes, so nothing builds that string by hand or splits it back.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@functools.total_ordering
@dataclass(frozen=True)
class PairId:
    """An ordered node pair; ``str()`` gives ``src->dst``, the form every report uses."""

    src: str
    dst: str

    def __str__(self) -> str:
        return f"{self.src}->{self.dst}"

    def __lt__(self, other: PairId) -> bool:
        """Sorted as the text form sorts, so listings keep the order they had as strings."""
        return str(self) < str(other)

    @property
    def nodes(self) -> tuple[str, str]:
        return (self.src, self.dst)

    @property
    def reverse(self) -> PairId:
        return PairId(self.dst, self.src)


class OnPair:
    """Mixin for a record about one ordered pair: its ``src`` and ``dst`` fields name the pair."""

    src: str
    dst: str

    @property
    def pair(self) -> PairId:
        return PairId(self.src, self.dst)


@dataclass(frozen=True)
class CellId(OnPair):
    """One protocol between one ordered pair: the unit the matrix probes, retries and judges."""

    src: str
    dst: str
    protocol: str
