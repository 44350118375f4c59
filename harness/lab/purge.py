"""Remove every lab object the harness created, found by its own name prefixes.

Works from the kernel's view (processes, mounts, namespaces, links), not from
state files, so it also cleans up after a crash or a Ctrl-C. Objects without
the harness's prefixes are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
from pathlib import Path

from harness.lab import hostcmd, uml, vm
from harness.lab.naming import (
    BRIDGE_PREFIX,
    MACHINE_PREFIX,
    NETNS_PREFIX,
    VETH_PREFIX,
    state_root,
)
from harness.lab.nspawn import keeper_argv, nspawn_argv
from harness.retry import NotYet, eventually

log = logging.getLogger(__name__)


def _nspawn_pids(lab: str | None) -> list[int]:
    return hostcmd.pids_where(nspawn_argv(f"{MACHINE_PREFIX}{lab + '-' if lab else ''}", prefix=True))


def _our_mounts(lab: str | None) -> list[str]:
    base = str(state_root() / "labs") + "/" + (f"{lab}/" if lab else "")
    with open("/proc/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return sorted((p for p in points if p.startswith(base)), key=len, reverse=True)


def purge(lab: str | None = None) -> list[str]:
    """Remove lab leftovers (of one lab, or of all labs); return what was removed."""
    removed: list[str] = []
    for pid in vm.qemu_pids(f"{MACHINE_PREFIX}{lab + '-' if lab else ''}"):
        os.kill(pid, signal.SIGKILL)  # a VM's disks are about to be deleted: no need to flush
        removed.append(f"VM process {pid}")
    for pid in uml.uml_pids(f"{MACHINE_PREFIX}{lab + '-' if lab else ''}"):
        # A UML machine's disks go next as well; its helper processes match the same name
        # and may exit with the kernel before their turn.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            removed.append(f"UML process {pid}")
    # The reboot loops first: a loop outliving its nspawn would boot the machine again.
    for pid in hostcmd.pids_where(keeper_argv(f"{MACHINE_PREFIX}{lab + '-' if lab else ''}", prefix=True)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            removed.append(f"machine reboot loop {pid}")
    pids = _nspawn_pids(lab)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
        removed.append(f"machine process {pid}")
    if pids:

        def _all_gone() -> None:
            alive = [p for p in pids if Path(f"/proc/{p}").exists() and p in _nspawn_pids(lab)]
            if alive:
                raise NotYet(f"still running: {alive}")

        try:
            eventually(_all_gone, 30, "lab machines to power off", interval_s=0.5)
        except Exception:
            for pid in _nspawn_pids(lab):
                os.kill(pid, signal.SIGKILL)
    for point in _our_mounts(lab):
        hostcmd.run(["umount", "-l", point], check=False)
        removed.append(f"mount {point}")
    ns_prefix = f"{NETNS_PREFIX}{lab}-" if lab else NETNS_PREFIX
    netns_dir = Path("/run/netns")
    for ns in sorted(netns_dir.iterdir()) if netns_dir.is_dir() else []:
        if ns.name.startswith(ns_prefix):
            hostcmd.run(["ip", "netns", "del", ns.name], check=False)
            removed.append(f"netns {ns.name}")
    links = json.loads(hostcmd.run(["ip", "-j", "link", "show"]).stdout or "[]")
    veth_prefix = f"{VETH_PREFIX}{lab}-" if lab else VETH_PREFIX
    bridge = f"{BRIDGE_PREFIX}{lab}" if lab else None
    for link in links:
        name = link.get("ifname", "")
        if name.startswith(veth_prefix) or (name == bridge if bridge else name.startswith(BRIDGE_PREFIX)):
            hostcmd.run(["ip", "link", "del", name], check=False)
            removed.append(f"link {name}")
    labs = state_root() / "labs"
    targets = [labs / lab] if lab else ([*labs.iterdir()] if labs.is_dir() else [])
    for d in targets:
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"state {d}")
    return removed
