"""What a suite test works with: one overlay gathered in one object, and the reports it leaves."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from harness.cluster import Cluster
from harness.probe.service import ProbeDeployment
from harness.swarm.networks import NetworkSpec

T = TypeVar("T")


@dataclass(frozen=True)
class OverlayContext:
    cluster: Cluster
    network: str
    probes: ProbeDeployment  # a global probe task on every node, attached to ``network``
    labels: dict[str, str]  # put on everything a test creates, so cleanup finds it

    @staticmethod
    def name(prefix: str) -> str:
        """A fresh object name; parallel workers and reruns never collide."""
        return f"{prefix}-{secrets.token_hex(3)}"


@dataclass
class SuiteReports:
    """The JSON files the suites leave in RUN/reports, and the measurements behind them.

    A measurement every pair's check reads (a network's matrix, its MTUs) is made once
    per session (and xdist worker) and written the moment it is made, so the file is
    there whichever of its checks fails first.
    """

    directory: Path
    _measured: dict[str, object] = field(default_factory=dict)

    def save(self, name: str, data: object) -> Path:
        out = self.directory / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2))
        return out

    def measured_once(self, name: str, measure: Callable[[], T], to_json: Callable[[T], object]) -> T:
        """``measure()`` the first time ``name`` is asked for, saved as ``name``; the same result after."""
        if name not in self._measured:
            result = measure()
            self.save(name, to_json(result))
            self._measured[name] = result
        return cast(T, self._measured[name])


@dataclass(frozen=True)
class NetworkMeasure:
    """A network's measurement that every pair's check reads (its matrix, its MTUs): made
    once with the network's global probe, saved under ``reports/`` by ``report_name``."""

    cluster: Cluster
    probe: Callable[[str], ProbeDeployment]
    networks: Mapping[str, NetworkSpec]
    reports: SuiteReports

    def __call__(
        self,
        kind: str,
        report_name: Callable[[str], str],
        measure: Callable[[Cluster, ProbeDeployment], T],
        to_json: Callable[[T], object],
    ) -> T:
        net = self.networks[kind].name
        return self.reports.measured_once(report_name(net), lambda: measure(self.cluster, self.probe(net)), to_json)
