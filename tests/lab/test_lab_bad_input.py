"""Bad input to `up`: one clear line, exit 2, no traceback, and nothing left behind."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli as harness_cli
from harness.retry import NotYet, eventually
from tests.lab.conftest import SHARED_LAB, SHARED_SUBNET, assert_one_line_error, cli, leftovers

LAB = "hlb"


def _up(run_dir: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = cli("up", "--lab", LAB, "--run-dir", str(run_dir), *extra, env=env)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--nodes", "0"], "node count 0 is outside 1..16"),
        (["--nodes", "17"], "node count 17 is outside 1..16"),
        (["--managers", "4", "--nodes", "3"], "manager count 4"),
        (["--subnet", "198.18.300.0/24"], "is malformed"),
        (["--subnet", "not-a-subnet"], "is malformed"),
        (["--subnet", "198.18.4.7/24"], "is malformed"),
        (["--release", "sid"], "unknown image release 'sid'"),
        (["--node-release", "node7=trixie"], "not a node of this lab"),
        (["--lab", "Bad_Name"], "lab name 'Bad_Name' is invalid"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], needle: str) -> None:
    run_dir = tmp_path / "run"
    res = (
        cli("up", "--lab", LAB, "--run-dir", str(run_dir), *args)
        if "--lab" not in args
        else cli("up", "--run-dir", str(run_dir), *args)
    )
    assert_one_line_error(res, needle)
    assert not run_dir.exists()
    assert leftovers(LAB) == []


def test_subnet_overlapping_a_host_route(tmp_path: Path) -> None:
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True).stdout)
    taken = next(r["dst"] for r in routes if r.get("dst") not in (None, "default"))
    net = ipaddress.ip_network(taken if "/" in taken else f"{taken}/32", strict=False)
    subnet = str(net.supernet(new_prefix=24)) if net.prefixlen > 24 else str(next(net.subnets(new_prefix=24)))
    res = cli("up", "--lab", LAB, "--run-dir", str(tmp_path / "run"), "--subnet", subnet)
    assert_one_line_error(res, f"subnet {subnet} overlaps the route")
    assert leftovers(LAB) == []


def test_missing_tool(tmp_path: Path) -> None:
    """A PATH that has every lab tool except debootstrap."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ip", "systemd-nspawn", "ssh-keygen", "mount", "umount", "terraform"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        (bindir / tool).symlink_to(found)
    env = dict(os.environ, PATH=str(bindir))
    res = cli("up", "--lab", LAB, "--run-dir", str(tmp_path / "run"), env=env)
    assert_one_line_error(res, "required tool 'debootstrap' is not installed", "apt-get install debootstrap")
    assert leftovers(LAB) == []


def test_not_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = harness_cli.main(["up", "--lab", LAB, "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: the local lab must run as root")
    assert not (tmp_path / "run").exists()


def test_second_up_for_existing_lab_name(tmp_path: Path, shared_run_dir: Path) -> None:
    res = cli("up", "--lab", SHARED_LAB, "--subnet", SHARED_SUBNET, "--run-dir", str(tmp_path / "other"))
    assert_one_line_error(res, f"lab '{SHARED_LAB}' already exists", str(shared_run_dir))
    assert not (tmp_path / "other").exists()
    # The existing lab is untouched.
    status = json.loads(cli("status", "--lab", SHARED_LAB, "--json").stdout)
    assert all(m["running"] for m in status[0]["machines"])


def test_machine_that_never_answers_ssh(tmp_path: Path) -> None:
    """Block SSH from this host to the lab's subnet: `up` times out, says so, and cleans up."""
    subnet = "198.18.6.0/24"
    rule = ["OUTPUT", "-d", subnet, "-p", "tcp", "--dport", "22", "-j", "DROP"]
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        res = cli(
            "up",
            "--lab",
            LAB,
            "--run-dir",
            str(tmp_path / "run"),
            "--subnet",
            subnet,
            "--nodes",
            "1",
            "--ready-timeout",
            "8",
        )
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=True)
    assert_one_line_error(res, "not ready after 8s", "node1 (198.18.6.11)")
    assert "tearing down" in res.stderr
    assert leftovers(LAB) == []
    assert not (tmp_path / "run").exists()


def test_ctrl_c_during_up_leaves_nothing_after_purge(tmp_path: Path) -> None:
    subnet = "198.18.7.0/24"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "up",
            "--lab",
            LAB,
            "--run-dir",
            str(tmp_path / "run"),
            "--subnet",
            subnet,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def _booting() -> None:
            if not Path(f"/run/netns/shn-{LAB}-node1").exists():
                raise NotYet("no machine namespace yet")

        eventually(_booting, 60, "the lab to start creating machines", interval_s=0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "Traceback" not in err
    purge = cli("purge", "--lab", LAB)
    assert purge.returncode == 0
    assert leftovers(LAB) == []
