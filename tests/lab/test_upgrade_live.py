"""The upgrade flow: a real 20.10 -> 26.1 upgrade, a failing upgrade command, the snapshot diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.inventory import load_inventory
from harness.probe.image import image_ref
from harness.probe.recovery import wait_service_whole
from harness.probe.service import remove_service, wait_global_probe
from harness.rundir import RunDir
from harness.swarm.inventory_snapshot import diff, snapshot
from harness.swarm.services import create_probe_service, wait_replicas
from harness.upgrade_cmd import TRAFFIC_SERVICE
from tests.lab.conftest import cli, leftovers, report_figures

REPO = Path(__file__).resolve().parents[2]


def test_upgrade_suite_upgrades_a_real_lab_and_reports_it(tmp_path: Path) -> None:
    """Runs the upgrade suite (its own bookworm lab, upgraded to trixie) and checks its report.

    Whether the mixed-version cluster breaks is a finding the suite reports; this
    test asserts that the report says precisely what happened.
    """
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/upgrade",
            "-m",
            "upgrade",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--harness-run-dir={out}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = json.loads((out / "upgrade-report.json").read_text())
    report_figures(
        "upgrade suite stages",
        {f"{s['node']} {s['step']}_s": round(float(s["duration_s"]), 1) for s in report.get("steps", [])},
    )
    assert report["order"] == ["node2", "node3", "node1"]  # workers first, the leader last
    first, last = report["versions"][0]["engines"], report["versions"][-1]["engines"]
    assert sorted(first) == ["node1", "node2", "node3"] and all(v.startswith("20.10") for v in first.values())
    assert report["traffic"]["sent"] > 0 and report["traffic"]["windows"] > 0
    if report["failed_node"] is None:
        assert all(v.startswith("26.1") for v in last.values()), last
        steps = [(s["node"], s["step"]) for s in report["steps"]]
        assert steps == [
            (n, st) for n in ("node2", "node3", "node1") for st in ("drain", "upgrade", "rejoin", "checks")
        ]
        assert all(s["ok"] for s in report["steps"])
        assert report["verdict"] in ("upgraded cleanly", "upgraded with traffic loss")
        assert proc.returncode == 0, proc.stdout[-3000:]
    else:
        failed = [s for s in report["steps"] if not s["ok"]]
        assert failed and failed[0]["node"] == report["failed_node"] and failed[0]["detail"]
        assert report["verdict"] == "upgrade failed"
        assert proc.returncode == 1
    assert leftovers("upg") == []


def _variant(shared_run_dir: Path, tmp_path: Path) -> Path:
    data: dict[str, Any] = json.loads(RunDir(shared_run_dir).inventory.read_text())
    data["provider"] = "static"
    for n in data["nodes"]:
        n["upgrade_command"] = "exit 3" if n["name"] == "node2" else "true"
    path = RunDir(tmp_path).inventory
    path.write_text(json.dumps(data))
    return path


def test_failing_upgrade_command_stops_and_leaves_the_node_drained(
    shared_run_dir: Path, shared_cluster: Cluster, tmp_path: Path
) -> None:
    inv_path = _variant(shared_run_dir, tmp_path)
    res = cli("upgrade", "--inventory", str(inv_path))
    try:
        assert res.returncode == 1, res.stderr[-2000:]
        report = json.loads(RunDir(tmp_path).upgrade_report.read_text())
        assert report["failed_node"] == "node2" and report["failed_step"] == "upgrade"
        assert "exited 3" in next(s["detail"] for s in report["steps"] if not s["ok"])
        assert [s["node"] for s in report["steps"]] == ["node2", "node2"]  # drain, then the failed upgrade
        assert "stopped at node2 (upgrade); it is left drained" in res.stdout
        rows = {
            n.attrs["Description"]["Hostname"]: n.attrs for n in shared_cluster.manager_docker().nodes.list()
        }
        assert rows["node2"]["Spec"]["Availability"] == "drain"
        # The rest keep serving: the traffic service is whole from node1 and node3.
        probes = wait_global_probe(
            shared_cluster, "probe-harness-plain-upgrade", "harness-plain", 60, ["node1", "node3"]
        )
        wait_service_whole(shared_cluster, probes, TRAFFIC_SERVICE, 3, 90, nodes=["node1", "node3"])
    finally:
        node = next(
            n
            for n in shared_cluster.manager_docker().nodes.list()
            if n.attrs["Description"]["Hostname"] == "node2"
        )
        spec = node.attrs["Spec"]
        spec["Availability"] = "active"
        node.update(spec)
        for name in (TRAFFIC_SERVICE, "probe-harness-plain-upgrade"):
            remove_service(shared_cluster, name)


def test_snapshot_diff_catches_a_service_deleted_behind_its_back(
    shared_run_dir: Path, shared_cluster: Cluster
) -> None:
    labels = shared_cluster.labels("snapshot")
    create_probe_service(shared_cluster, "snap-svc", "harness-plain", labels, image_ref("v1"), replicas=1)
    wait_replicas(shared_cluster, "snap-svc", "harness-plain", 1)
    before = snapshot(shared_cluster)
    shared_cluster.manager_docker().services.get("snap-svc").remove()
    after = snapshot(shared_cluster)
    assert diff(before, after) == ["service snap-svc is gone"]
    assert load_inventory(RunDir(shared_run_dir).inventory).provider == "local"
