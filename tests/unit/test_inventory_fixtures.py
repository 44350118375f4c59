"""Recorded ``terraform output -json`` of every module, the static example inventory,
and the loader's error messages.

The recordings under tests/fixtures/terraform/ point their key paths at a run
directory of the machine that recorded them; each test rewrites that prefix to a
run directory it creates in tmp_path, so the loader's file checks pass.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import InventoryError
from harness.inventory import Inventory, load_inventory, parse_inventory
from tests.unit.test_terraform_contract import inventory_value

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "terraform"
EXAMPLE = REPO / "inventories" / "example.yaml"
RECORDED_RUN_DIR = "/home/ci/swarm-harness/runs/nightly"
MODULES = ["local", "aws", "hcloud", "libvirt"]
CLOUD_MODULES = ["aws", "hcloud", "libvirt"]

# node count and manager count of each recording
SHAPES = {"local": (3, 1), "aws": (5, 3), "hcloud": (3, 1), "libvirt": (3, 1)}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    ssh = tmp_path / "run" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n(test)\n")
    (ssh / "id_ed25519").chmod(0o600)
    (ssh / "known_hosts").write_text("192.0.2.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest\n")
    return tmp_path / "run"


def recorded(module: str, run_dir: Path) -> dict[str, Any]:
    text = (FIXTURES / f"{module}-output.json").read_text()
    assert RECORDED_RUN_DIR in text, f"{module}-output.json no longer uses {RECORDED_RUN_DIR}"
    data: dict[str, Any] = json.loads(text.replace(RECORDED_RUN_DIR, str(run_dir)))
    return data


def parse_recorded(module: str, run_dir: Path) -> Inventory:
    return parse_inventory(recorded(module, run_dir), f"{module}-output.json", run_dir)


def hcl_inventory(module: str) -> dict[str, Any]:
    """The module's inventory output block (a cloud module's as modules/node-common shapes it)."""
    return inventory_value(module)


# --- recorded terraform output ---------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_recording_is_raw_terraform_output(module: str, run_dir: Path) -> None:
    data = recorded(module, run_dir)
    for name, output in data.items():
        assert set(output) == {"sensitive", "type", "value"}, (
            f"output {name} is not in 'terraform output -json' form"
        )
        assert output["sensitive"] is False
    assert "inventory" in data


@pytest.mark.parametrize("module", MODULES)
def test_recording_matches_the_module_output_block(module: str, run_dir: Path) -> None:
    value = recorded(module, run_dir)["inventory"]["value"]
    hcl = hcl_inventory(module)
    assert sorted(value) == sorted(hcl)
    assert sorted(value["ssh"]) == sorted(hcl["ssh"])
    assert sorted(value["provider_data"]) == sorted(hcl["provider_data"]), (
        f"{module}-output.json is stale: re-record it from terraform/{module}"
    )


@pytest.mark.parametrize("module", MODULES)
def test_recording_loads_into_the_same_inventory_shape_as_local(module: str, run_dir: Path) -> None:
    inv = parse_recorded(module, run_dir)
    local = parse_recorded("local", run_dir)

    assert isinstance(inv, Inventory)
    assert inv.provider == module
    assert inv.schema_version == 1
    assert inv.source == f"{module}-output.json"
    assert inv.ssh.user == "root" and inv.ssh.port == 22
    assert inv.ssh.private_key_path == run_dir / "ssh" / "id_ed25519"
    assert inv.ssh.known_hosts_path == run_dir / "ssh" / "known_hosts"
    assert inv.registry is None

    # Same typed shape as the local target: same fields at every level.
    assert inv.to_dict().keys() == local.to_dict().keys()
    assert inv.to_dict()["ssh"].keys() == local.to_dict()["ssh"].keys()
    for node in inv.nodes:
        assert dataclasses.asdict(node).keys() == dataclasses.asdict(local.nodes[0]).keys()

    count, managers = SHAPES[module]
    assert len(inv.nodes) == count
    assert len(inv.managers) == managers
    assert len(inv.workers) == count - managers
    assert all(n.role in ("manager", "worker") for n in inv.nodes)
    assert inv.nodes[0].is_manager, "managers come first"
    assert len({n.name for n in inv.nodes}) == count
    for node in inv.nodes:
        ipaddress.ip_address(node.address)
        assert node.data_path_address is not None
        ipaddress.ip_address(node.data_path_address)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in node.labels.items())
        assert inv.node(node.name) is node


def test_local_wire_interfaces_are_each_nodes_port_of_the_lab_bridge(run_dir: Path) -> None:
    """terraform/local spells the lab's port names itself; they must be the lab's own
    (``veth_name``), or the encryption check would capture on nothing outside the node."""
    from harness.lab.naming import VETH_PREFIX, veth_name

    inv = parse_recorded("local", run_dir)
    lab = inv.provider_data["lab"]
    assert inv.provider_data["wire_interfaces"] == {n.name: veth_name(lab, i) for i, n in enumerate(inv.nodes, 1)}
    hcl = (REPO / "terraform" / "local" / "outputs.tf").read_text()
    assert f'n.name => "{VETH_PREFIX}${{var.lab_name}}-${{n.index}}"' in hcl


@pytest.mark.parametrize("module", CLOUD_MODULES)
def test_cloud_recording_ssh_to_address_swarm_on_private_address(module: str, run_dir: Path) -> None:
    inv = parse_recorded(module, run_dir)
    data = inv.provider_data
    subnet = ipaddress.ip_network(data["subnet_cidr"])
    assert set(data["ssh_addresses"]) == {n.name for n in inv.nodes}
    for node in inv.nodes:
        assert node.address == data["ssh_addresses"][node.name]
        assert node.data_path_address == data["private_addresses"][node.name]
        assert node.data_path_address is not None and node.data_path_address != node.address
        assert ipaddress.ip_address(node.data_path_address) in subnet
        assert node.labels["harness.provider"] == module
        assert node.labels["harness.engine"] == data["docker_version"]
    assert data["run_id"] and data["expires_at"]
    assert isinstance(data["underlay_mtu"], int)
    assert data["data_path_port"] == 4789


def test_aws_recording_carries_the_upgrade_command(run_dir: Path) -> None:
    inv = parse_recorded("aws", run_dir)
    assert inv.upgrade_command == "/usr/local/sbin/swarm-harness-install-docker 28.0.4"
    assert all(n.upgrade_command is None for n in inv.nodes)


def test_hcloud_recording_merges_node_labels(run_dir: Path) -> None:
    inv = parse_recorded("hcloud", run_dir)
    assert inv.node("worker2").labels["zone"] == "b"
    assert "zone" not in inv.node("worker1").labels


def test_load_inventory_reads_a_recorded_file(run_dir: Path) -> None:
    path = run_dir / "inventory.json"
    path.write_text(json.dumps(recorded("hcloud", run_dir)))
    inv = load_inventory(path)
    assert inv.provider == "hcloud"
    assert inv.source == str(path)


# --- static example inventory ------------------------------------------------------------------------


def example_with_paths(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["ssh"]["private_key_path"] = str(run_dir / "ssh" / "id_ed25519")
    data["ssh"]["known_hosts_path"] = str(run_dir / "ssh" / "known_hosts")
    return data


def test_example_inventory_loads(run_dir: Path) -> None:
    path = run_dir / "example.yaml"
    path.write_text(yaml.safe_dump(example_with_paths(run_dir), sort_keys=False))
    inv = load_inventory(path)
    assert inv.provider == "static"
    assert [n.name for n in inv.managers] == ["manager1"]
    assert [n.name for n in inv.workers] == ["worker1", "worker2"]
    assert inv.node("manager1").labels == {"rack": "a"}
    assert inv.node("worker1").data_path_address == "10.20.0.12"
    worker2_upgrade = inv.node("worker2").upgrade_command
    assert worker2_upgrade is not None and "docker-ce=" in worker2_upgrade
    assert inv.node("worker1").upgrade_command is None
    assert inv.upgrade_command and "docker-ce=" in inv.upgrade_command
    assert inv.registry is None
    assert inv.ssh.private_key_path == run_dir / "ssh" / "id_ed25519"


def test_example_inventory_relative_paths_resolve_against_its_directory(run_dir: Path) -> None:
    data = example_with_paths(run_dir)
    data["ssh"]["private_key_path"] = "ssh/id_ed25519"
    data["ssh"]["known_hosts_path"] = "ssh/known_hosts"
    path = run_dir / "relative.yaml"
    path.write_text(yaml.safe_dump(data))
    inv = load_inventory(path)
    assert inv.ssh.private_key_path == (run_dir / "ssh" / "id_ed25519").resolve()


def test_example_inventory_is_documented() -> None:
    text = EXAMPLE.read_text()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 20
    for word in ("known_hosts", "upgrade_command", "data_path_address", "labels", "role"):
        assert any(word in c for c in comments), f"example.yaml does not explain {word}"


# --- loader error messages -------------------------------------------------------------------------------


def write_yaml(run_dir: Path, name: str, data: dict[str, Any]) -> Path:
    path = run_dir / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(path)
    assert excinfo.value.hint, "every inventory error carries a hint"
    return str(excinfo.value)


def test_error_no_manager_names_file_and_field(run_dir: Path) -> None:
    data = example_with_paths(run_dir)
    for node in data["nodes"]:
        node["role"] = "worker"
    path = write_yaml(run_dir, "no-manager.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'nodes'" in message and "manager" in message


def test_error_bad_address_names_file_and_field(run_dir: Path) -> None:
    data = example_with_paths(run_dir)
    data["nodes"][1]["address"] = "worker1.example.internal"
    path = write_yaml(run_dir, "bad-address.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'nodes[1].address'" in message and "worker1.example.internal" in message


def test_error_bad_data_path_address_in_terraform_output(run_dir: Path) -> None:
    data = recorded("aws", run_dir)
    data["inventory"]["value"]["nodes"][2]["data_path_address"] = "10.77.1.300"
    path = run_dir / "inventory.json"
    path.write_text(json.dumps(data))
    message = load_error(path)
    assert str(path) in message
    assert "field 'nodes[2].data_path_address'" in message


def test_error_missing_key_file_names_file_and_field(run_dir: Path) -> None:
    data = example_with_paths(run_dir)
    data["ssh"]["private_key_path"] = str(run_dir / "ssh" / "no-such-key")
    path = write_yaml(run_dir, "missing-key.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'ssh.private_key_path'" in message and "no-such-key" in message


def test_error_missing_known_hosts_in_terraform_output(run_dir: Path) -> None:
    (run_dir / "ssh" / "known_hosts").unlink()
    path = run_dir / "inventory.json"
    path.write_text(json.dumps(recorded("libvirt", run_dir)))
    message = load_error(path)
    assert str(path) in message and "field 'ssh.known_hosts_path'" in message


def test_error_wrong_schema_version_names_file_and_field(run_dir: Path) -> None:
    data = example_with_paths(run_dir)
    data["schema_version"] = 2
    path = write_yaml(run_dir, "v2.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'schema_version'" in message and "is 2" in message


BAD_YAML = """schema_version: 1
provider: static
ssh:
  user: root
   port: 22
"""


def test_error_bad_yaml_names_file(run_dir: Path) -> None:
    path = run_dir / "broken.yaml"
    path.write_text(BAD_YAML)
    message = load_error(path)
    assert str(path) in message
    assert "invalid YAML" in message and "mapping values are not allowed" in message


def test_error_bad_yaml_names_the_line(run_dir: Path) -> None:
    path = run_dir / "broken.yaml"
    path.write_text(BAD_YAML)
    assert "line 5" in load_error(path)
