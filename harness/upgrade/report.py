"""The upgrade report: each stage of each node, engine versions, and what the traffic saw."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Step:
    """One stage of one node's turn; ``started_s`` counts from the upgrade's start."""

    node: str
    step: str
    started_s: float
    duration_s: float
    ok: bool
    detail: str = ""


@dataclass
class Traffic:
    windows: int = 0
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    longest_gap_s: float = 0.0
    connections: int = 0
    connections_broken: int = 0
    ended_by_drain: int = 0
    broken: list[str] = field(default_factory=list)
    monitor_errors: list[str] = field(default_factory=list)
    # One row a traffic window: [start s from the upgrade's start, sending node, answered, failed].
    timeline: list[list[Any]] = field(default_factory=list)
    window_s: float = 0.0  # how long each window sends


@dataclass
class UpgradeReport:
    order: list[str]
    steps: list[Step] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    traffic: Traffic = field(default_factory=Traffic)
    failed_node: str | None = None
    failed_step: str | None = None
    verdict: str = "incomplete"

    def judge(self) -> None:
        """Set the verdict: a failed stage, else any lost request or broken connection."""
        self.verdict = (
            "upgrade failed"
            if self.failed_node
            else "upgraded with traffic loss"
            if self.traffic.failed or self.traffic.connections_broken
            else "upgraded cleanly"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def summary(self) -> str:
        lines = [f"upgrade verdict: {self.verdict}"]
        for node in self.order:
            steps = [s for s in self.steps if s.node == node]
            lines.append(
                f"  {node}: "
                + ", ".join(f"{s.step} {s.duration_s:.1f}s{'' if s.ok else ' FAILED'}" for s in steps)
            )
        if self.versions:
            lines.append(
                "  engines: "
                + " | ".join(
                    ", ".join(f"{n}={v}" for n, v in sorted(row["engines"].items()))
                    for row in self.versions[-1:]
                )
            )
        t = self.traffic
        lines.append(
            f"  traffic: {t.sent} requests, {t.failed} failed, longest gap {t.longest_gap_s:.1f}s; "
            f"{t.connections} long-lived connections, {t.connections_broken} broken "
            f"({t.ended_by_drain} more ended because their node was drained)"
        )
        if self.failed_node:
            lines.append(f"  stopped at {self.failed_node} ({self.failed_step}); it is left drained")
        return "\n".join(lines)
