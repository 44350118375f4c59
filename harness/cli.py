"""``swarm-harness``: provision hosts, form a swarm, test its overlays, tear down.

Every failure the harness expects prints one line (``error: what (what to do)``)
and exits 2; only a bug in the harness shows a traceback. The commands live in
``cli_lab``, ``cli_swarm`` and ``harness.report.commands``; this module only
registers them and turns their errors into that line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from harness import cli_lab, cli_swarm
from harness.errors import HarnessError
from harness.report import commands as report_commands

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="swarm-harness",
        description="Provision hosts, bootstrap a Docker Swarm, and prove its overlay networks work.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show debug output")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    # Each area declares its own commands; this order is the order of --help.
    cli_lab.add_provision_commands(sub)
    report_commands.add_commands(sub)
    cli_lab.add_lab_commands(sub)
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
