"""Run commands on the lab's host machine (not over SSH: the lab *is* local)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import LabError, MissingToolError, UserInputError

log = logging.getLogger(__name__)

LAB_TOOLS = {
    "ip": "iproute2",
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ssh-keygen": "openssh-client",
    "mount": "mount",
    "linux.uml": "user-mode-linux",
    "mkfs.ext4": "e2fsprogs",
    "gcc": "gcc",
    "qemu-system-x86_64": "qemu-system-x86",
}


def require_root() -> None:
    if os.geteuid() != 0:
        raise UserInputError(
            "the local lab must run as root (it creates namespaces, bridges and machines)",
            "rerun with sudo or as root",
        )


def require_tools(names: Sequence[str]) -> None:
    for name in names:
        if shutil.which(name) is None:
            package = LAB_TOOLS.get(name, name)
            raise MissingToolError(
                f"required tool '{name}' is not installed",
                f"install it: apt-get install {package} (or run ./scripts/setup.sh)",
            )


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    timeout_s: float = 120.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    log.debug("host: %s", " ".join(args))
    try:
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            input=input_text,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LabError(
            f"host command timed out after {timeout_s:.0f}s: {' '.join(args)}",
            "check the host's load, then retry",
        ) from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(
            f"host command failed ({proc.returncode}): {' '.join(args)}: {' | '.join(tail)}",
            "see the message above; 'swarm-harness purge --lab NAME' removes that lab's leftovers",
        )
    return proc


def process_cmdline(pid: int) -> list[str]:
    """A process's argv from /proc (empty if it is gone); how the lab recognises its own
    machine processes without trusting a bare PID that may have been reused."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def argv_names(program: str, marker: str, prefix: bool = False) -> Callable[[list[str]], bool]:
    """A test of an argv: ``program`` runs with the argument ``marker`` (or, with
    ``prefix``, one starting with it). One definition serves both the check of a
    recorded PID and the purge's scan, so the two cannot disagree on what is ours."""

    def matches(args: list[str]) -> bool:
        if not args or not args[0].endswith(program):
            return False
        return any(a.startswith(marker) if prefix else a == marker for a in args)

    return matches


def pid_runs(pid: int, matches: Callable[[list[str]], bool]) -> bool:
    """True if ``pid`` is alive and its argv ``matches`` (guards against PID reuse)."""
    args = process_cmdline(pid)
    return bool(args) and matches(args)


def pids_where(matches: Callable[[list[str]], bool]) -> list[int]:
    """PIDs of live processes whose argv ``matches``: the lab finds its own machines by
    the names on their command lines, never by a bare program name."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            args = process_cmdline(int(entry.name))
            if args and matches(args):
                pids.append(int(entry.name))
    return pids


def spawn_detached(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start a long-lived machine process in its own session, its output appended to
    ``log_path``, so it outlives this CLI invocation; return its PID."""
    with log_path.open("ab") as logf:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid
