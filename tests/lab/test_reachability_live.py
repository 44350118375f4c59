"""The reachability matrix and its diagnosis, proven on the live lab by breaking things."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import verdict
from harness.cluster import Cluster
from harness.doctor.report import run_doctor
from harness.probe.diagnose import diagnose
from harness.probe.matrix import PROTOCOLS, run_matrix, wait_matrix_passes
from harness.probe.mtu import measure
from harness.probe.pairs import PairId
from harness.probe.service import ProbeDeployment, deploy_global_probe, remove_service
from harness.rundir import RunDir
from harness.swarm.bootstrap import swarm_address
from tests.lab.conftest import run_suites

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def plain_probe(shared_cluster: Cluster) -> Iterator[ProbeDeployment]:
    dep = deploy_global_probe(shared_cluster, "harness-plain", shared_cluster.labels("live-plain"), "live")
    yield dep
    remove_service(shared_cluster, dep.service)


def test_plain_matrix_passes_all_pairs_and_protocols(
    shared_cluster: Cluster, plain_probe: ProbeDeployment
) -> None:
    result = run_matrix(shared_cluster, plain_probe)
    assert len(result.pairs) == 6
    assert len(result.checks) == 6 * len(PROTOCOLS)
    assert result.failing_pairs() == {}, result.summary()
    assert result.summary().startswith("0 of 6 pairs failed")


def test_blocked_vxlan_between_one_pair_is_pinpointed(
    shared_cluster: Cluster, plain_probe: ProbeDeployment
) -> None:
    """Drop VXLAN from node1 at node2: exactly node1<->node2 fail, and the doctor names the port."""
    rule = "INPUT -p udp --dport 4789 -s 198.18.4.11 -j DROP"
    wait_matrix_passes(shared_cluster, plain_probe)
    shared_cluster.run("node2", f"iptables -w -I {rule}").check()
    try:
        result = run_matrix(shared_cluster, plain_probe, retry_after_s=1)
        doctor = run_doctor(shared_cluster)
    finally:
        shared_cluster.run("node2", f"iptables -w -D {rule}").check()
    broken = [PairId("node1", "node2"), PairId("node2", "node1")]
    assert sorted(result.failing_pairs()) == broken, result.summary()
    assert result.summary().startswith("2 of 6 pairs failed")
    # Every cell of the two dead pairs was retried once, and nothing else.
    assert result.retried == 2 * len(PROTOCOLS), result.summary()
    assert result.flaky() == [], result.summary()
    blocked = [(p.src, p.dst, p.label) for p in doctor.blocked_ports()]
    assert blocked == [("node1", "node2", "4789/udp")]
    causes = diagnose(result, False, doctor)
    assert len(causes) == 1, causes
    assert causes[0].startswith("VXLAN data path port 4789/udp blocked from node1 to node2 (measured ")
    assert causes[0].endswith("no datagram arrived (blocked on the path or by a firewall)")
    # Restored: the whole matrix passes again.
    assert run_matrix(shared_cluster, plain_probe).failing_pairs() == {}


def test_random_vxlan_loss_is_reported_as_loss_not_as_a_pass_or_an_mtu_fault(
    shared_cluster: Cluster, plain_probe: ProbeDeployment
) -> None:
    """Drop 30% of node1's VXLAN packets at node2: the matrix must not pass that pair cleanly,
    it must say loss (or flaky), and the MTU check must blame loss, not size."""
    node1 = swarm_address(shared_cluster.inventory.node("node1"))
    rule = f"INPUT -p udp --dport 4789 -s {node1} -m statistic --mode random --probability 0.3 -j DROP"
    wait_matrix_passes(shared_cluster, plain_probe)
    shared_cluster.run("node2", f"iptables -w -I {rule}").check()
    try:
        result = run_matrix(shared_cluster, plain_probe, retry_after_s=1)
        mtu_pairs = measure(shared_cluster, plain_probe, plain_probe.network)
    finally:
        shared_cluster.run("node2", f"iptables -w -D {rule}").check()
    touched = {PairId("node1", "node2"), PairId("node2", "node1")}
    hit = {c.pair for c in result.checks if c.lost}
    assert hit and hit <= touched, result.summary()
    for c in result.checks:
        if c.pair in touched and not c.ok:
            assert c.symptom().kind == verdict.LOSS or c.detail.startswith("no answer"), c
    clean = [c for c in result.checks if c.pair not in touched]
    assert all(c.ok and not c.flaky for c in clean), result.summary()
    # The lossy pairs are visible: failed with their loss counted, or flagged flaky.
    assert result.failing_pairs() or result.flaky(), result.summary()
    for pair in mtu_pairs:
        if pair.pair in touched and pair.problems():
            assert not any("smaller than the overlay MTU" in p for p in pair.problems()), pair


def test_encrypted_overlay_failure_is_diagnosed_as_missing_esp(shared_cluster: Cluster) -> None:
    """This kernel has no ESP: the encrypted matrix must fail, and say why, naming every node."""
    dep = deploy_global_probe(shared_cluster, "harness-encrypted", shared_cluster.labels("live-enc"), "live")
    try:
        result = run_matrix(shared_cluster, dep, protocols=("tcp", "icmp"), retry_after_s=1)
    finally:
        remove_service(shared_cluster, dep.service)
    doctor = run_doctor(shared_cluster, ports=False)
    assert sorted(map(str, result.failing_pairs())) == [
        "node1->node2",
        "node1->node3",
        "node2->node1",
        "node2->node3",
        "node3->node1",
        "node3->node2",
    ]
    causes = diagnose(result, True, doctor)
    assert len(causes) == 1
    assert causes[0].startswith("ESP unavailable on node1, node2, node3 (measured ")
    assert "kernel lacks ESP (INET_ESP)" in causes[0]
    # dockerd itself confirms it could not install the SAs: "Failed Adding rSA{... Proto: esp ...}".
    journal = shared_cluster.run("node1", "journalctl -u docker --no-pager -o cat").stdout
    refused = [ln for ln in journal.splitlines() if re.search(r"Failed Adding [rf]SA\b.*\besp\b", ln)]
    assert refused, "dockerd logged no failure to add an ESP SA on node1"


def _suite(run_dir: Path, junit: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_suites(RunDir(run_dir).inventory, junit, "suites/overlay", *extra)


def test_strict_mode_fails_unmet_capability(shared_run_dir: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = _suite(shared_run_dir, junit, "--harness-strict", "-k", "test_matrix and encrypted")
    assert proc.returncode == 1, proc.stdout[-2000:]
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None
    failure = case.find("failure")
    if failure is None:
        failure = case.find("error")
    assert failure is not None
    assert "strict mode: unmet capability esp on node1, node2, node3" in (failure.get("message") or "")


def test_a_fault_after_the_doctor_ran_is_diagnosed_from_a_fresh_measurement(
    shared_run_dir: Path, shared_cluster: Cluster, tmp_path: Path
) -> None:
    """node2 drops all VXLAN after the doctor's report was written: the suite's own matrix check
    must name the blocked port per pair from a measurement taken now, not 'no cause'."""
    run_doctor(shared_cluster).write(RunDir(shared_run_dir).doctor)  # fresh and clean: no block yet
    rule = "INPUT -p udp --dport 4789 -j DROP"
    shared_cluster.run("node2", f"iptables -w -I {rule}").check()
    junit = tmp_path / "junit.xml"
    try:
        proc = _suite(shared_run_dir, junit, "-k", "test_matrix and plain")
    finally:
        shared_cluster.run("node2", f"iptables -w -D {rule}").check()
    assert proc.returncode == 1, proc.stdout[-2000:]
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None, proc.stdout[-2000:]
    text = (failure.get("message") or "") + (failure.text or "")
    assert "4 of 6 pairs failed" in text, text[:2000]
    for src in ("node1", "node3"):
        assert f"VXLAN data path port 4789/udp blocked from {src} to node2 (measured " in text, text[:3000]
    assert "the doctor found no cause" not in text


def test_suite_labels_and_cleans_up_its_objects(
    shared_run_dir: Path, shared_cluster: Cluster, tmp_path: Path
) -> None:
    proc = _suite(shared_run_dir, tmp_path / "junit.xml", "-k", "plain", "-n", "2", "--dist", "loadgroup")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "8 passed" in proc.stdout  # the matrix, 6 pairs, the VXLAN tables
    leftover = [
        s.name
        for s in shared_cluster.manager_docker().services.list(filters={"label": "com.swarm-harness.run"})
    ]
    assert leftover == []
