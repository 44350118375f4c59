"""The doctor's report: capabilities and port reachability per node, as a table and JSON.

A report says which cluster it measured (node names and addresses), with which
data-path port, and when, so that a check never trusts one taken of another
cluster, or of this one too long ago.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from harness.cluster import Cluster
from harness.doctor.addressing import (
    ROUTES_COMMAND,
    address_findings,
    parse_routes,
    route_findings,
    swarm_addresses,
)
from harness.doctor.capabilities import Capability, node_capabilities, node_facts
from harness.doctor.firewall import Firewall, check_firewall, firewall_findings
from harness.doctor.ports import PortCheck, check_ports

log = logging.getLogger(__name__)


@dataclass
class DoctorReport:
    capabilities: dict[str, dict[str, Capability]] = field(default_factory=dict)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: list[PortCheck] = field(default_factory=list)
    firewall: dict[str, Firewall] = field(default_factory=dict)  # node -> iptables backend and u32
    # Routes overlapping the swarm's overlays or pool, nodes joined on an unknown address.
    addressing: list[str] = field(default_factory=list)
    cluster: dict[str, str] = field(default_factory=dict)  # node name -> address measured
    data_path_port: int | None = None
    measured_at: float = 0.0  # epoch seconds

    def describes(self, cluster: dict[str, str], data_path_port: int | None, max_age_s: float) -> str | None:
        """None when this report is of ``cluster`` and fresh; otherwise why it must be measured again."""
        if self.cluster != cluster:
            return f"it measured nodes {self.cluster or 'unknown'}, the inventory has {cluster}"
        if self.data_path_port != data_path_port:
            return f"it measured data-path port {self.data_path_port}, this session uses {data_path_port}"
        age_s = time.time() - self.measured_at
        if not 0 <= age_s <= max_age_s:
            return f"it is {age_s:.0f} s old (at most {max_age_s:.0f} s is trusted)"
        return None

    def lacking(self, needs: tuple[str, ...] | list[str]) -> dict[str, set[str]]:
        """capability -> nodes where the doctor measured it absent (not merely unknown)."""
        out: dict[str, set[str]] = {}
        for need in needs:
            nodes = {
                n for n, caps in self.capabilities.items() if need in caps and caps[need].state == "absent"
            }
            if nodes:
                out[need] = nodes
        return out

    def unknown(self, needs: tuple[str, ...] | list[str]) -> list[tuple[str, str, str]]:
        """(capability, node, why) for every need the doctor could not measure."""
        return [
            (need, node, caps[need].reason)
            for need in needs
            for node, caps in sorted(self.capabilities.items())
            if need in caps and caps[need].state == "unknown"
        ]

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

    def firewall_findings(self) -> list[str]:
        """Mixed iptables backends, or a u32 match missing where the node's engine needs it."""
        return firewall_findings(self.firewall, {n: f.get("engine", "") for n, f in self.facts.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "capabilities": {
                n: {k: c.to_dict() for k, c in caps.items()} for n, caps in self.capabilities.items()
            },
            "facts": self.facts,
            "ports": [p.to_dict() for p in self.ports],
            "firewall": {n: f.to_dict() for n, f in self.firewall.items()},
            "addressing": self.addressing,
            "cluster": self.cluster,
            "data_path_port": self.data_path_port,
            "measured_at": self.measured_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoctorReport:
        return cls(
            capabilities={
                n: {k: Capability.from_dict(c) for k, c in caps.items()}
                for n, caps in data["capabilities"].items()
            },
            facts=data.get("facts", {}),
            ports=[PortCheck(**p) for p in data.get("ports", [])],
            firewall={n: Firewall.from_dict(f) for n, f in data.get("firewall", {}).items()},
            addressing=[str(a) for a in data.get("addressing", [])],
            cluster=dict(data.get("cluster", {})),
            data_path_port=data.get("data_path_port"),
            measured_at=float(data.get("measured_at", 0.0)),
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
            cells = " ".join(f"{_CELL[self.capabilities[n][c].state]:<8}" for c in caps)
            rows.append(f"{n:<10} {f.get('kernel', '?')[:18]:<18} {f.get('engine', '?')[:16]:<16} {cells}")
        missing = aggregate(
            (f"{c.name} {'unknown' if c.unknown else 'missing'}", n, c.reason)
            for n in names
            for c in self.capabilities[n].values()
            if not c.present
        )
        if missing:
            rows += ["", "unmet capabilities:", *(f"  {line}" for line in missing)]
        if self.ports:
            blocked = self.blocked_ports()
            rows.append("")
            rows.append(
                f"ports: {len(self.ports) - len(blocked)} of {len(self.ports)} node-pair port checks passed"
            )
            rows += [f"  BLOCKED {p.src} -> {p.dst} {p.label}: {p.detail}" for p in blocked]
        if self.firewall:
            rows.append("")
            rows.append(
                "iptables: "
                + ", ".join(f"{n} {f.backend} (u32 {f.u32})" for n, f in sorted(self.firewall.items()))
            )
            rows += [f"  FIREWALL {line}" for line in self.firewall_findings()]
        if self.addressing:
            rows += ["", "addressing:", *(f"  ADDRESS {line}" for line in self.addressing)]
        return "\n".join(rows)


_CELL = {"present": "yes", "absent": "NO", "unknown": "UNKNOWN"}


def aggregate(findings: Iterable[tuple[str, str, str]]) -> list[str]:
    """One line per (what, reason) with all its nodes: 10 nodes lacking IPVS make one line, not ten."""
    nodes: dict[tuple[str, str], list[str]] = {}
    for what, node, reason in findings:
        nodes.setdefault((what, reason), []).append(node)
    return [f"{what} on {', '.join(ns)}: {reason}" for (what, reason), ns in nodes.items()]


def cluster_identity(cluster: Cluster) -> dict[str, str]:
    return {n.name: n.address for n in cluster.inventory.nodes}


def check_addressing(cluster: Cluster) -> list[str]:
    """Routes against the swarm's subnets and pool, each node's swarm address against the
    inventory; nothing to compare before the swarm exists (the manager's API refuses)."""
    try:
        api = cluster.manager_docker().api
        swarm = swarm_addresses(api.inspect_swarm(), api.networks(filters={"driver": "overlay"}), api.nodes())
    except docker.errors.DockerException as exc:
        log.debug("doctor: no swarm to compare addresses with (%s)", exc)
        return []
    routes = cluster.each(lambda n: parse_routes(cluster.run(n, ROUTES_COMMAND, timeout_s=30).stdout))
    known = {
        n.name: tuple(dict.fromkeys(a for a in (n.address, n.data_path_address) if a))
        for n in cluster.inventory.nodes
    }
    return route_findings(routes, swarm) + address_findings(known, swarm)


def run_doctor(cluster: Cluster, ports: bool = True, data_path_port: int | None = None) -> DoctorReport:
    report = DoctorReport(
        cluster=cluster_identity(cluster), data_path_port=data_path_port, measured_at=time.time()
    )
    report.capabilities = cluster.each(lambda n: node_capabilities(cluster.host(n)))
    report.facts = cluster.each(lambda n: node_facts(cluster.host(n)))
    report.firewall = cluster.each(lambda n: check_firewall(cluster.host(n)))
    report.addressing = check_addressing(cluster)
    if ports:
        report.ports = check_ports(cluster, data_path_port)
    return report


def remeasure(cluster: Cluster, nodes: list[str], data_path_port: int | None = None) -> DoctorReport:
    """The doctor's view at this moment of ``nodes`` (capabilities) and of every pair's ports.

    Called when a check fails, so its diagnosis rests on what is true now rather
    than on the report taken before the suites started.
    """
    report = DoctorReport(
        cluster=cluster_identity(cluster), data_path_port=data_path_port, measured_at=time.time()
    )
    report.capabilities = {n: node_capabilities(cluster.host(n)) for n in nodes}
    report.ports = check_ports(cluster, data_path_port)
    return report
