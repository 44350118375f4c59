"""Fault injection with recovery deadlines (marker ``disruptive``: run serially, last).

Every fault is undone in a ``finally`` (context managers in harness/faults.py);
each test then proves the cluster is whole again, and reports how long it took.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.doctor.report import run_doctor
from harness.errors import WaitTimeout
from harness.faults import block_port, partition, reboot, stopped_engine
from harness.probe.dns import service_name_problems
from harness.probe.image import image_ref
from harness.probe.matrix import run_matrix, wait_matrix_passes
from harness.probe.pairs import PairId
from harness.probe.recovery import wait_service_whole
from harness.probe.service import ProbeDeployment, wait_global_probe
from harness.retry import NotYet, eventually, transient_is_not_yet
from harness.swarm.bootstrap import wait_nodes_ready
from harness.swarm.networks import NetworkSpec
from harness.swarm.services import create_probe_service, running_task_ips, service_vip, wait_replicas
from suites.faults.checks import converged_problems, spec_version

pytestmark = [pytest.mark.disruptive, pytest.mark.xdist_group("faults")]

RECOVERY_DEADLINE_S = 120.0
# moby#53141 follows a 10-30 s disconnect; 15 s is past memberlist's suspicion of the node
# (NetworkDB then drops its entries) and short of the manager rescheduling everything.
DISCONNECT_S = 15.0
# Measured on the nspawn lab (3 nodes, Engine 20.10, 15 s cut): names right on every node
# again 16.1, 20.7 and 31.8 s after the reconnect. Most of it is the victim's tasks (its
# probe and its replica) being replaced once the manager sees the node back; 60 s is about
# twice the slowest, and far short of "never" (moby#53141).
DNS_HEAL_DEADLINE_S = 60.0
# Until a rebooted node answers over SSH again with its engine active in the swarm.
# Measured: an nspawn machine 4.4 s (systemd and dockerd again, the kernel is the host's).
# A UML or QEMU machine boots its kernel too; 180 s leaves a loaded UML lab room.
REBOOT_DEADLINE_S = 180.0


def _node_ids(cluster: Cluster) -> dict[str, str]:
    return {n.hostname: n.id for n in cluster.swarm_nodes()}


def _workers(cluster: Cluster) -> list[str]:
    names = [n.name for n in cluster.nodes if n.name != cluster.first_manager.name]
    if not names:
        pytest.fail("fault injection needs at least two nodes; this inventory has one")
    return names


def _wait_node_state(cluster: Cluster, via: str, node: str, state: str, timeout_s: float) -> float:
    started = time.monotonic()

    def _check() -> None:
        rows = {n.hostname: n for n in cluster.swarm_nodes(via)}
        seen = rows[node].state if node in rows else "absent"
        if seen != state:
            raise NotYet(f"{node} is {seen}")

    eventually(_check, timeout_s, f"{via} to see {node} {state}", interval_s=1)
    return time.monotonic() - started


def _service(cluster: Cluster, labels: dict[str, str], network: str) -> tuple[str, int]:
    name = f"fault-{secrets.token_hex(3)}"
    replicas = len(cluster.nodes)
    create_probe_service(
        cluster, name, network, labels, image_ref("v1"), replicas=replicas, endpoint_mode="dnsrr"
    )
    wait_replicas(cluster, name, network, replicas)
    return name, replicas


def _whole_service(cluster: Cluster, probes: ProbeDeployment, labels: dict[str, str]) -> tuple[ProbeDeployment, str, int]:
    """A service with a task per node on the probes' network, whole from every node: the
    state a fault is measured against."""
    svc, replicas = _service(cluster, labels, probes.network)
    wait_service_whole(cluster, probes, svc, replicas, 60)
    return probes, svc, replicas


def test_partitioned_node_recovers(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
    record_property: Callable[[str, object], None],
) -> None:
    """Cut one node off for at least 20 s; every service must resolve and answer again."""
    probes, svc, replicas = _whole_service(harness_cluster, global_probe(harness_networks["plain"].name), harness_labels)
    victim = _workers(harness_cluster)[-1]
    manager = harness_cluster.first_manager.name
    cut_at = time.monotonic()
    with partition(harness_cluster, victim):
        down_s = _wait_node_state(harness_cluster, manager, victim, "down", 60)
        record_property("node_marked_down_s", round(down_s, 1))

        def _held() -> None:
            if time.monotonic() - cut_at < 20:
                raise NotYet("partition held for less than 20 s")

        eventually(_held, 40, "the partition to last 20 s", interval_s=1)
    restored = time.monotonic()
    _wait_node_state(harness_cluster, manager, victim, "ready", RECOVERY_DEADLINE_S)
    wait_service_whole(harness_cluster, probes, svc, replicas, RECOVERY_DEADLINE_S)
    record_property("recovery_s", round(time.monotonic() - restored, 1))


def test_service_dns_heals_after_a_short_disconnect(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
    record_property: Callable[[str, object], None],
) -> None:
    """moby#53141: after a worker is cut off for 15 s and reconnected, a replicated service's
    name resolves to its VIP and ``tasks.<svc>`` to its running tasks from every node again,
    within DNS_HEAL_DEADLINE_S; an NXDOMAIN that never heals fails naming the node."""
    net = harness_networks["plain"].name
    probes = global_probe(net)
    svc = f"fault-dns-{secrets.token_hex(3)}"
    replicas = len(harness_cluster.nodes)
    create_probe_service(harness_cluster, svc, net, harness_labels, image_ref("v1"), replicas=replicas)
    wait_replicas(harness_cluster, svc, net, replicas)
    vip = service_vip(harness_cluster, svc, net)
    state: dict[str, list[str]] = {"problems": ["not looked up yet"]}

    def _names_right() -> None:
        tasks = running_task_ips(harness_cluster, svc, net)
        try:
            current = wait_global_probe(harness_cluster, probes.service, net, 5)
        except Exception as exc:
            state["problems"] = [f"probe tasks not all running: {str(exc).splitlines()[0][:300]}"]
            raise NotYet(state["problems"][0]) from None
        state["problems"] = service_name_problems(harness_cluster, current, svc, vip, tasks)
        if len(tasks) != replicas:
            state["problems"].insert(0, f"{len(tasks)} of {replicas} tasks of {svc} running")
        if state["problems"]:
            raise NotYet("; ".join(state["problems"]))

    eventually(_names_right, 60, f"{svc} to resolve on every node before the fault", interval_s=1)
    victim = _workers(harness_cluster)[-1]
    cut_at = time.monotonic()
    with partition(harness_cluster, victim):

        def _held() -> None:
            if time.monotonic() - cut_at < DISCONNECT_S:
                raise NotYet(f"disconnect held for less than {DISCONNECT_S:.0f} s")

        eventually(_held, DISCONNECT_S + 20, f"the disconnect to last {DISCONNECT_S:.0f} s", interval_s=1)
    restored = time.monotonic()
    record_property("disconnected_s", round(restored - cut_at, 1))
    try:
        eventually(_names_right, DNS_HEAL_DEADLINE_S, f"{svc} to resolve on every node again", interval_s=1)
    except WaitTimeout:
        raise AssertionError(
            f"{DNS_HEAL_DEADLINE_S:.0f} s after {victim} was reconnected (cut off for {DISCONNECT_S:.0f} s), "
            f"service names of {svc} (VIP {vip}) on {net} still do not resolve right: "
            + "; ".join(state["problems"])
            + " (moby#53141: NetworkDB lost the entries; see the dockerd journal of the named nodes "
            "in the failure bundle; restarting dockerd there re-syncs them)"
        ) from None
    record_property("dns_healed_s", round(time.monotonic() - restored, 1))


def test_rebooted_node_brings_back_its_tasks_and_overlay(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
    record_property: Callable[[str, object], None],
) -> None:
    """moby#38318: a worker rebooted (``systemctl reboot``) comes back Ready, runs its tasks
    again (its global probe task, the service's replicas), the service is whole from
    every node, and the overlay matrix passes for every pair, each within its deadline."""
    probes, svc, replicas = _whole_service(harness_cluster, global_probe(harness_networks["plain"].name), harness_labels)
    victim = _workers(harness_cluster)[-1]
    manager = harness_cluster.first_manager.name
    record_property("booted_s", round(reboot(harness_cluster, victim, REBOOT_DEADLINE_S), 1))
    back = time.monotonic()
    _wait_node_state(harness_cluster, manager, victim, "ready", RECOVERY_DEADLINE_S)
    wait_service_whole(harness_cluster, probes, svc, replicas, RECOVERY_DEADLINE_S)
    record_property("service_whole_s", round(time.monotonic() - back, 1))
    wait_matrix_passes(harness_cluster, global_probe(probes.network), RECOVERY_DEADLINE_S)
    record_property("recovery_s", round(time.monotonic() - back, 1))


def test_blocked_vxlan_pair_is_pinpointed(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_data_path_port: int | None,
) -> None:
    """VXLAN blocked between one pair: the matrix names exactly that pair, the doctor the port."""
    probes = global_probe(harness_networks["plain"].name)
    a, b = harness_cluster.first_manager.name, _workers(harness_cluster)[0]
    port = harness_data_path_port or 4789
    wait_matrix_passes(harness_cluster, probes)
    with block_port(harness_cluster, b, a, port, ("udp",)):
        result = run_matrix(harness_cluster, probes, retry_after_s=1)
        doctor = run_doctor(harness_cluster, data_path_port=port)
    assert sorted(result.failing_pairs()) == sorted([PairId(a, b), PairId(b, a)]), result.summary()
    assert [(p.src, p.dst, p.label) for p in doctor.blocked_ports()] == [(a, b, f"{port}/udp")]
    assert run_matrix(harness_cluster, probes).failing_pairs() == {}


def test_blocked_gossip_port_is_diagnosed(harness_cluster: Cluster) -> None:
    """7946 (gossip) blocked between one pair: the doctor names both protocols for that pair."""
    a, b = harness_cluster.first_manager.name, _workers(harness_cluster)[0]
    with block_port(harness_cluster, b, a, 7946, ("tcp", "udp")):
        doctor = run_doctor(harness_cluster)
    blocked = sorted((p.src, p.dst, p.label) for p in doctor.blocked_ports())
    assert blocked == [(a, b, "7946/tcp"), (a, b, "7946/udp")]
    assert run_doctor(harness_cluster).blocked_ports() == []


def test_stopped_engine_tasks_are_rescheduled(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
    record_property: Callable[[str, object], None],
) -> None:
    """dockerd stops on a worker: its tasks move, and DNS drops their old IPs everywhere else."""
    net = harness_networks["plain"].name
    probes = global_probe(net)
    svc, replicas = _service(harness_cluster, harness_labels, net)
    victim = _workers(harness_cluster)[-1]
    manager = harness_cluster.first_manager.name
    others = [n.name for n in harness_cluster.nodes if n.name != victim]
    with stopped_engine(harness_cluster, victim):
        started = time.monotonic()
        _wait_node_state(harness_cluster, manager, victim, "down", 90)
        wait_service_whole(harness_cluster, probes, svc, replicas, RECOVERY_DEADLINE_S, nodes=others)
        record_property("rescheduled_s", round(time.monotonic() - started, 1))
        tasks = harness_cluster.manager_docker().services.get(svc).tasks(filters={"desired-state": "running"})
        victim_id = _node_ids(harness_cluster)[victim]
        assert not [t for t in tasks if t["NodeID"] == victim_id and t["Status"]["State"] == "running"]
    _wait_node_state(harness_cluster, manager, victim, "ready", RECOVERY_DEADLINE_S)


def test_leader_loss_elects_a_new_leader(
    harness_cluster: Cluster,
    harness_labels: dict[str, str],
    harness_networks: dict[str, NetworkSpec],
    record_property: Callable[[str, object], None],
) -> None:
    """With 3+ managers, stopping the leader's engine elects another that accepts updates:
    a service created, scaled and moved to a new image through a surviving manager runs
    as each new spec says, on the nodes still up."""
    managers = [n.name for n in harness_cluster.inventory.managers]
    if len(managers) < 3:
        pytest.skip(f"leader election needs 3 managers; this cluster has {len(managers)} (use --managers 3)")
    leader = next(n.hostname for n in harness_cluster.swarm_nodes() if n.leader)
    survivor = next(m for m in managers if m != leader)
    with stopped_engine(harness_cluster, leader):
        started = time.monotonic()

        def _new_leader() -> str:
            # Mid-election the survivor's manager API answers "DeadlineExceeded" or
            # "no leader": that is the state being waited out, not a failure.
            with transient_is_not_yet(survivor):
                listed = harness_cluster.swarm_nodes(survivor)
            new = [n.hostname for n in listed if n.leader and n.hostname != leader]
            if not new:
                raise NotYet("no new leader yet")
            return str(new[0])

        new_leader = eventually(_new_leader, 60, "a new raft leader")
        record_property("election_s", round(time.monotonic() - started, 1))
        client = harness_cluster.docker(survivor)
        down = {n.id for n in harness_cluster.swarm_nodes(survivor) if n.hostname == leader}
        svc = client.services.create(
            image_ref("v1"),
            name=f"after-election-{secrets.token_hex(2)}",
            labels=harness_labels,
            networks=[harness_networks["plain"].name],
        )
        # Each change must be recorded by the new leader and carried out by the tasks.
        changes: list[tuple[Callable[[], object], int, str]] = [
            (lambda: svc.scale(2), 2, "v1"),
            (lambda: svc.update(image=image_ref("v2")), 2, "v2"),
        ]
        for change, replicas, version in changes:
            svc.reload()
            before = spec_version(svc.attrs)
            change()

            def _converged(replicas: int = replicas, version: str = version, before: int = before) -> None:
                with transient_is_not_yet(survivor):
                    current = client.services.get(svc.id)
                    tasks = current.tasks()
                problems = converged_problems(
                    current.attrs, tasks, replicas, image_ref(version), before, down
                )
                if problems:
                    raise NotYet("; ".join(problems))

            eventually(
                _converged,
                RECOVERY_DEADLINE_S,
                f"{svc.name} to run {replicas} tasks of {version} after the election",
                interval_s=1,
            )
        record_property("converged_s", round(time.monotonic() - started, 1))
        record_property("new_leader", new_leader)
    ids = _node_ids(harness_cluster)
    wait_nodes_ready(
        harness_cluster, {n.name: ids[n.name] for n in harness_cluster.nodes}, RECOVERY_DEADLINE_S
    )
