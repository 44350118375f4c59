"""Options more than one command reads, declared once, and their checks.

``up`` and ``run`` create the same hosts from the same options: one declaration
keeps their names, defaults and help from drifting apart. The command modules
(``cli_lab``, ``cli_swarm``) import this module and never each other or
``harness.cli``, which only registers them: the CLI has no import cycle.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UserInputError

if TYPE_CHECKING:
    from harness.provision.local_lab import LocalSpec


def harness_command() -> str:
    """How Terraform's local-exec calls back into this very installation."""
    return f"{shlex.quote(sys.executable)} -m harness.cli"


def add_kind_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--kind",
        choices=["nspawn", "vm", "uml", "auto"],
        default="nspawn",
        help="lab machines: nspawn containers sharing this kernel (default), QEMU VMs with "
        "their own kernel, User-Mode Linux machines (their own kernel at native CPU speed), "
        "for IPVS and ESP, or auto: nspawn where this machine's kernel has VXLAN, IPVS and ESP, "
        "else uml (the choice and why are printed and kept in the run record)",
    )


def add_lab_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Which lab and run directory a command makes or destroys."""
    parser.add_argument("--lab", default="lab", help="lab name, 1-8 chars (default: lab)")
    parser.add_argument("--run-dir", type=Path, help="run directory (default: runs/LAB)")


def add_hosts_options(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The hosts ``up`` and ``run`` create: a local lab's shape, or a Terraform target's
    variables. Returned as a named group, so a command can add its own to it."""
    group = parser.add_argument_group(title)
    add_lab_options(group)
    group.add_argument("--target", default="local", help="terraform/<target> module (default: local)")
    group.add_argument("--nodes", type=int, default=3, help="number of lab machines, 1-16 (default: 3)")
    group.add_argument("--managers", type=int, default=1, help="swarm managers (default: 1)")
    group.add_argument(
        "--release", default="bookworm", help="bookworm (Engine 20.10), trixie (26.1) or forky (28.5)"
    )
    group.add_argument(
        "--node-release",
        action="append",
        default=[],
        metavar="NODE=RELEASE",
        help="per-node image release, e.g. node3=trixie (repeatable)",
    )
    group.add_argument("--subnet", default="198.18.0.0/24", help="lab LAN (default: 198.18.0.0/24)")
    add_kind_option(group)
    group.add_argument(
        "-var",
        "--var",
        dest="var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Terraform variable for a non-local --target (repeatable)",
    )
    return group


def _node_releases(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise UserInputError(f"--node-release {v!r} is not NODE=RELEASE", "e.g. node3=trixie")
        node, rel = v.split("=", 1)
        out[node] = rel
    return out


def check_target_options(args: argparse.Namespace) -> None:
    """Options that only one kind of target reads are refused on the other, not ignored."""
    if args.target == "local" and args.var:
        raise UserInputError(
            f"-var {args.var[0]} is for a Terraform target; the local lab does not read -var",
            "use --nodes, --managers, --release, --subnet or --kind for a local lab, "
            "or pass --target aws|hcloud|libvirt",
        )
    timeout = getattr(args, "ready_timeout", None)
    if timeout is not None and not timeout > 0:
        raise UserInputError(
            f"--ready-timeout {timeout:g} must be more than 0 seconds", "pass e.g. --ready-timeout 300"
        )


def local_spec(args: argparse.Namespace) -> LocalSpec:
    """The validated local-lab spec from the options `up` and `run` share."""
    from harness.lab import kind_choice
    from harness.provision.local_lab import LocalSpec

    choice = kind_choice.resolve(args.kind)
    spec = LocalSpec(
        lab=args.lab,
        nodes=args.nodes,
        managers=args.managers,
        release=args.release,
        node_releases=_node_releases(args.node_release),
        subnet=args.subnet,
        kind=choice.kind,
        kind_reason=choice.reason if args.kind == kind_choice.AUTO else "",
    )
    spec.validate()
    return spec
