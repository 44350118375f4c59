"""Is it safe to upgrade this swarm's Engine? (marker ``upgrade``: not in the default selection)

Provisions its own local lab on the old engine (bookworm, 20.10), creates the
objects an operator would have, runs the rolling upgrade to trixie (26.1) under
traffic, then requires: every node upgraded, everything created before still
there unchanged, and the default suites passing on the upgraded cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli_options import harness_command
from harness.cluster import Cluster
from harness.inventory import load_inventory
from harness.probe.image import image_ref
from harness.provision.local_lab import LocalLab, LocalSpec
from harness.provision.providers import down, up
from harness.rundir import RunDir
from harness.runner import DEFAULT_MARKERS, StageTimer, prepare_cluster
from harness.swarm.bootstrap import SwarmSettings
from harness.swarm.inventory_snapshot import diff, snapshot
from harness.swarm.networks import DEFAULT_NETWORKS
from harness.swarm.services import create_probe_service, wait_replicas
from harness.upgrade_cmd import TRAFFIC_SERVICE, upgrade

pytestmark = pytest.mark.upgrade
REPO = Path(__file__).resolve().parents[2]
LAB, SUBNET = "upg", "198.18.30.0/24"


def _operator_objects(cluster: Cluster) -> None:
    client = cluster.manager_docker()
    labels = cluster.labels("upgrade-suite")
    client.networks.create("keep-net", driver="overlay", attachable=True, labels=labels)
    create_probe_service(cluster, "keep-svc", "keep-net", labels, image_ref("v1"), replicas=2)
    wait_replicas(cluster, "keep-svc", "keep-net", 2)
    client.secrets.create(name="keep-secret", data=b"s3cret", labels=labels)
    client.configs.create(name="keep-config", data=b"setting=1", labels=labels)
    node = client.nodes.get(next(n.id for n in cluster.swarm_nodes() if n.hostname == "node2"))
    spec = node.attrs["Spec"]
    spec["Labels"] = {**(spec.get("Labels") or {}), "zone": "blue"}
    node.update(spec)


def test_rolling_upgrade_bookworm_to_trixie(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    opt = pytestconfig.getoption("--harness-run-dir")
    out_dir = Path(opt) if opt else tmp_path
    run_dir = tmp_path / "run"
    up(LocalLab(LocalSpec(lab=LAB, subnet=SUBNET, release="bookworm"), harness_command()), run_dir)
    try:
        inv = load_inventory(RunDir(run_dir).inventory)
        prepare_cluster(inv, run_dir, SwarmSettings(), DEFAULT_NETWORKS, StageTimer())
        cluster = Cluster(inv, "upgrade-suite")
        _operator_objects(cluster)
        before = snapshot(cluster)
        cluster.close()
        report, path = upgrade(RunDir(run_dir).inventory, "trixie", None, False, True)
        (out_dir / "upgrade-report.json").write_text(path.read_text())
        assert report.failed_node is None, report.summary()
        engines = report.versions[-1]["engines"]
        assert all(v.startswith("26.1") for v in engines.values()), engines
        cluster = Cluster(inv, "upgrade-suite")
        after = snapshot(cluster)
        cluster.close()
        ignore = {TRAFFIC_SERVICE, "probe-harness-plain-upgrade"}
        changes = diff(before, after, ignore)
        assert changes == [], "objects created before the upgrade changed: " + "; ".join(changes)
        suites = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "suites",
                "-m",
                DEFAULT_MARKERS,
                f"--harness-inventory={RunDir(run_dir).inventory}",
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",
                "2",
                "--dist",
                "loadgroup",
                f"--junitxml={out_dir / 'junit-after-upgrade.xml'}",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        (out_dir / "suites-after-upgrade.txt").write_text(suites.stdout[-20000:])
        assert suites.returncode == 0, "default suites on the upgraded cluster:\n" + suites.stdout[-3000:]
        json.loads(path.read_text())
    finally:
        down(run_dir)
