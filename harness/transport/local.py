"""Commands on this machine, with the same ``run`` and ``Result`` as a node over SSH.

The doctor's kernel probes are written against a host that runs a shell command; this
lets ``--kind auto`` ask them of the machine the lab would run on, the same way the
doctor asks a node, instead of a second, hand-written copy of each probe.
"""

from __future__ import annotations

import subprocess
import time
from typing import Protocol

from harness.transport.result import NO_EXIT_STATUS, CommandTimeout, Result


class CommandHost(Protocol):
    """Something that runs a shell command and returns its record: a node over SSH, or
    this machine."""

    name: str

    def run(self, command: str, timeout_s: float = ...) -> Result: ...


class LocalHost:
    """This machine, as a ``CommandHost``: ``sh -c`` in a child process."""

    name = "this machine"

    def run(self, command: str, timeout_s: float = 60.0) -> Result:
        started = time.monotonic()
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            partial = Result(
                self.name,
                command,
                NO_EXIT_STATUS,
                _text(exc.stdout),
                _text(exc.stderr),
                time.monotonic() - started,
            )
            raise CommandTimeout(
                f"on {self.name}: `{command}` did not finish within {timeout_s:.0f}s",
                "check this machine's load, then retry",
                partial,
                timeout_s,
            ) from None
        return Result(
            self.name, command, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started
        )


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""
