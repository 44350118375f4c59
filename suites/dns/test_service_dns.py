"""Service-name DNS from every node: tasks.<svc>, the service name, aliases, removal, scope.

Catches eventually-consistent discovery bugs (moby #26772, #29529, #42833): after
each scale, update and removal, every node must agree with the manager's view
within a deadline.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from harness.probe.dns import resolve_everywhere, wait_resolves_to
from harness.probe.service import ProbeDeployment
from harness.swarm.cluster import Cluster
from harness.swarm.networks import NetworkSpec
from harness.swarm.services import create_probe_service, scale, service_vip, wait_replicas

pytestmark = pytest.mark.xdist_group("overlay-plain")


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.mark.parametrize("mode", ["vip", "dnsrr"])
def test_names_track_scale_up_and_down(
    mode: str,
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
) -> None:
    net = harness_networks["plain"].name
    probes = global_probe(net)
    svc = _name(f"dns-{mode}")
    create_probe_service(harness_cluster, svc, net, harness_labels, replicas=2, endpoint_mode=mode)
    for replicas in (2, 4, 1):
        scale(harness_cluster, svc, replicas)
        ips = wait_replicas(harness_cluster, svc, net, replicas)
        wait_resolves_to(harness_cluster, probes, f"tasks.{svc}", ips)
        if mode == "vip":
            wait_resolves_to(harness_cluster, probes, svc, {service_vip(harness_cluster, svc, net)})
        else:
            wait_resolves_to(harness_cluster, probes, svc, ips)


def test_removed_service_stops_resolving(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
) -> None:
    net = harness_networks["plain"].name
    probes = global_probe(net)
    svc = _name("dns-gone")
    create_probe_service(harness_cluster, svc, net, harness_labels, replicas=2)
    ips = wait_replicas(harness_cluster, svc, net, 2)
    wait_resolves_to(harness_cluster, probes, f"tasks.{svc}", ips)
    harness_cluster.manager_docker().services.get(svc).remove()
    wait_resolves_to(harness_cluster, probes, f"tasks.{svc}", None)
    wait_resolves_to(harness_cluster, probes, svc, None)


def test_network_alias_resolves(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
) -> None:
    net = harness_networks["plain"].name
    probes = global_probe(net)
    svc, alias = _name("dns-alias"), _name("alias")
    create_probe_service(
        harness_cluster, svc, net, harness_labels, replicas=2, endpoint_mode="dnsrr", aliases=[alias]
    )
    ips = wait_replicas(harness_cluster, svc, net, 2)
    wait_resolves_to(harness_cluster, probes, alias, ips)


def test_name_on_another_network_does_not_resolve(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
) -> None:
    """A service attached only to another overlay must be invisible from this one."""
    net = harness_networks["plain"].name
    probes = global_probe(net)
    other = _name("dns-other")
    harness_cluster.manager_docker().networks.create(
        other, driver="overlay", attachable=True, labels=harness_labels
    )
    svc = _name("dns-hidden")
    create_probe_service(harness_cluster, svc, other, harness_labels, replicas=1)
    wait_replicas(harness_cluster, svc, other, 1)
    seen = resolve_everywhere(harness_cluster, probes, svc)
    leaked = {n: r["addresses"] for n, r in seen.items() if r.get("addresses")}
    assert leaked == {}, f"{svc} (only on {other}) resolved from {net}: {leaked}"
