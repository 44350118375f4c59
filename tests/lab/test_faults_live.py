"""Leader loss on a 3-manager lab: a new leader is elected and accepts service updates."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.rundir import RunDir
from tests.lab.conftest import cli, leftovers

REPO = Path(__file__).resolve().parents[2]


def test_leader_loss_on_three_managers(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cli("purge", "--lab", "hfm")
    up = cli("up", "--lab", "hfm", "--subnet", "198.18.10.0/24", "--managers", "3", "--run-dir", str(run_dir))
    assert up.returncode == 0, up.stderr[-2000:]
    try:
        boot = cli("bootstrap", "--inventory", str(RunDir(run_dir).inventory))
        assert boot.returncode == 0, boot.stderr[-2000:]
        assert "join node2 as manager" in boot.stdout and "join node3 as manager" in boot.stdout
        junit = run_dir / "faults.xml"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "suites/faults",
                "-m",
                "disruptive",  # fault checks are opt-in for plain pytest
                "-k",
                "leader",
                "-p",
                "no:cacheprovider",
                f"--harness-inventory={RunDir(run_dir).inventory}",
                f"--junitxml={junit}",
                "-q",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        case = next(ET.parse(junit).getroot().iter("testcase"))
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        assert props["new_leader"] in ("node2", "node3")
        assert float(props["election_s"]) < 60
    finally:
        down = cli("down", "--run-dir", str(run_dir))
    assert down.returncode == 0
    assert leftovers("hfm") == []


def test_custom_data_path_port(tmp_path: Path) -> None:
    """A swarm on --data-path-port 4790: overlay matrix, doctor and wire capture all follow the port."""
    run_dir = tmp_path / "run"
    cli("purge", "--lab", "hdp")
    up = cli("up", "--lab", "hdp", "--subnet", "198.18.11.0/24", "--nodes", "2", "--run-dir", str(run_dir))
    assert up.returncode == 0, up.stderr[-2000:]
    try:
        inv = str(RunDir(run_dir).inventory)
        boot = cli("bootstrap", "--inventory", inv, "--data-path-port", "4790")
        assert boot.returncode == 0, boot.stderr[-2000:]
        doctor = cli("doctor", "--inventory", inv, "--data-path-port", "4790", "--json")
        ports = {(p["port"], p["proto"]) for p in json.loads(doctor.stdout)["ports"]}
        assert (4790, "udp") in ports and (4789, "udp") not in ports
        junit = run_dir / "dpp.xml"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "suites/overlay",
                "suites/encryption",
                "-k",
                "plain",
                "-p",
                "no:cacheprovider",
                f"--harness-inventory={inv}",
                "--harness-data-path-port=4790",
                f"--junitxml={junit}",
                "-q",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        wire = json.loads(RunDir(run_dir).wire("harness-plain").read_text())
        assert wire["port"] == 4790 and wire["vxlan_plaintext"] > 0
    finally:
        down = cli("down", "--run-dir", str(run_dir))
    assert down.returncode == 0
    assert leftovers("hdp") == []
