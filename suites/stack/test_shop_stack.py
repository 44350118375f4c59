"""A microservices stack deployed with ``docker stack deploy`` across the hosts.

Every replica of every service dials each of its dependencies by service name; every
replica also tries each database it must not reach, which must fail. ``docker stack
rm`` must then leave no service, network or container behind on any node.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.retry import NotYet, eventually
from suites.context import OverlayContext
from suites.stack.shop import (
    ALLOWED,
    FORBIDDEN,
    deploy,
    dial_by_name,
    expected_edges,
    leaked,
    leftovers,
    replicas,
    unreachable,
)


def test_shop_stack_reaches_its_dependencies_and_nothing_else(
    plain_overlay: OverlayContext, record_property: Callable[[str, object], None]
) -> None:
    ctx = plain_overlay
    stack = ctx.name("shop")
    mark = time.monotonic()

    def _phase(name: str) -> None:
        nonlocal mark
        record_property(f"{name}_s", round(time.monotonic() - mark, 1))
        mark = time.monotonic()

    deploy(ctx.cluster, stack, ctx.labels)
    _phase("deploy")
    try:
        tasks = replicas(ctx.cluster, stack)
        _phase("running")
        nodes_used = sorted({t.node for ts in tasks.values() for t in ts})
        assert len(nodes_used) > 1, f"the stack ran on {nodes_used} only; it must span hosts"
        allowed = dial_by_name(ctx.cluster, tasks, ALLOWED)
        _phase("allowed_dials")
        forbidden = dial_by_name(ctx.cluster, tasks, FORBIDDEN)
        _phase("forbidden_dials")
    finally:
        ctx.cluster.run(ctx.cluster.first_manager, f"docker stack rm {stack}").check()
    broken = unreachable(allowed, expected_edges(tasks, ALLOWED))
    assert not broken, f"dependencies not reachable by name: {broken}"
    untried = sorted(set(expected_edges(tasks, FORBIDDEN)) - set(forbidden))
    assert not untried, f"forbidden edges never dialed: {untried}"
    leaks = leaked(forbidden)
    assert not leaks, f"reached a database it must not: {leaks}"

    def _gone() -> None:
        left = leftovers(ctx.cluster, stack)
        if left:
            raise NotYet(", ".join(left))

    eventually(_gone, 90, f"'docker stack rm {stack}' to remove everything", interval_s=2)
    _phase("removal")
