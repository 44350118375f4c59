"""``swarm-harness``: provision hosts, form a swarm, test its overlays, tear down.

Every failure the harness expects prints one line (``error: what (what to do)``)
and exits 2; only a bug in the harness shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError, UserInputError

if TYPE_CHECKING:
    from harness.provision.local_lab import LocalSpec

log = logging.getLogger("harness")


class _Console(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record, so a caller that
    swaps stderr (pytest's capture, an embedding program) never leaves us a closed file."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    # Only our own console handler is replaced; handlers an embedding program added stay.
    for h in [h for h in root.handlers if isinstance(h, _Console)]:
        root.removeHandler(h)
    root.setLevel(logging.DEBUG)
    console = _Console(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    root.addHandler(console)


def harness_command() -> str:
    """How Terraform's local-exec calls back into this very installation."""
    return f"{shlex.quote(sys.executable)} -m harness.cli"


def _node_releases(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise UserInputError(f"--node-release {v!r} is not NODE=RELEASE", "e.g. node3=trixie")
        node, rel = v.split("=", 1)
        out[node] = rel
    return out


def add_kind_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        choices=["nspawn", "vm", "uml"],
        default="nspawn",
        help="lab machines: nspawn containers sharing this kernel (default), QEMU VMs with "
        "their own kernel, or User-Mode Linux machines (their own kernel at native CPU speed), "
        "for IPVS and ESP",
    )


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
    from harness.provision.local_lab import LocalSpec

    spec = LocalSpec(
        lab=args.lab,
        nodes=args.nodes,
        managers=args.managers,
        release=args.release,
        node_releases=_node_releases(args.node_release),
        subnet=args.subnet,
        kind=args.kind,
    )
    spec.validate()
    return spec


# ------------------------------------------------------------------ commands


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


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.commands import cmd_report as report

    return report(args)


def cmd_history(args: argparse.Namespace) -> int:
    from harness.report.commands import cmd_history as history

    return history(args)


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
    from harness.lab import images

    if args.images_cmd == "build":
        for release in args.release or ["bookworm", "trixie"]:
            path = images.ensure_image(images.machine_recipe(release, args.kind), rebuild=args.rebuild)
            print(f"{release}: {path}")
        return 0
    for info in images.list_cached():
        print(f"{info['key']:<32} {info['release']:<9} built {info['built_at']} in {info['build_s']}s")
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


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="swarm-harness",
        description="Provision hosts, bootstrap a Docker Swarm, and prove its overlay networks work.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show debug output")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def lab_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--lab", default="lab", help="lab name, 1-8 chars (default: lab)")
        sp.add_argument("--run-dir", type=Path, help="run directory (default: runs/LAB)")

    up = sub.add_parser("up", help="provision hosts and wait until they answer SSH")
    lab_opts(up)
    up.add_argument("--target", default="local", help="terraform/<target> module (default: local)")
    up.add_argument("--nodes", type=int, default=3, help="number of machines, 1-16 (default: 3)")
    up.add_argument("--managers", type=int, default=1, help="swarm managers (default: 1)")
    up.add_argument("--release", default="bookworm", help="bookworm (Engine 20.10) or trixie (26.1)")
    up.add_argument(
        "--node-release",
        action="append",
        default=[],
        metavar="NODE=RELEASE",
        help="per-node image release, e.g. node3=trixie (repeatable)",
    )
    up.add_argument("--subnet", default="198.18.0.0/24", help="lab LAN (default: 198.18.0.0/24)")
    add_kind_option(up)
    up.add_argument(
        "--ready-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for SSH and dockerd (default: 180; 900 for --kind vm, 420 for uml)",
    )
    up.add_argument(
        "-var",
        "--var",
        dest="var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Terraform variable for a non-local target (repeatable)",
    )
    up.set_defaults(fn=cmd_up)

    down = sub.add_parser("down", help="destroy what 'up' created")
    lab_opts(down)
    down.add_argument(
        "--older-than", metavar="AGE", help="instead: destroy every run under --root older than AGE (e.g. 6h)"
    )
    down.add_argument("--root", type=Path, default=Path("runs"), help="where runs live (default: runs)")
    down.set_defaults(fn=cmd_down)

    rs = sub.add_parser("runs", help="list run directories with their target, status and age")
    rs.add_argument("--root", type=Path, default=Path("runs"), help="where runs live (default: runs)")
    rs.set_defaults(fn=cmd_runs)

    rp = sub.add_parser("report", help="write RUN/reports/report.html and record the run in the run history")
    rp.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/lab")
    rp.add_argument(
        "--history", metavar="FILE", help="history store (default: history.sqlite beside RUN_DIR, e.g. runs/)"
    )
    rp.set_defaults(fn=cmd_report)

    hs = sub.add_parser("history", help="per-check trends and regressions across recorded runs")
    hs.add_argument("--runs-dir", default="runs", help="where runs and history.sqlite live (default: runs)")
    hs.add_argument("--check", metavar="SUBSTRING", help="only checks whose name contains this")
    hs.add_argument("--last", type=int, default=5, metavar="N", help="runs per check to show (default: 5)")
    hs.set_defaults(fn=cmd_history)

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
    b.add_argument("--release", action="append", help="bookworm and/or trixie (default: both)")
    b.add_argument("--rebuild", action="store_true", help="rebuild even when cached")
    add_kind_option(b)
    im_sub.add_parser("list", help="list cached images")
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
    mc.add_argument("--release", required=True, help="image release: bookworm or trixie")
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
            sp.add_argument("--release", required=True, help="the new image release: bookworm or trixie")
    lb.set_defaults(fn=cmd_lab)

    from harness import cli_swarm

    cli_swarm.add_commands(sub)
    return p


def _interrupt_hint(args: argparse.Namespace) -> str:
    """What an interrupted command left, and what to run next: the one line a user sees."""
    lab = getattr(args, "lab", None) or "lab"
    check = f"check with 'swarm-harness status --lab {lab}'; if it is listed, 'swarm-harness purge --lab {lab}'"
    inventory = getattr(args, "inventory", None)
    if args.cmd == "up" and args.target == "local":
        return f"what it had created was torn down; {check}"
    if args.cmd == "up":
        return f"what it had created was destroyed; 'swarm-harness runs' lists {args.target} runs left"
    if args.cmd == "run" and inventory is None and not args.keep:
        return f"the cluster it made was torn down; {check}"
    if args.cmd == "run" and inventory is None:
        return f"--keep: the cluster is kept; tear it down with 'swarm-harness down --lab {lab}'"
    if args.cmd == "run":
        return f"the hosts in {inventory} are untouched apart from the tests' labelled objects"
    if args.cmd == "bootstrap":
        return (
            "the swarm and its networks may be half-made, on purpose: rerun "
            f"'swarm-harness bootstrap --inventory {inventory}' to finish them (it is idempotent)"
        )
    if args.cmd == "upgrade":
        return (
            "the upgrade's traffic services were removed; a node it was upgrading may be left "
            f"drained: rerun 'swarm-harness upgrade --inventory {inventory}' to finish"
        )
    return f"{check}" if getattr(args, "lab", None) else "nothing to clean up"


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-v`` is accepted after the verb too (``swarm-harness up -v``), not only before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sp in action.choices.values():
                sp.add_argument(
                    "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show debug output"
                )
                _verbose_everywhere(sp)


def main(argv: Sequence[str] | None = None) -> int:
    from harness import interrupts

    parser = build_parser()
    _verbose_everywhere(parser)
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    with interrupts.handled():
        try:
            return int(args.fn(args))
        except HarnessError as exc:
            print(f"error: {exc.one_line()}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt as exc:
            # Nothing may cut this line short: it is what the user reads last.
            interrupts.stopping.set()
            print(
                f"error: interrupted by {interrupts.signal_name(exc)} during {args.cmd} "
                f"({_interrupt_hint(args)})",
                file=sys.stderr,
            )
            return interrupts.exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
