"""Rolling Engine upgrade, node by node, under continuous traffic.

For each node (workers first, the leader last): drain, wait until its tasks
moved, upgrade its engine, wait until it is Ready with the new version, set it
Active, and run the core checks in the mixed-version cluster. Traffic keeps
flowing from nodes that are not being upgraded, and every failed request,
broken long-lived connection and gap is counted. The flow stops at the first
failing step (unless told to continue) and leaves that node drained.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.errors import HarnessError
from harness.inventory.schema import Node
from harness.probe.matrix import run_matrix
from harness.probe.recovery import wait_service_whole
from harness.probe.service import TCP_PORT, ProbeDeployment, agent, wait_global_probe
from harness.retry import NotYet, eventually
from harness.transport.ssh import SSHHost

log = logging.getLogger(__name__)

Upgrade = Callable[[Node], None]
CONVERGE_DEADLINE_S = 90.0
READY_PROBE = "systemctl is-active --quiet docker && docker info --format '{{.ServerVersion}}'"


@dataclass
class Step:
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


@dataclass
class UpgradeReport:
    order: list[str]
    steps: list[Step] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    traffic: Traffic = field(default_factory=Traffic)
    failed_node: str | None = None
    failed_step: str | None = None
    verdict: str = "incomplete"

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


def command_upgrader(cluster: Cluster, default: str | None) -> Upgrade:
    """Run the node's (or the inventory's) ``upgrade_command`` over SSH."""

    def _upgrade(node: Node) -> None:
        command = node.upgrade_command or default
        if not command:
            raise HarnessError(
                f"{node.name} has no upgrade_command", "set upgrade_command per node or for the inventory"
            )
        cluster.run(node, command, timeout_s=1800).check(hint=f"fix the upgrade command for {node.name}")

    return _upgrade


def upgrade_order(cluster: Cluster, order: list[str] | None = None) -> list[Node]:
    if order:
        return [cluster.inventory.node(n) for n in order]
    leader = next((n.hostname for n in cluster.swarm_nodes() if n.leader), None)
    workers = [n for n in cluster.nodes if not n.is_manager]
    managers = sorted((n for n in cluster.nodes if n.is_manager), key=lambda n: n.name == leader)
    return workers + managers


class TrafficMonitor(threading.Thread):
    """Continuous requests and long-lived connections from nodes not being upgraded."""

    def __init__(self, cluster: Cluster, probes: ProbeDeployment, service: str, window_s: int = 4) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.probes = probes
        self.service = service
        self.window_s = window_s
        self.busy: set[str] = set()
        self.stats = Traffic()
        self._halt = threading.Event()
        self.started = time.monotonic()

    def stop(self) -> None:
        self._halt.set()
        self.join(self.window_s + 60)

    def _refresh(self) -> None:
        with contextlib.suppress(Exception):
            self.probes = wait_global_probe(
                self.cluster,
                self.probes.service,
                self.probes.network,
                3,
                [n.name for n in self.cluster.nodes if n.name not in self.busy],
            )

    def _window(self) -> None:
        self._refresh()
        idle = [n for n in sorted(self.probes.tasks) if n not in self.busy]
        if not idle:
            return
        src = self.probes.tasks[idle[0]]
        res = agent(
            self.cluster,
            src,
            [
                "load",
                f"http://{self.service}:8080/",
                "--duration-s",
                str(self.window_s),
                "--interval-s",
                "0.1",
                "--timeout-s",
                "1",
            ],
            timeout_s=self.window_s + 30,
        )
        s = self.stats
        s.windows += 1
        s.sent += int(res.get("sent", 0))
        s.failed += int(res.get("failed", 0))
        for k, v in (res.get("errors") or {}).items():
            s.errors[k] = s.errors.get(k, 0) + int(v)
        s.longest_gap_s = max(s.longest_gap_s, float(res.get("longest_gap_s", 0)))
        if len(idle) >= 2:
            dst = self.probes.tasks[idle[-1]]
            hold = agent(
                self.cluster,
                self.probes.tasks[idle[0]],
                ["hold", dst.address, str(TCP_PORT), "--duration-s", str(self.window_s), "--interval-s", "1"],
                timeout_s=self.window_s + 30,
            )
            s.connections += 1
            ends = {idle[0], idle[-1]}
            if not hold.get("ok") and ends & self.busy:
                # An endpoint's node started draining mid-window: its task stopped by design.
                s.ended_by_drain += 1
            elif not hold.get("ok"):
                s.connections_broken += 1
                s.broken.append(
                    f"{idle[0]}->{idle[-1]} at +{time.monotonic() - self.started:.0f}s while upgrading "
                    f"{','.join(sorted(self.busy)) or 'nothing'}: {hold.get('error')} (after {hold.get('broken_at_s')}s)"
                )

    def run(self) -> None:
        deadline = time.monotonic() + 3 * 3600
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                self._window()
            except Exception as exc:
                self.stats.monitor_errors.append(str(exc)[:200])
                self._halt.wait(1)


def _engines(cluster: Cluster, via: str) -> dict[str, str]:
    return {n.hostname: n.engine_version for n in cluster.swarm_nodes(via)}


def _node_id(cluster: Cluster, via: str, name: str) -> str:
    return next(n.id for n in cluster.swarm_nodes(via) if n.hostname == name)


def _set_availability(cluster: Cluster, via: str, name: str, availability: str) -> None:
    node = cluster.docker(via).nodes.get(_node_id(cluster, via, name))
    spec = node.attrs["Spec"]
    spec["Availability"] = availability
    node.update(spec)


def run_upgrade(
    cluster: Cluster,
    upgrade: Upgrade,
    probes: ProbeDeployment,
    service: str,
    replicas: int,
    order: list[str] | None = None,
    continue_on_failure: bool = False,
    checks: bool = True,
    step_timeout_s: float = 300,
) -> UpgradeReport:
    nodes = upgrade_order(cluster, order)
    report = UpgradeReport(order=[n.name for n in nodes])
    t0 = time.monotonic()
    manager = cluster.first_manager.name
    report.versions.append({"after": "start", "engines": _engines(cluster, manager)})
    monitor = TrafficMonitor(cluster, probes, service)
    monitor.start()

    def step(node: Node, name: str, fn: Callable[[], str | None]) -> bool:
        started = time.monotonic()
        try:
            detail = fn() or ""
            ok = True
        except Exception as exc:
            detail, ok = (
                (exc.one_line() if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"),
                False,
            )
        report.steps.append(
            Step(
                node.name,
                name,
                round(started - t0, 1),
                round(time.monotonic() - started, 1),
                ok,
                detail[:500],
            )
        )
        log.info(
            "%s: %s %s (%.1fs)%s",
            node.name,
            name,
            "ok" if ok else "FAILED",
            time.monotonic() - started,
            "" if ok else f": {detail[:300]}",
        )
        return ok

    try:
        for node in nodes:
            via = next((m.name for m in cluster.inventory.managers if m.name != node.name), manager)
            old = _engines(cluster, via).get(node.name, "?")
            monitor.busy.add(node.name)

            def _drain(node: Node = node, via: str = via) -> str:
                _set_availability(cluster, via, node.name, "drain")
                nid = _node_id(cluster, via, node.name)

                def _moved() -> None:
                    # Actual state: after a drain the desired state flips at once, containers stop later.
                    left = [
                        t
                        for t in cluster.docker(via).api.tasks(filters={"node": nid})
                        if t["Status"]["State"] in ("running", "starting", "preparing", "assigned")
                    ]
                    if left:
                        raise NotYet(f"{len(left)} tasks still running on {node.name}")

                eventually(_moved, step_timeout_s, f"tasks to leave {node.name}", interval_s=1)
                return "tasks moved"

            def _upgrade(node: Node = node) -> str:
                cluster.forget_docker(node)
                cluster.host(node).close()
                upgrade(node)
                return "engine upgraded"

            def _rejoin(node: Node = node, via: str = via, old: str = old) -> str:
                host: SSHHost = cluster.host(node)
                version = host.wait_ready(step_timeout_s, READY_PROBE).stdout.strip()
                cluster.forget_docker(node)
                if via == node.name:
                    cluster.forget_docker(via)

                def _ready() -> str:
                    row = next((n for n in cluster.swarm_nodes(via) if n.hostname == node.name), None)
                    state = row.state if row else None
                    engine = row.engine_version if row else None
                    if state != "ready" or engine == old:
                        raise NotYet(f"{node.name} is {state} with engine {engine}")
                    return str(engine)

                engine = eventually(
                    _ready, step_timeout_s, f"{node.name} to rejoin with a new engine", interval_s=2
                )
                _set_availability(cluster, via, node.name, "active")
                return f"engine {old} -> {engine} (daemon reports {version})"

            def _checks(node: Node = node, via: str = via) -> str:
                started = time.monotonic()

                def _matrix_clean() -> int:
                    fresh = wait_global_probe(cluster, probes.service, probes.network, step_timeout_s)
                    matrix = run_matrix(cluster, fresh, protocols=("icmp", "tcp", "http"), retry_after_s=1)
                    if matrix.failing_pairs():
                        raise NotYet(matrix.summary().replace("\n", " "))
                    return len(matrix.pairs)

                # The rejoined node's overlay peers converge by gossip: allow a deadline, report it.
                pairs = eventually(
                    _matrix_clean,
                    CONVERGE_DEADLINE_S,
                    f"the overlay to converge after {node.name}",
                    interval_s=2,
                )
                converged_s = time.monotonic() - started
                fresh = wait_global_probe(cluster, probes.service, probes.network, step_timeout_s)
                wait_service_whole(cluster, fresh, service, replicas, step_timeout_s)
                svc = cluster.docker(via).services.get(service)
                svc.update(env=[f"UPGRADE_STEP={node.name}"])
                wait_service_whole(cluster, fresh, service, replicas, step_timeout_s)
                return f"matrix {pairs} pairs ok after {converged_s:.1f}s; DNS and service update ok"

            plan: list[tuple[str, Callable[[], str | None]]] = [
                ("drain", _drain),
                ("upgrade", _upgrade),
                ("rejoin", _rejoin),
            ]
            if checks:
                plan.append(("checks", _checks))
            for name, fn in plan:
                if not step(node, name, fn):
                    report.failed_node = report.failed_node or node.name
                    report.failed_step = report.failed_step or name
                    break
            else:
                monitor.busy.discard(node.name)
            try:
                report.versions.append({"after": node.name, "engines": _engines(cluster, via)})
            except Exception as exc:
                report.versions.append({"after": node.name, "engines": {}, "error": str(exc)[:200]})
            if report.failed_node and not continue_on_failure:
                break
    finally:
        monitor.stop()
        report.traffic = monitor.stats
    report.verdict = (
        "upgrade failed"
        if report.failed_node
        else "upgraded with traffic loss"
        if report.traffic.failed or report.traffic.connections_broken
        else "upgraded cleanly"
    )
    return report
