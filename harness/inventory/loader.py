"""Turn Terraform output or a static YAML file into a validated ``Inventory``.

Errors name the file, the field and the fix, because an inventory is usually
hand-written and a traceback would tell its author nothing.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InventoryError
from harness.inventory.schema import SCHEMA_VERSION, Inventory, Node, SSHConfig

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _Ctx:
    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def fail(self, field: str, problem: str, fix: str) -> InventoryError:
        return InventoryError(f"{self.source}: field '{field}' {problem}", fix)


TOP_FIELDS = ("schema_version", "provider", "ssh", "nodes", "registry", "upgrade_command", "provider_data")
SSH_FIELDS = ("user", "private_key_path", "known_hosts_path", "port")
NODE_FIELDS = ("name", "address", "role", "labels", "data_path_address", "upgrade_command")


def _known_fields(ctx: _Ctx, data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """A misspelt field (``data_path_adress``) would otherwise be dropped without a word,
    and the host would run with the default the author meant to override."""
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            raise ctx.fail(
                f"{where}{key}",
                "is not a field of the inventory schema",
                f"{guess}allowed {'here' if where else 'at the top level'}: {', '.join(allowed)}",
            )


def _require(ctx: _Ctx, data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    field = f"{where}{key}"
    if key not in data or data[key] is None:
        raise ctx.fail(field, "is missing", f"add '{key}' ({kind.__name__})")
    value = data[key]
    if kind is int and isinstance(value, bool):
        raise ctx.fail(field, f"must be an integer, got {value!r}", "write a whole number")
    if not isinstance(value, kind):
        raise ctx.fail(field, f"must be a {kind.__name__}, got {type(value).__name__}", "fix its type")
    return value


def _path(ctx: _Ctx, value: str, field: str) -> Path:
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (ctx.base_dir / p).resolve()
    if not p.exists():
        raise ctx.fail(field, f"points to {p}, which does not exist", "fix the path")
    if not p.is_file():
        raise ctx.fail(field, f"points to {p}, which is not a file", "name the file itself")
    return p


def _address(ctx: _Ctx, value: Any, field: str) -> str:
    if value is None or value == "":
        raise ctx.fail(field, "is missing", f"add '{field.rsplit('.', 1)[-1]}' (the host's IP address)")
    if not isinstance(value, str):
        raise ctx.fail(field, f"must be an IPv4 or IPv6 address string, got {value!r}", "quote it")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ctx.fail(
            field, f"is not an IP address: {value!r}", "use the host's IP (not a hostname)"
        ) from None
    return value


def _labels(ctx: _Ctx, value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        raise ctx.fail(field, "must be a map of string keys to scalar values", "fix the labels")
    return {k: str(v) for k, v in value.items()}


def parse_inventory(data: Any, source: str, base_dir: Path | None = None) -> Inventory:
    """Validate an inventory mapping (already decoded from JSON or YAML)."""
    ctx = _Ctx(source, base_dir or Path.cwd())
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: the top level must be a mapping", "see inventories/")
    # Accept raw `terraform output -json`, where each output is {"value": ...}.
    if "inventory" in data and isinstance(data["inventory"], dict):
        inner = data["inventory"]
        data = inner["value"] if "value" in inner and isinstance(inner["value"], dict) else inner
    _known_fields(ctx, data, TOP_FIELDS, "")
    version = _require(ctx, data, "schema_version", int, "")
    if version != SCHEMA_VERSION:
        raise ctx.fail(
            "schema_version",
            f"is {version}, this harness reads version {SCHEMA_VERSION}",
            "regenerate the inventory with this harness's Terraform modules",
        )
    provider = _require(ctx, data, "provider", str, "")
    ssh_data = _require(ctx, data, "ssh", dict, "")
    _known_fields(ctx, ssh_data, SSH_FIELDS, "ssh.")
    user = _require(ctx, ssh_data, "user", str, "ssh.")
    if not user.strip():
        raise ctx.fail("ssh.user", "is empty", "name the login user on the hosts, e.g. root")
    key = _path(ctx, _require(ctx, ssh_data, "private_key_path", str, "ssh."), "ssh.private_key_path")
    kh = _path(ctx, _require(ctx, ssh_data, "known_hosts_path", str, "ssh."), "ssh.known_hosts_path")
    port = ssh_data.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ctx.fail("ssh.port", f"must be a port number 1..65535, got {port!r}", "fix it")
    raw_nodes = _require(ctx, data, "nodes", list, "")
    if not raw_nodes:
        raise ctx.fail("nodes", "is empty", "list at least one host with role 'manager'")
    nodes: list[Node] = []
    seen_names: set[str] = set()
    seen_addrs: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        where = f"nodes[{i}]."
        if not isinstance(raw, dict):
            raise ctx.fail(f"nodes[{i}]", "must be a mapping", "give name, address and role")
        _known_fields(ctx, raw, NODE_FIELDS, where)
        name = _require(ctx, raw, "name", str, where)
        if not _NAME_RE.match(name):
            raise ctx.fail(f"{where}name", f"{name!r} is not a valid node name", "use lowercase a-z, 0-9, -")
        if name in seen_names:
            raise ctx.fail(f"{where}name", f"repeats the name {name!r}", "give each node a unique name")
        seen_names.add(name)
        address = _address(ctx, raw.get("address"), f"{where}address")
        if address in seen_addrs:
            raise ctx.fail(f"{where}address", f"repeats {address}", "give each node its own address")
        seen_addrs.add(address)
        role = _require(ctx, raw, "role", str, where)
        if role not in ("manager", "worker"):
            raise ctx.fail(f"{where}role", f"is {role!r}", "use 'manager' or 'worker'")
        dpa = raw.get("data_path_address")
        nodes.append(
            Node(
                name=name,
                address=address,
                role=role,
                labels=_labels(ctx, raw.get("labels"), f"{where}labels"),
                data_path_address=_address(ctx, dpa, f"{where}data_path_address") if dpa else None,
                upgrade_command=raw.get("upgrade_command") or None,
            )
        )
    if not any(n.is_manager for n in nodes):
        raise ctx.fail("nodes", "has no node with role 'manager'", "set role: manager on one node")
    registry = data.get("registry") or None
    if registry is not None and not isinstance(registry, str):
        raise ctx.fail("registry", "must be a string like host:port/prefix", "fix or remove it")
    provider_data = data.get("provider_data") or {}
    if not isinstance(provider_data, dict):
        raise ctx.fail("provider_data", "must be a mapping", "fix or remove it")
    return Inventory(
        provider=provider,
        ssh=SSHConfig(user=user, private_key_path=key, known_hosts_path=kh, port=port),
        nodes=tuple(nodes),
        schema_version=version,
        registry=registry,
        upgrade_command=data.get("upgrade_command") or None,
        provider_data=provider_data,
        source=source,
    )


def load_inventory(path: Path | str) -> Inventory:
    """Load JSON (Terraform output or harness-written) or YAML from ``path``."""
    p = Path(path)
    if p.is_dir():
        raise InventoryError(
            f"inventory {p} is a directory, not a file",
            f"pass the file inside it, e.g. {p / 'inventory.json'}",
        )
    if not p.is_file():
        raise InventoryError(
            f"inventory file {p} does not exist",
            "pass the inventory.json of a run directory (see 'swarm-harness up') or a YAML file",
        )
    text = p.read_text()
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(
            f"{p}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}", "fix the syntax"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InventoryError(f"{p}: {where}invalid YAML: {problem}", "fix the syntax") from None
    return parse_inventory(data, str(p), p.parent)
