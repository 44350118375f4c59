"""Traffic during a rolling upgrade, from the nodes not being upgraded.

Window after window, one idle node's probe task sends requests to the traffic
service for one window (``harness.probe.traffic.load_window``), then holds a
long-lived TCP connection to another idle node's task for one window. A window adds
its requests, failures, errors and longest gap to the report; a connection that
breaks is named, unless one of its ends started draining meanwhile (its task stopped
by design). Each window is waited for, not detached: when a drain stops the sending
task mid-window, the next window starts at once from another node.
"""

from __future__ import annotations

import contextlib
import threading
import time

from harness.cluster import Cluster
from harness.probe.agent import HoldReply
from harness.probe.service import HTTP_PORT, TCP_PORT, ProbeDeployment, agent, wait_global_probe
from harness.probe.traffic import TrafficSummary, load_window
from harness.upgrade.report import Traffic

# The monitor gives up after this long, should the harness never stop it.
MONITOR_LIMIT_S = 3 * 3600


class TrafficMonitor(threading.Thread):
    """Continuous requests and long-lived connections from nodes not in ``busy``."""

    def __init__(self, cluster: Cluster, probes: ProbeDeployment, service: str, window_s: int = 4) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.probes = probes
        self.service = service
        self.url = f"http://{service}:{HTTP_PORT}/"
        self.window_s = window_s
        self.busy: set[str] = set()
        self.stats = Traffic(window_s=window_s)
        self._halt = threading.Event()
        self.started = time.monotonic()

    def stop(self) -> None:
        self._halt.set()
        self.join(self.window_s + 60)

    def _refresh(self) -> None:
        with contextlib.suppress(Exception):
            self.probes = wait_global_probe(
                self.cluster,
                self.probes.service,
                self.probes.network,
                3,
                [n.name for n in self.cluster.nodes if n.name not in self.busy],
            )

    def _count_load(self, summary: TrafficSummary) -> None:
        s = self.stats
        for n in summary.per_node:
            start_s = round((n.launched_s or self.started) - self.started, 1)
            s.timeline.append([start_s, n.node, n.result.sent - n.result.failed, n.result.failed])
        s.windows += 1
        s.sent += summary.sent
        s.failed += summary.failed
        for k, v in summary.errors.items():
            s.errors[k] = s.errors.get(k, 0) + v
        s.longest_gap_s = max(s.longest_gap_s, summary.longest_gap_s)

    def _hold(self, src: str, dst: str) -> None:
        """A connection held for one window; counted as broken unless a drain ended it."""
        reply = agent(
            self.cluster,
            self.probes.tasks[src],
            [
                "hold",
                self.probes.tasks[dst].address,
                str(TCP_PORT),
                "--duration-s",
                str(self.window_s),
                "--interval-s",
                "1",
            ],
            timeout_s=self.window_s + 30,
        )
        hold = HoldReply.from_dict(reply)
        s = self.stats
        s.connections += 1
        if not hold.ok and {src, dst} & self.busy:
            # An endpoint's node started draining mid-window: its task stopped by design.
            s.ended_by_drain += 1
        elif not hold.ok:
            s.connections_broken += 1
            s.broken.append(
                f"{src}->{dst} at +{time.monotonic() - self.started:.0f}s while upgrading "
                f"{','.join(sorted(self.busy)) or 'nothing'}: {hold.error} (after {hold.broken_at_s}s)"
            )

    def _window(self) -> None:
        self._refresh()
        idle = [n for n in sorted(self.probes.tasks) if n not in self.busy]
        if not idle:
            return
        load = load_window(
            self.cluster, self.probes.tasks[idle[0]], self.url, self.window_s, interval_s=0.1, timeout_s=1
        )
        self._count_load(TrafficSummary(self.url, [load]))
        if len(idle) >= 2:
            self._hold(idle[0], idle[-1])

    def run(self) -> None:
        deadline = time.monotonic() + MONITOR_LIMIT_S
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                self._window()
            except Exception as exc:
                self.stats.monitor_errors.append(str(exc)[:200])
                self._halt.wait(1)
