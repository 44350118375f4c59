"""The rolling upgrade's stage sequencing, its upgrader choice and its traffic counts, without a
cluster: the stages that talk to Swarm are stand-ins, the engine versions are made up, the
``Upgrader`` is a fake, and the traffic monitor's load client and held connection are replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import Cluster
from harness.errors import HarnessError, UserInputError
from harness.inventory.schema import Inventory, Node, SSHConfig
from harness.probe.agent import LoadReply
from harness.probe.service import ProbeDeployment, ProbeTask
from harness.probe.traffic import NodeLoad
from harness.provision.upgraders import choose_upgrader
from harness.upgrade import flow, monitor
from harness.upgrade.flow import roll, upgrade_order
from harness.upgrade.monitor import TrafficMonitor
from harness.upgrade.report import Traffic, UpgradeReport
from harness.upgrade.stages import UPGRADE, NodeTurn, Stage, UpgradeContext, node_stages
from harness.upgrade.upgrader import CommandUpgrader

NAMES = ("node1", "node2", "node3")


def _inventory(provider: str = "static", **kw: Any) -> Inventory:
    nodes = tuple(
        Node(
            n, f"198.18.0.{i + 10}", "manager" if n == "node1" else "worker", upgrade_command=kw.pop(n, None)
        )
        for i, n in enumerate(NAMES)
    )
    ssh = SSHConfig("root", Path("/nonexistent/key"), Path("/nonexistent/known_hosts"))
    return Inventory(provider, ssh, nodes, **kw)


PROBES = ProbeDeployment(
    "probe-harness-plain-upgrade",
    "harness-plain",
    {n: ProbeTask(n, f"c-{n}", f"10.0.1.{i + 2}") for i, n in enumerate(NAMES)},
)


class FakeUpgrader:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.upgraded: list[str] = []

    def upgrade(self, node: Node) -> None:
        if node.name in self.failing:
            raise HarnessError(f"command on {node.name} exited 3", "fix the upgrade command")
        self.upgraded.append(node.name)


class FakeMonitor:
    def __init__(self, stats: Traffic | None = None) -> None:
        self.busy: set[str] = set()
        self.stats = stats or Traffic(windows=3, sent=120)
        self.started = 0.0
        self.running = False
        self.stopped = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running, self.stopped = False, True


class Recorder:
    """Stand-ins for the stages that talk to Swarm; ``upgrade`` is the real stage."""

    def __init__(self, mon: FakeMonitor) -> None:
        self.mon = mon
        self.ran: list[tuple[str, str]] = []

    def stage(self, name: str) -> Stage:
        def _run(turn: NodeTurn) -> str:
            assert self.mon.running and turn.node.name in self.mon.busy
            self.ran.append((turn.node.name, name))
            return f"{name} ok"

        return Stage(name, _run)

    def stages(self, with_checks: bool = True) -> list[Stage]:
        return [UPGRADE if s.name == "upgrade" else self.stage(s.name) for s in node_stages(with_checks)]


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    versions = dict.fromkeys(NAMES, "20.10.24")
    monkeypatch.setattr(flow, "engine_versions", lambda cluster, via: dict(versions))
    return versions


def _roll(
    upgrader: FakeUpgrader, order: tuple[str, ...] = ("node2", "node3", "node1"), **kw: Any
) -> tuple[UpgradeReport, Recorder, FakeMonitor]:
    inv = _inventory()
    cluster = Cluster(inv, "unit")
    mon = FakeMonitor(kw.pop("stats", None))
    rec = Recorder(mon)
    ctx = UpgradeContext(cluster, upgrader, PROBES, "upgrade-web", 3)
    stages = rec.stages(kw.pop("with_checks", True))
    report = roll(ctx, [inv.node(n) for n in order], stages, mon, **kw)
    return report, rec, mon


def test_the_stages_are_named_and_ordered_and_checks_can_be_left_out() -> None:
    assert [s.name for s in node_stages()] == ["drain", "upgrade", "rejoin", "checks"]
    assert [s.name for s in node_stages(with_checks=False)] == ["drain", "upgrade", "rejoin"]


def test_every_node_runs_every_stage_in_order_and_the_report_records_each(engines: dict[str, str]) -> None:
    upgrader = FakeUpgrader()
    report, _, mon = _roll(upgrader)
    order = ["node2", "node3", "node1"]
    assert [(s.node, s.step) for s in report.steps] == [
        (n, st) for n in order for st in ("drain", "upgrade", "rejoin", "checks")
    ]
    assert all(s.ok for s in report.steps) and upgrader.upgraded == order
    assert [s.detail for s in report.steps[:4]] == ["drain ok", "engine upgraded", "rejoin ok", "checks ok"]
    assert [v["after"] for v in report.versions] == ["start", *order]
    assert report.failed_node is None and report.verdict == "upgraded cleanly"
    assert mon.stopped and mon.busy == set() and report.traffic.sent == 120
    doc = json.loads(json.dumps(report.to_dict()))
    assert set(doc) == {"order", "steps", "versions", "traffic", "failed_node", "failed_step", "verdict"}
    assert set(doc["steps"][0]) == {"node", "step", "started_s", "duration_s", "ok", "detail"}


def test_a_failing_upgrade_stops_the_flow_and_names_the_node_and_the_stage(engines: dict[str, str]) -> None:
    upgrader = FakeUpgrader(failing={"node3"})
    report, rec, mon = _roll(upgrader)
    assert [(s.node, s.step, s.ok) for s in report.steps[-2:]] == [
        ("node3", "drain", True),
        ("node3", "upgrade", False),
    ]
    assert len(report.steps) == 6  # node2's four stages, node3's drain and failed upgrade
    assert ("node3", "rejoin") not in rec.ran and not any(n == "node1" for n, _ in rec.ran)
    assert report.failed_node == "node3" and report.failed_step == "upgrade"
    assert "exited 3" in report.steps[-1].detail and "fix the upgrade command" in report.steps[-1].detail
    assert report.verdict == "upgrade failed"
    assert [v["after"] for v in report.versions] == ["start", "node2", "node3"]
    assert mon.stopped and mon.busy == {"node3"}  # left drained: the traffic stays off it
    assert "stopped at node3 (upgrade); it is left drained" in report.summary()


def test_continue_on_failure_goes_on_and_keeps_the_first_failure(engines: dict[str, str]) -> None:
    upgrader = FakeUpgrader(failing={"node2", "node3"})
    report, rec, _ = _roll(upgrader, continue_on_failure=True, with_checks=False)
    assert [(s.node, s.step) for s in report.steps if not s.ok] == [
        ("node2", "upgrade"),
        ("node3", "upgrade"),
    ]
    assert ("node1", "rejoin") in rec.ran and upgrader.upgraded == ["node1"]
    assert report.failed_node == "node2" and report.failed_step == "upgrade"


def test_traffic_loss_is_its_own_verdict(engines: dict[str, str]) -> None:
    report, _, _ = _roll(FakeUpgrader(), order=("node2",), stats=Traffic(windows=2, sent=80, failed=1))
    assert report.verdict == "upgraded with traffic loss"
    report, _, _ = _roll(FakeUpgrader(), order=("node2",), stats=Traffic(connections=2, connections_broken=1))
    assert report.verdict == "upgraded with traffic loss"


def test_a_stage_that_breaks_unexpectedly_is_recorded_with_its_error_type(engines: dict[str, str]) -> None:
    def _boom(turn: NodeTurn) -> str:
        raise KeyError("Hostname")

    inv = _inventory()
    ctx = UpgradeContext(Cluster(inv), FakeUpgrader(), PROBES, "upgrade-web", 3)
    mon = FakeMonitor()
    report = roll(ctx, [inv.node("node2")], [Stage("drain", _boom), UPGRADE], mon)
    assert [(s.step, s.ok) for s in report.steps] == [("drain", False)]
    assert report.steps[0].detail == "KeyError: 'Hostname'" and report.failed_step == "drain"


def test_workers_go_first_and_the_leader_last(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = (*_inventory().nodes, Node("node4", "198.18.0.20", "manager"))
    inv = Inventory("static", _inventory().ssh, nodes)
    cluster = Cluster(inv)
    monkeypatch.setattr(flow, "leader", lambda cluster, via: "node1")
    assert [n.name for n in upgrade_order(cluster)] == ["node2", "node3", "node4", "node1"]
    assert [n.name for n in upgrade_order(cluster, ["node3", "node1"])] == ["node3", "node1"]


def test_the_command_upgrader_needs_a_command_and_runs_the_node_s_own_first() -> None:
    inv = _inventory(node2="install-26.1")
    ran: list[tuple[str, str]] = []

    class _Cluster(Cluster):
        def run(self, node: str | Node, command: str, timeout_s: float = 120.0) -> Any:
            ran.append((node if isinstance(node, str) else node.name, command))

            class _Ok:
                def check(self, hint: str = "") -> None:
                    return None

            return _Ok()

    upgrader = CommandUpgrader(_Cluster(inv), None)
    upgrader.upgrade(inv.node("node2"))
    assert ran == [("node2", "install-26.1")]
    with pytest.raises(HarnessError, match="node3 has no upgrade_command"):
        upgrader.upgrade(inv.node("node3"))


def test_the_upgrader_is_chosen_once_from_the_inventory(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    local_with_command = _inventory("local", upgrade_command="install-26.1", provider_data={"lab": "x"})
    chosen = choose_upgrader(local_with_command, path, Cluster(local_with_command), "trixie", list(NAMES))
    assert isinstance(chosen, CommandUpgrader) and chosen.default == "install-26.1"
    with pytest.raises(UserInputError, match="no way to upgrade static hosts"):
        choose_upgrader(_inventory(), path, Cluster(_inventory()), "trixie", list(NAMES))
    with pytest.raises(UserInputError, match=r"has no provider_data\.lab"):
        choose_upgrader(_inventory("local"), path, Cluster(_inventory("local")), "trixie", list(NAMES))


LOADS: list[tuple[str, str, float]] = []


def _load_window(
    cluster: Cluster, task: ProbeTask, url: str, duration_s: float, interval_s: float, timeout_s: float
) -> NodeLoad:
    """Stands in for the agent's one-window load: 40 requests, 2 of them timed out."""
    LOADS.append((task.node, url, duration_s))
    return NodeLoad(task.node, LoadReply(sent=40, failed=2, errors={"timed out": 2}, longest_gap_s=1.5))


def test_a_traffic_window_counts_the_load_and_the_held_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    held: list[dict[str, Any]] = [{"ok": True}, {"ok": False, "error": "reset", "broken_at_s": 2}]
    monkeypatch.setattr(monitor, "load_window", _load_window)
    monkeypatch.setattr(monitor, "agent", lambda cluster, task, args, timeout_s: held.pop(0))
    monkeypatch.setattr(monitor, "wait_global_probe", lambda *a: PROBES)
    mon = TrafficMonitor(Cluster(_inventory()), PROBES, "upgrade-web")
    mon.busy.add("node2")
    LOADS.clear()
    mon._window()
    mon._window()
    s = mon.stats
    # One idle node sends, for one window each time; the node being upgraded is left alone.
    assert LOADS == [("node1", "http://upgrade-web:8080/", 4)] * 2
    assert (s.windows, s.sent, s.failed, s.errors, s.longest_gap_s) == (2, 80, 4, {"timed out": 4}, 1.5)
    assert (s.connections, s.connections_broken, s.ended_by_drain) == (2, 1, 0)
    assert s.broken[0].startswith("node1->node3 at +") and "while upgrading node2: reset" in s.broken[0]


def test_a_connection_ended_by_a_drain_is_not_counted_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    mon = TrafficMonitor(Cluster(_inventory()), PROBES, "upgrade-web")

    def _hold(cluster: Cluster, task: ProbeTask, args: list[str], timeout_s: float) -> dict[str, Any]:
        mon.busy.add("node3")  # node3 started draining while the connection was held
        return {"ok": False, "error": "reset"}

    monkeypatch.setattr(monitor, "load_window", _load_window)
    monkeypatch.setattr(monitor, "agent", _hold)
    monkeypatch.setattr(monitor, "wait_global_probe", lambda *a: PROBES)
    mon._window()
    assert (mon.stats.connections, mon.stats.connections_broken, mon.stats.ended_by_drain) == (1, 0, 1)


def test_the_monitor_times_each_window_from_the_upgrades_start() -> None:
    from harness.probe.agent import LoadReply
    from harness.probe.traffic import NodeLoad, TrafficSummary
    from harness.upgrade.monitor import TrafficMonitor

    mon = TrafficMonitor.__new__(TrafficMonitor)  # counting only: no cluster, no thread
    mon.stats, mon.started = Traffic(window_s=4), 100.0
    mon._count_load(TrafficSummary("u", [NodeLoad("node1", LoadReply(sent=40, failed=3), 112.34)]))
    assert mon.stats.timeline == [[12.3, "node1", 37, 3]] and (mon.stats.sent, mon.stats.failed) == (40, 3)
