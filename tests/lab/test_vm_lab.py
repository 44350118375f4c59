"""The VM lab target: three QEMU VMs with a stock kernel, where IPVS and ESP exist.

This is the smallest proof that fits CI on a machine without usable KVM (about 18
minutes in software emulation): the VMs answer SSH, a swarm forms, the doctor finds
IPVS and ESP on every node, one service VIP spreads requests over its replicas, an
encrypted overlay carries traffic across hosts as ESP with no plaintext VXLAN, and its
tasks' MTU (ESP's share taken off) is the exact don't-fragment boundary between every pair. The
figures are printed for the README; the full suites on VMs are a manual run.

On demand only (``SWARM_HARNESS_VM_PROOF=1``): the User-Mode Linux proof
(``test_uml_lab.py``) shows the same properties in CI at native speed, and on some
hosts of this machine kind ``/dev/kvm`` passes the harness's vCPU probe and then stops
a real guest with "KVM internal error", which this proof would report as a failure of
the product.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.doctor.report import run_doctor
from harness.inventory import load_inventory
from harness.lab.images import probe_recipe
from harness.probe.capture import capture, encrypted_problems
from harness.probe.image import ensure_probe_images, image_ref
from harness.probe.lb import answers, spread_problems
from harness.probe.mtu import measure, overlay_mtu
from harness.probe.service import deploy_global_probe
from harness.rundir import RunDir
from harness.swarm.bootstrap import bootstrap, swarm_address
from harness.swarm.networks import ensure_networks
from harness.swarm.services import create_probe_service, wait_replicas
from tests.lab.conftest import cli, leftovers, report_figures

pytestmark = pytest.mark.skipif(
    os.environ.get("SWARM_HARNESS_VM_PROOF") != "1",
    reason="the VM proof is on demand: SWARM_HARNESS_VM_PROOF=1 pytest tests/lab/test_vm_lab.py (about 19 min)",
)

LAB = "hvm"
VM_DEADLINE_S = 900
SUBNET = "198.18.13.0/24"


def test_vm_lab_proves_vip_and_encryption(tmp_path: Path) -> None:
    cli("purge", "--lab", LAB)
    run_dir = tmp_path / "run"
    figures: dict[str, float] = {}
    started = time.monotonic()
    up = cli(
        "up", "--lab", LAB, "--kind", "vm", "--subnet", SUBNET, "--run-dir", str(run_dir), timeout_s=1500
    )
    figures["vms_answer_ssh_s"] = round(time.monotonic() - started, 1)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        # The accelerator choice and its reason are printed.
        assert "booting a VM with tcg" in up.stderr or "booting a VM with kvm" in up.stderr, up.stderr[-2000:]
        cluster = Cluster(load_inventory(RunDir(run_dir).inventory))
        engines = cluster.run_all("uname -r; docker info --format '{{.ServerVersion}}'")
        assert all("cloud-amd64" in r.stdout for r in engines.values()), engines
        mark = time.monotonic()
        bootstrap(cluster)
        ensure_networks(cluster)
        figures["bootstrap_s"] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()
        ensure_probe_images(cluster, probe_recipe())
        figures["probe_images_s"] = round(time.monotonic() - mark, 1)
        doctor = run_doctor(cluster, ports=False)
        assert doctor.unmet(["vxlan", "ipvs", "esp"]) == [], doctor.unmet(["vxlan", "ipvs", "esp"])

        # One global probe on the encrypted overlay serves both proofs: the VIP service sits
        # on the same overlay. Software-emulated VMs start containers slowly: long deadlines.
        mark = time.monotonic()
        labels = cluster.labels("vm-proof")
        net = "harness-encrypted"
        create_probe_service(cluster, "vm-vip", net, labels, image_ref("v1"), replicas=2, endpoint_mode="vip")
        probes = deploy_global_probe(cluster, net, labels, "vm", timeout_s=VM_DEADLINE_S)
        wait_replicas(cluster, "vm-vip", net, 2, timeout_s=VM_DEADLINE_S)
        figures["services_running_s"] = round(time.monotonic() - mark, 1)

        mark = time.monotonic()
        backends = {
            t["Status"]["ContainerStatus"]["ContainerID"][:12]
            for t in cluster.manager_docker()
            .services.get("vm-vip")
            .tasks(filters={"desired-state": "running"})
        }
        seen = answers(cluster, probes.tasks["node1"], "http://vm-vip:8080/", 12, timeout_s=10)
        assert spread_problems(seen, backends, min_each=1) == [], seen
        figures["vip_s"] = round(time.monotonic() - mark, 1)

        mark = time.monotonic()
        wire = capture(cluster, probes, net, "node1", "node2", duration_s=8)
        node2 = swarm_address(cluster.inventory.node("node2"))
        assert encrypted_problems(wire, node2) == [], wire.to_dict()
        assert wire.esp > 0 and wire.vxlan_plaintext == 0
        figures["encrypted_s"] = round(time.monotonic() - mark, 1)

        # With ESP on the wire the engine gives the encrypted overlay's tasks 26 bytes less
        # than a plain one's: the DF boundary holds at exactly that MTU between every pair.
        mark = time.monotonic()
        mtu = overlay_mtu(cluster, net)
        assert (mtu.task, mtu.underlay) == (1424, 1500)
        pairs = measure(cluster, probes, net)
        assert len(pairs) == 6
        for pair in pairs:
            # DF at 1424 answered, at 1425 refused, 1 MiB intact. The bisected path MTU is
            # not asserted: one lost pair of echoes on emulated CPUs lowers it (1419 seen).
            assert pair.problems() == [], pair
        figures["encrypted_mtu_s"] = round(time.monotonic() - mark, 1)
    finally:
        mark = time.monotonic()
        down = cli("down", "--run-dir", str(run_dir), timeout_s=600)
        figures["down_s"] = round(time.monotonic() - mark, 1)
        report_figures("vm lab", figures)
    assert down.returncode == 0, down.stderr[-2000:]
    assert leftovers(LAB) == []
