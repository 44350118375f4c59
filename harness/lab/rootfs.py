"""A machine's root: an overlay of its own upper layer on the shared cached image.

Both machine kinds build on it: an nspawn machine boots from it directly, a VM
has its disks written from it.
"""

from __future__ import annotations

from harness.errors import LabError
from harness.lab import hostcmd, images
from harness.lab.machine_state import MachineState


def is_mounted(state: MachineState) -> bool:
    target = str(state.root)
    with open("/proc/mounts") as fh:
        return any(line.split()[1] == target for line in fh)


def mount(state: MachineState) -> None:
    if is_mounted(state):
        return
    lower = images.images_dir() / state.image_key / "root"
    if not lower.is_dir():
        raise LabError(
            f"{state.node}: image {state.image_key} is missing from the cache",
            "rebuild it with 'swarm-harness images build' or recreate the lab",
        )
    for sub in ("upper", "work", "root"):
        (state.dir / sub).mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={lower},upperdir={state.dir / 'upper'},workdir={state.dir / 'work'}"
    hostcmd.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(state.root)])


def umount(state: MachineState) -> None:
    if is_mounted(state):
        hostcmd.run(["umount", str(state.root)])
