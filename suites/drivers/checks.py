"""The drivers suite's verdicts on what each node's containers saw, kept apart from the
tests so that each is shown, on synthetic observations, to catch the broken case it
names: a check that cannot fail would pass every driver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.probe.agent import BatchReply, DnsReply, IfacesReply, TcpReply

ALLOCATED = "port is already allocated"
IN_USE = "already in use"


def none_network_problems(seen: dict[str, list[str]]) -> dict[str, list[str]]:
    """Nodes whose container on the ``none`` network saw anything but loopback."""
    return {node: ifaces for node, ifaces in sorted(seen.items()) if ifaces != ["lo"]}


def stable_links(links: list[str]) -> list[str]:
    """Links that do not come and go with other tests' containers and networks.

    veth pairs appear with every container; ``vx-*`` VXLAN devices with every overlay
    another check creates or removes, between any two reads.
    """
    return sorted(link for link in links if not link.startswith(("veth", "vx-")))


def host_network_problems(
    seen: IfacesReply, links: list[str], hostname: str, sshd: TcpReply, node_netns: str | None = None
) -> list[str]:
    """A host-network container shares the node's network namespace, links, hostname and
    loopback ports: ``seen`` is its ``ifaces`` report, ``links`` the node's links present
    both before and after the container ran (so a link another check adds or removes in
    between cannot count), ``node_netns`` the node's own namespace identity, and ``sshd``
    its dial of the node's sshd on 127.0.0.1:22."""
    problems = []
    if node_netns is not None and seen.netns != node_netns:
        problems.append(f"network namespace {seen.netns}, node's is {node_netns}")
    ifaces = list(seen.interfaces)
    if not set(stable_links(links)) <= set(ifaces):
        problems.append(f"interfaces {ifaces}, node has {sorted(links)}")
    if seen.hostname != hostname:
        problems.append(f"hostname {seen.hostname!r}, node is {hostname!r}")
    if not sshd.ok:
        problems.append(f"node's sshd on 127.0.0.1:22 not reachable: {sshd.error}")
    return problems


def bridge_dns_problem(
    bridge: str, named: str, ip: str, on_user: DnsReply, unnamed: str, on_default: DnsReply
) -> str | None:
    """A user-defined bridge resolves its container ``named`` to exactly ``ip`` (the
    sanity inverse: the resolver answers there), and the default bridge does not
    resolve ``unnamed`` at all."""
    if list(on_user.addresses) != [ip]:
        return f"{named} on {bridge} resolved to {list(on_user.addresses)}, want [{ip}]"
    if on_default.ok or on_default.addresses:
        return f"{unnamed} on the default bridge resolved to {list(on_default.addresses)}"
    return None


def pair_dial_problems(addresses: dict[str, str], results: Mapping[str, BatchReply]) -> dict[str, str]:
    """Every node's task reached every other node's task: ``addresses`` are the tasks'
    addresses by node, ``results`` the dials keyed ``"src->dst:address"``. A pair that was
    never dialed is a problem too, so a lost node cannot pass as "no failures"."""
    wrong = {}
    if len(addresses) < 2:
        return {"nodes": f"tasks on {sorted(addresses)} only: a cross-host check needs two or more"}
    for src in sorted(addresses):
        for dst, address in sorted(addresses.items()):
            if dst == src:
                continue
            key = f"{src}->{dst}:{address}"
            res = results.get(key)
            if res is None:
                wrong[key] = "not dialed"
            elif not res.ok:
                wrong[key] = str(res.error)
    return wrong


def ingress_conflict_problem(port: int, explanation: str | None) -> str | None:
    """A second service asking for a taken ingress port is refused, naming the port.
    ``explanation`` is the manager's refusal, None if it accepted the service."""
    if explanation is None:
        return f"a second service on ingress port {port} was accepted"
    if not re.search(rf"(?<!\d){port}(?!\d)", explanation) or IN_USE not in explanation:
        return f"the refusal does not say port {port} is {IN_USE}: {explanation!r}"
    return None


def taken_port_errors(errors: list[str], port: int) -> list[str]:
    """Task errors that say ``port`` itself (not a port it is a prefix of) was already
    allocated on the node."""
    number = re.compile(rf"(?<!\d){port}(?!\d)")
    return [e for e in errors if ALLOCATED in e and number.search(e)]
