"""Overlay MTU per ordered node pair: DF ping at the boundary, one byte over, a 1 MiB body.

Small DF pings travel in the same burst, so a pair that loses packets is reported
as lossy, never as having a smaller MTU.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.probe.mtu import PairMTU, measure, overlay_mtu, to_dicts, underlay_mtus, underlay_problems
from harness.rundir import mtu_name
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure
from suites.context import NetworkMeasure
from suites.params import networks


@pytest.fixture
def mtu_for(network_measure: NetworkMeasure) -> Callable[[str], list[PairMTU]]:
    return lambda kind: network_measure(kind, mtu_name, lambda c, p: measure(c, p, p.network), to_dicts)


@pytest.mark.parametrize("kind", networks("mtu"))
def test_mtu_boundary_and_large_body(
    kind: str,
    harness_pair: tuple[str, str],
    mtu_for: Callable[[str], list[PairMTU]],
    record_property: Callable[[str, object], None],
) -> None:
    src, dst = harness_pair
    result = next(r for r in mtu_for(kind) if (r.src, r.dst) == (src, dst))
    record_property("overlay_mtu", result.overlay_mtu)
    record_property("measured_path_mtu", result.measured_path_mtu)
    record_property("over_mtu_refused_by", result.over_mtu)
    problems = result.problems()
    if problems:
        raise CheckFailure(
            f"{src}->{dst} on the {kind} overlay (MTU {result.overlay_mtu}, measured path MTU "
            f"{result.measured_path_mtu or 'inconclusive'}): " + "; ".join(problems),
            result.symptoms(),
        )


@pytest.mark.parametrize("kind", networks("mtu"))
def test_underlay_carries_the_overlay_mtu(
    kind: str, harness_cluster: Cluster, harness_networks: dict[str, NetworkSpec]
) -> None:
    """Every node's underlay fits a full overlay packet plus VXLAN's 50 bytes."""
    net = harness_networks[kind].name
    problems = underlay_problems(overlay_mtu(harness_cluster, net), underlay_mtus(harness_cluster))
    assert not problems, "; ".join(problems)
