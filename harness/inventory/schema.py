"""Inventory dataclasses.

The same contract is produced by every Terraform module (its ``inventory``
output) and by static YAML files under ``inventories/``; keeping one shape lets
suites ignore where their hosts came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1

Role = Literal["manager", "worker"]


@dataclass(frozen=True)
class SSHConfig:
    user: str
    private_key_path: Path
    known_hosts_path: Path
    port: int = 22


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    role: Role
    labels: dict[str, str] = field(default_factory=dict)
    # Address for VXLAN traffic when it differs from ``address`` (multi-NIC hosts).
    data_path_address: str | None = None
    # Shell command that upgrades this host's engine (static and cloud targets).
    upgrade_command: str | None = None

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True)
class Inventory:
    provider: str
    ssh: SSHConfig
    nodes: tuple[Node, ...]
    schema_version: int = SCHEMA_VERSION
    registry: str | None = None
    upgrade_command: str | None = None
    provider_data: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def managers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_manager)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_manager)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        data["ssh"] = {
            "user": self.ssh.user,
            "private_key_path": str(self.ssh.private_key_path),
            "known_hosts_path": str(self.ssh.known_hosts_path),
            "port": self.ssh.port,
        }
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
