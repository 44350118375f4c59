"""SSH transport and the Docker API over it, against the live shared lab."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import Cluster
from harness.errors import HostKeyError
from harness.inventory import Inventory
from harness.rundir import RunDir
from harness.transport.result import NO_EXIT_STATUS, CommandError, CommandTimeout
from harness.transport.ssh import SSHHost, run_parallel
from tests.lab.conftest import assert_one_line_error, cli


def _variant(shared_run_dir: Path, tmp_path: Path, change: Any) -> Path:
    data = json.loads(RunDir(shared_run_dir).inventory.read_text())
    change(data)
    path = RunDir(tmp_path).inventory
    path.write_text(json.dumps(data))
    return path


def test_result_and_parallel(shared_cluster: Cluster) -> None:
    res = shared_cluster.run("node1", "echo out; echo err >&2; exit 3")
    assert (res.exit_status, res.stdout, res.stderr, res.failed) == (3, "out\n", "err\n", True)
    with pytest.raises(CommandError) as exc:
        res.check()
    assert "exited 3" in exc.value.message and "err" in exc.value.message
    results = run_parallel(shared_cluster.hosts.values(), lambda h: h.run("hostname").check().stdout.strip())
    assert results == {"node1": "node1", "node2": "node2", "node3": "node3"}


def test_large_output_both_streams_concurrently(shared_cluster: Cluster) -> None:
    """Both streams well past the channel window: a sequential reader would deadlock."""
    res = shared_cluster.run(
        "node1",
        "head -c 3000000 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2",
        timeout_s=60,
    )
    assert len(res.stdout) == 3_000_000 and len(res.stderr) == 3_000_000


def test_command_timeout(shared_cluster: Cluster) -> None:
    with pytest.raises(CommandTimeout, match="did not finish within 2s") as exc:
        shared_cluster.run("node1", "echo started; sleep 30", timeout_s=2)
    assert exc.value.timeout_s == 2 and exc.value.result.exit_status == NO_EXIT_STATUS
    assert exc.value.result.host == "node1" and exc.value.result.stdout == "started\n"


def test_docker_api_over_verified_ssh(shared_cluster: Cluster) -> None:
    client = shared_cluster.docker("node1")
    assert client.version()["Version"].startswith("20.10")
    names = sorted(n.attrs["Description"]["Hostname"] for n in client.nodes.list())
    assert names == ["node1", "node2", "node3"]
    nets = {n.name for n in client.networks.list(names=["harness-plain", "harness-encrypted"])}
    assert nets == {"harness-plain", "harness-encrypted"}


def test_node_state_through_the_same_connection(shared_cluster: Cluster) -> None:
    host = shared_cluster.host("node2")
    assert host.run("dpkg-query -W -f '${Status}' docker.io").check().stdout.split()[-1] == "installed"
    assert host.run("systemctl is-active docker").stdout.strip() == "active"
    listening = host.run("ss -Hltn").check().stdout.split()
    assert "0.0.0.0:22" in listening or "[::]:22" in listening
    assert host.run("sysctl -n net.ipv4.ip_forward").check().stdout.strip() == "1"


def test_host_key_not_in_known_hosts_is_refused(shared_inventory: Inventory, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    node = shared_inventory.nodes[0]
    host = SSHHost(node.name, node.address, "root", shared_inventory.ssh.private_key_path, empty)
    with pytest.raises(HostKeyError, match="is not in"):
        host.run("true")


def test_cli_wrong_host_key(shared_run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    lines = RunDir(shared_run_dir).known_hosts.read_text().splitlines()
    pub = other.with_suffix(".pub").read_text().split()
    forged = [f"{ln.split()[0]} {pub[0]} {pub[1]}" for ln in lines]
    kh = tmp_path / "forged_known_hosts"
    kh.write_text("\n".join(forged) + "\n")
    inv = _variant(shared_run_dir, tmp_path, lambda d: d["ssh"].update(known_hosts_path=str(kh)))
    assert_one_line_error(cli("doctor", "--inventory", str(inv), "--no-ports"), "does not match")


def test_cli_wrong_client_key(shared_run_dir: Path, tmp_path: Path) -> None:
    key = tmp_path / "id_other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    inv = _variant(shared_run_dir, tmp_path, lambda d: d["ssh"].update(private_key_path=str(key)))
    assert_one_line_error(cli("doctor", "--inventory", str(inv), "--no-ports"), "rejected key")


def test_cli_unreachable_host(shared_run_dir: Path, tmp_path: Path) -> None:
    def _change(d: dict[str, Any]) -> None:
        d["nodes"][2]["address"] = "198.18.4.200"
        d["nodes"][2]["data_path_address"] = "198.18.4.200"

    inv = _variant(shared_run_dir, tmp_path, _change)
    assert_one_line_error(
        cli("doctor", "--inventory", str(inv), "--no-ports"), "cannot reach node3 (198.18.4.200"
    )


def test_cli_inventory_without_manager(shared_run_dir: Path, tmp_path: Path) -> None:
    def _change(d: dict[str, Any]) -> None:
        for n in d["nodes"]:
            n["role"] = "worker"

    inv = _variant(shared_run_dir, tmp_path, _change)
    assert_one_line_error(cli("bootstrap", "--inventory", str(inv)), "no node with role 'manager'", str(inv))
