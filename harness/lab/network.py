"""The lab LAN: one Linux bridge per lab, one network namespace and veth per machine.

Machines get no default route: the only network they can reach is the lab
subnet, so nothing a test does inside the lab can send packets anywhere else.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path

from harness.address_pools import RESERVED_POOLS
from harness.errors import LabError, UserInputError
from harness.lab import hostcmd
from harness.lab.naming import bridge_name, gateway_address, netns_name

log = logging.getLogger(__name__)

LAB_MTU = 1500


def parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise UserInputError(
            f"subnet {subnet!r} is malformed: {exc}", "give an IPv4 network like 198.18.0.0/24"
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise UserInputError(f"subnet {subnet!r} is not IPv4", "give an IPv4 network like 198.18.0.0/24")
    if net.prefixlen > 27 or net.prefixlen < 16:
        raise UserInputError(
            f"subnet {subnet} has prefix /{net.prefixlen}", "use a prefix between /16 and /27"
        )
    # Docker's own address pools inside every lab machine: the lab subnet must not overlap them.
    for pool in RESERVED_POOLS:
        if net.overlaps(ipaddress.ip_network(pool)):
            raise UserInputError(
                f"subnet {subnet} overlaps the lab's Docker address pool {pool}",
                "pick a subnet inside 198.18.0.0/16",
            )
    return net


def _link_exists(name: str) -> bool:
    return hostcmd.run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def host_routes() -> list[tuple[str, str]]:
    """(destination, device) of every IPv4 route on this machine, defaults excluded."""
    proc = hostcmd.run(["ip", "-j", "-4", "route", "show", "table", "all"])
    routes = []
    for r in json.loads(proc.stdout or "[]"):
        dst = r.get("dst", "")
        if dst in ("default", "") or r.get("type") in ("broadcast", "local", "multicast"):
            continue
        routes.append((dst if "/" in dst else f"{dst}/32", r.get("dev", "?")))
    return routes


def check_no_overlap(subnet: ipaddress.IPv4Network, own_bridge: str) -> None:
    for dst, dev in host_routes():
        if dev == own_bridge:
            continue
        try:
            other = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if subnet.overlaps(other):
            raise UserInputError(
                f"subnet {subnet} overlaps the route {dst} on {dev} of this machine",
                "pick another --subnet (for example 198.18.8.0/24)",
            )


def create_bridge(lab: str, subnet: str) -> None:
    net = parse_subnet(subnet)
    br = bridge_name(lab)
    check_no_overlap(net, br)
    gw = f"{gateway_address(subnet)}/{net.prefixlen}"
    if not _link_exists(br):
        hostcmd.run(["ip", "link", "add", br, "type", "bridge"])
    addrs = hostcmd.run(["ip", "-j", "-4", "addr", "show", "dev", br]).stdout
    have = {
        f"{a['local']}/{a['prefixlen']}" for i in json.loads(addrs or "[]") for a in i.get("addr_info", [])
    }
    if gw not in have:
        hostcmd.run(["ip", "addr", "add", gw, "dev", br])
    hostcmd.run(["ip", "link", "set", br, "up"])


def delete_bridge(lab: str) -> None:
    br = bridge_name(lab)
    if _link_exists(br):
        hostcmd.run(["ip", "link", "del", br])


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def create_node_netns(lab: str, node: str, veth: str, address: str, subnet: str) -> str:
    ns = netns_name(lab, node)
    br = bridge_name(lab)
    if not _link_exists(br):
        raise LabError(f"lab {lab} has no bridge {br}", "create the lab with 'swarm-harness up'")
    prefix = ipaddress.ip_network(subnet).prefixlen
    if not netns_exists(ns):
        hostcmd.run(["ip", "netns", "add", ns])
    if hostcmd.run(["ip", "-n", ns, "link", "show", "eth0"], check=False).returncode != 0:
        if _link_exists(veth):
            hostcmd.run(["ip", "link", "del", veth])
        # An explicit 1500 underlay MTU, so the engines' default overlay MTU (1450) fits
        # VXLAN's 50 bytes exactly, as on a standard Ethernet LAN.
        hostcmd.run(
            [
                "ip",
                "link",
                "add",
                veth,
                "mtu",
                str(LAB_MTU),
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "mtu",
                str(LAB_MTU),
                "netns",
                ns,
            ]
        )
        hostcmd.run(["ip", "-n", ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0"])
    hostcmd.run(["ip", "link", "set", veth, "master", br, "up"])
    hostcmd.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    hostcmd.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    return ns


def delete_node_netns(lab: str, node: str, veth: str) -> None:
    ns = netns_name(lab, node)
    if netns_exists(ns):
        hostcmd.run(["ip", "netns", "del", ns])
    if _link_exists(veth):
        hostcmd.run(["ip", "link", "del", veth])


def create_tap(bridge: str, name: str) -> None:
    """A tap on the lab bridge, for a machine kind whose NIC is a host process's file
    descriptor (QEMU, UML) rather than a veth in a namespace."""
    if not _link_exists(name):
        hostcmd.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"])
    hostcmd.run(["ip", "link", "set", name, "mtu", str(LAB_MTU), "master", bridge, "up"])


def delete_tap(name: str) -> None:
    if _link_exists(name):
        hostcmd.run(["ip", "link", "del", name], check=False)
