"""The reboot fault's wait on a recorded node: what counts as "booted again".

A node that never went down, one whose SSH is gone, and one that is up with its
engine out of the swarm must all keep the wait going; a node back with a new boot
identity and an active engine ends it. A node that never gets there fails naming
itself and the last state seen (here: an engine that did not start at boot).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import TransportError, WaitTimeout
from harness.faults import BOOT_IDENTITY_COMMAND, REBOOT_COMMAND, reboot
from harness.transport.result import Result

BEFORE = "6f1c9a0e-0000-4000-8000-000000000001\n812345"
AFTER = "6f1c9a0e-0000-4000-8000-000000000001\n934567"  # the lab host's kernel: only PID 1 changed


class FakeHost:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class FakeCluster:
    """Answers each command from a script of (identity, swarm state) per look at the node."""

    def __init__(self, looks: list[tuple[str, str] | Exception]) -> None:
        self.looks: Iterator[tuple[str, str] | Exception] = iter(looks)
        self.current: tuple[str, str] | Exception = (BEFORE, "active")
        self.commands: list[str] = []
        self.hosts = {"node3": FakeHost()}
        self.forgotten = 0

    def host(self, node: str) -> FakeHost:
        return self.hosts[node]

    def forget_docker(self, node: str) -> None:
        self.forgotten += 1

    def run(self, node: str, command: str, timeout_s: float = 120.0) -> Result:
        self.commands.append(command)
        if command == BOOT_IDENTITY_COMMAND and len(self.commands) > 2:
            self.current = next(self.looks, self.current)
        if isinstance(self.current, Exception):
            raise self.current
        identity, swarm = self.current
        out = identity if command == BOOT_IDENTITY_COMMAND else swarm if "docker info" in command else ""
        return Result(node, command, 0, out + "\n", "", 0.01)


def _reboot(cluster: FakeCluster, timeout_s: float) -> float:
    fake: Any = cluster
    return reboot(fake, "node3", timeout_s, interval_s=0.05)


def test_the_wait_ends_when_the_node_is_back_with_a_new_identity_and_an_active_engine() -> None:
    cluster = FakeCluster(
        [
            (BEFORE, "active"),  # the reboot has not begun
            TransportError("cannot reach node3 (198.18.8.13): timed out", ""),
            (AFTER, "inactive"),  # booted, the engine not rejoined yet
            (AFTER, "active"),
        ]
    )
    took = _reboot(cluster, 30)
    assert took > 0
    assert cluster.commands[1] == REBOOT_COMMAND
    assert cluster.hosts["node3"].closed >= 2  # after the reboot command and after the SSH error
    assert cluster.forgotten == 2  # the dead client, then the one made while it booted


def test_a_node_whose_engine_does_not_start_at_boot_fails_naming_it_and_its_state() -> None:
    cluster = FakeCluster([(AFTER, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock")])
    with pytest.raises(WaitTimeout) as caught:
        _reboot(cluster, 0.5)
    message = caught.value.message
    assert "node3 to boot again with its engine in the swarm" in message
    assert "node3 is up, its engine's swarm state: Cannot connect to the Docker daemon" in message


def test_a_node_that_never_goes_down_is_not_taken_for_rebooted() -> None:
    cluster = FakeCluster([(BEFORE, "active")])
    with pytest.raises(WaitTimeout) as caught:
        _reboot(cluster, 0.5)
    assert "node3 has not gone down yet" in caught.value.message
