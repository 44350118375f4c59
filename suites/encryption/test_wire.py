"""Encryption on the wire, with the sanity inverse on the plain overlay.

The plain-network capture must see plaintext VXLAN, or the capture is broken.
The encrypted network must show ESP between the nodes, zero plaintext VXLAN for
its VNI, and xfrm SAs for the peer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.probe.capture import capture, encrypted_problems, encrypted_symptoms, plain_problems
from harness.probe.service import ProbeDeployment
from harness.rundir import RunDir
from harness.swarm.bootstrap import swarm_address
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure


def _pair(cluster: Cluster) -> tuple[str, str]:
    names = [n.name for n in cluster.nodes]
    if len(names) < 2:
        pytest.fail("encryption on the wire needs at least two nodes; this inventory has one")
    return names[0], names[1]


def _save(run_dir: Path, name: str, data: object) -> None:
    out = RunDir(run_dir).report(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))


@pytest.mark.needs("tcpdump")
@pytest.mark.xdist_group("overlay-plain")
def test_plain_overlay_is_visible_on_the_wire(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_run_dir: Path,
    pytestconfig: pytest.Config,
) -> None:
    src, dst = _pair(harness_cluster)
    net = harness_networks["plain"].name
    cap = capture(
        harness_cluster, global_probe(net), net, src, dst, pytestconfig.getoption("--harness-data-path-port")
    )
    _save(harness_run_dir, f"wire-{net}.json", cap.to_dict())
    problems = plain_problems(cap)
    assert not problems, "; ".join(problems)


@pytest.mark.needs("tcpdump", "esp")
@pytest.mark.xdist_group("overlay-encrypted")
def test_encrypted_overlay_is_esp_on_the_wire(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_run_dir: Path,
    pytestconfig: pytest.Config,
) -> None:
    src, dst = _pair(harness_cluster)
    net = harness_networks["encrypted"].name
    cap = capture(
        harness_cluster, global_probe(net), net, src, dst, pytestconfig.getoption("--harness-data-path-port")
    )
    _save(harness_run_dir, f"wire-{net}.json", cap.to_dict())
    dst_address = swarm_address(harness_cluster.inventory.node(dst))
    problems = encrypted_problems(cap, dst_address)
    if problems:
        raise CheckFailure("; ".join(problems), encrypted_symptoms(cap, dst_address))
