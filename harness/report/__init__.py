"""Reports people read: one HTML file per run, and the history of every run.

Everything here reads the files a run directory already holds (``run.json``,
``inventory.json``, ``doctor.json``, ``reports/*.json``, the JUnit files), so a
report can be made again, later, on another machine, from a copied directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def publish(run_dir: Path, history_path: Path | None = None) -> tuple[Path, bool]:
    """Write ``reports/report.html`` and record the run in the history store.

    The history is recorded first, so the page already shows this run among the last
    outcomes. Returns the page's path and whether the run was newly recorded.
    """
    from harness.report.history import History, default_history_path
    from harness.report.html import write_html
    from harness.report.rundata import load_run

    run = load_run(run_dir)
    path = history_path or default_history_path(run_dir)
    with History.open(path, create=True) as history:
        added = history.record(run)
        trends = history.trends_for(run)
    return write_html(run, trends), added


def publish_after_run(run_dir: Path) -> None:
    """What ``run`` calls last: a report that cannot be made is a warning, never a failed run."""
    try:
        page, _ = publish(run_dir)
    except Exception as exc:  # the run's verdict stands whatever happens here
        log.warning("the HTML report or the run history could not be written: %s", exc)
        return
    log.info("html report: %s", page)
