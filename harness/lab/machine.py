"""One lab machine: a host booting systemd, sshd and dockerd, of one of three kinds.

``nspawn`` machines are containers sharing this kernel; ``vm`` machines are QEMU
guests with their own stock kernel; ``uml`` machines are User-Mode Linux kernels run
as processes (their own kernel at native CPU speed). All start from the same root: an
overlay over a shared cached image, so machines are cheap; ``/var/lib/docker`` (which overlay2
refuses to sit on overlayfs) and ``/etc/docker`` are kept outside that overlay.
That split is also what lets ``swap_image`` replace the OS and engine of a stopped
machine while its swarm state survives, the way an operator upgrades a host. What
differs between the kinds lives in their own modules behind ``MachineKind``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Protocol

from harness import address_pools
from harness.errors import LabError
from harness.lab import hostcmd, images, network, nspawn, rootfs, uml, vm
from harness.lab.machine_state import MachineState

# The lab and the CLI read machine states through this module too.
from harness.lab.machine_state import list_states as list_states
from harness.lab.machine_state import load_state as load_state
from harness.lab.naming import gateway_address

# ----------------------------------------------------------------- kinds


class MachineKind(Protocol):
    """What each machine kind (a module: ``nspawn``, ``vm`` or ``uml``) offers the lab."""

    def is_running(self, state: MachineState) -> bool: ...

    def start(self, state: MachineState) -> int: ...

    def stop(self, state: MachineState) -> None: ...

    def image_swapped(self, state: MachineState) -> None: ...

    def release_network(self, state: MachineState) -> None: ...


KINDS: dict[str, MachineKind] = {"nspawn": nspawn, "vm": vm, "uml": uml}


def _kind(state: MachineState) -> MachineKind:
    return KINDS[state.kind]


def is_running(state: MachineState) -> bool:
    return _kind(state).is_running(state)


# ----------------------------------------------------------------- files


def _daemon_json() -> str:
    return json.dumps(
        {
            "bip": address_pools.DOCKER_BRIDGE_IP,
            "default-address-pools": [{"base": address_pools.DOCKER_LOCAL_POOL, "size": 24}],
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
    rootfs.mount(state)
    _provision_root(state)
    _record_known_host(state)
    start(state)
    return state


def start(state: MachineState) -> None:
    if is_running(state):
        return
    state.pid = _kind(state).start(state)
    state.save()


def stop(state: MachineState) -> None:
    """Shut the machine down cleanly; each kind kills what does not comply."""
    _kind(state).stop(state)
    state.pid = None
    state.save()


def restart(state: MachineState) -> None:
    stop(state)
    start(state)


def destroy(state: MachineState) -> None:
    stop(state)
    rootfs.umount(state)
    _kind(state).release_network(state)
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
    rootfs.umount(state)
    for sub in ("upper", "work"):
        shutil.rmtree(state.dir / sub, ignore_errors=True)
    state.release = release
    state.image_key = recipe.key
    state.save()
    rootfs.mount(state)
    _provision_root(state)
    _kind(state).image_swapped(state)
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
        "mounted": rootfs.is_mounted(state),
    }
