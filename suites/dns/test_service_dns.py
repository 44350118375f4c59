"""Service-name DNS from every node: tasks.<svc>, the service name, aliases, container
names, updates, removal, scope.

Catches eventually-consistent discovery bugs (moby #26772, #29529, #42833): after
each scale, update and removal, every node must agree with the manager's view
within a deadline.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from harness.probe import containers
from harness.probe.dns import absence_problems, control, lookup_everywhere, wait_resolves_to
from harness.probe.image import image_ref
from harness.probe.service import deploy_global_probe, remove_service
from harness.retry import NotYet
from harness.swarm.services import create_probe_service, running_task_ips, scale, service_vip, wait_replicas
from harness.swarm.updates import DONE_STATES, update_config, update_image, watch_update
from suites.context import OverlayContext


def _running_tasks(ctx: OverlayContext, svc: str, replicas: int) -> Callable[[], set[str]]:
    """A reader of ``svc``'s running task addresses for ``wait_resolves_to``; not yet while
    fewer or more than ``replicas`` run, so an empty answer can never match."""

    def _read() -> set[str]:
        ips = running_task_ips(ctx.cluster, svc, ctx.network)
        if len(ips) != replicas:
            raise NotYet(f"{len(ips)} of {replicas} tasks of {svc} running")
        return ips

    return _read


@pytest.mark.parametrize("mode", ["vip", "dnsrr"])
def test_names_track_scale_up_and_down(mode: str, plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    svc = ctx.name(f"dns-{mode}")
    create_probe_service(
        ctx.cluster, svc, ctx.network, ctx.labels, image_ref("v1"), replicas=2, endpoint_mode=mode
    )
    for replicas in (2, 4, 1):
        running = _running_tasks(ctx, svc, replicas)
        scale(ctx.cluster, svc, replicas)
        wait_replicas(ctx.cluster, svc, ctx.network, replicas)
        wait_resolves_to(ctx.cluster, ctx.probes, f"tasks.{svc}", running)
        if mode == "vip":
            wait_resolves_to(ctx.cluster, ctx.probes, svc, {service_vip(ctx.cluster, svc, ctx.network)})
        else:
            wait_resolves_to(ctx.cluster, ctx.probes, svc, running)


def test_names_follow_a_service_update(plain_overlay: OverlayContext) -> None:
    """`service update --image` replaces every task: DNS must list the new tasks only."""
    ctx = plain_overlay
    svc = ctx.name("dns-upd")
    create_probe_service(
        ctx.cluster, svc, ctx.network, ctx.labels, image_ref("v1"), replicas=2, endpoint_mode="dnsrr"
    )
    before = wait_replicas(ctx.cluster, svc, ctx.network, 2)
    wait_resolves_to(ctx.cluster, ctx.probes, f"tasks.{svc}", before)
    update_image(ctx.cluster, svc, image_ref("v2"), update_config())
    watch_update(ctx.cluster, svc, DONE_STATES, want={image_ref("v2"): 2})
    after = wait_replicas(ctx.cluster, svc, ctx.network, 2)
    assert not before & after, f"the update kept task addresses {sorted(before & after)}"
    wait_resolves_to(ctx.cluster, ctx.probes, f"tasks.{svc}", _running_tasks(ctx, svc, 2))
    wait_resolves_to(ctx.cluster, ctx.probes, svc, _running_tasks(ctx, svc, 2))


def test_removed_service_stops_resolving(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    svc = ctx.name("dns-gone")
    create_probe_service(ctx.cluster, svc, ctx.network, ctx.labels, image_ref("v1"), replicas=2)
    ips = wait_replicas(ctx.cluster, svc, ctx.network, 2)
    wait_resolves_to(ctx.cluster, ctx.probes, f"tasks.{svc}", ips)
    ctx.cluster.manager_docker().services.get(svc).remove()
    wait_resolves_to(ctx.cluster, ctx.probes, f"tasks.{svc}", None)
    wait_resolves_to(ctx.cluster, ctx.probes, svc, None)


def test_network_alias_resolves(plain_overlay: OverlayContext) -> None:
    ctx = plain_overlay
    svc, alias = ctx.name("dns-alias"), ctx.name("alias")
    create_probe_service(
        ctx.cluster,
        svc,
        ctx.network,
        ctx.labels,
        image_ref("v1"),
        replicas=2,
        endpoint_mode="dnsrr",
        aliases=[alias],
    )
    ips = wait_replicas(ctx.cluster, svc, ctx.network, 2)
    wait_resolves_to(ctx.cluster, ctx.probes, alias, ips)


def test_attachable_container_name_resolves(plain_overlay: OverlayContext) -> None:
    """A plain `docker run --network <attachable overlay>` container is found by name
    from tasks on every node, and stops resolving once it is gone."""
    ctx = plain_overlay
    node = ctx.cluster.nodes[-1].name
    name = ctx.name("dns-ctr")
    ip = containers.start(ctx.cluster, node, name, ctx.network, ctx.labels)
    try:
        wait_resolves_to(ctx.cluster, ctx.probes, name, {ip})
    finally:
        containers.remove(ctx.cluster, node, name)
    wait_resolves_to(ctx.cluster, ctx.probes, name, None)


def test_name_on_another_network_does_not_resolve(plain_overlay: OverlayContext) -> None:
    """A service attached only to another overlay must be invisible from this one. Its
    names do resolve on its own overlay (the sanity inverse), and this overlay's resolver
    answers a control name in the same lookup, so "no address" cannot mean "DNS is down"."""
    ctx = plain_overlay
    other = ctx.name("dns-other")
    ctx.cluster.manager_docker().networks.create(other, driver="overlay", attachable=True, labels=ctx.labels)
    hidden = deploy_global_probe(ctx.cluster, other, ctx.labels, secrets.token_hex(2))
    try:
        names, addresses = control(hidden)
        wait_resolves_to(ctx.cluster, hidden, names, addresses)
        ctl_name, ctl_addresses = control(ctx.probes)
        seen = lookup_everywhere(ctx.cluster, ctx.probes, [hidden.service, names, ctl_name])
    finally:
        remove_service(ctx.cluster, hidden.service)
    leaked = [
        f"{name}: {problem}"
        for name in (hidden.service, names)
        for problem in absence_problems(name, seen, ctl_name, ctl_addresses)
    ]
    assert not leaked, f"{hidden.service} (only on {other}) seen from {ctx.network}: {leaked}"
