"""Lab-level operations: the LAN a lab's machines share, and whole-lab status."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from harness.errors import LabError
from harness.lab import hostcmd, machine, network, uml_image, vm
from harness.lab.naming import bridge_name, lab_dir, validate_lab_name

log = logging.getLogger(__name__)

TOOLS = ["ip", "systemd-nspawn", "debootstrap", "ssh-keygen", "mount"]


def preflight(kind: str = "nspawn") -> None:
    hostcmd.require_root()
    hostcmd.require_tools(TOOLS + {"vm": vm.TOOLS, "uml": uml_image.TOOLS}.get(kind, []))


def read_lab(lab: str) -> dict[str, Any] | None:
    path = lab_dir(lab) / "lab.json"
    return json.loads(path.read_text()) if path.is_file() else None


def create_network(lab: str, subnet: str, run_dir: Path) -> None:
    """Create the lab's bridge; refuse to adopt a lab that another run owns."""
    validate_lab_name(lab)
    preflight()
    network.parse_subnet(subnet)
    run_dir = run_dir.resolve()
    existing = read_lab(lab)
    if existing is not None and existing["run_dir"] != str(run_dir):
        raise LabError(
            f"lab {lab!r} already exists (owned by run directory {existing['run_dir']})",
            f"destroy it with 'swarm-harness down --run-dir {existing['run_dir']}' "
            "or pick another --lab name",
        )
    if existing is not None and existing["subnet"] != subnet:
        raise LabError(
            f"lab {lab!r} exists with subnet {existing['subnet']}, not {subnet}",
            "destroy it first or keep its subnet",
        )
    network.create_bridge(lab, subnet)
    lab_dir(lab).mkdir(parents=True, exist_ok=True)
    (lab_dir(lab) / "lab.json").write_text(
        json.dumps(
            {"lab": lab, "subnet": subnet, "run_dir": str(run_dir), "bridge": bridge_name(lab)}, indent=2
        )
    )


def destroy_network(lab: str) -> None:
    validate_lab_name(lab)
    for st in machine.list_states(lab):
        machine.destroy(st)
    network.delete_bridge(lab)
    shutil.rmtree(lab_dir(lab), ignore_errors=True)


def lab_status(lab: str) -> dict[str, Any]:
    info = read_lab(lab)
    if info is None:
        raise LabError(f"lab {lab!r} does not exist", "list labs with 'swarm-harness status'")
    info["machines"] = [machine.status(s) for s in machine.list_states(lab)]
    return info


def list_labs() -> list[str]:
    from harness.lab.naming import state_root

    return sorted(p.parent.name for p in (state_root() / "labs").glob("*/lab.json"))
