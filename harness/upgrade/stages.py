"""The named stages of one node's turn in a rolling upgrade, as data.

A turn is ``drain`` (its tasks leave), ``upgrade`` (the ``Upgrader`` replaces the
engine), ``rejoin`` (Ready again with a new engine, set Active) and, unless turned
off, ``checks`` (the mixed-version cluster still works). Each stage returns the
detail the report keeps, or raises; the flow (``harness.upgrade.flow``) runs them
in order and stops a node's turn at the first that raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.cluster import Cluster
from harness.inventory.schema import Node
from harness.probe.matrix import run_matrix
from harness.probe.recovery import wait_service_whole
from harness.probe.service import ProbeDeployment, wait_global_probe
from harness.retry import NotYet, eventually
from harness.swarm.nodes import live_tasks, node_id, nodes_by_hostname, set_availability
from harness.upgrade.upgrader import Upgrader

CONVERGE_DEADLINE_S = 90.0
READY_PROBE = "systemctl is-active --quiet docker && docker info --format '{{.ServerVersion}}'"


@dataclass(frozen=True)
class UpgradeContext:
    """What every node's turn shares: the cluster, the upgrader and the traffic service."""

    cluster: Cluster
    upgrader: Upgrader
    probes: ProbeDeployment
    service: str
    replicas: int
    step_timeout_s: float = 300


@dataclass(frozen=True)
class NodeTurn:
    """One node's turn: ``via`` is a manager other than the node where there is one,
    ``old_engine`` the version it ran before (a rejoin must show another)."""

    ctx: UpgradeContext
    node: Node
    via: str
    old_engine: str


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[NodeTurn], str]


def drain(turn: NodeTurn) -> str:
    cluster, via, name = turn.ctx.cluster, turn.via, turn.node.name
    set_availability(cluster, via, name, "drain")
    nid = node_id(cluster, via, name)

    def _moved() -> None:
        left = live_tasks(cluster, via, nid)
        if left:
            raise NotYet(f"{left} tasks still running on {name}")

    eventually(_moved, turn.ctx.step_timeout_s, f"tasks to leave {name}", interval_s=1)
    return "tasks moved"


def upgrade_engine(turn: NodeTurn) -> str:
    # The engine restarts: the node's pooled Docker streams and SSH session die with it.
    turn.ctx.cluster.forget_docker(turn.node)
    turn.ctx.cluster.host(turn.node).close()
    turn.ctx.upgrader.upgrade(turn.node)
    return "engine upgraded"


def rejoin(turn: NodeTurn) -> str:
    cluster, via, name, old = turn.ctx.cluster, turn.via, turn.node.name, turn.old_engine
    version = cluster.host(turn.node).wait_ready(turn.ctx.step_timeout_s, READY_PROBE).stdout.strip()
    cluster.forget_docker(turn.node)
    if via == name:
        cluster.forget_docker(via)

    def _ready() -> str:
        row = nodes_by_hostname(cluster, via).get(name)
        state = row.state if row else None
        engine = row.engine_version if row else None
        if state != "ready" or engine == old:
            raise NotYet(f"{name} is {state} with engine {engine}")
        return str(engine)

    engine = eventually(_ready, turn.ctx.step_timeout_s, f"{name} to rejoin with a new engine", interval_s=2)
    set_availability(cluster, via, name, "active")
    return f"engine {old} -> {engine} (daemon reports {version})"


def checks(turn: NodeTurn) -> str:
    """The matrix, the traffic service's DNS and a service update, in the mixed cluster."""
    ctx = turn.ctx
    cluster, probes, timeout_s = ctx.cluster, ctx.probes, ctx.step_timeout_s
    started = time.monotonic()

    def _matrix_clean() -> int:
        fresh = wait_global_probe(cluster, probes.service, probes.network, timeout_s)
        matrix = run_matrix(cluster, fresh, protocols=("icmp", "tcp", "http"), retry_after_s=1)
        if matrix.failing_pairs():
            raise NotYet(matrix.summary().replace("\n", " "))
        return len(matrix.pairs)

    # The rejoined node's overlay peers converge by gossip: allow a deadline, report it.
    pairs = eventually(
        _matrix_clean, CONVERGE_DEADLINE_S, f"the overlay to converge after {turn.node.name}", interval_s=2
    )
    converged_s = time.monotonic() - started
    fresh = wait_global_probe(cluster, probes.service, probes.network, timeout_s)
    wait_service_whole(cluster, fresh, ctx.service, ctx.replicas, timeout_s)
    cluster.docker(turn.via).services.get(ctx.service).update(env=[f"UPGRADE_STEP={turn.node.name}"])
    wait_service_whole(cluster, fresh, ctx.service, ctx.replicas, timeout_s)
    return f"matrix {pairs} pairs ok after {converged_s:.1f}s; DNS and service update ok"


DRAIN = Stage("drain", drain)
UPGRADE = Stage("upgrade", upgrade_engine)
REJOIN = Stage("rejoin", rejoin)
CHECKS = Stage("checks", checks)


def node_stages(with_checks: bool = True) -> tuple[Stage, ...]:
    """The stages of every node's turn, in order."""
    return (DRAIN, UPGRADE, REJOIN, CHECKS) if with_checks else (DRAIN, UPGRADE, REJOIN)
