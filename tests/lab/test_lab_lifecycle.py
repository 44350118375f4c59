"""A lab made through terraform/local: real machines, strict SSH, engines, LAN, clean teardown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.inventory import load_inventory
from harness.lab import machine
from harness.provision.providers import READY_PROBE
from harness.rundir import RunDir
from harness.transport.ssh import SSHHost, raise_first, run_parallel
from tests.lab.conftest import cli, leftovers

LAB = "hlc"
SUBNET = "198.18.5.0/24"


def test_lab_create_use_swap_destroy(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cli("purge", "--lab", LAB)
    up = cli(
        "up", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(run_dir), "--node-release", "node3=trixie"
    )
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        inv = load_inventory(RunDir(run_dir).inventory)
        assert [n.name for n in inv.nodes] == ["node1", "node2", "node3"]
        assert [n.role for n in inv.nodes] == ["manager", "worker", "worker"]
        assert [n.address for n in inv.nodes] == ["198.18.5.11", "198.18.5.12", "198.18.5.13"]
        known = RunDir(run_dir).known_hosts.read_text().splitlines()
        assert sorted(line.split()[0] for line in known) == sorted(n.address for n in inv.nodes)

        hosts = [SSHHost.for_node(inv, n) for n in inv.nodes]
        # Strict host-key checking: paramiko's RejectPolicy with only the run's known_hosts.
        info = raise_first(
            run_parallel(
                hosts,
                lambda h: h.run(
                    "systemctl is-active docker; docker info --format '{{.ServerVersion}}'; hostname"
                ).check(),
            )
        )
        for name, res in info.items():
            active, version, hostname = res.stdout.split()
            assert active == "active" and hostname == name
            expected = "26.1" if name == "node3" else "20.10"
            assert version.startswith(expected), f"{name}: engine {version}, expected {expected}"

        # Every machine pings every other over the lab LAN.
        def _ping_all(h: SSHHost) -> list[str]:
            bad = []
            for n in inv.nodes:
                if n.name != h.name and h.run(f"ping -c1 -W2 {n.address}").failed:
                    bad.append(f"{h.name}->{n.name}")
            return bad

        pings = raise_first(run_parallel(hosts, _ping_all))
        assert [p for v in pings.values() for p in v] == []

        # A second `up` of the same lab is idempotent: same machines, same processes.
        pids = {s.node: s.pid for s in machine.list_states(LAB)}
        again = cli(
            "up",
            "--lab",
            LAB,
            "--subnet",
            SUBNET,
            "--run-dir",
            str(run_dir),
            "--node-release",
            "node3=trixie",
        )
        assert again.returncode == 0, again.stderr[-2000:]
        assert {s.node: s.pid for s in machine.list_states(LAB)} == pids

        status = json.loads(cli("status", "--lab", LAB, "--json").stdout)
        assert [m["running"] for m in status[0]["machines"]] == [True, True, True]

        # Swap node2's image bookworm -> trixie, keeping /var/lib/docker and /etc/docker.
        node2 = hosts[1]
        node2.run("docker volume create kept-across-swap && echo mark > /etc/docker/harness-marker").check()
        node2.close()
        assert cli("lab", "stop", "--lab", LAB, "--node", "node2").returncode == 0
        swap = cli("lab", "swap", "--lab", LAB, "--node", "node2", "--release", "trixie")
        assert swap.returncode == 0, swap.stderr
        assert cli("lab", "start", "--lab", LAB, "--node", "node2").returncode == 0
        res = node2.wait_ready(120, READY_PROBE)
        assert res.stdout.strip().startswith("26.1")
        kept = node2.run("docker volume ls -q; cat /etc/docker/harness-marker").check().stdout.split()
        assert kept == ["kept-across-swap", "mark"]
        node2.close()
        for h in hosts:
            h.close()
    finally:
        down = cli("down", "--run-dir", str(run_dir))
    assert down.returncode == 0, down.stderr[-2000:]
    assert leftovers(LAB) == []
    assert not RunDir(run_dir).inventory.exists()


def test_swap_refuses_running_machine(shared_run_dir: Path) -> None:
    res = cli("lab", "swap", "--lab", "hlt", "--node", "node3", "--release", "trixie")
    assert res.returncode == 2
    assert "stop it first" in res.stderr


@pytest.mark.parametrize("op", ["stop", "start", "status"])
def test_lab_ops_on_unknown_machine(op: str) -> None:
    res = cli("lab", op, "--lab", "hlt", "--node", "node9")
    assert res.returncode == 2 and "has no machine" in res.stderr
