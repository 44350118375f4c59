"""Static contract of every Terraform module under terraform/.

The harness reads one ``inventory`` output from whichever module it applied, so every
module must emit exactly the shape ``terraform/local`` does. Cloud modules must also
open exactly the swarm ports between nodes (and SSH from one CIDR), tag what they
create, and pin their providers. Everything here is checked from the HCL source,
offline: no provider is downloaded and nothing is applied.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
MODULES = sorted(p.name for p in TF_DIR.iterdir() if (p / "outputs.tf").is_file())
CLOUD_MODULES = ["aws", "hcloud", "libvirt"]
EXAMPLE_DIRS = sorted(p.parent for p in TF_DIR.glob("*/examples/*/main.tf"))
# The local module the cloud modules share (cloud-init, the inventory output's shape).
NODE_COMMON = TF_DIR / "modules" / "node-common"
# The local module that holds each run's names, tags, expiry, node list and SSH keys.
RUN_IDENTITY = TF_DIR / "modules" / "run-identity"
ALL_ROOTS = [TF_DIR / m for m in MODULES] + EXAMPLE_DIRS + [NODE_COMMON, RUN_IDENTITY]

_HCL_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

# --- what each cloud module must contain ------------------------------------------------------

CLOUD_PROVIDER_SOURCE = {
    "aws": "hashicorp/aws",
    "hcloud": "hetznercloud/hcloud",
    "libvirt": "dmacvicar/libvirt",
}

SSH_SOURCE = "var.ssh_allowed_cidr"

# Sources that mean "the other nodes only".
NODE_SOURCES = {
    "aws": {"aws_security_group.nodes.id"},
    "hcloud": {"var.private_cidr"},
    "libvirt": {"var.private_cidr"},
}

WORLD_SOURCES = {"0.0.0.0/0", "::/0"}

# Resource type -> the argument holding its tags/labels.
TAGGABLE = {
    "aws": {
        "aws_vpc": "tags",
        "aws_subnet": "tags",
        "aws_internet_gateway": "tags",
        "aws_route_table": "tags",
        "aws_security_group": "tags",
        "aws_vpc_security_group_ingress_rule": "tags",
        "aws_vpc_security_group_egress_rule": "tags",
        "aws_instance": "tags",
    },
    "hcloud": {
        "hcloud_network": "labels",
        "hcloud_firewall": "labels",
        "hcloud_server": "labels",
        "hcloud_ssh_key": "labels",
    },
    # libvirt objects have no labels; a domain's description carries the tags as JSON.
    "libvirt": {"libvirt_domain": "description"},
}

# Resource types that take no tags or labels at all.
UNTAGGABLE = {
    "terraform_data",
    "tls_private_key",
    "local_file",
    "local_sensitive_file",
    "aws_route_table_association",
    "hcloud_network_subnet",
    "libvirt_network",
    "libvirt_volume",
    "libvirt_cloudinit_disk",
}


# --- HCL helpers -----------------------------------------------------------------------------------


@cache
def load_dir(path: Path) -> dict[str, list[Any]]:
    """All top-level blocks of the *.tf files in ``path``, merged by block kind."""
    merged: dict[str, list[Any]] = {}
    for tf in sorted(path.glob("*.tf")):
        data = hcl2.loads(tf.read_text(), serialization_options=_HCL_OPTIONS)
        for kind, items in data.items():
            merged.setdefault(kind, []).extend(items)
    return merged


def module(name: str) -> dict[str, list[Any]]:
    return load_dir(TF_DIR / name)


def named(mod: dict[str, list[Any]], kind: str) -> dict[str, Any]:
    """Blocks with one label (variable, output, module) as {label: body}."""
    out: dict[str, Any] = {}
    for item in mod.get(kind, []):
        out.update(item)
    return out


def resources(mod: dict[str, list[Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (rtype, rname, body)
        for item in mod.get("resource", [])
        for rtype, by_name in item.items()
        for rname, body in by_name.items()
    ]


def resources_of(mod: dict[str, list[Any]], rtype: str) -> dict[str, dict[str, Any]]:
    return {n: b for t, n, b in resources(mod) if t == rtype}


def local_values(mod: dict[str, list[Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for block in mod.get("locals", []):
        values.update(block)
    return values


def expr(value: Any) -> str:
    """The bare expression of a serialized value: '${var.x}' -> 'var.x', 'tostring(var.x)' -> 'var.x'."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    m = re.fullmatch(r"tostring\((.*)\)", text)
    return m.group(1).strip() if m else text


def object_keys(text: str) -> list[str]:
    """Keys of the object literal a for-expression yields: '[for x in y : {a = 1, b = f(x)}]' -> [a, b]."""
    start = re.search(r"\bfor\b[^:]*:\s*\{", text)
    assert start, f"not a for-expression yielding an object: {text[:120]}"
    i = start.end()
    depth = 1
    keys: list[str] = []
    expect_key = True
    in_string = False
    while i < len(text) and depth > 0:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 1 and c == ",":
            expect_key = True
        elif depth == 1 and expect_key and not c.isspace():
            m = re.match(r"([A-Za-z_][A-Za-z0-9_-]*)\s*=", text[i:])
            assert m, f"cannot read an object key at: {text[i : i + 40]!r}"
            keys.append(m.group(1))
            i += m.end() - 1
            expect_key = False
        i += 1
    return keys


def node_common_call(name: str) -> dict[str, Any]:
    """The arguments terraform/<name> passes to modules/node-common."""
    calls = named(module(name), "module")
    assert "node_common" in calls, f"terraform/{name} does not call modules/node-common"
    call = calls["node_common"]
    assert call["source"] == "../modules/node-common"
    assert isinstance(call, dict)
    return call


def run_identity_output(value: str) -> Any:
    """What ``${module.run_identity.OUTPUT}`` stands for, from modules/run-identity's source."""
    m = re.fullmatch(r"module\.run_identity\.(\w+)", expr(value))
    assert m, f"cannot resolve {value!r}: only run-identity's outputs are followed"
    return named(load_dir(RUN_IDENTITY), "output")[m.group(1)]["value"]


def run_identity_call(name: str) -> dict[str, Any]:
    """The arguments terraform/<name> passes to modules/run-identity (in its run_identity.tf)."""
    calls = named(module(name), "module")
    assert "run_identity" in calls, f"terraform/{name} does not call modules/run-identity"
    call: dict[str, Any] = calls["run_identity"]
    assert call["source"] == "../modules/run-identity"
    return call


def _through_node_common(name: str, value: Any) -> Any:
    """``value`` of node-common with whole ``var.*``/``local.*``/``merge(...)`` values put in.

    A var (or a field of one) is replaced by what terraform/<name> passes; the rest (for-expressions,
    conditionals) stays source text, as the literal of a module of its own would.
    """
    if isinstance(value, dict):
        return {k: _through_node_common(name, v) for k, v in value.items()}
    if not isinstance(value, str) or not value.startswith("${"):
        return value
    text = expr(value)
    call = node_common_call(name)
    merged = re.fullmatch(r"merge\(([\w.]+),\s*([\w.]+)\)", text)
    if merged:
        parts = [_through_node_common(name, "${" + p + "}") for p in merged.groups()]
        assert all(isinstance(p, dict) for p in parts), f"node-common: cannot resolve {text}"
        return {k: v for p in parts for k, v in p.items()}
    if m := re.fullmatch(r"var\.([\w.]+)", text):
        arg: Any = call
        for key in m.group(1).split("."):
            if isinstance(arg, str):  # the caller passed another module's output whole
                arg = run_identity_output(arg)
            arg = arg[key]
        return arg
    if m := re.fullmatch(r"local\.(\w+)", text):
        return _through_node_common(name, local_values(load_dir(NODE_COMMON))[m.group(1)])
    return value


def inventory_value(name: str) -> dict[str, Any]:
    """The module's inventory object; a cloud module's is node-common's, with its arguments put in."""
    outputs = named(module(name), "output")
    assert "inventory" in outputs, f"terraform/{name} has no 'inventory' output"
    value = outputs["inventory"]["value"]
    if expr(value) == "module.node_common.inventory":
        value = _through_node_common(name, named(load_dir(NODE_COMMON), "output")["inventory"]["value"])
    assert isinstance(value, dict), f"terraform/{name}: output 'inventory' must be an object literal"
    return value


# --- firewall rules, normalised to (protocol, port, source) ------------------------------------------


def _port(from_port: Any, to_port: Any) -> str | None:
    if from_port is None:
        return None
    lo, hi = expr(from_port), expr(to_port if to_port is not None else from_port)
    return lo if lo == hi else f"{lo}-{hi}"


def firewall_rules(name: str) -> list[dict[str, Any]]:
    mod = module(name)
    rules: list[dict[str, Any]] = []
    if name == "aws":
        for group in resources_of(mod, "aws_security_group").values():
            assert "ingress" not in group, "use aws_vpc_security_group_ingress_rule, not inline ingress"
        assert not resources_of(mod, "aws_security_group_rule"), "use aws_vpc_security_group_*_rule"
        for rname, body in resources_of(mod, "aws_vpc_security_group_ingress_rule").items():
            source_keys = ("cidr_ipv4", "cidr_ipv6", "referenced_security_group_id", "prefix_list_id")
            sources = [body[k] for k in source_keys if k in body]
            assert len(sources) == 1, f"aws rule {rname} must have exactly one source"
            rules.append(
                {
                    "name": rname,
                    "protocol": str(body["ip_protocol"]).lower(),
                    "port": _port(body.get("from_port"), body.get("to_port")),
                    "source": expr(sources[0]),
                }
            )
    elif name == "hcloud":
        for fname, body in resources_of(mod, "hcloud_firewall").items():
            for i, rule in enumerate(body.get("rule", [])):
                if rule.get("direction") != "in":
                    continue
                sources = rule.get("source_ips", [])
                assert len(sources) == 1, f"hcloud_firewall.{fname} rule {i}: give one source per rule"
                port = rule.get("port")
                rules.append(
                    {
                        "name": f"{fname}[{i}]",
                        "protocol": str(rule["protocol"]).lower(),
                        "port": None if port is None else expr(port),
                        "source": expr(sources[0]),
                    }
                )
    elif name == "libvirt":
        for rule in local_values(mod)["firewall_rules"]:
            rules.append(
                {
                    "name": rule["name"],
                    "protocol": str(rule["protocol"]).lower(),
                    "port": None if rule["port"] is None else expr(rule["port"]),
                    "source": expr(rule["source"]),
                }
            )
    assert rules, f"terraform/{name}: no inbound firewall rules found"
    return rules


def _is_esp(rule: dict[str, Any]) -> bool:
    return rule["protocol"] in ("50", "esp")


# --- every module ------------------------------------------------------------------------------------


def test_module_set_includes_local_and_cloud_targets() -> None:
    assert "local" in MODULES
    for name in CLOUD_MODULES:
        assert name in MODULES, f"terraform/{name} is missing"
        for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (TF_DIR / name / f).is_file(), f"terraform/{name}/{f} is missing"
        assert (TF_DIR / name / "examples" / "basic" / "main.tf").is_file()


@pytest.mark.parametrize("root", ALL_ROOTS, ids=lambda p: str(p.relative_to(TF_DIR)))
def test_every_variable_has_type_and_description(root: Path) -> None:
    variables = named(load_dir(root), "variable")
    assert variables or root.name == "basic", f"{root} declares no variables"
    for vname, body in variables.items():
        assert body.get("type"), f"{root.relative_to(REPO)}: variable {vname!r} has no type"
        description = body.get("description")
        assert isinstance(description, str) and description.strip(), (
            f"{root.relative_to(REPO)}: variable {vname!r} has no description"
        )


@pytest.mark.parametrize("name", MODULES)
def test_inventory_output_has_the_keys_of_local(name: str) -> None:
    reference = inventory_value("local")
    value = inventory_value(name)
    assert sorted(value) == sorted(reference), "top-level keys differ from terraform/local"
    assert sorted(value["ssh"]) == sorted(reference["ssh"]), "ssh block keys differ from terraform/local"
    assert object_keys(value["nodes"]) == object_keys(reference["nodes"]), (
        "node object keys differ from terraform/local"
    )
    assert value["schema_version"] == 1
    assert value["provider"] == name
    assert value["ssh"]["port"] == 22
    assert isinstance(value["provider_data"], dict)


def test_local_node_object_keys() -> None:
    # Guards object_keys() itself against silently returning nothing.
    assert object_keys(inventory_value("local")["nodes"]) == [
        "name",
        "address",
        "role",
        "labels",
        "data_path_address",
        "upgrade_command",
    ]


@pytest.mark.parametrize("name", MODULES)
def test_versions_tf_pins_terraform_and_providers(name: str) -> None:
    versions = load_dir(TF_DIR / name)
    # versions.tf holds the terraform block
    assert (TF_DIR / name / "versions.tf").is_file()
    blocks = versions.get("terraform", [])
    assert blocks, f"terraform/{name}: no terraform block"
    terraform = blocks[0]
    assert terraform.get("required_version"), f"terraform/{name}: required_version is not set"
    providers: dict[str, Any] = {}
    for item in terraform.get("required_providers", []):
        providers.update(item)
    if name == "local":
        assert not providers, "terraform/local must stay provider-free (it runs offline)"
        return
    # The SSH keys and files are made in the shared modules, which pin tls and local.
    assert {p["source"] for p in providers.values()} == {CLOUD_PROVIDER_SOURCE[name]}
    _assert_pinned(name, providers)


@pytest.mark.parametrize(
    ("shared", "sources"),
    [(RUN_IDENTITY, {"hashicorp/tls", "hashicorp/local"}), (NODE_COMMON, {"hashicorp/local"})],
    ids=["run-identity", "node-common"],
)
def test_shared_modules_pin_their_providers(shared: Path, sources: set[str]) -> None:
    (block,) = load_dir(shared)["terraform"]
    assert block.get("required_version")
    providers: dict[str, Any] = {}
    for item in block.get("required_providers", []):
        providers.update(item)
    assert {p["source"] for p in providers.values()} == sources
    _assert_pinned(shared.name, providers)


def _assert_pinned(where: str, providers: dict[str, Any]) -> None:
    for pname, spec in providers.items():
        assert str(spec.get("version", "")).startswith("~>"), f"{where}: provider {pname} must be pinned with '~>'"


# --- cloud modules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_swarm_ports_are_open_between_nodes_only(name: str) -> None:
    rules = firewall_rules(name)
    node_sources = NODE_SOURCES[name]
    data_path_ports = {"4789", "var.data_path_port"}
    required = {
        "2377/tcp": lambda r: r["protocol"] == "tcp" and r["port"] == "2377",
        "7946/tcp": lambda r: r["protocol"] == "tcp" and r["port"] == "7946",
        "7946/udp": lambda r: r["protocol"] == "udp" and r["port"] == "7946",
        "data path/udp": lambda r: r["protocol"] == "udp" and r["port"] in data_path_ports,
        "ESP (protocol 50)": _is_esp,
    }
    for what, matches in required.items():
        found = [r for r in rules if matches(r)]
        assert found, f"terraform/{name}: no inbound rule for {what}"
        for r in found:
            assert r["source"] in node_sources, (
                f"terraform/{name}: rule {r['name']} ({what}) must come from the nodes only, "
                f"not {r['source']}"
            )
    # Everything that is not SSH is node-to-node.
    for r in rules:
        if r["source"] != SSH_SOURCE:
            assert r["source"] in node_sources, f"terraform/{name}: rule {r['name']} is open to {r['source']}"
        assert r["source"] not in WORLD_SOURCES, f"terraform/{name}: rule {r['name']} is open to the world"


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_data_path_port_comes_from_the_variable(name: str) -> None:
    assert "data_path_port" in named(module(name), "variable")
    vxlan = [r for r in firewall_rules(name) if r["protocol"] == "udp" and r["port"] not in ("7946",)]
    assert any(r["port"] == "var.data_path_port" for r in vxlan), (
        f"terraform/{name}: the VXLAN rule must use var.data_path_port"
    )


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_ssh_only_from_ssh_allowed_cidr(name: str) -> None:
    rules = firewall_rules(name)
    ssh = [r for r in rules if r["port"] == "22"]
    assert ssh, f"terraform/{name}: no 22/tcp rule"
    for r in ssh:
        assert r["protocol"] == "tcp" and r["source"] == SSH_SOURCE, (
            f"terraform/{name}: 22/tcp must come from var.ssh_allowed_cidr only, rule {r['name']} does not"
        )
    for r in rules:
        if r["source"] == SSH_SOURCE:
            assert r["protocol"] == "tcp" and r["port"] == "22", (
                f"terraform/{name}: var.ssh_allowed_cidr may only open 22/tcp, rule {r['name']} opens more"
            )
    variable = named(module(name), "variable")["ssh_allowed_cidr"]
    assert variable.get("validation"), "ssh_allowed_cidr must be validated"


def test_libvirt_has_no_firewall_resource_and_ships_nftables() -> None:
    mod = module("libvirt")
    types = {t for t, _, _ in resources(mod)}
    assert not {t for t in types if "firewall" in t or "security_group" in t}
    values = local_values(mod)
    assert "local.firewall_rules" in str(values["nftables_rules"])
    call = node_common_call("libvirt")
    assert "local.nftables_rules" in str(call["extra_write_files"]), (
        "cloud-init must install the nftables rules"
    )
    assert "var.extra_write_files" in str(local_values(load_dir(NODE_COMMON))["user_data"])
    readme = (TF_DIR / "libvirt" / "README.md").read_text()
    assert "isolated" in readme and "no firewall resource" in readme and "nftables" in readme


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_every_taggable_resource_carries_the_tags(name: str) -> None:
    mod = module(name)
    # The module's tags are run-identity's, which it passes the run's own inputs.
    assert expr(local_values(mod)["tags"]) == "module.run_identity.tags"
    call = run_identity_call(name)
    for arg in ("run_id", "owner", "ttl_hours", "expires_at", "run_dir"):
        assert expr(call[arg]) == f"var.{arg}", f"terraform/{name}: run_identity.{arg} must be var.{arg}"
    identity = load_dir(RUN_IDENTITY)
    tags = local_values(identity)["tags"]
    assert expr(tags["run_id"]) == "var.run_id"
    assert expr(tags["owner"]) == "var.owner"
    assert expr(tags["expires_at"]) == "local.expires_at"
    expires = str(local_values(identity)["expires_at"])
    assert "var.expires_at" in expires and "terraform_data.expiry" in expires
    assert "var.ttl_hours" in str(resources_of(identity, "terraform_data")["expiry"]["input"])

    taggable = TAGGABLE[name]
    tagged = 0
    for rtype, rname, body in resources(mod):
        if rtype in UNTAGGABLE:
            continue
        assert rtype in taggable, (
            f"terraform/{name}: add {rtype} to TAGGABLE or UNTAGGABLE in this test (does it take tags?)"
        )
        attr = taggable[rtype]
        assert "local.tags" in str(body.get(attr, "")), f"{rtype}.{rname}: {attr} must include local.tags"
        tagged += 1
    assert tagged, f"terraform/{name}: no tagged resource"
    if name == "aws":
        for rname, body in resources_of(mod, "aws_instance").items():
            for device in body.get("root_block_device", []):
                assert "local.tags" in str(device.get("tags", "")), (
                    f"aws_instance.{rname}: tag the root volume"
                )


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_ssh_identity_is_generated_and_host_keys_are_pinned(name: str) -> None:
    mod = module(name)
    identity = load_dir(RUN_IDENTITY)
    keys = resources_of(identity, "tls_private_key")
    assert {"client", "host"} <= set(keys)
    for body in keys.values():
        assert body["algorithm"] == "ED25519"
    assert expr(keys["host"]["count"]) == "local.node_count"
    client = resources_of(identity, "local_sensitive_file")["client_key"]
    assert client["filename"] == "${var.run_dir}/ssh/id_ed25519"
    assert client["file_permission"] == "0600"
    ssh_files = named(identity, "output")["ssh_files"]["value"]
    assert expr(ssh_files["private_key_path"]) == "local_sensitive_file.client_key.filename"
    assert ssh_files["known_hosts_path"] == "${var.run_dir}/ssh/known_hosts"
    # node-common writes known_hosts where run-identity says, with each node's host key.
    known_hosts = resources_of(load_dir(NODE_COMMON), "local_file")["known_hosts"]
    assert expr(known_hosts["filename"]) == "var.inventory.ssh_files.known_hosts_path"
    assert "var.ssh_keys.hosts[i].public_key_openssh" in str(known_hosts["content"])
    assert "a.address" in str(known_hosts["content"]) and "a.data_path_address" in str(known_hosts["content"])
    assert expr(node_common_call(name)["inventory"]["ssh_files"]) == "module.run_identity.ssh_files"
    ssh = inventory_value(name)["ssh"]
    assert expr(ssh["private_key_path"]) == "local_sensitive_file.client_key.filename"
    assert expr(ssh["known_hosts_path"]) == "local_file.known_hosts.filename"
    assert not resources_of(mod, "tls_private_key"), f"terraform/{name}: SSH keys belong to run-identity"
    # cloud-init (node-common) installs the host key the module generated for node i.
    user_data = str(local_values(load_dir(NODE_COMMON))["user_data"])
    assert "ssh_keys" in user_data and "ed25519_private" in user_data
    assert "var.ssh_keys.hosts[i].private_key_openssh" in user_data
    assert expr(node_common_call(name)["ssh_keys"]) == "module.run_identity.ssh_keys"
    ssh_keys = named(identity, "output")["ssh_keys"]["value"]
    assert expr(ssh_keys["hosts"]) == "tls_private_key.host"
    assert expr(ssh_keys["client"]) == "tls_private_key.client"
    assert "module.node_common.user_data[count.index]" in str(resources(mod)), (
        "nodes must boot this user data"
    )


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_cloud_init_installs_pinned_docker_and_tcpdump(name: str) -> None:
    mod = module(name)
    values = local_values(load_dir(NODE_COMMON))
    user_data = str(values["user_data"])
    assert "var.engine.version" in user_data
    assert expr(node_common_call(name)["engine"]["version"]) == "var.docker_version"
    assert "tcpdump" in user_data
    script = str(values["install_docker_script"])
    assert "download.docker.com" in script and "apt-mark hold" in script
    assert "docker-ce=$pkg" in script
    assert "var.docker_version" in named(mod, "variable")["docker_version"]["validation"][0]["condition"]


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_addresses_public_for_ssh_private_for_data_path(name: str) -> None:
    # node-common takes node i's addresses from what the module passes as addresses[i].
    shaped = str(inventory_value(name)["nodes"])
    assert "address = var.addresses[i].address" in shaped
    assert "data_path_address = var.addresses[i].data_path_address" in shaped
    nodes = str(node_common_call(name)["addresses"])
    provider_data = inventory_value(name)["provider_data"]
    assert {"ssh_addresses", "private_addresses", "expires_at", "run_id"} <= set(provider_data)
    if name == "aws":
        assert "address = aws_instance.node[i].public_ip" in nodes
        assert "data_path_address = aws_instance.node[i].private_ip" in nodes
    elif name == "hcloud":
        assert "address = hcloud_server.node[i].ipv4_address" in nodes
        assert "data_path_address = n.private_ip" in nodes
    else:
        assert "address = n.mgmt_ip" in nodes and "data_path_address = n.private_ip" in nodes
    readme = (TF_DIR / name / "README.md").read_text()
    assert "data_path_address" in readme and "--advertise-addr" in readme


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_readme_documents_inputs_outputs_usage_and_cost(name: str) -> None:
    readme = (TF_DIR / name / "README.md").read_text()
    for heading in ("## Inputs", "## Outputs", "## Usage", "## Cost"):
        assert heading in readme, f"terraform/{name}/README.md lacks '{heading}'"
    assert "swarm-harness" in readme
    for vname in named(module(name), "variable"):
        assert f"`{vname}`" in readme, f"terraform/{name}/README.md does not document {vname}"


@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_example_passes_every_required_variable(name: str) -> None:
    example = load_dir(TF_DIR / name / "examples" / "basic")
    calls = named(example, "module")
    assert len(calls) == 1
    (call,) = calls.values()
    assert call["source"] == "../.."
    required = {v for v, body in named(module(name), "variable").items() if "default" not in body}
    missing = required - set(call)
    assert not missing, f"examples/basic does not pass {sorted(missing)}"
    unknown = set(call) - {"source"} - set(named(module(name), "variable"))
    assert not unknown, f"examples/basic passes unknown inputs {sorted(unknown)}"
    assert expr(named(example, "output")["inventory"]["value"]) == "module.swarm.inventory"


# --- formatting ----------------------------------------------------------------------------------------


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not on PATH; 'terraform fmt -check' did not run")
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull, TF_IN_AUTOMATION="1")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "terraform"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"terraform fmt -check failed; run 'terraform fmt -recursive terraform':\n{proc.stdout}{proc.stderr}"
    )


# --- nightly pipelines ----------------------------------------------------------------------------------

GITHUB_NIGHTLY = REPO / ".github" / "workflows" / "nightly.yml"
GITLAB_NIGHTLY = REPO / "ci" / "gitlab-nightly.yml"
NIGHTLY_TARGETS = {"local", "aws", "hcloud"}


def _load_yaml(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def test_github_nightly_workflow() -> None:
    wf = _load_yaml(GITHUB_NIGHTLY)
    triggers = wf["on"] if "on" in wf else wf[True]  # YAML 1.1 reads a bare 'on' as true
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    assert wf["env"]["RUN_DIR"] == "runs/nightly"
    (job,) = wf["jobs"].values()
    matrix = job["strategy"]["matrix"]
    assert set(matrix["target"]) == NIGHTLY_TARGETS
    engines = set(matrix["engine"]) | {i["engine"] for i in matrix.get("include", [])}
    assert len(engines) >= 2
    assert job["strategy"]["fail-fast"] is False
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(
        "swarm-harness run" in r and '--target "$TARGET"' in r and '--run-dir "$RUN_DIR"' in r for r in runs
    )
    # Nightly is strict: every 'swarm-harness run' line of the workflow passes --strict.
    run_lines = [ln for r in runs for ln in r.replace("\\\n", " ").splitlines() if "swarm-harness run" in ln]
    assert len(run_lines) == 2 and all("--strict" in ln for ln in run_lines), run_lines
    destroy = [s for s in steps if "swarm-harness down" in s.get("run", "")]
    assert destroy and all(s.get("if") == "always()" for s in destroy)
    assert '--run-dir "$RUN_DIR"' in destroy[0]["run"]
    uploads = {s["name"]: s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")}
    report = [s for s in uploads.values() if s.get("if") == "always()"]
    bundle = [s for s in uploads.values() if s.get("if") == "failure()"]
    assert report and ".xml" in report[0]["with"]["path"], "upload JUnit always"
    assert bundle and "artifacts" in bundle[0]["with"]["path"], "upload the artifact bundle on failure"
    for s in uploads.values():
        assert "ssh" not in s["with"]["path"] and "/tf" not in s["with"]["path"], "never upload keys or state"


def test_gitlab_nightly_pipeline() -> None:
    ci = _load_yaml(GITLAB_NIGHTLY)
    assert ci["variables"]["RUN_DIR"] == "runs/nightly"
    template = ci[".nightly"]
    assert any("schedule" in r["if"] for r in template["rules"])
    assert any("swarm-harness run" in s and '--target "$TARGET"' in s for s in template["script"])
    assert all("--strict" in s for s in template["script"] if "swarm-harness run" in s)
    assert any("swarm-harness down" in s and '--run-dir "$RUN_DIR"' in s for s in template["after_script"])
    assert template["artifacts"]["when"] == "always"
    assert template["artifacts"]["reports"]["junit"]
    assert "failure-bundle/" in template["artifacts"]["paths"]
    targets: set[str] = set()
    for job in ci.values():
        if isinstance(job, dict) and job.get("extends") == ".nightly":
            for entry in job["parallel"]["matrix"]:
                value = entry["TARGET"]
                targets.update(value if isinstance(value, list) else [value])
    assert targets == NIGHTLY_TARGETS
