"""``swarm-harness report`` and ``swarm-harness history``: the report from files alone.

Neither command dials a host, so both work on a copied run directory and on a
machine without labs. Bad input (a missing or foreign run directory or history
store) raises ``UserInputError``, which the CLI prints as one ``error:`` line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import UserInputError
from harness.report.history import HISTORY_FILE, History, default_history_path, history_text, since_stamp


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import publish
    from harness.report.rundata import load_run

    run_dir = Path(args.run_dir)
    load_run(run_dir)  # a foreign directory is refused before the history store is touched
    store = Path(args.history) if args.history else default_history_path(run_dir)
    page, added = publish(run_dir, store)
    print(f"report: {page}")
    print(f"history: {'recorded this run in' if added else 'this run was already in'} {store}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir)
    if args.last < 1:
        raise UserInputError(f"--last {args.last} must be 1 or more", "e.g. --last 5")
    if not runs_dir.is_dir():
        raise UserInputError(
            f"runs directory {runs_dir} does not exist",
            "pass --runs-dir, the directory that holds the run directories",
        )
    since = since_stamp(args.since) if args.since else None
    with History.open(runs_dir / HISTORY_FILE) as history:
        print(history_text(history, args.check or "", args.last, since, args.engine or None))
    return 0


def add_commands(sub: Any) -> None:
    """``report`` and ``history``, registered by ``harness.cli``."""
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
    hs.add_argument(
        "--since",
        metavar="WHEN",
        help="only runs started since WHEN: a time ago (7d, 12h, 2w, 30m) or a UTC date/time (2026-12-01T02:00)",
    )
    hs.add_argument(
        "--engine",
        metavar="VERSION",
        help="only runs on Engine versions containing VERSION, e.g. 26.1 (default: all, one column per version)",
    )
    hs.set_defaults(fn=cmd_history)
