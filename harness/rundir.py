"""A run directory: everything one provisioned cluster needs, in one place.

Holds the SSH key pair, known_hosts, Terraform state, ``inventory.json``,
reports and logs. Its ``run.json`` names the run id that labels every Docker
object the run creates.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserInputError
from harness.lab import hostcmd


@dataclass
class RunInfo:
    run_id: str
    target: str
    created_at: str
    variables: dict[str, Any] = field(default_factory=dict)
    status: str = "new"


def default_run_dir(lab: str) -> Path:
    return Path("runs") / lab


def new_run_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def read_info(run_dir: Path) -> RunInfo | None:
    path = run_dir / "run.json"
    if not path.is_file():
        return None
    return RunInfo(**json.loads(path.read_text()))


def write_info(run_dir: Path, info: RunInfo) -> None:
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
    tmp.rename(run_dir / "run.json")


def ensure_ssh_key(run_dir: Path) -> Path:
    sshdir = run_dir / "ssh"
    sshdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = sshdir / "id_ed25519"
    if not key.exists():
        hostcmd.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarm-harness", "-f", str(key)])
    (sshdir / "known_hosts").touch(mode=0o600, exist_ok=True)
    return key


def require_run_dir(run_dir: Path) -> RunInfo:
    info = read_info(run_dir)
    if info is None:
        raise UserInputError(
            f"{run_dir} is not a run directory (no run.json)",
            "pass the --run-dir that 'swarm-harness up' created",
        )
    return info
