"""The doctor's report: capabilities and port reachability per node, as a table and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.doctor.capabilities import Capability, node_capabilities, node_facts
from harness.doctor.ports import PortCheck, check_ports
from harness.swarm.cluster import Cluster


@dataclass
class DoctorReport:
    capabilities: dict[str, dict[str, Capability]] = field(default_factory=dict)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: list[PortCheck] = field(default_factory=list)

    def unmet(self, needs: tuple[str, ...] | list[str]) -> list[tuple[str, str, str]]:
        """(capability, node, reason) for every need some node lacks."""
        out = []
        for need in needs:
            for node, caps in sorted(self.capabilities.items()):
                cap = caps.get(need)
                if cap is None:
                    out.append((need, node, f"the doctor does not know capability {need!r}"))
                elif not cap.present:
                    out.append((need, node, cap.reason))
        return out

    def blocked_ports(self) -> list[PortCheck]:
        return [p for p in self.ports if not p.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "capabilities": {
                n: {k: c.to_dict() for k, c in caps.items()} for n, caps in self.capabilities.items()
            },
            "facts": self.facts,
            "ports": [p.to_dict() for p in self.ports],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoctorReport:
        return cls(
            capabilities={
                n: {k: Capability(**c) for k, c in caps.items()} for n, caps in data["capabilities"].items()
            },
            facts=data.get("facts", {}),
            ports=[PortCheck(**p) for p in data.get("ports", [])],
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        names = sorted(self.capabilities)
        caps = sorted({k for c in self.capabilities.values() for k in c})
        header = f"{'node':<10} {'kernel':<18} {'engine':<16} " + " ".join(f"{c:<8}" for c in caps)
        rows = [header, "-" * len(header)]
        for n in names:
            f = self.facts.get(n, {})
            cells = " ".join(f"{'yes' if self.capabilities[n][c].present else 'NO':<8}" for c in caps)
            rows.append(f"{n:<10} {f.get('kernel', '?')[:18]:<18} {f.get('engine', '?')[:16]:<16} {cells}")
        missing = [
            f"  {n}: {c.name} missing: {c.reason}"
            for n in names
            for c in self.capabilities[n].values()
            if not c.present
        ]
        if missing:
            rows += ["", "unmet capabilities:", *missing]
        if self.ports:
            blocked = self.blocked_ports()
            rows.append("")
            rows.append(
                f"ports: {len(self.ports) - len(blocked)} of {len(self.ports)} node-pair port checks passed"
            )
            rows += [f"  BLOCKED {p.src} -> {p.dst} {p.label}: {p.detail}" for p in blocked]
        return "\n".join(rows)


def run_doctor(cluster: Cluster, ports: bool = True, data_path_port: int | None = None) -> DoctorReport:
    report = DoctorReport()
    report.capabilities = cluster.each(lambda n: node_capabilities(cluster.host(n)))
    report.facts = cluster.each(lambda n: node_facts(cluster.host(n)))
    if ports:
        report.ports = check_ports(cluster, data_path_port)
    return report
