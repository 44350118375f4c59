"""Progress of the suites on the terminal: checks done of the total, per suite, what runs.

The default suites take minutes, and a check can wait on the cluster for a minute and
more; pytest's dots say nothing about which check is still running or how long it has.
The line is plain text, written at most every ``interval_s`` as checks start and finish
and, from a timer thread, while nothing does (on the UML lab four checks once ran for 3
minutes with no line between them), so a stall shows. It reads the same in a CI log as on
a terminal (no cursor movement, no rewriting).

The hooks are plain methods found by name: the plugin registers them on the controller
(never on an xdist worker, whose output nobody sees), so this module needs no pytest.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Measured: 64 checks end over ~330 s on 4 workers, one every ~5 s; a line every 20 s
# is a few dozen lines per run, enough to see a stall, few enough to read past.
PROGRESS_INTERVAL_S = 20.0
RUNNING_SHOWN = 3
# Seconds between lines; 0 turns the line off.
INTERVAL_ENV = "SWARM_HARNESS_PROGRESS_S"


def suite_of(nodeid: str) -> str:
    """``suites/lb/test_vip.py::test_x`` -> ``lb``; a file outside suites/ -> its directory."""
    parts = nodeid.split("::", 1)[0].split("/")
    if len(parts) > 2 and parts[0] == "suites":
        return parts[1]
    return parts[-2] if len(parts) > 1 else parts[0]


def short_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60} m {s % 60:02d} s" if s >= 60 else f"{s} s"


@dataclass
class SuiteProgress:
    """Counts what ended and what runs; ``line()`` is the text shown."""

    clock: Callable[[], float] = time.monotonic
    interval_s: float = PROGRESS_INTERVAL_S
    total: int = 0
    suite_total: Counter[str] = field(default_factory=Counter)
    suite_done: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    running: dict[str, float] = field(default_factory=dict)
    failed_ids: set[str] = field(default_factory=set)
    xfailed_ids: set[str] = field(default_factory=set)
    started_at: float | None = None
    last_shown: float | None = None

    def collected(self, nodeids: Iterable[str]) -> None:
        ids = list(nodeids)
        self.total = len(ids)
        self.suite_total = Counter(suite_of(i) for i in ids)
        if self.started_at is None:
            self.started_at = self.clock()
            self.last_shown = self.started_at

    def check_started(self, nodeid: str) -> None:
        now = self.clock()
        if self.started_at is None:
            self.started_at = self.last_shown = now
        self.running[nodeid] = now

    def phase_ended(self, nodeid: str, when: str, outcome: str, xfail: bool) -> None:
        """One phase's report; the check ends with its teardown (pytest always runs it)."""
        if outcome == "failed":
            self.failed_ids.add(nodeid)
        elif xfail:
            self.xfailed_ids.add(nodeid)
        if when != "teardown":
            return
        self.running.pop(nodeid, None)
        self.suite_done[suite_of(nodeid)] += 1
        if nodeid in self.failed_ids:
            self.outcomes["failed"] += 1
        elif nodeid in self.xfailed_ids:
            self.outcomes["expected failures"] += 1

    def due(self) -> bool:
        now = self.clock()
        if self.last_shown is None or now - self.last_shown < self.interval_s:
            return False
        self.last_shown = now
        return True

    def line(self) -> str:
        now = self.clock()
        done = sum(self.suite_done.values())
        total = max(self.total, done + len(self.running))
        pct = f" ({100 * done // total}%)" if total else ""
        parts = [f"progress: {done} of {total} checks done{pct}"]
        parts += [f"{n} {what}" for what, n in sorted(self.outcomes.items()) if n]
        text = ", ".join(parts) + f", {short_duration(now - (self.started_at or now))} elapsed"
        if self.running:
            oldest = sorted(self.running.items(), key=lambda kv: kv[1])[:RUNNING_SHOWN]
            shown = ", ".join(f"{nodeid.split('/')[-1]} {short_duration(now - t)}" for nodeid, t in oldest)
            more = len(self.running) - len(oldest)
            text += f"; running {len(self.running)}: {shown}" + (f" (+{more})" if more else "")
        open_suites = [
            f"{s} {self.suite_done[s]}/{n}" for s, n in sorted(self.suite_total.items()) if self.suite_done[s] < n
        ]
        if open_suites:
            text += "; suites: " + ", ".join(open_suites)
        return text


class ProgressHooks:
    """The pytest hooks that feed a ``SuiteProgress`` and write its line when due."""

    def __init__(
        self,
        progress: SuiteProgress,
        write_line: Callable[[str], None],
        check_id: Callable[[str], str],
        write_from_timer: Callable[[str], None] | None = None,
    ):
        self.progress = progress
        self.write_line = write_line
        self.write_from_timer = write_from_timer or write_line
        self.check_id = check_id
        self._lock = threading.Lock()  # the hooks and the timer share the progress
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def _show_if_due(self, timer: bool = False) -> None:
        with self._lock:
            if self.progress.started_at is not None and self.progress.due():
                (self.write_from_timer if timer else self.write_line)(self.progress.line())

    def _tick(self) -> None:
        while not self._stop.wait(self.progress.interval_s / 4):
            self._show_if_due(timer=True)

    def start_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Thread(target=self._tick, name="swarm-harness-progress", daemon=True)
            self._timer.start()

    def pytest_sessionstart(self, session: Any) -> None:
        self.start_timer()

    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)

    def pytest_collection_finish(self, session: Any) -> None:
        if session.items:
            with self._lock:
                self.progress.collected(self.check_id(i.nodeid) for i in session.items)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        with self._lock:
            self.progress.check_started(self.check_id(nodeid))
        self._show_if_due()

    def pytest_runtest_logreport(self, report: Any) -> None:
        xfail = hasattr(report, "wasxfail")
        with self._lock:
            self.progress.phase_ended(self.check_id(report.nodeid), report.when, report.outcome, xfail)
        self._show_if_due()


class XdistProgressHooks(ProgressHooks):
    """With xdist the controller collects nothing itself; the workers' collections say the total."""

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        with self._lock:
            if not self.progress.total:
                self.progress.collected(self.check_id(i) for i in ids)


def register(pluginmanager: Any, check_id: Callable[[str], str]) -> None:
    """Add the progress hooks for this session's terminal, if it has one."""
    terminal = pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return

    def write_line(text: str) -> None:
        # Own line, also after xdist's progress dots (ensure_newline knows only file names).
        writer = getattr(terminal, "_tw", None)
        if writer is not None and writer.width_of_current_line:
            terminal.write("\n")
        terminal.write_line(text)

    raw = os.environ.get(INTERVAL_ENV, "")
    try:
        interval_s = float(raw) if raw else PROGRESS_INTERVAL_S
    except ValueError:
        write_line(f"{INTERVAL_ENV}={raw!r} is not a number of seconds; showing progress every {PROGRESS_INTERVAL_S:g} s")
        interval_s = PROGRESS_INTERVAL_S
    if interval_s <= 0:
        return
    # xdist's controller plugin, present only when checks run on workers.
    distributed = pluginmanager.get_plugin("dsession") is not None
    capman = pluginmanager.get_plugin("capturemanager")

    def write_from_timer(text: str) -> None:
        # Without xdist the timer writes while a check runs, under pytest's output capture:
        # the line would land in the check's captured output. Capture is lifted for that
        # one line (output the check writes at that instant reaches the terminal too).
        if distributed or capman is None:
            write_line(text)
            return
        with capman.global_and_fixture_disabled():
            write_line(text)

    cls = XdistProgressHooks if pluginmanager.hasplugin("xdist") else ProgressHooks
    hooks = cls(SuiteProgress(interval_s=interval_s), write_line, check_id, write_from_timer)
    pluginmanager.register(hooks, "swarm-harness-progress")
