"""Scan each node's dockerd journal for errors, fatals and panics, against an allow-list.

The allow-list (``dockerd_allowlist.json``, kept in the repository) names
messages known to be harmless on a target, each with the reason it is
harmless and the Engine versions it applies to; an entry can also be tied to a
capability, so a message that an absent capability explains (e.g. ESP SA
failures without ESP) is only allowed while the doctor measures it absent.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import redact
from harness.cluster import Cluster
from harness.doctor.report import DoctorReport

ALLOWLIST_PATH = Path(__file__).with_name("dockerd_allowlist.json")
NO_LINES = "the journal holds no line of dockerd"
_SEVERE = re.compile(r"level=(error|fatal)|\bpanic[:(]|^panic", re.IGNORECASE)


@dataclass(frozen=True)
class AllowEntry:
    pattern: str
    reason: str
    engines: tuple[str, ...]  # Engine version prefixes the message is known and harmless on
    capability: str | None = None
    # How many such lines one node may log in one scan; beyond that they are unexpected
    # (a message harmless once can mean a fault when it repeats). None: no limit.
    max_per_node: int | None = None

    def matches(self, line: str) -> bool:
        return re.search(self.pattern, line) is not None

    def applies(self, engine: str, absent_caps: set[str]) -> bool:
        on_engine = any(engine.startswith(v) for v in self.engines)
        return on_engine and (self.capability is None or self.capability in absent_caps)


@dataclass
class LogScan:
    unexpected: dict[str, list[str]] = field(default_factory=dict)
    allowed: dict[str, dict[str, int]] = field(default_factory=dict)
    # Nodes whose dockerd journal holds nothing at all (journald not running): nothing
    # was scanned there, which must not read as a clean scan.
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(self.unexpected.values()) and not self.unreadable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"dockerd log scan: {sum(len(v) for v in self.unexpected.values())} unexpected error lines, "
            f"{sum(sum(v.values()) for v in self.allowed.values())} allowed"
        ]
        for node, found in sorted(self.unexpected.items()):
            lines += [f"  {node}: {ln[:300]}" for ln in found[:10]]
        lines += [f"  {node}: not scanned: {why}" for node, why in sorted(self.unreadable.items())]
        return "\n".join(lines)

    def findings(self) -> list[str]:
        """The verdict's warnings for the nodes that could not be scanned, one line per reason."""
        by_reason: dict[str, list[str]] = {}
        for node, why in sorted(self.unreadable.items()):
            by_reason.setdefault(why, []).append(node)
        return [
            f"dockerd journal unreadable on {', '.join(nodes)}: {why}; the log scan saw nothing there "
            "(check systemd-journald on those nodes: 'systemctl status systemd-journald')"
            for why, nodes in by_reason.items()
        ]


def load_allowlist(path: Path = ALLOWLIST_PATH) -> list[AllowEntry]:
    return [
        AllowEntry(**{**e, "engines": tuple(e["engines"])}) for e in json.loads(path.read_text())["entries"]
    ]


def classify(
    lines: list[str], allow: list[AllowEntry], unmet_caps: set[str], engine: str
) -> tuple[list[str], dict[str, int]]:
    """Severe lines no entry allows on this node's ``engine`` with its absent capabilities."""
    usable = [e for e in allow if e.applies(engine, unmet_caps)]
    unexpected: list[str] = []
    allowed: dict[str, int] = {}
    for line in lines:
        if not _SEVERE.search(line):
            continue
        entry = next((e for e in usable if e.matches(line)), None)
        seen = allowed.get(entry.pattern, 0) if entry is not None else 0
        if entry is None or (entry.max_per_node is not None and seen >= entry.max_per_node):
            unexpected.append(line)
        else:
            allowed[entry.pattern] = seen + 1
    return unexpected, allowed


def scan(
    cluster: Cluster,
    doctor: DoctorReport | None,
    since_epoch: int | None = None,
    until_epoch: int | None = None,
) -> LogScan:
    allow = load_allowlist()
    window = (f" --since @{since_epoch}" if since_epoch else "") + (
        f" --until @{until_epoch}" if until_epoch else ""
    )
    journals = cluster.each(
        lambda n: cluster.run(n, f"journalctl -u docker --no-pager -o cat{window}", timeout_s=60).stdout
    )
    # A running dockerd has logged its start at least: a journal without one line of it
    # was never written (measured on trixie nspawn machines: systemd-journald exits with
    # "Failed to acquire cgroup root path", and journalctl says "No journal files were found").
    probes = cluster.each(lambda n: cluster.run(n, "journalctl -u docker --no-pager -o cat -n 1", timeout_s=60))
    result = LogScan()
    for node, probe in sorted(probes.items()):
        if not probe.stdout.strip():
            result.unreadable[node] = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else NO_LINES
    for node, text in sorted(journals.items()):
        caps = doctor.capabilities.get(node, {}).values() if doctor else []
        absent = {c.name for c in caps if c.state == "absent"}
        engine = doctor.facts.get(node, {}).get("engine", "unknown") if doctor else "unknown"
        unexpected, allowed = classify(redact(text).splitlines(), allow, absent, engine)
        result.unexpected[node] = unexpected
        result.allowed[node] = allowed
    return result
