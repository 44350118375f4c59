"""Names and paths of everything the lab creates.

Every kernel object and directory the lab makes carries one of these prefixes,
which is how ``purge`` finds leftovers after a crash without ever touching
objects it did not create. Interface names are capped at 15 bytes by Linux,
hence the short lab names.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from harness.errors import UserInputError

BRIDGE_PREFIX = "shb-"
VETH_PREFIX = "shv-"
NETNS_PREFIX = "shn-"
MACHINE_PREFIX = "shm-"
MAX_NODES = 16
# Nodes get addresses from this offset in the lab subnet; .1 is the bridge.
FIRST_HOST_OFFSET = 11

_LAB_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_NODE_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def state_root() -> Path:
    return Path(os.environ.get("SWARM_HARNESS_STATE", "/var/lib/swarm-harness"))


def validate_lab_name(name: str) -> str:
    if not _LAB_RE.match(name):
        raise UserInputError(
            f"lab name {name!r} is invalid",
            "use 1-8 characters: a lowercase letter, then lowercase letters or digits",
        )
    return name


def validate_node_name(name: str) -> str:
    if not _NODE_RE.match(name):
        raise UserInputError(
            f"node name {name!r} is invalid",
            "use 1-16 characters: a lowercase letter, then lowercase letters or digits",
        )
    return name


def lab_dir(lab: str) -> Path:
    return state_root() / "labs" / lab


def machine_dir(lab: str, node: str) -> Path:
    return lab_dir(lab) / "machines" / node


def bridge_name(lab: str) -> str:
    return f"{BRIDGE_PREFIX}{lab}"


def netns_name(lab: str, node: str) -> str:
    return f"{NETNS_PREFIX}{lab}-{node}"


def veth_name(lab: str, index: int) -> str:
    return f"{VETH_PREFIX}{lab}-{index}"


def machine_name(lab: str, node: str) -> str:
    return f"{MACHINE_PREFIX}{lab}-{node}"


def node_name(index: int) -> str:
    return f"node{index}"


def node_address(subnet: str, index: int) -> str:
    """Address of node ``index`` (1-based); must match terraform/local's cidrhost()."""
    net = ipaddress.ip_network(subnet)
    return str(net.network_address + FIRST_HOST_OFFSET + index - 1)


def gateway_address(subnet: str) -> str:
    return str(ipaddress.ip_network(subnet).network_address + 1)
