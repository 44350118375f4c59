"""The nspawn machine kind: a systemd-nspawn container in its own network namespace,
booting systemd from the machine's mounted root and sharing the host's kernel.

It offers the same operations as ``vm``, so ``machine`` runs either kind alike.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from harness.lab import hostcmd, images, network, rootfs
from harness.lab.machine_state import MachineState
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0


def nspawn_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The nspawn process of ``machine`` (with ``prefix``, of every machine so named)."""
    return hostcmd.argv_names("systemd-nspawn", f"--machine={machine}", prefix)


def is_our_nspawn(pid: int, machine: str) -> bool:
    return hostcmd.pid_runs(pid, nspawn_argv(machine))


def is_running(state: MachineState) -> bool:
    return state.pid is not None and is_our_nspawn(state.pid, state.machine)


def start(state: MachineState) -> int:
    """Boot the machine; returns the nspawn pid. The caller records it."""
    if not network.netns_exists(state.netns):
        network.create_node_netns(state.lab, state.node, state.veth, state.address, state.subnet)
    rootfs.mount(state)
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="yes", SYSTEMD_LOG_COLOR="0")
    env.update(cgroup_env(state.release))
    cmd = [
        "systemd-nspawn",
        "--register=no",
        "--keep-unit",
        "--quiet",
        "-D",
        str(state.root),
        f"--machine={state.machine}",
        f"--hostname={state.node}",
        f"--network-namespace-path=/run/netns/{state.netns}",
        "--capability=all",
        "--system-call-filter=@system-service @mount @privileged keyctl bpf",
        "--property=DeviceAllow=char-* rwm",
        *cgroup_args(state.release),
        f"--bind={state.dir / 'docker'}:/var/lib/docker",
        f"--bind={state.dir / 'etc-docker'}:/etc/docker",
        "--resolv-conf=off",
        "--timezone=off",
        "--console=read-only",
        "--boot",
    ]
    pid = hostcmd.spawn_detached(cmd, state.dir / "console.log", env=env)
    log.info("%s: booting (pid %d, address %s)", state.node, pid, state.address)
    return pid


def cgroup_args(release: str) -> list[str]:
    """How the machine sees cgroups. By default the host's whole /sys/fs/cgroup is bound
    in: dockerd of bookworm and trixie then finds the v1 controllers it limits containers
    with. A release whose systemd refuses v1 (``cgroup_v2_only``) gets nspawn's own
    cgroup2 mount of its subtree instead (see ``cgroup_env``): its engine runs with the
    controllers cgroup2 has on this host (none on a hybrid host: no resource limits)."""
    return [] if images.release_info(release).cgroup_v2_only else ["--bind=/sys/fs/cgroup"]


def cgroup_env(release: str) -> dict[str, str]:
    """nspawn picks the container's cgroup layout from the host's (hybrid here, which
    systemd 258 refuses); this variable makes it mount the unified hierarchy instead."""
    return {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"} if images.release_info(release).cgroup_v2_only else {}


def stop(state: MachineState, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Shut the machine down cleanly (SIGTERM makes nspawn power off systemd)."""
    if not is_running(state):
        return
    assert state.pid is not None
    pid = state.pid
    os.kill(pid, signal.SIGTERM)

    def _gone() -> None:
        if is_our_nspawn(pid, state.machine):
            raise NotYet(f"nspawn pid {pid} still running")

    try:
        eventually(_gone, timeout_s, f"{state.node} to shut down", interval_s=0.3)
    except Exception:
        log.warning("%s: did not power off in %.0fs, killing pid %d", state.node, timeout_s, pid)
        if is_our_nspawn(pid, state.machine):
            os.kill(pid, signal.SIGKILL)
        eventually(_gone, 10, f"{state.node} to die after SIGKILL", interval_s=0.2)


def image_swapped(state: MachineState) -> None:
    """Nothing to rebuild: the machine boots from the freshly provisioned root."""


def release_network(state: MachineState) -> None:
    network.delete_node_netns(state.lab, state.node, state.veth)
