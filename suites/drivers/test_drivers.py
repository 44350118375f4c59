"""Isolation and every network driver users' guides describe: overlay, internal overlay,
none, host, user-defined and default bridge, swarm-scoped macvlan, and published ports.

Each isolation check has its sanity inverse in the same test (the target answers
from where it should), so "unreachable" can never be the result of a dead target.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

import docker.errors
import docker.types

from harness.cluster import Cluster
from harness.probe import containers
from harness.probe.agent import DnsReply, IfacesReply, TcpReply
from harness.probe.containers import label_flags
from harness.probe.image import image_ref
from harness.probe.service import TCP_PORT, ProbeTask, batch, not_serving, remove_service
from harness.retry import NotYet, eventually
from harness.swarm.bootstrap import swarm_address
from harness.swarm.networks import remove_swarm_network
from harness.swarm.services import task_errors
from suites.context import OverlayContext
from suites.drivers.checks import (
    bridge_dns_problem,
    host_network_problems,
    ingress_conflict_problem,
    none_network_problems,
    pair_dial_problems,
    taken_port_errors,
)
from suites.drivers.isolation import fresh_overlay, internal_overlay_problems, overlay_isolation_problems


def test_a_task_on_another_overlay_is_unreachable(plain_overlay: OverlayContext) -> None:
    with fresh_overlay(plain_overlay, "iso") as other:
        problems = overlay_isolation_problems(plain_overlay, other)
    assert not problems, "; ".join(problems)


def test_internal_overlay_has_no_route_out(plain_overlay: OverlayContext) -> None:
    """Tasks on an --internal overlay reach each other but nothing outside it, not even
    the nodes' own addresses; from a normal overlay the same addresses answer."""
    with fresh_overlay(plain_overlay, "int", internal=True) as internal:
        problems = internal_overlay_problems(plain_overlay, internal)
    assert not problems, "; ".join(problems)


def _ifaces(ctx: OverlayContext, node: str, network: str) -> IfacesReply:
    return IfacesReply.from_dict(containers.run_once(ctx.cluster, node, network, ctx.labels, ["ifaces"]))


def test_none_network_has_only_loopback(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    seen = {
        n.name: list(_ifaces(ctx, n.name, "none").interfaces) for n in ctx.cluster.nodes
    }
    wrong = none_network_problems(seen)
    assert not wrong, f"containers on the none network saw more than loopback: {wrong}"


def _links(cluster: Cluster, node: str) -> list[str]:
    # `ip -o link`, not sysfs: in some machine managers /sys/class/net shows the host's links.
    out = cluster.run(node, "ip -o link show").check().stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def test_host_network_shares_the_nodes_interfaces_and_ports(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    wrong = {}
    for node in ctx.cluster.nodes:
        # The links read before and after the container ran, so other checks' containers
        # and overlays coming and going in between cannot make a difference.
        before = _links(ctx.cluster, node.name)
        node_ns = ctx.cluster.run(node.name, "readlink /proc/self/ns/net").check().stdout.strip()
        hostname = ctx.cluster.run(node.name, "hostname").check().stdout.strip()
        seen = _ifaces(ctx, node.name, "host")
        after = _links(ctx.cluster, node.name)
        sshd = TcpReply.from_dict(
            containers.run_once(ctx.cluster, node.name, "host", ctx.labels, ["tcp", "127.0.0.1", "22"])
        )
        links = [link for link in before if link in after]
        problems = host_network_problems(seen, links, hostname, sshd, node_ns)
        if problems:
            wrong[node.name] = problems
    assert not wrong, f"host-network containers: {wrong}"


def test_user_bridge_resolves_names_and_default_bridge_does_not(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    wrong = {}
    for node in ctx.cluster.nodes:
        bridge = ctx.name("hbr")
        # A bridge is node-local: it is created on the node itself.
        ctx.cluster.run(
            node.name, f"docker network create -d bridge {label_flags(ctx.labels)} {bridge}"
        ).check()
        named, unnamed = ctx.name("srv"), ctx.name("dft")
        try:
            ip = containers.start(ctx.cluster, node.name, named, bridge, ctx.labels)
            containers.start(ctx.cluster, node.name, unnamed, "bridge", ctx.labels)
            on_user = DnsReply.from_dict(
                containers.run_once(ctx.cluster, node.name, bridge, ctx.labels, ["dns", named])
            )
            on_default = DnsReply.from_dict(
                containers.run_once(ctx.cluster, node.name, "bridge", ctx.labels, ["dns", unnamed])
            )
        finally:
            containers.remove(ctx.cluster, node.name, named, unnamed)
            ctx.cluster.run(node.name, f"docker network rm {bridge}")
        if problem := bridge_dns_problem(bridge, named, ip, on_user, unnamed, on_default):
            wrong[node.name] = problem
    assert not wrong, wrong


def _node_lan(cluster: Cluster, name: str, address: str) -> tuple[str, ipaddress.IPv4Interface]:
    """The interface holding the node's swarm address, and that address with its prefix."""
    for line in cluster.run(name, "ip -o -4 addr show").check().stdout.splitlines():
        fields = line.split()
        if fields[3].split("/")[0] == address:
            return fields[1], ipaddress.IPv4Interface(fields[3])
    raise AssertionError(f"{name}: no interface holds {address}")


def _macvlan_ranges(subnet: ipaddress.IPv4Network, count: int) -> list[ipaddress.IPv4Network]:
    """Per node, a /28 from the top half of the LAN (the local lab puts nodes at .11 and up)."""
    top = list(subnet.subnets(new_prefix=subnet.prefixlen + 1))[-1]
    return list(top.subnets(new_prefix=28))[:count]


def test_swarm_macvlan_reaches_across_hosts(plain_overlay: OverlayContext) -> None:
    """A config-only network per node plus a swarm-scoped macvlan network built from it:
    tasks on different hosts reach each other directly over the LAN."""
    ctx = plain_overlay
    nodes = ctx.cluster.nodes
    config, name = ctx.name("hmvcfg"), ctx.name("hmv")
    lans = {n.name: _node_lan(ctx.cluster, n.name, swarm_address(n)) for n in nodes}
    subnet = next(iter(lans.values()))[1].network
    labels = label_flags(ctx.labels)
    for n, ip_range in zip(nodes, _macvlan_ranges(subnet, len(nodes)), strict=False):
        parent = lans[n.name][0]
        ctx.cluster.run(
            n.name,
            f"docker network create --config-only {labels} --subnet {subnet} --ip-range {ip_range} "
            f"-o parent={parent} {config}",
        ).check()
    client = ctx.cluster.manager_docker()
    svc = ""
    try:
        # Docker refuses labels on a network built from a config-only one; removed below.
        # The API client has no --config-from, so the manager's CLI creates it.
        ctx.cluster.run(
            ctx.cluster.first_manager,
            f"docker network create -d macvlan --scope swarm --attachable --config-from {config} {name}",
        ).check()
        svc = ctx.name("mvs")
        client.services.create(
            image_ref("v1"),
            name=svc,
            mode=docker.types.ServiceMode("global"),
            networks=[name],
            labels=ctx.labels,
            container_labels=ctx.labels,
        )
        tasks = _macvlan_tasks(ctx.cluster, svc, name)
        results = {}
        for node, task in sorted(tasks.items()):
            ops = [
                {
                    "id": f"{peer}:{t.address}",
                    "op": "tcp",
                    "host": t.address,
                    "port": TCP_PORT,
                    "timeout_s": 3,
                }
                for peer, t in tasks.items()
                if peer != node
            ]
            results.update({f"{node}->{r.id}": r for r in batch(ctx.cluster, task, ops)})
        wrong = pair_dial_problems({n: t.address for n, t in tasks.items()}, results)
        assert not wrong, f"macvlan {name} on {subnet}: {wrong}"
    finally:
        if svc:
            remove_service(ctx.cluster, svc)
        _remove_when_free(ctx.cluster, name)
        # The config-only networks carry the test's labels; the label cleanup removes them.


def _macvlan_tasks(cluster: Cluster, svc: str, network: str) -> dict[str, ProbeTask]:
    """Per node, the service's task; macvlan addresses come from each node's own IPAM,
    so they are read from the container, not from the manager's task list."""
    fmt = '{{.Id}} {{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'

    def _check() -> dict[str, ProbeTask]:
        out = {}
        for n in cluster.nodes:
            res = cluster.run(
                n.name,
                f"docker ps -q --filter label=com.docker.swarm.service.name={svc} | head -1 | "
                f"xargs -r docker inspect --format '{fmt}'",
            )
            fields = res.stdout.split()
            if len(fields) == 2 and fields[1]:
                out[n.name] = ProbeTask(n.name, fields[0], fields[1])
        missing = [n.name for n in cluster.nodes if n.name not in out]
        if missing:
            raise NotYet(
                f"no running {svc} task with a macvlan address on {', '.join(missing)}; errors {task_errors(cluster, svc)[:2]}"
            )
        # A running container's agent may not have bound its ports yet (see not_serving).
        if silent := not_serving(cluster, list(out.values())):
            raise NotYet(f"{svc} tasks running but not serving yet: {silent}")
        return out

    return eventually(_check, 90, f"{svc} to run on every node", interval_s=1)


def _remove_when_free(cluster: Cluster, network: str) -> None:
    """Remove ``network`` and wait until the manager no longer lists it.

    The manager keeps listing (and inspecting) a removed network until its own endpoints
    are torn down; the test's label cleanup that runs next would see it there and send a
    second DELETE, which dockerd answers with a logged 500 "network ... not found".
    """
    client = cluster.manager_docker()
    removed = False

    def _gone() -> None:
        nonlocal removed
        if not removed:
            why = remove_swarm_network(client, network)
            if why is not None:
                raise NotYet(why)
            removed = True
        if any(n.name == network for n in client.networks.list(names=[network])):
            raise NotYet(f"network {network} removed but still listed by the manager")

    eventually(_gone, 60, f"network {network} to be removed", interval_s=1)


def test_taken_port_is_reported_clearly(plain_overlay: OverlayContext) -> None:
    """A second service on a taken ingress port is refused by the manager; a host-mode task on
    a node where a container holds the port fails with the engine's 'port is already allocated'."""
    ctx = plain_overlay
    client = ctx.cluster.manager_docker()
    port = 31000 + secrets.randbelow(500)

    def _published(name: str, mode: str, port: int, node: str | None = None) -> Any:
        return client.services.create(
            image_ref("v1"),
            name=name,
            labels=ctx.labels,
            container_labels=ctx.labels,
            constraints=[f"node.hostname=={node}"] if node else None,
            endpoint_spec=docker.types.EndpointSpec(ports={port: (8080, "tcp", mode)}),
        )

    _published(ctx.name("port-a"), "ingress", port)
    explanation = None
    try:
        _published(ctx.name("port-b"), "ingress", port)
    except docker.errors.APIError as refused:
        explanation = str(refused.explanation)
    problem = ingress_conflict_problem(port, explanation)
    assert problem is None, problem

    node = ctx.cluster.nodes[-1].name
    host_port = port + 500
    holder = ctx.name("holder")
    ctx.cluster.run(
        node, f"docker run -d --name {holder} {label_flags(ctx.labels)} -p {host_port}:8080 {image_ref('v1')}"
    ).check()
    svc = ctx.name("port-host")
    _published(svc, "host", host_port, node)

    def _failed() -> str:
        errors = task_errors(ctx.cluster, svc)
        hit = taken_port_errors(errors, host_port)
        if not hit:
            raise NotYet(f"no task of {svc} failed on the taken port {host_port} yet (errors: {errors[:2]})")
        return hit[0]

    eventually(_failed, 60, f"{svc} to report the taken port {host_port} on {node}")
