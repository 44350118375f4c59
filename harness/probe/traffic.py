"""Continuous client traffic from every node while something changes underneath it.

Each client is the agent's ``load`` command started detached inside a node's probe
task, so it keeps sending while the harness updates, scales or breaks the service;
``stop`` ends it with SIGTERM (the agent still writes its counts) and collects the
result. Rolling updates are judged by these numbers: requests sent and failed,
versions answered, the longest gap between two successes, and the error window.
"""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from harness.cluster import Cluster
from harness.probe.agent import LoadReply
from harness.probe.service import HTTP_PORT, ProbeDeployment, ProbeTask, agent
from harness.retry import NotYet, eventually
from harness.transport.ssh import raise_first, run_parallel

log = logging.getLogger(__name__)

# A load never outlives this, even if the harness dies without stopping it.
LOAD_LIMIT_S = 900


@dataclass
class NodeLoad:
    """One client's counts. The agent times its failures from its own start, so the
    harness notes when that start can have been, on its own clock (``time.monotonic()``):
    not before ``launched_s``, and ``running_s`` plus the agent's start-up at the latest."""

    node: str
    result: LoadReply
    launched_s: float | None = None
    running_s: float | None = None


@dataclass
class TrafficSummary:
    """What all clients saw together, and each node on its own."""

    url: str
    per_node: list[NodeLoad] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(n.result.sent for n in self.per_node)

    @property
    def failed(self) -> int:
        return sum(n.result.failed for n in self.per_node)

    def _merged(self, counts: Callable[[LoadReply], dict[str, int]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.per_node:
            for k, c in counts(n.result).items():
                out[k] = out.get(k, 0) + int(c)
        return out

    @property
    def versions(self) -> dict[str, int]:
        return self._merged(lambda r: r.versions)

    @property
    def errors(self) -> dict[str, int]:
        return self._merged(lambda r: r.errors)

    @property
    def longest_gap_s(self) -> float:
        return max((float(n.result.longest_gap_s) for n in self.per_node), default=0.0)

    def error_windows(self) -> dict[str, tuple[float, float]]:
        """Per node: seconds after the start of its load of the first and last failure."""
        out = {}
        for n in self.per_node:
            first, last = n.result.first_failure_s, n.result.last_failure_s
            if first is not None and last is not None:
                out[n.node] = (float(first), float(last))
        return out

    def failures_outside(self, begin_s: float, end_s: float, slack_s: float = 2.0) -> dict[str, str]:
        """Per node, failures that certainly fell before ``begin_s`` or after ``end_s``
        (harness clock), ``slack_s`` allowed for the agent's start-up and clock reads.

        A node whose start was not recorded cannot be placed in time and is named too:
        its failures could lie anywhere.
        """
        out = {}
        windows = self.error_windows()
        for n in self.per_node:
            if n.node not in windows:
                continue
            first, last = windows[n.node]
            if n.launched_s is None or n.running_s is None:
                out[n.node] = f"failures at {first:.2f}-{last:.2f}s of a load whose start was not recorded"
                continue
            found = []
            if n.running_s + first < begin_s - slack_s:
                found.append(f"first failure {begin_s - (n.running_s + first):.2f}s or more before")
            if n.launched_s + last > end_s + slack_s:
                found.append(f"last failure {(n.launched_s + last) - end_s:.2f}s or more after")
            if found:
                out[n.node] = ", ".join(found) + f" the {end_s - begin_s:.2f}s window"
        return out

    def timeline(self) -> dict[str, list[list[int]]]:
        """Per node, [answered, failed] requests for each second of one shared time axis.

        Each agent counts from its own start; the clients start one after another, so each
        series is shifted by how much later than the first its client was launched (to the
        second, which is the chart's resolution). A node whose launch was not recorded is
        drawn from zero.
        """
        launched = [n.launched_s for n in self.per_node if n.launched_s is not None]
        first = min(launched, default=0.0)
        out: dict[str, list[list[int]]] = {}
        for n in self.per_node:
            shift = round(n.launched_s - first) if n.launched_s is not None else 0
            out[n.node] = [[0, 0]] * shift + [[int(a), int(b)] for a, b in n.result.per_second]
        return out

    def describe(self) -> str:
        windows = ", ".join(f"{k} {a:.2f}-{b:.2f}s" for k, (a, b) in sorted(self.error_windows().items()))
        return (
            f"{self.failed} of {self.sent} requests to {self.url} failed; versions {self.versions}; "
            f"longest gap {self.longest_gap_s:.2f}s; error windows: {windows or 'none'}; "
            f"errors {self.errors or 'none'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sent": self.sent,
            "failed": self.failed,
            "versions": self.versions,
            "longest_gap_s": self.longest_gap_s,
            "error_windows": self.error_windows(),
            "timeline": self.timeline(),
            "per_node": {n.node: n.result.to_dict() for n in self.per_node},
        }


def load_args(url: str, duration_s: float, interval_s: float, timeout_s: float) -> list[str]:
    """The agent's ``load`` command: requests to ``url`` every ``interval_s`` for ``duration_s``."""
    return [
        "load",
        url,
        "--duration-s",
        str(duration_s),
        "--interval-s",
        str(interval_s),
        "--timeout-s",
        str(timeout_s),
    ]


def load_window(
    cluster: Cluster, task: ProbeTask, url: str, duration_s: float, interval_s: float, timeout_s: float
) -> NodeLoad:
    """One client on ``task`` for ``duration_s``, waited for (not detached): for a caller that
    measures window after window and must go on at once when the task is gone mid-window."""
    launched_s = time.monotonic()
    result = agent(
        cluster, task, load_args(url, duration_s, interval_s, timeout_s), timeout_s=duration_s + 30
    )
    return NodeLoad(task.node, LoadReply.from_dict(result), launched_s)


class _Client:
    """One detached ``agent.py load`` inside one probe task."""

    def __init__(self, cluster: Cluster, task: ProbeTask, url: str, interval_s: float, timeout_s: float):
        self.cluster = cluster
        self.task = task
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        tag = secrets.token_hex(4)
        self.out = f"/tmp/load-{tag}.json"
        self.pidfile = f"/tmp/load-{tag}.pid"
        self.launched_s: float | None = None
        self.running_s: float | None = None

    def _exec(self, script: str, detach: bool = False) -> Any:
        flag = "-d " if detach else ""
        cmd = f"docker exec {flag}{self.task.container_id} sh -c {shlex.quote(script)}"
        return self.cluster.host(self.task.node).run(cmd, timeout_s=30)

    def start(self) -> None:
        self.launched_s = time.monotonic()
        args = load_args(self.url, LOAD_LIMIT_S, self.interval_s, self.timeout_s)
        load = " ".join(shlex.quote(a) for a in ["python3", "/agent.py", *args, "--out", self.out])
        self._exec(f"echo $$ > {self.pidfile}; exec {load}", detach=True).check(
            hint="check that the probe task still runs on that node ('docker ps')"
        )

        def _running() -> None:
            if not self._exec(f"test -s {self.pidfile}").ok:
                raise NotYet(f"no load client pid in {self.pidfile} on {self.task.node} yet")

        eventually(_running, 20, f"the load client on {self.task.node} to start", interval_s=0.5)
        self.running_s = time.monotonic()

    def stop(self) -> NodeLoad:
        kill = f"kill -TERM $(cat {self.pidfile})"
        sent = self._exec(kill)

        def _result() -> LoadReply:
            res = self._exec(f"cat {self.out}")
            if not res.ok:
                # Seen once in CI: no counts within the deadline after the stop. One cause
                # is known and fixed in the agent (its SIGTERM handler could hang on the
                # lock of the very event it set: see agent.StopFlag); the last state says
                # whether the client still ran and whether the SIGTERM exec itself failed,
                # so another cause is named. A client still running is sent the same SIGTERM
                # again, which only sets the stop it already has.
                alive = self._exec(f"kill -0 $(cat {self.pidfile})").ok
                if alive:
                    self._exec(kill)
                raise NotYet(
                    f"{self.out} not written yet on {self.task.node}; load client "
                    f"{'still running' if alive else 'no longer running'}; the first SIGTERM exec "
                    f"{'succeeded' if sent.ok else f'failed: {sent.tail(2)}'}"
                )
            try:
                doc = json.loads(res.stdout)
            except json.JSONDecodeError:
                raise NotYet(f"{self.out} on {self.task.node} is not complete JSON yet") from None
            return LoadReply.from_dict(doc)

        try:
            doc = eventually(
                _result,
                self.timeout_s + 20,
                f"the load client on {self.task.node} to write its counts",
                interval_s=0.5,
            )
        finally:
            self._exec(f"rm -f {self.out} {self.pidfile}")
        return NodeLoad(self.task.node, doc, self.launched_s, self.running_s)


class LoadFromEveryNode:
    """Context manager: a load client on each node's probe task for the duration of a block.

    ``stop()`` inside the block returns the summary; leaving the block stops any
    client still running, so no load outlives its test.
    """

    def __init__(
        self,
        cluster: Cluster,
        probes: ProbeDeployment,
        target: str,
        interval_s: float = 0.02,
        timeout_s: float = 3.0,
    ) -> None:
        self.url = f"http://{target}:{HTTP_PORT}/"
        self.clients = [
            _Client(cluster, task, self.url, interval_s, timeout_s)
            for _, task in sorted(probes.tasks.items())
        ]
        self.cluster = cluster
        self._summary: TrafficSummary | None = None

    def __enter__(self) -> LoadFromEveryNode:
        started: list[_Client] = []
        try:
            for client in self.clients:
                client.start()
                started.append(client)
        except Exception:
            self.clients = started
            self.stop()
            raise
        log.info("load running against %s from %d nodes", self.url, len(self.clients))
        return self

    def stop(self) -> TrafficSummary:
        if self._summary is None:
            hosts = [self.cluster.host(c.task.node) for c in self.clients]
            by_node = {c.task.node: c for c in self.clients}
            results = raise_first(run_parallel(hosts, lambda h: by_node[h.name].stop()))
            self._summary = TrafficSummary(self.url, [results[n] for n in sorted(results)])
            log.info("load against %s: %s", self.url, self._summary.describe())
        return self._summary

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._summary is None:
            try:
                self.stop()
            except Exception as stop_exc:
                if exc is None:
                    raise
                log.warning("could not collect load results after a failure: %s", stop_exc)
