"""Bad input against a formed swarm: refused before any service or network is made.

Also the interrupted upgrade: its traffic services go with it, and its last line
says a node may be left drained and how to finish.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.inventory import load_inventory
from harness.retry import NotYet
from harness.rundir import RunDir
from tests.lab.conftest import assert_one_line_error, cli, interrupted_cli, leftovers

LAB = "sigsw"
SUBNET = "198.18.245.0/24"


@pytest.fixture(scope="module")
def formed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 2-node lab with a formed swarm (data-path port 4789), networks and probe images."""
    run_dir = tmp_path_factory.mktemp("swarm") / "run"
    assert leftovers(LAB) == [], "an earlier test left this lab behind"
    up = cli("up", "--lab", LAB, "--nodes", "2", "--subnet", SUBNET, "--run-dir", str(run_dir))
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        boot = cli("bootstrap", "--inventory", str(RunDir(run_dir).inventory))
        assert boot.returncode == 0, boot.stderr[-3000:]
        yield RunDir(run_dir).inventory
    finally:
        down = cli("down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        assert leftovers(LAB) == []


def _objects(inventory: Path) -> tuple[list[str], list[str], list[str]]:
    cluster = Cluster(load_inventory(inventory), "harness-tests")
    try:
        client = cluster.manager_docker()
        services = sorted(s.name for s in client.services.list())
        networks = sorted(n.name for n in client.networks.list())
        availability = sorted(n.attrs["Spec"]["Availability"] for n in client.nodes.list())
        return services, networks, availability
    finally:
        cluster.close()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["bootstrap", "--data-path-port", "4790"],
            ["data-path port 4789", "--data-path-port 4790 cannot change it"],
        ),
        (["bootstrap", "--plain-network", "bad name!"], ["--plain-network 'bad name!'", "not a valid"]),
        (["bootstrap", "--plain-network", "twin", "--encrypted-network", "twin"], ["both 'twin'"]),
        (["upgrade", "--order", "node9,node1"], ["--order names node9", "node1,node2"]),
        (["upgrade", "--to", "bookworm"], [f"every node of lab {LAB} already runs bookworm", "--to"]),
    ],
    ids=["data-path-port", "network-name", "same-network-names", "upgrade-order", "upgrade-same-release"],
)
def test_refused_before_anything_is_made(formed: Path, args: list[str], needles: list[str]) -> None:
    before = _objects(formed)
    res = cli(*args, "--inventory", str(formed))
    assert_one_line_error(res, *needles)
    assert _objects(formed) == before


def test_sigterm_during_upgrade_removes_its_services(formed: Path) -> None:
    before_services = _objects(formed)[0]

    def _traffic_running() -> None:
        if "upgrade-web" not in _objects(formed)[0]:
            raise NotYet("no traffic service yet")

    returncode, err = interrupted_cli(
        ["upgrade", "--inventory", str(formed), "--no-checks"],
        _traffic_running,
        "the upgrade's traffic service",
        signal.SIGTERM,
        wait_s=300,
        interval_s=0.5,
    )
    assert returncode == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "interrupted by SIGTERM during upgrade" in errors[0], err[-3000:]
    assert "left drained" in errors[0] and f"upgrade --inventory {formed}" in errors[0]
    assert _objects(formed)[0] == before_services
