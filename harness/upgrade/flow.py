"""The rolling upgrade's loop: node after node (workers first, the leader last), each stage.

Traffic keeps flowing from the nodes not being upgraded (``TrafficMonitor``). Each
stage's timing and result go to the report. The flow stops at the first failing
stage (unless told to continue) and leaves that node drained: the stages after it,
``rejoin`` among them, do not run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from harness.cluster import Cluster
from harness.errors import HarnessError
from harness.inventory.schema import Node
from harness.probe.service import ProbeDeployment
from harness.swarm.nodes import engine_versions, leader
from harness.upgrade.monitor import TrafficMonitor
from harness.upgrade.report import Step, Traffic, UpgradeReport
from harness.upgrade.stages import NodeTurn, Stage, UpgradeContext, node_stages
from harness.upgrade.upgrader import Upgrader

log = logging.getLogger(__name__)


class Monitor(Protocol):
    """What the loop needs of the traffic monitor: nodes it must leave alone, start, stop."""

    busy: set[str]
    stats: Traffic
    started: float  # monotonic origin of its timeline: the loop sets it to the upgrade's start

    def start(self) -> None: ...

    def stop(self) -> None: ...


def upgrade_order(cluster: Cluster, order: list[str] | None = None) -> list[Node]:
    if order:
        return [cluster.inventory.node(n) for n in order]
    lead = leader(cluster, cluster.first_manager.name)
    workers = [n for n in cluster.nodes if not n.is_manager]
    managers = sorted((n for n in cluster.nodes if n.is_manager), key=lambda n: n.name == lead)
    return workers + managers


def _turn(ctx: UpgradeContext, node: Node) -> NodeTurn:
    manager = ctx.cluster.first_manager.name
    via = next((m.name for m in ctx.cluster.inventory.managers if m.name != node.name), manager)
    return NodeTurn(ctx, node, via, engine_versions(ctx.cluster, via).get(node.name, "?"))


def _run_stage(report: UpgradeReport, turn: NodeTurn, stage: Stage, t0: float) -> bool:
    """Run one stage and record it; True if it held."""
    started = time.monotonic()
    try:
        detail, ok = stage.run(turn) or "", True
    except Exception as exc:
        detail = exc.one_line() if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        ok = False
    duration_s = time.monotonic() - started
    report.steps.append(
        Step(turn.node.name, stage.name, round(started - t0, 1), round(duration_s, 1), ok, detail[:500])
    )
    log.info(
        "%s: %s %s (%.1fs)%s",
        turn.node.name,
        stage.name,
        "ok" if ok else "FAILED",
        duration_s,
        "" if ok else f": {detail[:300]}",
    )
    return ok


def _run_turn(report: UpgradeReport, turn: NodeTurn, stages: Sequence[Stage], t0: float) -> Stage | None:
    """The node's stages in order; the first that fails ends the turn and is returned."""
    for stage in stages:
        if not _run_stage(report, turn, stage, t0):
            return stage
    return None


def roll(
    ctx: UpgradeContext,
    nodes: Sequence[Node],
    stages: Sequence[Stage],
    monitor: Monitor,
    continue_on_failure: bool = False,
) -> UpgradeReport:
    """Each node's turn through ``stages``, engine versions after each, the traffic seen."""
    report = UpgradeReport(order=[n.name for n in nodes])
    t0 = time.monotonic()
    report.versions.append(
        {"after": "start", "engines": engine_versions(ctx.cluster, ctx.cluster.first_manager.name)}
    )
    monitor.started = t0
    monitor.start()
    try:
        for node in nodes:
            turn = _turn(ctx, node)
            monitor.busy.add(node.name)
            failed = _run_turn(report, turn, stages, t0)
            if failed is None:
                monitor.busy.discard(node.name)
            elif report.failed_node is None:
                report.failed_node, report.failed_step = node.name, failed.name
            try:
                report.versions.append(
                    {"after": node.name, "engines": engine_versions(ctx.cluster, turn.via)}
                )
            except Exception as exc:
                report.versions.append({"after": node.name, "engines": {}, "error": str(exc)[:200]})
            if report.failed_node and not continue_on_failure:
                break
    finally:
        monitor.stop()
        report.traffic = monitor.stats
    report.judge()
    return report


def run_upgrade(
    cluster: Cluster,
    upgrader: Upgrader,
    probes: ProbeDeployment,
    service: str,
    replicas: int,
    order: list[str] | None = None,
    continue_on_failure: bool = False,
    checks: bool = True,
    step_timeout_s: float = 300,
) -> UpgradeReport:
    """The rolling upgrade of ``cluster`` under traffic to ``service`` (``replicas`` tasks)."""
    ctx = UpgradeContext(cluster, upgrader, probes, service, replicas, step_timeout_s)
    nodes = upgrade_order(cluster, order)
    monitor = TrafficMonitor(cluster, probes, service)
    return roll(ctx, nodes, node_stages(checks), monitor, continue_on_failure)
