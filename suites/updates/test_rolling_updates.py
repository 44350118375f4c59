"""Rolling updates and rollback under continuous traffic from every node.

Services use DNS round robin (``endpoint_mode=dnsrr``) so that the checks hold on
kernels without IPVS; the clients resolve the name for every request, as most
real clients do. The traffic numbers (sent, failed, versions, error windows) are
recorded as JUnit properties of each test, so the report shows them even on a pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from harness.probe.agent import LoadReply
from harness.probe.image import image_ref
from harness.probe.service import agent, wait_serving
from harness.probe.traffic import LoadFromEveryNode, TrafficSummary
from harness.retry import until_elapsed
from harness.swarm.services import create_probe_service, scale, wait_replicas
from harness.swarm.updates import (
    DONE_STATES,
    healthcheck,
    new_task_starts,
    rollback,
    running_by_image,
    slots_by_image,
    spec_image,
    update_config,
    update_image,
    watch_update,
)
from suites.context import OverlayContext
from suites.updates.checks import (
    parallelism_problems,
    start_first_problems,
    stop_first_problems,
    version_problems,
)

REPLICAS = 3
MIN_REQUESTS = 200
# Traffic keeps flowing at least this long, so every check sees MIN_REQUESTS or more.
MIN_TRAFFIC_S = 8.0

Record = Callable[[str, object], None]


def _service(ctx: OverlayContext, prefix: str, replicas: int = REPLICAS, safe: bool = False) -> str:
    """A v1 DNSRR service; ``safe`` adds what zero-downtime needs: a healthcheck and a drain."""
    name = ctx.name(prefix)
    create_probe_service(
        ctx.cluster,
        name,
        ctx.network,
        ctx.labels,
        image_ref("v1"),
        replicas=replicas,
        endpoint_mode="dnsrr",
        healthcheck=healthcheck() if safe else None,
        drain_s=3 if safe else 0,
    )
    wait_serving(ctx.cluster, name, replicas)  # the traffic's first requests find every task listening
    return name


def _all_answer_with(ctx: OverlayContext, svc: str, version: str) -> dict[str, str]:
    """One second of requests from every node; returns what any node saw other than
    only ``version`` answering (empty when all is well)."""
    args = ["load", f"http://{svc}:8080/", "--duration-s", "1", "--interval-s", "0.05"]
    seen = {
        node: LoadReply.from_dict(agent(ctx.cluster, task, args)) for node, task in sorted(ctx.probes.tasks.items())
    }
    return version_problems(seen, version)


def _report(record_property: Record, traffic: TrafficSummary, **extra: object) -> None:
    summary = {k: v for k, v in traffic.to_dict().items() if k != "per_node"}
    record_property("traffic", json.dumps(summary))
    for k, v in extra.items():
        record_property(k, v)


def test_start_first_with_healthcheck_loses_no_request(
    plain_overlay: OverlayContext, record_property: Record
) -> None:
    """New task healthy before the old one stops, and the old one drains: zero failed requests."""
    ctx = plain_overlay
    svc = _service(ctx, "upd-start", safe=True)
    with LoadFromEveryNode(ctx.cluster, ctx.probes, svc) as load:
        started = time.monotonic()
        update_image(
            ctx.cluster, svc, image_ref("v2"), update_config(order="start-first", failure_action="rollback")
        )
        record = watch_update(ctx.cluster, svc, DONE_STATES, want={image_ref("v2"): REPLICAS})
        until_elapsed(started, MIN_TRAFFIC_S, "enough traffic")
        traffic = load.stop()
    _report(record_property, traffic, update_s=round(record.duration_s, 1))
    problems = start_first_problems(record, traffic, REPLICAS, MIN_REQUESTS)
    assert not problems, "; ".join(problems)
    assert not _all_answer_with(ctx, svc, "v2")


def test_stop_first_reports_its_error_window(plain_overlay: OverlayContext, record_property: Record) -> None:
    """No healthcheck, no drain, old task stopped first: the failures and their window are
    measured, and must lie within the update. The service answers everywhere before it
    starts, so a failure is the update's, not a service that never worked."""
    ctx = plain_overlay
    svc = _service(ctx, "upd-stop")
    assert not _all_answer_with(ctx, svc, "v1"), "the service did not answer every node before the update"
    with LoadFromEveryNode(ctx.cluster, ctx.probes, svc) as load:
        started = time.monotonic()
        update_image(ctx.cluster, svc, image_ref("v2"), update_config(order="stop-first"))
        record = watch_update(ctx.cluster, svc, DONE_STATES, want={image_ref("v2"): REPLICAS})
        finished = time.monotonic()
        until_elapsed(started, MIN_TRAFFIC_S, "enough traffic")
        traffic = load.stop()
    _report(record_property, traffic, update_s=round(record.duration_s, 1), failed=traffic.failed)
    problems = stop_first_problems(record, traffic, REPLICAS, MIN_REQUESTS, started, finished)
    assert not problems, "; ".join(problems)
    assert not _all_answer_with(ctx, svc, "v2")


@pytest.mark.parametrize("parallelism", [1, 2])
def test_parallelism_and_delay_are_honoured(
    parallelism: int, plain_overlay: OverlayContext, record_property: Record
) -> None:
    """Tasks are replaced at most ``parallelism`` at a time, ``delay`` apart."""
    ctx = plain_overlay
    replicas, delay_s = 4, 3.0
    svc = _service(ctx, f"upd-p{parallelism}", replicas=replicas)
    update_image(ctx.cluster, svc, image_ref("v2"), update_config(parallelism=parallelism, delay_s=delay_s))
    record = watch_update(ctx.cluster, svc, DONE_STATES, want={image_ref("v2"): replicas})
    starts = new_task_starts(ctx.cluster, svc, image_ref("v2"))
    record_property("v2_task_created_at_s", [round(t - starts[0], 1) for t in starts])
    record_property("v2_running_steps", record.steps(image_ref("v2")))
    problems = parallelism_problems(record, starts, replicas, parallelism, delay_s)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("action,final", [("rollback", "rollback_completed"), ("pause", "paused")])
def test_update_to_a_broken_image(
    action: str, final: str, plain_overlay: OverlayContext, record_property: Record
) -> None:
    """A task that cannot start: ``rollback`` returns to v1, ``pause`` stops with the rest serving."""
    ctx = plain_overlay
    svc = _service(ctx, f"upd-{action}")
    with LoadFromEveryNode(ctx.cluster, ctx.probes, svc) as load:
        update_image(
            ctx.cluster,
            svc,
            image_ref("broken"),
            # The updater acts on a failure only inside a task's monitor window. Measured on a
            # loaded 2-core machine (load average 30): a broken task failed 12 s after its
            # slot's v1 task was stopped, so with 4 s the updater reached every slot first.
            # The window ends early on the first failure, so a longer one costs no time here.
            update_config(failure_action=action, monitor_s=15, parallelism=1),
        )
        record = watch_update(ctx.cluster, svc, (final,), timeout_s=180)
        traffic = load.stop()
    _report(record_property, traffic, update_state=record.state, update_message=record.message)
    assert traffic.sent >= MIN_REQUESTS / 2 and traffic.sent - traffic.failed > 0, traffic.describe()
    assert set(traffic.versions) == {"v1"}, f"a broken task answered: {traffic.describe()}"
    if action == "rollback":
        assert spec_image(ctx.cluster, svc) == image_ref("v1")
        watch_update(ctx.cluster, svc, (final,), want={image_ref("v1"): REPLICAS})
    else:
        assert spec_image(ctx.cluster, svc) == image_ref("broken")
        # A broken task runs for an instant before it fails, so the updater may have moved on
        # to a further slot before its monitor saw the failure; every slot it did not reach
        # must still run v1, and at least one must.
        slots = slots_by_image(ctx.cluster, svc)
        running = running_by_image(ctx.cluster, svc)
        record_property("slots_by_image", slots)
        untouched = slots.get(image_ref("v1"), 0)
        assert 1 <= untouched < REPLICAS, f"paused with slots {slots}"
        assert running.get(image_ref("v1")) == untouched, f"paused with slots {slots}, running {running}"
    assert not _all_answer_with(ctx, svc, "v1")


def test_manual_rollback_returns_to_the_previous_image(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    svc = _service(ctx, "upd-back")
    update_image(ctx.cluster, svc, image_ref("v2"), update_config())
    watch_update(ctx.cluster, svc, DONE_STATES, want={image_ref("v2"): REPLICAS})
    rollback(ctx.cluster, svc)
    record = watch_update(ctx.cluster, svc, ("rollback_completed",), want={image_ref("v1"): REPLICAS})
    assert spec_image(ctx.cluster, svc) == image_ref("v1"), record.to_dict()
    assert not _all_answer_with(ctx, svc, "v1")


def test_scaling_under_traffic_loses_no_request(
    plain_overlay: OverlayContext, record_property: Record
) -> None:
    ctx = plain_overlay
    svc = _service(ctx, "upd-scale", replicas=2, safe=True)
    with LoadFromEveryNode(ctx.cluster, ctx.probes, svc) as load:
        started = time.monotonic()
        for replicas in (5, 2):
            scale(ctx.cluster, svc, replicas)
            wait_replicas(ctx.cluster, svc, ctx.network, replicas)
        until_elapsed(started, MIN_TRAFFIC_S, "enough traffic")
        traffic = load.stop()
    _report(record_property, traffic)
    assert traffic.sent >= MIN_REQUESTS, traffic.describe()
    assert traffic.failed == 0, f"scaling 2->5->2 lost requests: {traffic.describe()}"
