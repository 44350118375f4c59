"""The ``vm`` machine kind: a QEMU virtual machine with its own stock Debian kernel.

It exists for what a shared kernel cannot show: IPVS (service VIPs, the ingress
mesh) and ESP (encrypted overlays) load as modules inside each VM. The VM is made
from the same per-machine root as an nspawn machine (cached image plus the
machine's own files), turned into a disk with ``mkfs.ext4 -d``, and booted with
the kernel and initrd found in that image. Docker's state and ``/etc/docker``
live on a second disk that outlives image swaps, as on an nspawn machine.

KVM is used when ``/dev/kvm`` can run a guest; otherwise QEMU emulates the CPU in
software (slow, but it needs nothing from the host kernel).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

from harness.errors import LabError
from harness.lab import hostcmd, network, rootfs
from harness.lab.machine_state import MachineState
from harness.lab.naming import bridge_name
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
TOOLS = [QEMU, "mkfs.ext4"]
MEMORY_MIB = 1024
ROOT_DISK = "8G"  # sparse: only what the image holds is written
DATA_DISK = "16G"
POWERDOWN_TIMEOUT_S = 90.0
# Everything a lab guest needs from its kernel command line. apparmor=0: the image has no
# apparmor_parser, and dockerd refuses to start containers when AppArmor is on without it.
KERNEL_ARGS = "root=/dev/vda rw console=ttyS0 net.ifnames=0 apparmor=0 panic=-1"


@cache
def accelerator() -> tuple[str, str]:
    """("kvm" | "tcg", why): whether this host can run guests with KVM."""
    if not os.path.exists("/dev/kvm"):
        return "tcg", "no /dev/kvm on this host: software emulation (slow)"
    # A guest with no boot device: the firmware runs and idles. Opening /dev/kvm is not
    # enough; some hosts fail only once a vCPU really runs (e.g. "failed to set MSR").
    cmd = [QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "pc", "-nodefaults", "-display", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "kvm", "/dev/kvm runs guests: hardware virtualisation"
    lines = (err or "").strip().splitlines()
    reason = lines[0].removeprefix(f"{QEMU}: ") if lines else f"exit {proc.returncode}"
    return "tcg", f"/dev/kvm cannot run guests ({reason}): software emulation (slow)"


def qemu_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The QEMU of ``machine`` (with ``prefix``, of every machine so named)."""
    return hostcmd.argv_names(QEMU, f"guest={machine}", prefix)


def is_our_qemu(pid: int, machine: str) -> bool:
    return hostcmd.pid_runs(pid, qemu_argv(machine))


def is_running(state: MachineState) -> bool:
    return state.pid is not None and is_our_qemu(state.pid, state.machine)


def _mac(state: MachineState) -> str:
    digest = hashlib.sha256(state.lab.encode()).digest()
    return f"52:54:00:{digest[0]:02x}:{digest[1]:02x}:{state.index:02x}"


def _kernel(root: Path) -> tuple[Path, Path]:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabError(
            f"the VM image at {root} has no kernel or initrd in /boot",
            "rebuild the image: 'swarm-harness images build --kind vm --rebuild'",
        )
    return kernels[-1], initrds[-1]


def provision(state: MachineState) -> None:
    """VM-only files in the machine's root: its address, its disks, no container runtime
    quirks of nspawn. Called after the files every machine kind shares are written."""
    root = state.root
    prefix = state.subnet.split("/")[1]
    netdir = root / "etc/systemd/network"
    netdir.mkdir(parents=True, exist_ok=True)
    # No gateway: lab machines have no default route, so nothing can leave the lab.
    (netdir / "10-lab.network").write_text(
        f"[Match]\nName=eth0\n\n[Network]\nAddress={state.address}/{prefix}\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    if not link.is_symlink():
        link.symlink_to("/lib/systemd/system/systemd-networkd.service")
    (root / "srv/data").mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text(
        "/dev/vda / ext4 defaults 0 1\n"
        "/dev/vdb /srv/data ext4 defaults 0 2\n"
        "/srv/data/docker /var/lib/docker none bind,x-systemd.requires-mounts-for=/srv/data 0 0\n"
        "/srv/data/etc-docker /etc/docker none bind,x-systemd.requires-mounts-for=/srv/data 0 0\n"
    )


def build_disks(state: MachineState) -> None:
    """The root disk from the machine's root (rebuilt on every image swap); the data disk
    once."""
    disk = state.dir / "root.img"
    disk.unlink(missing_ok=True)
    log.info("%s: writing the VM root disk", state.node)
    hostcmd.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(state.root), str(disk), ROOT_DISK])
    build_data_disk(state)
    kernel, initrd = _kernel(state.root)
    shutil.copy2(kernel, state.dir / "vmlinuz")
    shutil.copy2(initrd, state.dir / "initrd.img")


def build_data_disk(state: MachineState) -> None:
    """Docker's state and /etc/docker on a disk of their own, written once from the
    machine's ``docker`` and ``etc-docker`` directories: it outlives image swaps."""
    data = state.dir / "data.img"
    if data.exists():
        return
    staging = state.dir / "data-seed"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "docker").mkdir(parents=True)
    shutil.copytree(state.dir / "etc-docker", staging / "etc-docker")
    hostcmd.run(["mkfs.ext4", "-q", "-F", "-L", "data", "-d", str(staging), str(data), DATA_DISK])
    shutil.rmtree(staging, ignore_errors=True)


def _prepare(state: MachineState) -> None:
    """A VM boots from disks made of its root, so the overlay is only mounted to build them."""
    rootfs.mount(state)
    provision(state)
    build_disks(state)
    rootfs.umount(state)


def image_swapped(state: MachineState) -> None:
    """The root disk holds the old image: rewrite it (the data disk, with Docker's
    state and /etc/docker, is kept)."""
    (state.dir / "root.img").unlink(missing_ok=True)
    _prepare(state)


def release_network(state: MachineState) -> None:
    network.delete_tap(state.veth)


def start(state: MachineState) -> int:
    """Boot the VM; returns the QEMU pid. The caller records it."""
    hostcmd.require_tools(TOOLS)
    if not (state.dir / "root.img").exists():
        _prepare(state)
    network.create_tap(bridge_name(state.lab), state.veth)
    accel, why = accelerator()
    log.info("%s: booting a VM with %s (%s)", state.node, accel, why)
    cpu = ["-cpu", "host"] if accel == "kvm" else ["-cpu", "max"]
    qmp = state.dir / "qmp.sock"
    qmp.unlink(missing_ok=True)
    cmd = [
        QEMU,
        "-name",
        f"guest={state.machine}",
        "-accel",
        accel,
        *cpu,
        "-smp",
        "1",
        "-m",
        str(MEMORY_MIB),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        f"file:{state.dir / 'console.log'}",
        "-kernel",
        str(state.dir / "vmlinuz"),
        "-initrd",
        str(state.dir / "initrd.img"),
        "-append",
        f"{KERNEL_ARGS} systemd.hostname={state.node}",
        "-drive",
        f"file={state.dir / 'root.img'},if=virtio,format=raw,cache=unsafe",
        "-drive",
        f"file={state.dir / 'data.img'},if=virtio,format=raw,cache=writeback",
        "-netdev",
        f"tap,id=lan,ifname={state.veth},script=no,downscript=no",
        "-device",
        f"virtio-net-pci,netdev=lan,mac={_mac(state)}",
        "-object",
        "rng-random,filename=/dev/urandom,id=rng",
        "-device",
        "virtio-rng-pci,rng=rng",
        "-qmp",
        f"unix:{qmp},server=on,wait=off",
    ]
    return hostcmd.spawn_detached(cmd, state.dir / "qemu.log")


def _qmp(state: MachineState, command: str) -> None:
    """One QMP command over the VM's monitor socket (no reply parsing beyond the greeting)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(state.dir / "qmp.sock"))
        reader = sock.makefile("rb")
        reader.readline()  # greeting
        for msg in ({"execute": "qmp_capabilities"}, {"execute": command}):
            sock.sendall(json.dumps(msg).encode() + b"\n")
            reader.readline()


def stop(state: MachineState, timeout_s: float = POWERDOWN_TIMEOUT_S) -> None:
    """ACPI power-off, so the guest flushes its disks; killed if it does not comply."""
    if not is_running(state):
        return
    assert state.pid is not None
    pid = state.pid

    def _gone() -> None:
        if is_our_qemu(pid, state.machine):
            raise NotYet(f"qemu pid {pid} still running")

    try:
        _qmp(state, "system_powerdown")
        eventually(_gone, timeout_s, f"VM {state.node} to power off", interval_s=0.5)
    except Exception as exc:
        log.warning("%s: no clean power-off (%s); killing qemu pid %d", state.node, exc, pid)
        if is_our_qemu(pid, state.machine):
            os.kill(pid, signal.SIGKILL)
        eventually(_gone, 10, f"{state.node} to die after SIGKILL", interval_s=0.2)


def qemu_pids(machine_prefix: str) -> list[int]:
    """PIDs of lab VMs whose machine name starts with ``machine_prefix`` (for purge)."""
    return hostcmd.pids_where(qemu_argv(machine_prefix, prefix=True))
