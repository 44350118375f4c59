"""A signal during `up` takes the teardown path, whichever signal and whoever it reaches.

CI cancels with SIGTERM (to the harness alone or to its process group), a closed
session sends SIGHUP, a terminal Ctrl-C sends SIGINT: after each, the harness's own
`status` and the kernel's view (`ip netns`, `ip link`) show nothing of the lab, with
no `purge` needed, and no run record still claims "provisioning".
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from harness.retry import NotYet
from harness.rundir import RunDir
from tests.lab.conftest import cli, interrupted_cli, interrupted_errors, leftovers

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
    returncode, err = interrupted_cli(
        ["up", "--lab", LAB, "--run-dir", str(run_dir), "--subnet", SUBNET],
        lambda: stage(run_dir),  # type: ignore[operator]
        "up to reach the stage",
        signum,
        reach_s=120,
        whole_group=whole_group,
        interval_s=0.1,
        purge_lab=LAB,
    )
    name = signal.Signals(signum).name
    errors = interrupted_errors(returncode, err, signum)
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

    def _bootstrapping() -> None:
        if not RunDir(run_dir).inventory.is_file():
            raise NotYet("up not finished")

    returncode, err = interrupted_cli(
        [
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
        _bootstrapping,
        "run to reach bootstrap",
        signum,
        interval_s=0.1,
        purge_lab=LAB,
    )
    name = signal.Signals(signum).name
    errors = interrupted_errors(returncode, err, signum)
    assert len(errors) == 1 and f"interrupted by {name} during run" in errors[0], err[-3000:]
    assert "torn down" in errors[0]
    assert _kernel_view(LAB) == []
    assert leftovers(LAB) == []
    assert json.loads(RunDir(run_dir).info_path.read_text())["status"] == "down"
