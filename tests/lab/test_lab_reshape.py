"""`up` again on a lab that exists: the same shape is a no-op, another shape is refused whole.

A new subnet applied piecemeal left the bridge on the old address and booted new
machines on the new one; a smaller node count silently destroyed a machine with its
Docker state. Each shape option is refused in one line that names the difference and
`down`, and the lab is exactly as it was afterwards.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rundir import RunDir
from tests.lab.conftest import assert_one_line_error, cli, leftovers

LAB = "sigrs"
SUBNET = "198.18.243.0/24"


def _shape() -> tuple[object, ...]:
    status = json.loads(cli("status", "--lab", LAB, "--json").stdout)[0]
    addrs = json.loads(
        subprocess.run(["ip", "-j", "addr", "show", f"shb-{LAB}"], capture_output=True, text=True).stdout
    )
    bridge = sorted(a["local"] for a in addrs[0]["addr_info"] if a["family"] == "inet")
    machines = [(m["node"], m["address"], m["release"], m["kind"], m["running"]) for m in status["machines"]]
    return status["subnet"], bridge, machines


@pytest.fixture(scope="module")
def two_node_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    run_dir = tmp_path_factory.mktemp("reshape") / "run"
    assert leftovers(LAB) == [], "an earlier test left this lab behind"
    up = cli("up", "--lab", LAB, "--nodes", "2", "--subnet", SUBNET, "--run-dir", str(run_dir))
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        yield run_dir
    finally:
        down = cli("down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        assert leftovers(LAB) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--subnet", "198.18.244.0/24"], f"--subnet {SUBNET} -> 198.18.244.0/24"),
        (["--nodes", "1"], "--nodes 2 -> 1"),
        (["--nodes", "3"], "--nodes 2 -> 3"),
        (["--managers", "2"], "--managers 1 -> 2"),
        (["--release", "trixie"], "--release bookworm -> trixie"),
        (["--node-release", "node2=trixie"], "--node-release (none) -> node2=trixie"),
        (["--kind", "vm"], "--kind nspawn -> vm"),
    ],
    ids=["subnet", "fewer-nodes", "more-nodes", "managers", "release", "node-release", "kind"],
)
def test_other_shape_is_refused_and_nothing_changes(two_node_lab: Path, args: list[str], needle: str) -> None:
    before = _shape()
    shape = ["--nodes", "2", "--subnet", SUBNET]
    for opt in ("--nodes", "--subnet"):
        if opt in args:
            i = shape.index(opt)
            del shape[i : i + 2]
    res = cli("up", "--lab", LAB, "--run-dir", str(two_node_lab), *shape, *args)
    assert_one_line_error(
        res, f"lab '{LAB}' exists with another shape", needle, "nothing was changed", "down"
    )
    assert _shape() == before
    record = json.loads(RunDir(two_node_lab).info_path.read_text())
    assert record["status"] == "up"
    assert RunDir(two_node_lab).inventory.is_file()


def test_same_shape_again_changes_nothing(two_node_lab: Path) -> None:
    before = _shape()
    res = cli("up", "--lab", LAB, "--nodes", "2", "--subnet", SUBNET, "--run-dir", str(two_node_lab))
    assert res.returncode == 0, res.stderr[-3000:]
    assert _shape() == before
