"""CLI commands that make, list and remove hosts: up, down, runs, and the lab's own.

``up``/``down``/``runs`` work on run directories of any target; ``status``,
``purge``, ``images`` and ``lab`` act on this machine's labs (``lab`` is what
terraform/local calls back into).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cli_options import (
    add_hosts_options,
    add_kind_option,
    add_lab_options,
    check_target_options,
    harness_command,
    local_spec,
)
from harness.errors import UserInputError


def cmd_up(args: argparse.Namespace) -> int:
    from harness.provision.local_lab import LocalLab
    from harness.provision.providers import up
    from harness.rundir import RunDir, default_run_dir

    check_target_options(args)
    if args.target != "local":
        from harness.provision.terraform_target import TerraformTarget, parse_vars

        run_dir = args.run_dir or default_run_dir(args.target)
        inv = up(TerraformTarget(args.target, parse_vars(args.var)), run_dir, args.ready_timeout)
        print(f"{args.target} is up: {len(inv.nodes)} hosts; inventory: {RunDir(run_dir).inventory}")
        return 0
    spec = local_spec(args)
    run_dir = args.run_dir or default_run_dir(args.lab)
    inv = up(LocalLab(spec, harness_command()), run_dir, args.ready_timeout)
    print(f"lab {spec.lab} is up: {len(inv.nodes)} machines; inventory: {RunDir(run_dir).inventory}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from harness.provision.providers import down, list_runs, parse_duration_s
    from harness.rundir import default_run_dir

    if args.older_than:
        limit_s = parse_duration_s(args.older_than)
        stale = [
            (path, info)
            for path, info, age_s in list_runs(args.root)
            if age_s > limit_s and info.status != "down"
        ]
        for path, _info in stale:
            down(path)
            print(f"{path}: destroyed")
        print(f"down: {len(stale)} runs older than {args.older_than} destroyed")
        return 0
    run_dir = args.run_dir or default_run_dir(args.lab)
    down(run_dir)
    print(f"{run_dir}: destroyed")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from harness.provision.providers import list_runs

    runs = list_runs(args.root)
    if not runs:
        print(f"no runs under {args.root}")
    for path, info, age_s in runs:
        age = f"{age_s / 3600:.1f}h" if age_s >= 3600 else f"{age_s / 60:.0f}m"
        print(f"{path!s:<32} {info.target:<8} {info.status:<13} age {age:<7} run id {info.run_id}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from harness.lab import lab

    labs = [args.lab] if args.lab else lab.list_labs()
    if args.json:
        print(json.dumps([lab.lab_status(name) for name in labs], indent=2))
        return 0
    if not labs:
        print("no labs")
        return 0
    for name in labs:
        st = lab.lab_status(name)
        print(f"lab {name}  subnet {st['subnet']}  run dir {st['run_dir']}")
        for m in st["machines"]:
            state = "running" if m["running"] else "stopped"
            print(
                f"  {m['node']:<8} {m['address']:<15} {m['release']:<9} engine {m['engine']:<6} "
                f"{m['kind']:<6} {state}"
            )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from harness.lab import hostcmd, purge

    hostcmd.require_root()
    removed = purge.purge(args.lab)
    for item in removed:
        print(f"removed {item}")
    print(f"purge: {len(removed)} objects removed")
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from harness.lab import images, kind_choice

    if args.images_cmd == "build":
        choice = kind_choice.resolve(args.kind)
        if args.kind == kind_choice.AUTO:
            print(choice.line())
        for release in args.release or ["bookworm", "trixie"]:
            path = images.ensure_image(images.machine_recipe(release, choice.kind), rebuild=args.rebuild)
            print(f"{release}: {path}")
        return 0
    cached = images.list_cached()
    if not cached:
        print(f"no cached images in {images.images_dir()} (build them with 'swarm-harness images build')")
    for info in cached:
        engine = f"engine {info['engine'] or '-'}"
        print(f"{info['key']:<32} {info['release']:<9} {engine:<27} built {info['built_at']} in {info['build_s']}s")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from harness.lab import lab, machine

    op = args.lab_cmd
    if op == "network-create":
        lab.create_network(args.lab, args.subnet, Path(args.run_dir))
        return 0
    if op == "network-destroy":
        lab.destroy_network(args.lab)
        return 0
    if op == "machine-create":
        lab.preflight()
        machine.create(
            args.lab,
            args.node,
            args.index,
            args.address,
            args.subnet,
            args.release,
            Path(args.run_dir),
            args.kind,
        )
        return 0
    state = machine.load_state(args.lab, args.node)
    if state is None:
        if op == "machine-destroy":
            return 0
        if lab.read_lab(args.lab) is None:
            raise UserInputError(
                f"lab {args.lab!r} does not exist", "list labs with 'swarm-harness status'; create one with 'up'"
            )
        raise UserInputError(f"lab {args.lab!r} has no machine {args.node!r}", "see 'swarm-harness status'")
    actions: dict[str, Callable[[], object]] = {
        "machine-destroy": lambda: machine.destroy(state),
        "start": lambda: machine.start(state),
        "stop": lambda: machine.stop(state),
        "restart": lambda: machine.restart(state),
        "swap": lambda: machine.swap_image(state, args.release),
        "status": lambda: print(json.dumps(machine.status(state), indent=2)),
    }
    actions[op]()
    return 0


# ------------------------------------------------------------------ parsers


def _root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("runs"), help="where runs live (default: runs)")


def add_provision_commands(sub: Any) -> None:
    """``up``, ``down`` and ``runs``: hosts of any target and their run directories."""
    up = sub.add_parser("up", help="provision hosts and wait until they answer SSH")
    hosts = add_hosts_options(up, "the hosts to create")
    hosts.add_argument(
        "--ready-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for SSH and dockerd (default: 180; 900 for --kind vm, 420 for uml)",
    )
    up.set_defaults(fn=cmd_up)

    down = sub.add_parser("down", help="destroy what 'up' created")
    add_lab_options(down)
    down.add_argument(
        "--older-than", metavar="AGE", help="instead: destroy every run under --root older than AGE (e.g. 6h)"
    )
    _root_option(down)
    down.set_defaults(fn=cmd_down)

    rs = sub.add_parser("runs", help="list run directories with their target, status and age")
    _root_option(rs)
    rs.set_defaults(fn=cmd_runs)


def add_lab_commands(sub: Any) -> None:
    """``status``, ``purge``, ``images`` and ``lab``: this machine's labs."""
    st = sub.add_parser("status", help="list labs and their machines")
    st.add_argument("--lab", help="only this lab")
    st.add_argument("--json", action="store_true", help="print the labs and machines as JSON")
    st.set_defaults(fn=cmd_status)

    pg = sub.add_parser("purge", help="remove every lab object the harness created (by name prefix)")
    pg.add_argument("--lab", help="only this lab's objects")
    pg.set_defaults(fn=cmd_purge)

    im = sub.add_parser("images", help="build or list cached machine images")
    im_sub = im.add_subparsers(dest="images_cmd", required=True)
    b = im_sub.add_parser("build", help="build (or reuse) machine images")
    b.add_argument("--release", action="append", help="bookworm, trixie and/or forky (repeatable; default: bookworm and trixie)")
    b.add_argument("--rebuild", action="store_true", help="rebuild even when cached")
    add_kind_option(b)
    im_sub.add_parser("list", help="list cached images with the Engine version each one holds")
    im.set_defaults(fn=cmd_images)

    lb = sub.add_parser("lab", help="low-level lab operations (used by terraform/local)")
    lb_sub = lb.add_subparsers(dest="lab_cmd", required=True)

    def lab_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--lab", required=True, help="lab name, as given to 'up --lab'")

    def node_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--node", required=True, help="machine name in the lab, e.g. node2")

    nc = lb_sub.add_parser("network-create", help="create the lab's bridge (terraform/local calls this)")
    lab_arg(nc)
    nc.add_argument("--subnet", required=True, help="the lab LAN, e.g. 198.18.0.0/24")
    nc.add_argument("--run-dir", required=True, help="run directory that owns the lab")
    nd = lb_sub.add_parser("network-destroy", help="remove the lab's machines and bridge")
    lab_arg(nd)
    mc = lb_sub.add_parser("machine-create", help="create and boot one machine (terraform/local calls this)")
    lab_arg(mc)
    node_arg(mc)
    mc.add_argument("--address", required=True, help="the machine's address on the lab LAN")
    mc.add_argument("--subnet", required=True, help="the lab LAN the address belongs to")
    mc.add_argument("--release", required=True, help="image release: bookworm, trixie or forky")
    mc.add_argument("--run-dir", required=True, help="run directory holding the SSH key and known_hosts")
    mc.add_argument("--index", type=int, required=True, help="node number, 1-16 (names its veth or tap)")
    mc.add_argument(
        "--kind", choices=["nspawn", "vm", "uml"], default="nspawn", help="machine kind (default: nspawn)"
    )
    helps = {
        "machine-destroy": "power off and remove one machine",
        "start": "boot a stopped machine",
        "stop": "power off a machine, keeping its disk and Docker state",
        "restart": "stop, then start a machine",
        "status": "one machine's state as JSON",
        "swap": "replace a stopped machine's OS image, keeping /var/lib/docker and /etc/docker",
    }
    for op, text in helps.items():
        sp = lb_sub.add_parser(op, help=text)
        lab_arg(sp)
        node_arg(sp)
        if op == "swap":
            sp.add_argument("--release", required=True, help="the new image release: bookworm, trixie or forky")
    lb.set_defaults(fn=cmd_lab)

