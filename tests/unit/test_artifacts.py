"""The failure bundle's task table is built from list calls only (no per-service lookup)."""

from __future__ import annotations

from harness.artifacts import service_tasks_text

SERVICES = [{"ID": "s1", "Spec": {"Name": "web"}}]
NODES = [
    {"ID": "n1", "Description": {"Hostname": "node1"}},
    {"ID": "n2", "Description": {"Hostname": "node2"}},
]
TASKS = [
    {
        "ID": "t2",
        "ServiceID": "s1",
        "Slot": 2,
        "NodeID": "n2",
        "DesiredState": "running",
        "Status": {"State": "running", "Timestamp": "2026-12-06T22:18:57Z"},
        "Spec": {"ContainerSpec": {"Image": "swarm-harness/probe:v1"}},
    },
    {
        "ID": "t9",
        "ServiceID": "gone",
        "Slot": 1,
        "NodeID": "n1",
        "DesiredState": "shutdown",
        "Status": {"State": "failed", "Err": "task: non-zero exit (1)"},
    },
]


def test_tasks_are_named_by_service_and_node_and_a_removed_service_says_so() -> None:
    lines = service_tasks_text(SERVICES, TASKS, NODES).splitlines()
    assert lines[0].startswith("SERVICE  SLOT  TASK  NODE")
    assert lines[1].startswith(
        "web  2  t2  node2  running  running  2026-12-06T22:18:57Z  swarm-harness/probe:v1  -"
    )
    assert lines[2] == "(removed) gone  1  t9  node1  shutdown  failed  -  -  task: non-zero exit (1)"
