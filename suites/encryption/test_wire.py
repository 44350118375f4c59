"""Encryption on the wire, with the sanity inverse on the plain overlay.

One check per overlay (``test_overlay_on_the_wire[plain]`` and ``[encrypted]``).
The plain-network capture must see plaintext VXLAN, or the capture is broken.
The encrypted network must show ESP between the nodes, zero plaintext VXLAN for
its VNI, and xfrm SAs for the peer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.probe.capture import capture, encrypted_problems, encrypted_symptoms, plain_problems
from harness.probe.service import ProbeDeployment
from harness.rundir import wire_name
from harness.swarm.bootstrap import swarm_address
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure
from suites.context import SuiteReports
from suites.params import networks


def _pair(cluster: Cluster) -> tuple[str, str]:
    names = [n.name for n in cluster.nodes]
    if len(names) < 2:
        pytest.fail("encryption on the wire needs at least two nodes; this inventory has one")
    return names[0], names[1]


@pytest.mark.needs("tcpdump")
@pytest.mark.parametrize("kind", networks())
def test_overlay_on_the_wire(
    kind: str,
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_data_path_port: int | None,
    suite_reports: SuiteReports,
) -> None:
    """plain: VXLAN in plaintext on the wire; encrypted: ESP only, with an SA for the peer."""
    src, dst = _pair(harness_cluster)
    net = harness_networks[kind].name
    cap = capture(harness_cluster, global_probe(net), net, src, dst, harness_data_path_port)
    suite_reports.save(wire_name(net), cap.to_dict())
    if kind == "plain":
        problems = plain_problems(cap)
        assert not problems, "; ".join(problems)
        return
    dst_address = swarm_address(harness_cluster.inventory.node(dst))
    problems = encrypted_problems(cap, dst_address)
    if problems:
        raise CheckFailure("; ".join(problems), encrypted_symptoms(cap, dst_address))
