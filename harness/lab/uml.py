"""The ``uml`` machine kind: a User-Mode Linux kernel run as an ordinary process.

It exists because this machine's own kernel lacks IPVS and ESP and cannot run KVM
guests, while QEMU's software emulation is too slow for the suites. A UML kernel
(Debian's ``user-mode-linux``, with ``ip_vs``, ``esp4`` and ``gcm`` as modules) runs
at native CPU speed; only its system calls are costly.

Every machine of an image shares one read-only ``root.img`` through its own
copy-on-write file, so a machine costs only what it writes. What makes it *this*
machine (host key, address, hosts, authorized key) is written the same way as for
the other kinds, into an overlay of the image's root; that overlay's upper layer,
the machine's own files only, becomes a small read-only config disk that a unit in
the image copies onto the root before the network, sshd or dockerd start (the image
and that unit are ``uml_image``'s). Docker's state and ``/etc/docker`` live on a data
disk that outlives image swaps.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from harness.cache_dir import cache_root
from harness.errors import LabError, WaitTimeout
from harness.lab import hostcmd, images, network, rootfs, vm
from harness.lab.machine_state import MachineState
from harness.lab.naming import bridge_name
from harness.lab.uml_image import MACHINE_ENV, TOOLS, UML
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

XSTATE_SHIM = Path(__file__).with_name("uml_xstate.c")
MEMORY = "1G"
DATA_DISK = "16G"
CONFIG_DISK = "32M"
IFACE = "vec0"  # the guest's name for the vector NIC
POWEROFF_TIMEOUT_S = 90.0


def uml_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The UML kernel of ``machine`` (with ``prefix``, of every machine so named); its
    helper processes are forks with the same command line."""
    return hostcmd.argv_names(UML, f"umid={machine}", prefix)


def is_our_uml(pid: int, machine: str) -> bool:
    return hostcmd.pid_runs(pid, uml_argv(machine))


def is_running(state: MachineState) -> bool:
    return state.pid is not None and is_our_uml(state.pid, state.machine)


def uml_pids(machine_prefix: str) -> list[int]:
    """PIDs of lab UML processes whose machine name starts with ``machine_prefix`` (for purge)."""
    return hostcmd.pids_where(uml_argv(machine_prefix, prefix=True))


def mac(state: MachineState) -> str:
    """Fixed per lab and node, so the guest's NIC (and the bridge's FDB) stays the same
    across restarts; locally administered."""
    digest = hashlib.sha256(state.lab.encode()).digest()
    return f"02:00:{digest[0]:02x}:{digest[1]:02x}:{digest[2]:02x}:{state.index:02x}"


def root_image(state: MachineState) -> Path:
    return images.images_dir() / state.image_key / "root.img"


def cow_file(state: MachineState) -> Path:
    return state.dir / f"{state.node}.cow"


def provision(state: MachineState) -> None:
    """The UML-only file of the machine's root: its address, applied by the boot unit."""
    env = state.root / MACHINE_ENV
    env.parent.mkdir(parents=True, exist_ok=True)
    prefix = state.subnet.split("/")[1]
    env.write_text(f"ADDRESS={state.address}/{prefix}\nIFACE={IFACE}\nMTU={network.LAB_MTU}\n")


def build_disks(state: MachineState) -> None:
    """The config disk from the overlay's upper layer (the machine's own files, rebuilt
    whenever they are), and the data disk once."""
    config = state.dir / "config.img"
    config.unlink(missing_ok=True)
    hostcmd.run(
        ["mkfs.ext4", "-q", "-F", "-L", "config", "-d", str(state.dir / "upper"), str(config), CONFIG_DISK]
    )
    vm.build_data_disk(state)


def xstate_shim() -> Path:
    """The preload library that lets UML 6.1 save FPU state on hosts with a large XSAVE
    area (see uml_xstate.c), built once per source revision."""
    source = XSTATE_SHIM.read_bytes()
    lib = cache_root() / "uml" / f"xstate-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_name(f"{lib.name}.{os.getpid()}.tmp")
        hostcmd.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(tmp), str(XSTATE_SHIM), "-ldl"])
        tmp.rename(lib)
    return lib


def _prepare(state: MachineState) -> None:
    """The overlay is mounted only while the machine's files are written into it."""
    rootfs.mount(state)
    provision(state)
    rootfs.umount(state)
    build_disks(state)


def image_swapped(state: MachineState) -> None:
    """The copy-on-write file and the config disk belong to the old image: both go (the
    data disk, with Docker's state and /etc/docker, is kept)."""
    cow_file(state).unlink(missing_ok=True)
    (state.dir / "config.img").unlink(missing_ok=True)
    _prepare(state)


def release_network(state: MachineState) -> None:
    network.delete_tap(state.veth)


def start(state: MachineState) -> int:
    """Boot the machine; returns the UML pid. The caller records it."""
    hostcmd.require_tools(TOOLS)
    if not (state.dir / "config.img").exists():
        _prepare(state)
    network.create_tap(bridge_name(state.lab), state.veth)
    # The guest may mount host folders only below this empty one.
    (state.dir / "hostfs").mkdir(exist_ok=True)
    cmd = [
        UML,
        f"umid={state.machine}",
        f"uml_dir={state.dir}",
        f"mem={MEMORY}",
        f"ubd0={cow_file(state)},{root_image(state)}",
        f"ubd1={state.dir / 'data.img'}",
        f"ubd2r={state.dir / 'config.img'}",
        "root=/dev/ubda",
        "rw",
        "con0=fd:0,fd:1",
        "con=null",
        "ssl=null",
        f"{IFACE}:transport=tap,ifname={state.veth},mac={mac(state)}",
        f"hostfs={state.dir / 'hostfs'}",
        f"systemd.hostname={state.node}",
    ]
    env = dict(os.environ, LD_PRELOAD=str(xstate_shim()))
    # The guest's memory is a file in TMPDIR: on tmpfs it never touches the disk.
    if Path("/dev/shm").is_dir():
        env["TMPDIR"] = "/dev/shm"
    pid = hostcmd.spawn_detached(cmd, state.dir / "console.log", env=env)
    log.info("%s: booting a UML machine (pid %d, address %s)", state.node, pid, state.address)
    return pid


def _poweroff_inside(state: MachineState) -> None:
    """``systemctl poweroff`` over SSH with the run's own key and known_hosts, so the
    guest stops dockerd and flushes its disks before the process exits. The job is only
    queued (``--no-block``): an SSH session kept open while the machine goes down would
    otherwise hang until its timeout, whether or not the power-off worked."""
    sshdir = Path(state.run_dir) / "ssh"
    if not (sshdir / "id_ed25519").is_file():
        log.info("%s: no SSH key in %s to power off from inside", state.node, sshdir)
        return
    cmd = [
        "ssh",
        "-i",
        str(sshdir / "id_ed25519"),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={sshdir / 'known_hosts'}",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=2",
        f"root@{state.address}",
        "systemctl --no-block poweroff",
    ]
    try:
        res = hostcmd.run(cmd, check=False, timeout_s=30)
    except LabError as exc:
        log.info("%s: power-off over SSH: %s", state.node, exc.one_line())
        return
    if res.returncode != 0:
        log.info(
            "%s: power-off over SSH exited %d: %s", state.node, res.returncode, res.stderr.strip()[-200:]
        )


def stop(state: MachineState, timeout_s: float = POWEROFF_TIMEOUT_S) -> None:
    """A clean power-off from inside; killed by PID if it is not done in time."""
    if not is_running(state):
        return
    assert state.pid is not None
    pid = state.pid

    def _gone() -> None:
        if is_our_uml(pid, state.machine):
            raise NotYet(f"UML pid {pid} still running")

    _poweroff_inside(state)
    try:
        eventually(_gone, timeout_s, f"UML machine {state.node} to power off", interval_s=0.5)
    except WaitTimeout as exc:
        log.warning("%s: no clean power-off (%s); killing UML pid %d", state.node, exc.one_line(), pid)
        for helper in [pid, *hostcmd.pids_where(uml_argv(state.machine))]:
            # Helpers may exit with the kernel before their turn.
            with contextlib.suppress(ProcessLookupError):
                if is_our_uml(helper, state.machine):
                    os.kill(helper, signal.SIGKILL)
        eventually(_gone, 10, f"{state.node} to die after SIGKILL", interval_s=0.2)
