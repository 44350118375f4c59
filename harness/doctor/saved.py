"""The doctor's report saved in a run directory, measured once for every process that needs it.

pytest-xdist runs each worker in its own process with its own session. Without a fresh
report in the run directory, each worker used to measure the doctor itself: the same
SSH probes of every node, once per worker, while the other workers' checks ran. Now the
first process to take the lock beside the report measures it and writes it; the others
wait for the lock, then read what it wrote.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.doctor.report import DoctorReport
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

# A capability changes only when a host is rebooted or upgraded; a report from before
# the longest default run (about 15 min on the slowest lab kind) is remeasured.
DOCTOR_MAX_AGE_S = 3600.0
# How long a process waits for another one measuring the doctor: the slowest lab kind's
# doctor (QEMU VMs, every node pair's ports) takes a few minutes.
MEASURE_WAIT_S = 900.0


def load_saved(path: Path) -> DoctorReport | None:
    """The report saved at ``path``; None when there is none, or it cannot be read (logged).
    The one place a saved ``doctor.json`` is parsed (the run directory's ``RunDir`` too)."""
    if not path.is_file():
        return None
    try:
        return DoctorReport.from_dict(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def save_report(report: DoctorReport, path: Path) -> None:
    """Written aside and renamed, so an xdist worker never reads half a report."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    report.write(tmp)
    tmp.rename(path)


def _why_stale(
    report: DoctorReport | None, identity: dict[str, str], data_path_port: int | None, max_age_s: float
) -> str | None:
    if report is None:
        return "there is none"
    return report.describes(identity, data_path_port, max_age_s)


@contextmanager
def _exclusive(lock_path: Path, wait_s: float) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (the kernel drops it if this process dies)."""
    with lock_path.open("a") as lock:

        def _take() -> None:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise NotYet(f"another process holds {lock_path} and is measuring the doctor") from None

        eventually(
            _take,
            wait_s,
            "the doctor's report another process is measuring",
            interval_s=0.5,
            hint=f"find the process holding {lock_path} (fuser {lock_path}); stop it or wait, then rerun",
        )
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def fresh_report(
    path: Path,
    identity: dict[str, str],
    data_path_port: int | None,
    measure: Callable[[], DoctorReport],
    known: DoctorReport | None = None,
    max_age_s: float = DOCTOR_MAX_AGE_S,
    wait_s: float = MEASURE_WAIT_S,
) -> DoctorReport:
    """A report of this cluster (``identity``) and port, no older than ``max_age_s``.

    ``known`` (this process's own) or the one saved at ``path`` when it fits; else measured
    by ``measure`` and saved, by one process at a time: a process that waited for the lock
    reads the report the one before it saved instead of measuring again.
    """
    report = known or load_saved(path)
    stale = _why_stale(report, identity, data_path_port, max_age_s)
    if stale is None and report is not None:
        return report
    with _exclusive(path.with_name(path.name + ".lock"), wait_s):
        saved = load_saved(path)
        if _why_stale(saved, identity, data_path_port, max_age_s) is None and saved is not None:
            log.info("using the doctor's report another process measured meanwhile")
            return saved
        log.info("measuring the doctor's report again: %s", stale)
        report = measure()
        save_report(report, path)
        return report
