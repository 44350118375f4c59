"""Fault injection on cluster nodes, always undone.

Each fault is a context manager whose exit removes exactly what it added
(iptables rules carry a unique comment), so a failing check never leaves a
partitioned or stopped node behind. Partitions use iptables DROP, since the lab
kernel has no netem. A reboot undoes itself: ``reboot`` returns once the node is back.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.cluster import Cluster
from harness.errors import HarnessError
from harness.inventory.schema import Node
from harness.retry import NotYet, eventually
from harness.swarm.bootstrap import swarm_address

log = logging.getLogger(__name__)


def _rules_script(rules: list[str], action: str) -> str:
    return " && ".join(f"iptables -w {action} {r}" for r in rules)


@contextmanager
def iptables_rules(cluster: Cluster, node: str, rules: list[str]) -> Iterator[None]:
    """Insert ``rules`` (``CHAIN match... -j DROP``) on ``node``; delete them on exit."""
    tag = f"swarm-harness-fault-{secrets.token_hex(3)}"
    tagged = [f"{r} -m comment --comment {tag}" for r in rules]
    cluster.run(node, _rules_script(tagged, "-I"), timeout_s=30).check()
    log.info("fault on %s: %d iptables rules (%s)", node, len(rules), tag)
    try:
        yield
    finally:
        script = (
            f"for chain in INPUT OUTPUT; do iptables -w -S $chain | grep -- '{tag}' | sed 's/^-A /-D /' | "
            "while read -r rule; do eval iptables -w $rule; done; done"
        )
        cluster.run(node, script, timeout_s=30).check(hint=f"remove rules tagged {tag} on {node} by hand")
        log.info("fault on %s removed", node)


def _peers(cluster: Cluster, node: Node) -> list[str]:
    return [swarm_address(n) for n in cluster.nodes if n.name != node.name]


@contextmanager
def partition(cluster: Cluster, node: str) -> Iterator[None]:
    """Cut ``node`` off from every other node, both ways (its SSH from the harness stays up)."""
    target = cluster.inventory.node(node)
    rules = []
    for peer in _peers(cluster, target):
        rules += [f"INPUT -s {peer} -j DROP", f"OUTPUT -d {peer} -j DROP"]
    with iptables_rules(cluster, node, rules):
        yield


@contextmanager
def block_port(
    cluster: Cluster, at: str, from_node: str, port: int, protos: tuple[str, ...]
) -> Iterator[None]:
    """Drop ``port`` arriving at ``at`` from ``from_node``."""
    src = swarm_address(cluster.inventory.node(from_node))
    rules = [f"INPUT -s {src} -p {p} --dport {port} -j DROP" for p in protos]
    with iptables_rules(cluster, at, rules):
        yield


@contextmanager
def stopped_engine(cluster: Cluster, node: str) -> Iterator[None]:
    """Stop dockerd (and its socket) on ``node``; start it again on exit."""
    cluster.run(node, "systemctl stop docker.socket docker.service", timeout_s=120).check()
    log.info("fault: dockerd stopped on %s", node)
    try:
        yield
    finally:
        cluster.forget_docker(node)
        cluster.run(node, "systemctl start docker.service", timeout_s=120).check(
            hint=f"start dockerd on {node} by hand: systemctl start docker"
        )
        log.info("fault: dockerd started again on %s", node)


@contextmanager
def slowed_task(cluster: Cluster, node: str, container_id: str, address: str, rate: str = "20mbit") -> Iterator[None]:
    """Cap what a container sends from the interface holding ``address`` (a task's overlay
    address) with a token bucket (tbf: the lab kernel has no netem); removed on exit.

    Entered from the node (``nsenter`` into the container's network namespace), since a
    swarm task has no NET_ADMIN of its own.
    """
    pid = cluster.run(node, f"docker inspect -f '{{{{.State.Pid}}}}' {container_id}", timeout_s=30).check()
    netns = f"nsenter -t {pid.stdout.strip()} -n"
    dev = cluster.run(
        node, f"{netns} ip -o -4 addr show | awk '$4 ~ /^{address}\\// {{print $2}}'", timeout_s=30
    ).check()
    device = dev.stdout.strip().split("@")[0]
    if not device:
        raise HarnessError(
            f"no interface with {address} in container {container_id[:12]} on {node}",
            f"run 'docker inspect {container_id[:12]}' on {node}: is it attached to the network?",
        )
    cluster.run(node, f"{netns} tc qdisc add dev {device} root tbf rate {rate} burst 32kbit latency 400ms").check()
    log.info("fault on %s: %s of %s capped at %s", node, device, container_id[:12], rate)
    try:
        yield
    finally:
        # A container that is gone took its namespace and the qdisc with it.
        running = cluster.run(node, f"docker inspect -f '{{{{.State.Running}}}}' {container_id}", timeout_s=30)
        if running.ok and running.stdout.strip() == "true":
            cluster.run(node, f"{netns} tc qdisc del dev {device} root", timeout_s=30).check(
                hint=f"remove the tbf qdisc of {device} in container {container_id[:12]} on {node} by hand"
            )
        log.info("fault on %s removed", node)


# Detached, and a second late, so the SSH command returns before sshd goes down with the node.
REBOOT_COMMAND = "nohup sh -c 'sleep 1; systemctl reboot' >/dev/null 2>&1 &"
# The kernel's boot id changes when a VM or a cloud host reboots; a container machine shares
# the lab host's kernel, and there only PID 1's start time (field 22 of /proc/1/stat) does.
BOOT_IDENTITY_COMMAND = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"


def boot_identity(cluster: Cluster, node: str) -> str:
    res = cluster.run(node, BOOT_IDENTITY_COMMAND, timeout_s=20).check()
    return " ".join(res.stdout.split())


def reboot(cluster: Cluster, node: str, timeout_s: float, interval_s: float = 2.0) -> float:
    """``systemctl reboot`` on ``node``; returns the seconds until it has booted again (a new
    boot identity) with its engine active in the swarm. The node's SSH connection and
    Docker client are dropped: both died with it."""
    before = boot_identity(cluster, node)
    cluster.run(node, REBOOT_COMMAND, timeout_s=30).check()
    started = time.monotonic()
    log.info("fault: %s rebooting", node)
    cluster.forget_docker(node)
    cluster.host(node).close()

    def _back() -> None:
        try:
            now = boot_identity(cluster, node)
            swarm = cluster.run(node, "docker info --format '{{.Swarm.LocalNodeState}}'", timeout_s=20)
        except HarnessError as exc:
            cluster.host(node).close()
            raise NotYet(f"{node} does not answer yet: {exc.message}") from None
        if now == before:
            raise NotYet(f"{node} has not gone down yet")
        if not swarm.ok or swarm.stdout.strip() != "active":
            raise NotYet(f"{node} is up, its engine's swarm state: {(swarm.stdout or swarm.stderr).strip()[:200]}")

    eventually(
        _back,
        timeout_s,
        f"{node} to boot again with its engine in the swarm",
        interval_s=interval_s,
        hint=f"see {node}'s console log (lab: the machine directory's console.log) and its dockerd journal",
    )
    cluster.forget_docker(node)
    took = time.monotonic() - started
    log.info("fault: %s back after %.1f s", node, took)
    return took
