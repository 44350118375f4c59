"""A probe task counts as deployed only once its agent answers: the readiness gate."""

from __future__ import annotations

from dataclasses import dataclass

from harness.probe.service import ProbeTask, not_serving
from harness.transport.result import Result


@dataclass
class _Host:
    name: str
    answers: bool

    def run(self, command: str, timeout_s: float = 0) -> Result:
        assert command.startswith("docker exec ") and command.endswith("python3 /agent.py health")
        if self.answers:
            return Result(self.name, command, 0, "", "", 0.1)
        return Result(self.name, command, 1, "", "unhealthy: [Errno 111] Connection refused", 0.1)


class _Cluster:
    def __init__(self, answering: dict[str, bool]) -> None:
        self.hosts = {n: _Host(n, ok) for n, ok in answering.items()}

    def host(self, node: str) -> _Host:
        return self.hosts[node]


def test_a_task_whose_agent_refuses_is_named_with_the_error() -> None:
    cluster = _Cluster({"node1": True, "node2": False, "node3": True})
    tasks = [ProbeTask(n, f"c{n}", "10.0.0.1") for n in ("node1", "node2", "node3")]
    assert not_serving(cluster, tasks) == {"node2": "unhealthy: [Errno 111] Connection refused"}  # type: ignore[arg-type]


def test_all_serving_is_empty() -> None:
    cluster = _Cluster({"node1": True, "node2": True})
    tasks = [ProbeTask(n, f"c{n}", "10.0.0.1") for n in ("node1", "node2")]
    assert not_serving(cluster, tasks) == {}  # type: ignore[arg-type]


def test_every_task_of_a_node_is_asked_and_a_silent_one_named_by_its_container() -> None:
    class _TwoOnNode2(_Host):
        def run(self, command: str, timeout_s: float = 0) -> Result:
            ok = "c-late" not in command
            return Result(self.name, command, 0 if ok else 1, "", "" if ok else "unhealthy: refused", 0.1)

    cluster = _Cluster({"node1": True})
    cluster.hosts["node2"] = _TwoOnNode2("node2", True)
    tasks = [ProbeTask("node1", "c1", ""), ProbeTask("node2", "c-early", ""), ProbeTask("node2", "c-late", "")]
    assert not_serving(cluster, tasks) == {"node2 task c-late": "unhealthy: refused"}  # type: ignore[arg-type]
