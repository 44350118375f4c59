"""Overlay isolation, as problems a suite asserts empty and a break-on-purpose test
asserts present: both must read the same check, or the break proves nothing.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping

from harness.cluster import Cluster
from harness.probe.agent import BatchReply, TcpReply
from harness.probe.service import TCP_PORT, ProbeDeployment, batch, deploy_global_probe, remove_service
from harness.swarm.bootstrap import swarm_address
from suites.context import OverlayContext


def dials(
    cluster: Cluster, src: ProbeDeployment, targets: dict[str, tuple[str, int]]
) -> dict[str, BatchReply]:
    """From each task of ``src``, a TCP dial to each target; results by "src->target"."""
    out: dict[str, BatchReply] = {}
    for node, task in sorted(src.tasks.items()):
        ops = [{"id": k, "op": "tcp", "host": h, "port": p, "timeout_s": 2} for k, (h, p) in targets.items()]
        for r in batch(cluster, task, ops):
            out[f"{node}->{r.id}"] = r
    return out


@contextlib.contextmanager
def fresh_overlay(ctx: OverlayContext, prefix: str, internal: bool = False) -> Iterator[ProbeDeployment]:
    """A fresh attachable overlay with a global probe on it; the probe is removed afterwards
    and the network by the label cleanup."""
    name = ctx.name(prefix)
    ctx.cluster.manager_docker().networks.create(
        name, driver="overlay", attachable=True, internal=internal, labels=ctx.labels, scope="swarm"
    )
    deployment = deploy_global_probe(ctx.cluster, name, ctx.labels, secrets.token_hex(2))
    try:
        yield deployment
    finally:
        remove_service(ctx.cluster, deployment.service)


def reached(results: Mapping[str, BatchReply]) -> list[str]:
    """Dials that got through, or at least connected: either breaks isolation."""
    return sorted(k for k, r in results.items() if r.ok or (isinstance(r, TcpReply) and r.connected))


def overlay_isolation_problems(ctx: OverlayContext, other: ProbeDeployment) -> list[str]:
    """Tasks on ``ctx.network`` must reach tasks on ``other.network`` neither by address nor
    by service name, while ``other``'s tasks reach each other (the sanity inverse)."""
    targets = {f"{n}:{t.address}": (t.address, TCP_PORT) for n, t in other.tasks.items()}
    inside = dials(ctx.cluster, other, targets)
    across = dials(ctx.cluster, ctx.probes, targets)
    names = dials(ctx.cluster, ctx.probes, {"by-name": (f"tasks.{other.service}", TCP_PORT)})
    return isolation_verdict(ctx.network, other, inside, across, names)


def isolation_verdict(
    network: str,
    other: ProbeDeployment,
    inside: Mapping[str, BatchReply],
    across: Mapping[str, BatchReply],
    names: Mapping[str, BatchReply],
) -> list[str]:
    """The judgement of ``overlay_isolation_problems`` on its dial results: ``inside``
    (other's tasks to each other), ``across`` (``network``'s tasks to other's addresses)
    and ``names`` (``network``'s tasks to other's service name). A sanity inverse that
    was never dialed counts as dead: no dial is no proof."""
    problems = []
    dead = {k: r.error for k, r in inside.items() if not r.ok}
    if not inside:
        dead = {"none": f"no dial between the tasks of {other.service}"}
    if dead:
        problems.append(f"sanity: tasks on {other.network} must reach each other: {dead}")
    if leaked := reached(across):
        problems.append(f"tasks on {network} reached tasks on {other.network}: {leaked}")
    if resolved := reached(names):
        problems.append(f"{other.service} on {other.network} was reachable by name from {resolved}")
    return problems


def internal_overlay_problems(ctx: OverlayContext, internal: ProbeDeployment) -> list[str]:
    """Tasks on ``internal`` reach each other but no node address, while tasks on
    ``ctx.network`` reach those same addresses (the sanity inverse)."""
    outside = {f"{n.name}:22": (swarm_address(n), 22) for n in ctx.cluster.nodes}
    peers = {f"{n}:{t.address}": (t.address, TCP_PORT) for n, t in internal.tasks.items()}
    inside = dials(ctx.cluster, internal, peers)
    out_of_plain = dials(ctx.cluster, ctx.probes, outside)
    escaped = dials(ctx.cluster, internal, outside)
    return internal_verdict(internal.network, inside, out_of_plain, escaped)


def internal_verdict(
    network: str,
    inside: Mapping[str, BatchReply],
    out_of_plain: Mapping[str, BatchReply],
    escaped: Mapping[str, BatchReply],
) -> list[str]:
    """The judgement of ``internal_overlay_problems`` on its dial results: ``inside`` and
    ``out_of_plain`` must all work (the sanity inverse), nothing in ``escaped`` may
    connect."""
    problems = []
    sanity = {**inside, **out_of_plain}
    dead = {k: r.error for k, r in sanity.items() if not r.ok}
    if not inside or not out_of_plain:
        dead["none"] = "a sanity dial set is empty"
    if dead:
        problems.append(f"sanity: these dials must work: {dead}")
    if leaked := reached(escaped):
        problems.append(f"the internal overlay {network} reached node addresses: {leaked}")
    return problems
