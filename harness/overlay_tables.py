"""A node's VXLAN forwarding and neighbour tables for one overlay, and what is wrong with them.

Docker programs, in each overlay's namespace on every node, one permanent FDB entry
(remote task MAC -> the remote node's VTEP) and one permanent neighbour entry
(remote task IP -> MAC) per remote endpoint, from what NetworkDB gossips. When one
of them is lost (moby#52661: the permanent half of a live endpoint's FDB entry
vanished) or outlives its endpoint (moby#50232: leaked entries after 28.2), traffic
to that one peer is blackholed while DNS and every other pair keep working, so no
reachability summary points at it. This module parses the real ``ip -d link``,
``bridge fdb show`` and ``ip neigh`` output into typed records and compares them with
the endpoints the network really has; reading them from a node is
``harness.probe.fdb``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# bridge fdb show: keywords followed by a value; every other word is a flag.
_FDB_VALUED = frozenset(
    {"dev", "dst", "master", "link-netnsid", "vlan", "port", "vni", "via", "src_vni", "nhid"}
)
_LINK_HEAD = re.compile(r"^\d+:\s+([^:@\s]+)(?:@\S+)?:\s")
_VXLAN = re.compile(r"^\s+vxlan id (\d+)\b(.*)$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

MISSING_FDB = "missing-fdb"  # no forwarding entry for a remote endpoint: its frames flood or drop
NOT_PERMANENT = "not-permanent"  # an entry docker programs permanent is only learned (ages out)
WRONG_VTEP = "wrong-vtep"  # the entry sends the endpoint's frames to another node's VTEP
MISSING_NEIGH = "missing-neigh"  # no neighbour entry: ARP for the peer goes unanswered (proxy mode)
WRONG_MAC = "wrong-mac"  # the neighbour entry resolves the IP to a MAC that is not the endpoint's
STALE_FDB = "stale-fdb"  # a forwarding entry for an endpoint the network no longer has
STALE_NEIGH = "stale-neigh"  # a neighbour entry for an address no endpoint holds
NO_DEVICE = "no-vxlan-device"  # the overlay's namespace or its VXLAN device is absent
NO_ENDPOINT = "no-endpoint"  # docker network inspect does not list a probe task, so its MAC is unknown


@dataclass(frozen=True)
class FdbEntry:
    """One line of ``bridge fdb show``."""

    mac: str
    dev: str
    dst: str | None = None  # the remote VTEP (only on VXLAN device entries)
    master: str | None = None
    flags: tuple[str, ...] = ()  # self, permanent, static, extern_learn, ...

    @property
    def permanent(self) -> bool:
        return "permanent" in self.flags or "static" in self.flags


@dataclass(frozen=True)
class NeighEntry:
    """One line of ``ip neigh``."""

    ip: str
    dev: str
    mac: str | None
    states: tuple[str, ...]  # PERMANENT, REACHABLE, STALE, FAILED, ...

    @property
    def permanent(self) -> bool:
        return "PERMANENT" in self.states


@dataclass(frozen=True)
class VxlanLink:
    """A VXLAN device from ``ip -d link``: its name and VNI."""

    name: str
    vni: int
    dstport: int | None


@dataclass(frozen=True)
class Endpoint:
    """An endpoint of the network (a task or the network's load-balancer endpoint) and its node."""

    node: str
    name: str
    ip: str
    mac: str


@dataclass(frozen=True)
class OverlayTables:
    """What one node's namespace for one overlay holds."""

    node: str
    network: str
    namespace: str  # path under /var/run/docker/netns, empty when there is none
    vni: int | None  # the network's VNI, from docker network inspect
    links: tuple[VxlanLink, ...]
    fdb: tuple[FdbEntry, ...]
    neigh: tuple[NeighEntry, ...]

    @property
    def vxlan(self) -> VxlanLink | None:
        """The network's VXLAN device: the one carrying its VNI (any, when the VNI is unknown)."""
        match = [ln for ln in self.links if self.vni is None or ln.vni == self.vni]
        return match[0] if match else None


@dataclass(frozen=True)
class TableProblem:
    kind: str
    node: str  # whose table is wrong
    network: str
    peer: str | None  # the remote node the entry is for (or wrongly points to)
    entry: str  # the entry, as the tables print it
    detail: str

    def text(self) -> str:
        return f"{self.node}, network {self.network}: {self.kind}: {self.detail}"


def parse_fdb(text: str) -> list[FdbEntry]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not _MAC.match(words[0].lower()):
            continue
        values: dict[str, str] = {}
        flags: list[str] = []
        i = 1
        while i < len(words):
            if words[i] in _FDB_VALUED and i + 1 < len(words):
                values[words[i]] = words[i + 1]
                i += 2
            else:
                flags.append(words[i])
                i += 1
        if "dev" in values:
            out.append(
                FdbEntry(
                    words[0].lower(), values["dev"], values.get("dst"), values.get("master"), tuple(flags)
                )
            )
    return out


def parse_neigh(text: str) -> list[NeighEntry]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[1] != "dev":
            continue
        mac = words[words.index("lladdr") + 1].lower() if "lladdr" in words[:-1] else None
        states = tuple(w for w in words[3:] if w.isupper())
        out.append(NeighEntry(words[0], words[2], mac, states))
    return out


def parse_vxlan_links(text: str) -> list[VxlanLink]:
    """The VXLAN devices of ``ip -d link`` output (name without its ``@ifN`` peer)."""
    out = []
    name = ""
    for line in text.splitlines():
        head = _LINK_HEAD.match(line)
        if head:
            name = head.group(1)
            continue
        vx = _VXLAN.match(line)
        if vx and name:
            port = re.search(r"\bdstport (\d+)", vx.group(2))
            out.append(VxlanLink(name, int(vx.group(1)), int(port.group(1)) if port else None))
    return out


def _owner(ip: str, mac: str, by_mac: Mapping[str, Endpoint]) -> str:
    ep = by_mac.get(mac)
    return f"{ep.node}'s endpoint {ep.name} ({ep.ip}, {mac})" if ep else f"({ip or '?'}, {mac})"


def table_problems(
    tables: OverlayTables,
    required: Iterable[Endpoint],
    known: Iterable[Endpoint],
    vteps: Mapping[str, str],
) -> list[TableProblem]:
    """What is wrong with ``tables`` given the endpoints of its network.

    ``required``: endpoints that must have both entries on every other node (the probe
    service's tasks). ``known``: every endpoint the network has on any node, taken just
    before and just after the tables were read, so an endpoint created or removed
    meanwhile is neither missing nor stale. ``vteps``: node name -> data-path address.
    """
    node, net = tables.node, tables.network
    known_list = list(known)
    by_mac = {e.mac: e for e in known_list}
    by_ip = {e.ip: e for e in known_list}
    node_of_vtep = {addr: name for name, addr in vteps.items()}
    dev = tables.vxlan
    problems: list[TableProblem] = []

    def add(kind: str, peer: str | None, entry: str, detail: str) -> None:
        problems.append(TableProblem(kind, node, net, peer, entry, detail))

    if dev is None:
        where = tables.namespace or "no overlay namespace for it under /var/run/docker/netns"
        add(NO_DEVICE, None, "", f"no VXLAN device with VNI {tables.vni} in {where}")
        return problems
    fdb = {e.mac: e for e in tables.fdb if e.dev == dev.name and e.dst is not None}
    neigh = {e.ip: e for e in tables.neigh if e.dev == dev.name}
    for ep in sorted(required, key=lambda e: (e.node, e.ip)):
        if ep.node == node:
            continue
        vtep = vteps.get(ep.node, "?")
        what = f"{ep.node}'s endpoint {ep.name} ({ep.ip}, {ep.mac})"
        entry = fdb.get(ep.mac)
        if entry is None:
            add(
                MISSING_FDB,
                ep.node,
                f"{ep.mac} dev {dev.name} dst {vtep} self permanent",
                f"no FDB entry for {what} -> VTEP {vtep} ({ep.node}) on {dev.name}",
            )
        elif not entry.permanent:
            add(
                NOT_PERMANENT,
                ep.node,
                f"{entry.mac} dev {entry.dev} dst {entry.dst} {' '.join(entry.flags)}",
                f"the FDB entry for {what} is not permanent (flags: {' '.join(entry.flags) or 'none'})",
            )
        n = neigh.get(ep.ip)
        if n is None:
            add(
                MISSING_NEIGH,
                ep.node,
                f"{ep.ip} dev {dev.name} lladdr {ep.mac} PERMANENT",
                f"no neighbour entry for {what} on {dev.name}",
            )
        elif n.mac != ep.mac:
            add(
                WRONG_MAC,
                ep.node,
                f"{n.ip} dev {n.dev} lladdr {n.mac}",
                f"the neighbour entry for {what} gives MAC {n.mac}",
            )
        elif not n.permanent:
            add(
                NOT_PERMANENT,
                ep.node,
                f"{n.ip} dev {n.dev} lladdr {n.mac} {' '.join(n.states)}",
                f"the neighbour entry for {what} is {' '.join(n.states) or 'without state'}, not PERMANENT",
            )
    for entry in sorted(fdb.values(), key=lambda e: e.mac):
        shown = f"{entry.mac} dev {entry.dev} dst {entry.dst}"
        owner = by_mac.get(entry.mac)
        if owner is None:
            add(
                STALE_FDB,
                node_of_vtep.get(entry.dst or ""),
                shown,
                f"FDB entry for MAC {entry.mac} -> VTEP {entry.dst} ({node_of_vtep.get(entry.dst or '', 'no node')}), "
                "which no endpoint of the network has (a leaked entry of a removed task)",
            )
        elif owner.node != node and entry.dst != vteps.get(owner.node):
            wrong = node_of_vtep.get(entry.dst or "", "no node of the cluster")
            add(
                WRONG_VTEP,
                owner.node,
                shown,
                f"the FDB entry for {_owner('', entry.mac, by_mac)} points at VTEP {entry.dst} ({wrong}), "
                f"not {vteps.get(owner.node, '?')} ({owner.node})",
            )
    for n in sorted(neigh.values(), key=lambda e: e.ip):
        if n.ip not in by_ip and n.permanent:
            add(
                STALE_NEIGH,
                None,
                f"{n.ip} dev {n.dev} lladdr {n.mac} {' '.join(n.states)}",
                f"neighbour entry {n.ip} -> {n.mac}, an address no endpoint of the network holds "
                "(a leaked entry of a removed task)",
            )
    return problems


def problems_text(problems: list[TableProblem]) -> str:
    return "; ".join(p.text() for p in problems)
