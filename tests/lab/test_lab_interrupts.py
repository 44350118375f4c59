"""A signal during `up` takes the teardown path, whichever signal and whoever it reaches.

CI cancels with SIGTERM (to the harness alone or to its process group), a closed
session sends SIGHUP, a terminal Ctrl-C sends SIGINT: after each, the harness's own
`status` and the kernel's view (`ip netns`, `ip link`) show nothing of the lab, with
no `purge` needed, and no run record still claims "provisioning".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.retry import NotYet, eventually
from harness.rundir import RunDir
from tests.lab.conftest import cli, leftovers

LAB = "sigup"
SUBNET = "198.18.242.0/24"


def _kernel_view(lab: str) -> list[str]:
    """The lab's namespaces and links as `ip` itself lists them."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [ln for ln in netns.splitlines() if f"shn-{lab}-" in ln] + [
        ln for ln in links.splitlines() if f"shb-{lab}" in ln or f"shv-{lab}-" in ln
    ]


def _machines_booting(run_dir: Path) -> None:
    if not Path(f"/run/netns/shn-{LAB}-node1").exists():
        raise NotYet("no machine namespace yet")


def _waiting_for_ssh(run_dir: Path) -> None:
    log = run_dir / "up.log"
    if not log.is_file() or "waiting for SSH and dockerd" not in log.read_text():
        raise NotYet("machines not created yet")


@pytest.mark.parametrize(
    ("signum", "whole_group", "stage", "run_dir_existed"),
    [
        (signal.SIGTERM, False, _machines_booting, False),
        (signal.SIGTERM, False, _waiting_for_ssh, True),
        (signal.SIGTERM, True, _machines_booting, False),
        (signal.SIGHUP, False, _machines_booting, True),
        (signal.SIGHUP, True, _waiting_for_ssh, False),
        (signal.SIGINT, False, _waiting_for_ssh, True),
    ],
    ids=[
        "term-harness-creating",
        "term-harness-waiting-ssh",
        "term-group-creating",
        "hup-harness-creating",
        "hup-group-waiting-ssh",
        "int-harness-waiting-ssh",
    ],
)
def test_signal_during_up_leaves_nothing(
    tmp_path: Path, signum: int, whole_group: bool, stage: object, run_dir_existed: bool
) -> None:
    assert leftovers(LAB) == [], "an earlier test left this lab behind"
    run_dir = tmp_path / "run"
    if run_dir_existed:
        run_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--lab", LAB, "--run-dir", str(run_dir), "--subnet", SUBNET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        eventually(lambda: stage(run_dir), 120, "up to reach the stage", interval_s=0.1)  # type: ignore[operator]
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if leftovers(LAB):
            cli("purge", "--lab", LAB)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors == [errors[-1]] and f"interrupted by {name} during up" in errors[-1], err[-3000:]
    assert f"purge --lab {LAB}" in errors[-1]
    # Nothing is left, by the harness's own account and by the kernel's.
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert LAB not in [lab["lab"] for lab in json.loads(status.stdout)]
    assert _kernel_view(LAB) == []
    assert leftovers(LAB) == []
    if run_dir_existed:
        record = json.loads(RunDir(run_dir).info_path.read_text())
        assert record["status"] == "interrupted"
    else:
        assert not run_dir.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_during_run_tears_down(tmp_path: Path, signum: int) -> None:
    """Once `up` is done `run` holds a lab; a signal while it bootstraps still ends in `down`."""
    assert leftovers(LAB) == [], "an earlier test left this lab behind"
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--lab",
            LAB,
            "--run-dir",
            str(run_dir),
            "--subnet",
            SUBNET,
            "--nodes",
            "2",
            "--suites",
            "suites/overlay",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def _bootstrapping() -> None:
            if not RunDir(run_dir).inventory.is_file():
                raise NotYet("up not finished")

        eventually(_bootstrapping, 300, "run to reach bootstrap", interval_s=0.1)
        os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if leftovers(LAB):
            cli("purge", "--lab", LAB)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"interrupted by {name} during run" in errors[0], err[-3000:]
    assert "torn down" in errors[0]
    assert _kernel_view(LAB) == []
    assert leftovers(LAB) == []
    assert json.loads(RunDir(run_dir).info_path.read_text())["status"] == "down"
