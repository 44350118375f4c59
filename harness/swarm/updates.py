"""Rolling updates as an operator runs them, and what the manager recorded while they ran.

The update itself goes through the Engine API with an explicit update config, so
each suite states the order, parallelism, delay and failure action it tests. The
manual rollback goes through the CLI on a manager, as the API client has no call
for it. While waiting, the manager's view of old and new tasks is sampled, so a
test can check "never more than N tasks down" from what really happened. Images are
references the caller names (the probe's ``image_ref``), counted as the manager
reports them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker.types

from harness.cluster import Cluster
from harness.errors import SwarmError
from harness.retry import NotYet, eventually

NS_PER_S = 1_000_000_000
DONE_STATES = ("completed", "paused", "rollback_completed", "rollback_paused")


@dataclass(frozen=True)
class Sample:
    """One look at the service: seconds since the update began, running tasks per image."""

    at_s: float
    running: dict[str, int]
    state: str

    def count(self, image: str) -> int:
        return self.running.get(image, 0)


@dataclass
class UpdateRecord:
    service: str
    state: str = ""
    message: str = ""
    duration_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def max_unavailable(self, replicas: int) -> int:
        return max((replicas - sum(s.running.values()) for s in self.samples), default=0)

    def max_running(self) -> int:
        return max((sum(s.running.values()) for s in self.samples), default=0)

    def steps(self, image: str) -> list[int]:
        """How many tasks ran ``image`` at each sample where that number changed."""
        out: list[int] = []
        for s in self.samples:
            n = s.count(image)
            if not out or out[-1] != n:
                out.append(n)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "state": self.state,
            "message": self.message,
            "duration_s": round(self.duration_s, 2),
            "samples": [(round(s.at_s, 1), s.running, s.state) for s in self.samples],
        }


# The probe's /health read by bash alone: one request, the status line must say 200 (the
# agent answers 500 while its unhealthy file exists). Not ``python3 /agent.py health``: an
# interpreter start per check, twice a second per task, loaded the 2-core CI machine
# enough that checks ran past their 2 s timeout ("Health check ... context deadline
# exceeded" in dockerd's journal) and swarm replaced healthy tasks as unhealthy.
def health_command(http_port: int = 8080) -> str:
    return (
        f'exec 3<>/dev/tcp/127.0.0.1/{http_port} && printf "GET /health HTTP/1.0\\r\\n\\r\\n" >&3 '
        '&& read -r status <&3 && [[ $status == *" 200 "* ]]'
    )


def healthcheck(interval_s: float = 0.5, retries: int = 3, timeout_s: float = 5) -> docker.types.Healthcheck:
    """The probe's own /health, checked often enough that a start-first update is quick."""
    return docker.types.Healthcheck(
        test=["CMD", "bash", "-c", health_command()],
        interval=int(interval_s * NS_PER_S),
        timeout=int(timeout_s * NS_PER_S),
        retries=retries,
        start_period=0,
    )


def update_config(
    order: str = "stop-first",
    parallelism: int = 1,
    delay_s: float = 0,
    failure_action: str = "pause",
    monitor_s: float = 1,
    max_failure_ratio: float = 0.0,
) -> docker.types.UpdateConfig:
    """An update config as ``docker service update`` flags set it.

    ``monitor_s`` defaults to 1 s, not Docker's 5 s: the updater waits one monitor
    period after the last task before it reports "completed" (measured: a 3-task
    stop-first update took 23.6 s with 1 s), and only the checks of a failing task
    depend on it; those state their own (``test_update_to_a_broken_image``: 4 s).
    """
    return docker.types.UpdateConfig(
        parallelism=parallelism,
        delay=int(delay_s * NS_PER_S),
        failure_action=failure_action,
        monitor=int(monitor_s * NS_PER_S),
        max_failure_ratio=max_failure_ratio,
        order=order,
    )


def running_by_image(cluster: Cluster, service: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in cluster.manager_docker().services.get(service).tasks(filters={"desired-state": "running"}):
        if t["Status"]["State"] == "running":
            image = str(t["Spec"]["ContainerSpec"]["Image"]).split("@")[0]
            out[image] = out.get(image, 0) + 1
    return out


def slots_by_image(cluster: Cluster, service: str) -> dict[str, int]:
    """Slots per image the orchestrator wants running, whatever state their task is in."""
    slots: dict[int, str] = {}
    for t in cluster.manager_docker().services.get(service).tasks(filters={"desired-state": "running"}):
        slots[int(t.get("Slot", 0))] = str(t["Spec"]["ContainerSpec"]["Image"]).split("@")[0]
    out: dict[str, int] = {}
    for image in slots.values():
        out[image] = out.get(image, 0) + 1
    return out


def update_status(cluster: Cluster, service: str) -> tuple[str, str]:
    attrs = cluster.manager_docker().services.get(service).attrs
    status = attrs.get("UpdateStatus") or {}
    return str(status.get("State", "")), str(status.get("Message", ""))


def spec_image(cluster: Cluster, service: str) -> str:
    attrs = cluster.manager_docker().services.get(service).attrs
    return str(attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]).split("@")[0]


def update_image(cluster: Cluster, service: str, image: str, config: docker.types.UpdateConfig) -> None:
    """``docker service update --image`` with ``config``; returns once the manager accepted it."""
    svc = cluster.manager_docker().services.get(service)
    svc.update(image=image, update_config=config)


def replace_every_task(cluster: Cluster, service: str, timeout_s: float = 120) -> UpdateRecord:
    """``docker service update --force --update-parallelism 0``: every task is replaced at
    once with the same spec; returns when the update completed with all replicas running."""
    svc = cluster.manager_docker().services.get(service)
    replicas = int(svc.attrs["Spec"]["Mode"]["Replicated"]["Replicas"])
    image = spec_image(cluster, service)
    svc.update(force_update=True, update_config=update_config(parallelism=0))
    return watch_update(cluster, service, ("completed",), timeout_s, want={image: replicas})


def rollback(cluster: Cluster, service: str) -> None:
    """``docker service update --rollback``: back to the previous spec, as an operator does it."""
    cluster.run(cluster.first_manager, f"docker service update --rollback --detach {service}").check(
        hint=f"run 'docker service inspect {service}' on a manager: a rollback needs a previous spec"
    )


def watch_update(
    cluster: Cluster,
    service: str,
    until: tuple[str, ...],
    timeout_s: float = 180,
    want: dict[str, int] | None = None,
) -> UpdateRecord:
    """Sample the service until its update reaches one of ``until`` (and, if given, the
    running tasks per image reference equal ``want``); fail naming the last state and message."""
    record = UpdateRecord(service)
    start = time.monotonic()

    def _check() -> UpdateRecord:
        state, message = update_status(cluster, service)
        running = running_by_image(cluster, service)
        record.samples.append(Sample(time.monotonic() - start, running, state))
        record.state, record.message = state, message
        if state not in until:
            raise NotYet(f"update state {state or 'none'!r} ({message}); running {running}")
        if want is not None and running != want:
            raise NotYet(f"update state {state!r} but running {running}, want {want}")
        record.duration_s = time.monotonic() - start
        return record

    return eventually(
        _check,
        timeout_s,
        f"the update of {service} to reach {' or '.join(until)}",
        interval_s=0.5,
        hint=f"run 'docker service ps --no-trunc {service}' on a manager to see which task failed",
    )


def new_task_starts(cluster: Cluster, service: str, image: str) -> list[float]:
    """Creation times (epoch seconds) of the tasks the update created for ``image``."""
    tasks = cluster.manager_docker().services.get(service).tasks()
    out = []
    for t in tasks:
        if str(t["Spec"]["ContainerSpec"]["Image"]).split("@")[0] == image:
            out.append(_epoch(t["CreatedAt"]))
    return sorted(out)


def most_in_window(times: list[float], window_s: float) -> int:
    """The largest number of ``times`` that fall within any span shorter than ``window_s``."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u - t < window_s))
    return best


def _epoch(stamp: str) -> float:
    # Engine timestamps carry nanoseconds; Python parses microseconds.
    head, _, frac = stamp.rstrip("Z").partition(".")
    value = datetime.fromisoformat(head + "+00:00").timestamp()
    return value + float("0." + frac[:9]) if frac else value


def require_state(record: UpdateRecord, state: str) -> None:
    if record.state != state:
        raise SwarmError(
            f"update of {record.service} ended {record.state!r} ({record.message}), expected {state!r}",
            f"run 'docker service ps --no-trunc {record.service}' on a manager",
        )
