"""The rolling-update suite's verdicts, as problems a test asserts empty.

Kept apart from the tests so that each can be shown, on recorded or synthetic
numbers, to report what it claims (an outage, a task too many, a batch too large):
a verdict that cannot fail would let every update pass.
"""

from __future__ import annotations

from harness.probe.agent import LoadReply
from harness.probe.traffic import TrafficSummary
from harness.swarm.updates import UpdateRecord, most_in_window


def _state(record: UpdateRecord, want: str = "completed") -> list[str]:
    if record.state != want:
        return [f"update ended {record.state!r}, want {want!r}: {record.message}"]
    return []


def _volume(traffic: TrafficSummary, min_requests: int) -> list[str]:
    if traffic.sent < min_requests:
        return [f"only {traffic.sent} requests sent, want {min_requests} or more: {traffic.describe()}"]
    return []


def start_first_problems(
    record: UpdateRecord, traffic: TrafficSummary, replicas: int, min_requests: int
) -> list[str]:
    """A start-first update with a healthcheck and a drain: it completes, no request
    fails, the traffic spans both versions, and never more than one extra task runs."""
    out = _state(record) + _volume(traffic, min_requests)
    if traffic.failed:
        out.append(f"start-first with healthcheck lost requests: {traffic.describe()}")
    if set(traffic.versions) != {"v1", "v2"}:
        out.append(f"traffic did not span the update (versions {traffic.versions}): {traffic.describe()}")
    if record.max_running() > replicas + 1:
        out.append(f"{record.max_running()} tasks ran at once, more than {replicas} + 1: {record.to_dict()}")
    return out


def stop_first_problems(
    record: UpdateRecord,
    traffic: TrafficSummary,
    replicas: int,
    min_requests: int,
    began_s: float,
    ended_s: float,
) -> list[str]:
    """A stop-first update without healthcheck or drain may lose requests, but only
    while it runs (``began_s`` to ``ended_s`` on the harness's clock), and never has
    more than one task down at once."""
    out = _state(record) + _volume(traffic, min_requests)
    outside = traffic.failures_outside(began_s, ended_s)
    if outside:
        out.append(f"requests failed outside the update: {outside}; {traffic.describe()}")
    if record.max_unavailable(replicas) > 1:
        out.append(f"{record.max_unavailable(replicas)} tasks down at once, more than 1: {record.to_dict()}")
    return out


def parallelism_problems(
    record: UpdateRecord, starts: list[float], replicas: int, parallelism: int, delay_s: float
) -> list[str]:
    """Tasks replaced at most ``parallelism`` at a time, batches ``delay_s`` apart, and
    never more than ``parallelism`` tasks down. ``starts`` are the new tasks' creation
    times (epoch seconds)."""
    out = _state(record)
    offsets = [round(t - starts[0], 1) for t in starts] if starts else []
    if len(starts) != replicas:
        out.append(f"expected {replicas} new tasks, saw {len(starts)}")
    # Within any span shorter than the delay, no more than `parallelism` tasks were replaced.
    together = most_in_window(starts, delay_s * 0.9)
    if together > parallelism:
        out.append(
            f"{together} tasks replaced within {delay_s:g} s, parallelism {parallelism}: created at {offsets} s"
        )
    batches = -(-replicas // parallelism)
    if starts and starts[-1] - starts[0] < (batches - 1) * delay_s * 0.9:
        out.append(
            f"update finished too fast for {batches} batches {delay_s:g} s apart: created at {offsets} s"
        )
    if record.max_unavailable(replicas) > parallelism:
        out.append(
            f"{record.max_unavailable(replicas)} tasks down at once, parallelism {parallelism}: {record.to_dict()}"
        )
    return out


def version_problems(seen: dict[str, LoadReply], version: str) -> dict[str, str]:
    """Nodes whose load results (the agent's ``load`` output) show a failure or any
    version other than ``version`` answering; a node that sent nothing proves nothing."""
    wrong = {}
    for node, res in sorted(seen.items()):
        if not res.sent or res.failed or set(res.versions) != {version}:
            wrong[node] = f"sent {res.sent}, failed {res.failed}, versions {res.versions}, errors {res.errors}"
    return wrong
