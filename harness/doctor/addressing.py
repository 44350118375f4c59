"""Addresses that must not collide: the nodes' own routes against the swarm's overlay
subnets and address pool, and each node's swarm address against the ones it is known by.

- A host route that overlaps an overlay's subnet (moby#50011: the default address pool
  handed out the underlay's own range) makes a task on that overlay send traffic meant
  for those hosts into the overlay instead: the hosts are unreachable from the tasks,
  while everything inside the overlay looks fine. A route that overlaps only the pool
  is the same fault waiting for the next overlay created.
- A node whose swarm address (``Status.Addr``, the address it advertised when it joined)
  is neither of the addresses the inventory knows it by joined on another interface
  (moby#53004, #47389 on multi-NIC hosts): gossip and the control plane go there, and
  what the harness measures on the known address says nothing about it.

The routes come from each node (``ip -4 -o route show``), the subnets, pool and node
addresses from a manager's API; before a swarm exists there is nothing to compare.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROUTES_COMMAND = "ip -4 -o route show"


@dataclass(frozen=True)
class Route:
    prefix: str  # e.g. "198.18.0.0/24"
    device: str
    line: str  # as ``ip route`` printed it


@dataclass(frozen=True)
class SwarmAddresses:
    """What a manager says of the swarm's addressing."""

    pools: tuple[str, ...]  # DefaultAddrPool
    overlays: Mapping[str, tuple[str, ...]]  # overlay network name -> its subnets
    node_addrs: Mapping[str, str]  # hostname -> Status.Addr


def parse_routes(stdout: str) -> list[Route]:
    """The routes with a destination prefix; ``default`` overlaps everything by design."""
    out = []
    for line in stdout.splitlines():
        words = line.split()
        if not words or words[0] in ("default", "unreachable", "blackhole", "prohibit", "throw"):
            continue
        try:
            prefix = str(ipaddress.ip_network(words[0], strict=False))
        except ValueError:
            continue
        device = words[words.index("dev") + 1] if "dev" in words[:-1] else "?"
        out.append(Route(prefix, device, " ".join(words)))
    return out


def swarm_addresses(swarm_attrs: Mapping[str, Any], networks: list[Any], nodes: list[Any]) -> SwarmAddresses:
    """From the SDK's raw attrs: ``client.swarm.attrs``, the overlay networks' and the nodes'."""
    overlays = {
        str(n.get("Name", "")): tuple(
            str(c["Subnet"]) for c in ((n.get("IPAM") or {}).get("Config") or []) if c.get("Subnet")
        )
        for n in networks
        if n.get("Driver") == "overlay"
    }
    addrs = {}
    for n in nodes:
        host = str((n.get("Description") or {}).get("Hostname", ""))
        addr = str((n.get("Status") or {}).get("Addr", ""))
        if addr in ("", "0.0.0.0"):  # some engines report a manager so: its raft address says
            addr = str((n.get("ManagerStatus") or {}).get("Addr", "")).rsplit(":", 1)[0]
        if host and addr:
            addrs[host] = addr
    return SwarmAddresses(tuple(str(p) for p in swarm_attrs.get("DefaultAddrPool") or ()), overlays, addrs)


def _overlaps(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except (ValueError, TypeError):
        return False


def route_findings(routes: Mapping[str, list[Route]], swarm: SwarmAddresses) -> list[str]:
    out = []
    for node, node_routes in sorted(routes.items()):
        for r in node_routes:
            hit = [
                (name, s)
                for name, subnets in sorted(swarm.overlays.items())
                for s in subnets
                if _overlaps(r.prefix, s)
            ]
            if hit:
                nets = ", ".join(f"{name} ({s})" for name, s in hit)
                out.append(
                    f"route {r.prefix} dev {r.device} on {node} overlaps overlay {nets}: tasks on that "
                    "overlay cannot reach the hosts behind the route (moby#50011); give the swarm a "
                    "--default-addr-pool clear of the nodes' networks, or move the route's network"
                )
                continue
            pools = [p for p in swarm.pools if _overlaps(r.prefix, p)]
            if pools:
                out.append(
                    f"route {r.prefix} dev {r.device} on {node} overlaps the swarm's address pool "
                    f"{', '.join(pools)}: the next overlay may be given that range (moby#50011); init the "
                    "swarm with a --default-addr-pool clear of the nodes' networks"
                )
    return out


def address_findings(known: Mapping[str, tuple[str, ...]], swarm: SwarmAddresses) -> list[str]:
    """``known``: node -> the addresses the inventory gives it (address, data-path address)."""
    out = []
    for node, addresses in sorted(known.items()):
        got = swarm.node_addrs.get(node)
        if got is not None and got not in addresses:
            out.append(
                f"{node} joined the swarm as {got}, which is not an address the inventory knows it by "
                f"({', '.join(addresses)}): its gossip and control traffic use another interface than "
                "the one measured (moby#53004, #47389); rejoin it with --advertise-addr and "
                "--data-path-addr set to its data-path address"
            )
    return out
