"""How a node gets its new engine: the ``Upgrader`` protocol and the upgrade-command one.

The flow drains the node before and reconnects after; an upgrader only replaces the
engine. The caller picks the implementation once, from the inventory (the lab's
image swap is ``harness.lab.upgrader``; this package never imports the lab).
"""

from __future__ import annotations

from typing import Protocol

from harness.cluster import Cluster
from harness.errors import HarnessError
from harness.inventory.schema import Node

COMMAND_TIMEOUT_S = 1800


class Upgrader(Protocol):
    def upgrade(self, node: Node) -> None:
        """Replace ``node``'s engine; raise (a ``HarnessError`` says best why) if it failed."""
        ...


class CommandUpgrader:
    """Runs the node's (or the inventory's) ``upgrade_command`` over SSH."""

    def __init__(self, cluster: Cluster, default: str | None) -> None:
        self.cluster = cluster
        self.default = default

    def upgrade(self, node: Node) -> None:
        command = node.upgrade_command or self.default
        if not command:
            raise HarnessError(
                f"{node.name} has no upgrade_command", "set upgrade_command per node or for the inventory"
            )
        self.cluster.run(node, command, timeout_s=COMMAND_TIMEOUT_S).check(
            hint=f"fix the upgrade command for {node.name}"
        )
