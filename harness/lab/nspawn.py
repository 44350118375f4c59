"""The nspawn machine kind: a systemd-nspawn container in its own network namespace,
booting systemd from the machine's mounted root and sharing the host's kernel.

It offers the same operations as ``vm``, so ``machine`` runs either kind alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable

from harness.lab import hostcmd, images, network, rootfs
from harness.lab.machine_state import MachineState
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0

# A reboot inside the machine ends nspawn with exit status 133 (with --keep-unit, which a
# host without a service manager needs): systemd-nspawn@.service restarts it on that
# status (RestartForceExitStatus=133). This shell loop, the machine's recorded process,
# does the same, so ``systemctl reboot`` on a node boots it again as on a real host; any
# other status (a power-off, SIGTERM, SIGKILL) ends the loop and the machine.
REBOOT_EXIT_STATUS = 133
KEEPER = "swarm-harness-keeper"
KEEPER_SCRIPT = f'while "$@"; [ $? -eq {REBOOT_EXIT_STATUS} ]; do echo "{KEEPER}: machine rebooted" >&2; sleep 1; done'


def nspawn_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The nspawn process of ``machine`` (with ``prefix``, of every machine so named)."""
    return hostcmd.argv_names("systemd-nspawn", f"--machine={machine}", prefix)


def keeper_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The reboot loop around ``machine``'s nspawn (``sh -c KEEPER_SCRIPT KEEPER systemd-nspawn ...``)."""
    names = hostcmd.argv_names("sh", f"--machine={machine}", prefix)
    return lambda args: len(args) > 4 and args[3] == KEEPER and names(args)


def is_our_nspawn(pid: int, machine: str) -> bool:
    """``pid`` is ``machine``'s reboot loop, or its nspawn itself (a lab started before the loop)."""
    return hostcmd.pid_runs(pid, keeper_argv(machine)) or hostcmd.pid_runs(pid, nspawn_argv(machine))


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
    pid = hostcmd.spawn_detached(["/bin/sh", "-c", KEEPER_SCRIPT, KEEPER, *cmd], state.dir / "console.log", env=env)
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
    """Shut the machine down cleanly: SIGTERM makes nspawn power off systemd, and its
    exit status 0 ends the reboot loop. An nspawn that the loop starts meanwhile (a
    reboot under way) gets its SIGTERM too."""
    if not is_running(state):
        return
    assert state.pid is not None
    keeper = state.pid
    machine = state.machine
    signalled: set[int] = set()

    def _gone() -> None:
        for pid in set(hostcmd.pids_where(nspawn_argv(machine))) - signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            signalled.add(pid)
        alive = [p for p in signalled if is_our_nspawn(p, machine)] + ([keeper] if is_our_nspawn(keeper, machine) else [])
        if alive:
            raise NotYet(f"machine processes {sorted(set(alive))} still running")

    try:
        eventually(_gone, timeout_s, f"{state.node} to shut down", interval_s=0.3)
    except Exception:
        log.warning("%s: did not power off in %.0fs, killing its processes", state.node, timeout_s)
        # The loop first, so that it cannot boot the machine again.
        for pid in [keeper, *hostcmd.pids_where(nspawn_argv(machine))]:
            if is_our_nspawn(pid, machine):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        eventually(_gone, 10, f"{state.node} to die after SIGKILL", interval_s=0.2)


def image_swapped(state: MachineState) -> None:
    """Nothing to rebuild: the machine boots from the freshly provisioned root."""


def release_network(state: MachineState) -> None:
    network.delete_node_netns(state.lab, state.node, state.veth)
