"""The UML lab target: three User-Mode Linux machines, each with its own kernel.

The smallest proof that the uml kind delivers what the shared-kernel lab cannot: the
machines answer SSH with dockerd active, a swarm forms with its overlays and probe
images, the doctor finds IPVS and ESP on every node, and ``down`` leaves no UML process,
tap, disk or state behind. The figures are printed for the README.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.inventory import load_inventory
from harness.swarm.cluster import Cluster
from tests.lab.conftest import cli, leftovers

LAB = "umlt"
SUBNET = "198.18.15.0/24"


def test_uml_lab_has_ipvs_and_esp_and_leaves_nothing(tmp_path: Path) -> None:
    cli("purge", "--lab", LAB)
    run_dir = tmp_path / "run"
    inventory = run_dir / "inventory.json"
    figures: dict[str, float] = {}
    mark = time.monotonic()
    up = cli(
        "up", "--lab", LAB, "--kind", "uml", "--subnet", SUBNET, "--run-dir", str(run_dir), timeout_s=900
    )
    figures["up_s"] = round(time.monotonic() - mark, 1)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        cluster = Cluster(load_inventory(inventory))
        kernels = cluster.run_all("uname -r")
        cluster.close()
        # Their own kernel, not this machine's.
        assert {r.stdout.strip() for r in kernels.values()} == {"6.1.176"}, kernels

        mark = time.monotonic()
        boot = cli("bootstrap", "--inventory", str(inventory), timeout_s=900)
        figures["bootstrap_s"] = round(time.monotonic() - mark, 1)
        assert boot.returncode == 0, boot.stderr[-3000:]

        mark = time.monotonic()
        doctor = cli("doctor", "--inventory", str(inventory), "--json", timeout_s=300)
        figures["doctor_s"] = round(time.monotonic() - mark, 1)
        assert doctor.returncode == 0, doctor.stderr[-3000:]
        caps = json.loads(doctor.stdout)["capabilities"]
        assert sorted(caps) == ["node1", "node2", "node3"]
        missing = [
            (node, need, caps[node][need]["reason"])
            for node in sorted(caps)
            for need in ("vxlan", "ipvs", "esp")
            if not caps[node][need]["present"]
        ]
        assert missing == [], missing
    finally:
        mark = time.monotonic()
        down = cli("down", "--run-dir", str(run_dir), timeout_s=600)
        figures["down_s"] = round(time.monotonic() - mark, 1)
        print("uml lab figures:", json.dumps(figures))
    assert down.returncode == 0, down.stderr[-2000:]
    assert leftovers(LAB) == []
