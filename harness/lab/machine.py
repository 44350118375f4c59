"""One lab machine: a systemd-nspawn container booting systemd, sshd and dockerd.

The machine's root is an overlay over a shared cached image, so machines are
cheap; ``/var/lib/docker`` (which overlay2 refuses to sit on overlayfs) and
``/etc/docker`` are plain directories bound in from outside the overlay. That
split is also what lets ``swap_image`` replace the OS and engine of a stopped
machine while its swarm state survives, the way an operator upgrades a host.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LabError
from harness.lab import hostcmd, images, network, vm
from harness.lab.naming import (
    gateway_address,
    machine_dir,
    machine_name,
    netns_name,
    veth_name,
)
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0


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
    kind: str = "nspawn"  # or "vm" (see vm.py)

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
    from harness.lab.naming import lab_dir

    out = []
    for path in sorted((lab_dir(lab) / "machines").glob("*/machine.json")):
        out.append(MachineState(**json.loads(path.read_text())))
    return sorted(out, key=lambda s: s.index)


# ----------------------------------------------------------------- process


def nspawn_argv(machine: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """The nspawn process of ``machine`` (with ``prefix``, of every machine so named)."""
    return hostcmd.argv_names("systemd-nspawn", f"--machine={machine}", prefix)


def is_our_nspawn(pid: int, machine: str) -> bool:
    return hostcmd.pid_runs(pid, nspawn_argv(machine))


def is_running(state: MachineState) -> bool:
    if state.kind == "vm":
        return vm.is_running(state)
    return state.pid is not None and is_our_nspawn(state.pid, state.machine)


def _is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/mounts") as fh:
        return any(line.split()[1] == target for line in fh)


def _mount_root(state: MachineState) -> None:
    if _is_mounted(state.root):
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


def _umount_root(state: MachineState) -> None:
    if _is_mounted(state.root):
        hostcmd.run(["umount", str(state.root)])


# ----------------------------------------------------------------- files


def _daemon_json() -> str:
    return json.dumps(
        {
            "bip": network.DOCKER_BRIDGE_IP,
            "default-address-pools": [{"base": network.DOCKER_LOCAL_POOL, "size": 24}],
            "log-level": "info",
        },
        indent=2,
    )


def _ensure_host_key(state: MachineState) -> Path:
    keydir = state.dir / "hostkeys"
    key = keydir / "ssh_host_ed25519_key"
    if not key.exists():
        keydir.mkdir(parents=True, exist_ok=True)
        hostcmd.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", state.node, "-f", str(key)])
    return key


def _provision_root(state: MachineState) -> None:
    """Write the per-machine files into the overlay's upper layer."""
    root = state.root
    key = _ensure_host_key(state)
    (root / "etc/hostname").write_text(f"{state.node}\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1 localhost\n{state.address} {state.node}\n::1 localhost ip6-localhost\n"
    )
    # Name lookups go to the lab gateway, where nothing answers: they fail fast
    # and never leave the lab bridge.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(f"nameserver {gateway_address(state.subnet)}\n")
    sshdir = root / "etc/ssh"
    for old in sshdir.glob("ssh_host_*"):
        old.unlink()
    shutil.copy2(key, sshdir / key.name)
    shutil.copy2(key.with_suffix(".pub"), sshdir / (key.name + ".pub"))
    os.chmod(sshdir / key.name, 0o600)
    (sshdir / "sshd_config.d").mkdir(exist_ok=True)
    (sshdir / "sshd_config.d/harness.conf").write_text(
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\n"
        "UseDNS no\nMaxSessions 64\nMaxStartups 64:30:128\n"
    )
    auth_src = Path(state.run_dir) / "ssh" / "id_ed25519.pub"
    rootssh = root / "root/.ssh"
    rootssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(auth_src, rootssh / "authorized_keys")
    os.chmod(rootssh / "authorized_keys", 0o600)
    etc_docker = state.dir / "etc-docker"
    etc_docker.mkdir(exist_ok=True)
    daemon = etc_docker / "daemon.json"
    if not daemon.exists():
        daemon.write_text(_daemon_json() + "\n")
    (state.dir / "docker").mkdir(exist_ok=True)


def _set_known_host(state: MachineState, entry: str | None) -> None:
    """Replace this machine's line in the run's known_hosts (None removes it).

    Machines are created in parallel, so the file is rewritten under a lock.
    """
    path = Path(state.run_dir) / "ssh" / "known_hosts"
    if entry is None and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        lines = [ln for ln in fh.read().splitlines(keepends=True) if not ln.startswith(f"{state.address} ")]
        fh.seek(0)
        fh.truncate()
        fh.writelines([*lines, entry] if entry else lines)


def _record_known_host(state: MachineState) -> None:
    pub = (state.dir / "hostkeys/ssh_host_ed25519_key.pub").read_text().split()
    _set_known_host(state, f"{state.address} {pub[0]} {pub[1]}\n")


def _forget_known_host(state: MachineState) -> None:
    _set_known_host(state, None)


# ----------------------------------------------------------------- operations


def create(
    lab: str,
    node: str,
    index: int,
    address: str,
    subnet: str,
    release: str,
    run_dir: Path,
    kind: str = "nspawn",
) -> MachineState:
    """Create and boot a machine; idempotent for an existing identical machine."""
    existing = load_state(lab, node)
    if existing is not None:
        if (existing.address, existing.release, existing.kind) != (address, release, kind):
            raise LabError(
                f"machine {node} of lab {lab} exists with address {existing.address}, "
                f"release {existing.release} and kind {existing.kind}",
                "destroy the lab first ('swarm-harness down') or use another lab name",
            )
        start(existing)
        return existing
    recipe = images.machine_recipe(release, kind)
    images.ensure_image(recipe)
    state = MachineState(
        lab=lab,
        node=node,
        index=index,
        address=address,
        subnet=subnet,
        release=release,
        image_key=recipe.key,
        run_dir=str(run_dir.resolve()),
        kind=kind,
    )
    state.save()
    if kind == "nspawn":
        network.create_node_netns(lab, node, state.veth, address, subnet)
    _mount_root(state)
    _provision_root(state)
    _record_known_host(state)
    start(state)
    return state


def _prepare_vm(state: MachineState) -> None:
    """A VM boots from disks made of its root, so the overlay is only mounted to build them."""
    vm.provision(state)
    vm.build_disks(state)
    _umount_root(state)


def start(state: MachineState) -> None:
    if is_running(state):
        return
    if state.kind == "vm":
        if not (state.dir / "root.img").exists():
            _mount_root(state)
            _prepare_vm(state)
        state.pid = vm.start(state)
        state.save()
        return
    if not network.netns_exists(state.netns):
        network.create_node_netns(state.lab, state.node, state.veth, state.address, state.subnet)
    _mount_root(state)
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="yes", SYSTEMD_LOG_COLOR="0")
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
        "--bind=/sys/fs/cgroup",
        f"--bind={state.dir / 'docker'}:/var/lib/docker",
        f"--bind={state.dir / 'etc-docker'}:/etc/docker",
        "--resolv-conf=off",
        "--timezone=off",
        "--console=read-only",
        "--boot",
    ]
    state.pid = hostcmd.spawn_detached(cmd, state.dir / "console.log", env=env)
    state.save()
    log.info("%s: booting (pid %d, address %s)", state.node, state.pid, state.address)


def stop(state: MachineState, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Shut the machine down cleanly (SIGTERM makes nspawn power off systemd)."""
    if state.kind == "vm":
        vm.stop(state)
    elif is_running(state):
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
    # nspawn leaves its child reaped; make sure the root is not busy before unmounting.
    state.pid = None
    state.save()


def restart(state: MachineState) -> None:
    stop(state)
    start(state)


def destroy(state: MachineState) -> None:
    stop(state)
    _umount_root(state)
    if state.kind == "vm":
        vm.tap_down(state)
    else:
        network.delete_node_netns(state.lab, state.node, state.veth)
    _forget_known_host(state)
    shutil.rmtree(state.dir, ignore_errors=True)


def swap_image(state: MachineState, release: str) -> MachineState:
    """Replace the OS image of a stopped machine, keeping its Docker state and identity."""
    if is_running(state):
        raise LabError(
            f"{state.node} is running; an image can only be swapped on a stopped machine",
            f"stop it first ('swarm-harness lab stop --lab {state.lab} --node {state.node}')",
        )
    recipe = images.machine_recipe(release, state.kind)
    images.ensure_image(recipe)
    _umount_root(state)
    for sub in ("upper", "work"):
        shutil.rmtree(state.dir / sub, ignore_errors=True)
    state.release = release
    state.image_key = recipe.key
    state.save()
    _mount_root(state)
    _provision_root(state)
    if state.kind == "vm":
        (state.dir / "root.img").unlink(missing_ok=True)
        _prepare_vm(state)  # the data disk, with Docker's state and /etc/docker, is kept
    return state


def status(state: MachineState) -> dict[str, object]:
    return {
        "node": state.node,
        "machine": state.machine,
        "address": state.address,
        "release": state.release,
        "engine": images.ENGINE_BY_RELEASE.get(state.release, "?"),
        "running": is_running(state),
        "pid": state.pid if is_running(state) else None,
        "kind": state.kind,
        "netns": state.netns if network.netns_exists(state.netns) else None,
        "mounted": _is_mounted(state.root),
    }
