"""What the lab records of one machine (``machine.json``), and reading it back.

It sits below the machine kinds (``nspawn``, ``vm``, ``uml``) and the root overlay
(``rootfs``), which all take a state, and below ``machine``, which runs them: each
reads this module, none reads another's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from harness.lab.naming import lab_dir, machine_dir, machine_name, netns_name, veth_name


@dataclass
class MachineState:
    lab: str
    node: str
    index: int
    address: str
    subnet: str
    release: str
    image_key: str
    run_dir: str
    pid: int | None = None
    kind: str = "nspawn"  # or "vm" (see vm.py) or "uml" (see uml.py)

    @property
    def dir(self) -> Path:
        return machine_dir(self.lab, self.node)

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def machine(self) -> str:
        return machine_name(self.lab, self.node)

    @property
    def netns(self) -> str:
        return netns_name(self.lab, self.node)

    @property
    def veth(self) -> str:
        return veth_name(self.lab, self.index)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "machine.json.tmp"
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.rename(self.dir / "machine.json")


def load_state(lab: str, node: str) -> MachineState | None:
    path = machine_dir(lab, node) / "machine.json"
    if not path.is_file():
        return None
    return MachineState(**json.loads(path.read_text()))


def list_states(lab: str) -> list[MachineState]:
    out = []
    for path in sorted((lab_dir(lab) / "machines").glob("*/machine.json")):
        out.append(MachineState(**json.loads(path.read_text())))
    return sorted(out, key=lambda s: s.index)
