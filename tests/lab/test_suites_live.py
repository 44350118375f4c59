"""The DNS, MTU and wire-capture checks detect what they claim to, shown by breaking things."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import WaitTimeout
from harness.probe.capture import capture, plain_problems
from harness.probe.dns import wait_resolves_to
from harness.probe.mtu import overlay_mtu, underlay_mtus, underlay_problems
from harness.probe.service import ProbeDeployment, deploy_global_probe, remove_service
from harness.probe.traffic import LoadFromEveryNode
from harness.retry import NotYet, eventually
from harness.swarm.cluster import Cluster
from harness.swarm.services import create_probe_service, scale, wait_replicas

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def probes(shared_cluster: Cluster) -> Iterator[ProbeDeployment]:
    dep = deploy_global_probe(shared_cluster, "harness-plain", shared_cluster.labels("live-suites"), "suites")
    yield dep
    remove_service(shared_cluster, dep.service)


def test_dns_check_reports_what_each_node_saw(shared_cluster: Cluster, probes: ProbeDeployment) -> None:
    labels = shared_cluster.labels("live-dns")
    create_probe_service(shared_cluster, "live-dns", "harness-plain", labels, replicas=2)
    try:
        ips = wait_replicas(shared_cluster, "live-dns", "harness-plain", 2)
        wait_resolves_to(shared_cluster, probes, "tasks.live-dns", ips)
        stale = {*ips, "198.19.200.200"}  # an address the service never had
        with pytest.raises(WaitTimeout) as exc:
            wait_resolves_to(shared_cluster, probes, "tasks.live-dns", stale, timeout_s=3)
        message = exc.value.message
        for node in ("node1", "node2", "node3"):
            assert f"{node} got {sorted(ips)} (extra [], missing ['198.19.200.200']" in message
    finally:
        shared_cluster.manager_docker().services.get("live-dns").remove()


def test_underlay_mtu_too_small_is_named(shared_cluster: Cluster) -> None:
    assert (
        underlay_problems(overlay_mtu(shared_cluster, "harness-plain"), underlay_mtus(shared_cluster)) == []
    )
    shared_cluster.run("node2", "ip link set dev eth0 mtu 1400").check()
    try:
        problems = underlay_problems(
            overlay_mtu(shared_cluster, "harness-plain"), underlay_mtus(shared_cluster)
        )
    finally:
        shared_cluster.run("node2", "ip link set dev eth0 mtu 1500").check()
    assert len(problems) == 1
    assert problems[0].startswith("node2: underlay MTU 1400 < overlay MTU 1450 + 50 bytes of VXLAN")


def test_capture_sanity_inverse_catches_a_broken_capture(
    shared_cluster: Cluster, probes: ProbeDeployment
) -> None:
    good = capture(shared_cluster, probes, "harness-plain", "node1", "node2", duration_s=5)
    assert good.vxlan_plaintext > 0 and plain_problems(good) == []
    # Listening on the wrong data-path port sees nothing: the check must call itself broken.
    blind = capture(
        shared_cluster, probes, "harness-plain", "node1", "node2", data_path_port=4790, duration_s=5
    )
    problems = plain_problems(blind)
    assert len(problems) == 1 and "the capture itself is broken" in problems[0]


def test_traffic_generator_counts_an_outage_and_its_window(
    shared_cluster: Cluster, probes: ProbeDeployment
) -> None:
    """The rolling-update checks rest on these counts: a service scaled to zero mid-traffic
    must show up as failed requests, an error window on every node, and a long gap."""
    labels = shared_cluster.labels("live-load")
    create_probe_service(
        shared_cluster, "live-load", "harness-plain", labels, replicas=2, endpoint_mode="dnsrr"
    )
    try:
        wait_replicas(shared_cluster, "live-load", "harness-plain", 2)
        with LoadFromEveryNode(shared_cluster, probes, "live-load") as load:
            wait_traffic_s = 3.0
            eventually(_after(wait_traffic_s), wait_traffic_s + 5, "traffic before the outage")
            scale(shared_cluster, "live-load", 0)
            wait_replicas(shared_cluster, "live-load", "harness-plain", 0)
            eventually(_after(wait_traffic_s), wait_traffic_s + 5, "traffic during the outage")
            traffic = load.stop()
    finally:
        shared_cluster.manager_docker().services.get("live-load").remove()
    assert traffic.versions.get("v1", 0) > 0, traffic.describe()
    assert traffic.failed > 0, traffic.describe()
    assert sorted(traffic.error_windows()) == ["node1", "node2", "node3"], traffic.describe()
    assert traffic.longest_gap_s >= wait_traffic_s, traffic.describe()
    assert "failed" in traffic.describe()


def _after(delay_s: float) -> Callable[[], None]:
    start = time.monotonic()

    def _check() -> None:
        if time.monotonic() - start < delay_s:
            raise NotYet(f"{time.monotonic() - start:.1f}s of {delay_s}s")

    return _check


def test_vip_and_ingress_report_missing_ipvs(shared_run_dir: Path, tmp_path: Path) -> None:
    """Without IPVS, VIP and ingress checks run, fail, and name the capability and every node."""
    junit = tmp_path / "lb.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/lb",
            "-k",
            "vip or ingress",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--harness-inventory={shared_run_dir / 'inventory.json'}",
            f"--junitxml={junit}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == 2
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None
        message = skipped.get("message") or ""
        assert "unmet capability ipvs on node1, node2, node3: kernel has no IP_VS" in message
        assert "The check ran and failed as predicted" in message
