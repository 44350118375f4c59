"""What a suite test works with on one overlay, gathered in one object."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from harness.cluster import Cluster
from harness.probe.service import ProbeDeployment


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
