"""Agent calls through the probe task's control port, instead of a ``docker exec`` each.

A ``docker exec`` starts a process in the node (``runc exec``) and another in the task
(``python3 /agent.py``). On nspawn machines that is a fraction of a second; on
User-Mode Linux machines, where process creation is 20-50x slower, it is seconds, and
under the suites' four workers execs piled up until dockerd's own heartbeat came late
and the manager's tasks were rescheduled. The probe's ``serve`` process answers the
same commands on ``CONTROL_PORT`` (``POST /run``), and the harness reaches it over the
SSH connection it already holds: the node's sshd connects to the task's address on
``docker_gwbridge`` (a direct-tcpip channel), so a call starts no process at all.
"""

from __future__ import annotations

import json
import time
from typing import Any

import paramiko

from harness.transport.result import NO_EXIT_STATUS, CommandError, CommandTimeout, Result
from harness.transport.ssh import SSHHost

CONTROL_PORT = 7079
GWBRIDGE = "docker_gwbridge"
# Commands the agent answers on its control port (see agent.control_result).
CONTROL_COMMANDS = frozenset({"health", "batch", "dns", "tcp", "udp", "http", "ping", "load", "rr", "hold"})


OPEN_PROHIBITED = 1  # RFC 4254 SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: sshd forwards nothing


class ControlUnavailable(Exception):
    """The control port could not be reached: the caller uses ``docker exec`` instead.

    ``prohibited``: sshd refuses forwarding altogether (no retry can help), as opposed to
    nothing answering on the port yet (a task still starting)."""

    def __init__(self, message: str, prohibited: bool = False) -> None:
        super().__init__(message)
        self.prohibited = prohibited


def controllable(args: list[str]) -> bool:
    return bool(args) and args[0] in CONTROL_COMMANDS and "--out" not in args


def _result(host: SSHHost, argv: list[str], status: int, text: str, started: float) -> Result:
    return Result(
        host=host.name,
        command=f"agent control call {' '.join(argv)}",
        exit_status=status,
        stdout=text,
        stderr="",
        duration_s=time.monotonic() - started,
    )


def parse_response(raw: bytes) -> tuple[int, Any]:
    """(HTTP status, JSON body) of a whole HTTP/1.0 response; ValueError if it is none."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    words = head.split(b"\r\n", 1)[0].split()
    if not sep or len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
        raise ValueError(f"not an HTTP response: {raw[:120]!r}")
    return int(words[1]), json.loads(body)


def control_call(
    host: SSHHost, node: str, address: str, argv: list[str], stdin: Any, timeout_s: float
) -> Any:
    """Run agent command ``argv`` in the task at ``address`` (its docker_gwbridge IP)."""
    started = time.monotonic()
    try:
        chan = host.open_tcp(address, CONTROL_PORT)
    except paramiko.ChannelException as exc:
        # Forwarding disabled in sshd, or nothing listening (an older probe, a task that
        # just ended): the exec path works there and gives its own clear error.
        raise ControlUnavailable(f"{node}: {address}:{CONTROL_PORT}: {exc}", exc.code == OPEN_PROHIBITED) from None
    chunks: list[bytes] = []
    try:
        chan.settimeout(timeout_s)
        body = json.dumps({"argv": argv, "stdin": stdin}).encode()
        head = f"POST /run HTTP/1.0\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        chan.sendall(head.encode() + body)
        while data := chan.recv(65536):
            chunks.append(data)
    except TimeoutError:
        res = _result(host, argv, NO_EXIT_STATUS, b"".join(chunks).decode(errors="replace"), started)
        raise CommandTimeout(
            f"on {node}: agent `{' '.join(argv)}` did not answer within {timeout_s:g}s",
            "the node may be overloaded or the probe task stuck; check 'docker ps' there",
            res,
            timeout_s,
        ) from None
    finally:
        chan.close()
    raw = b"".join(chunks)
    if not raw:
        raise ControlUnavailable(f"{node}: {address}:{CONTROL_PORT} closed without an answer")
    try:
        status, doc = parse_response(raw)
    except ValueError as exc:
        raise CommandError(
            f"probe agent on {node} gave no JSON for `{' '.join(argv)}`: {exc}",
            "the probe image may be stale; rerun to reship it",
            _result(host, argv, 1, raw.decode(errors="replace")[-2000:], started),
        ) from None
    if status == 200:
        return doc
    error = doc.get("error") if isinstance(doc, dict) else doc
    if status == 403:
        raise ControlUnavailable(f"{node}: {address}:{CONTROL_PORT} refused this client: {error}")
    raise CommandError(
        f"probe agent on {node} failed: `{' '.join(argv)}` answered {status}: {error}",
        "check that the probe task still runs on that node ('docker ps')",
        _result(host, argv, 2 if status == 400 else 1, json.dumps(doc), started),
    )


def gwbridge_addresses(inspect: dict[str, Any]) -> dict[str, str]:
    """Container id -> its IPv4 address, from ``docker network inspect docker_gwbridge``."""
    out = {}
    for cid, ep in (inspect.get("Containers") or {}).items():
        addr = str(ep.get("IPv4Address") or "").split("/")[0]
        if addr:
            out[cid] = addr
    return out
