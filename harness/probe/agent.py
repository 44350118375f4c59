#!/usr/bin/env python3
"""Probe agent: the in-container half of the Swarm overlay test harness.

This file is copied *alone* into a minimal Debian container and run as
``python3 /agent.py <command> ...``.  It must therefore stay a single file that
uses only the Python 3.11 standard library and never imports ``harness``.

Every command prints exactly one JSON document on stdout (``load``/``hold`` may
write it to ``--out`` instead).  A failed dial is *data*, not a crash: the exit
code is 0 and the failure is described in the JSON.  Bad arguments exit 2.

``serve --control-port P`` also takes the same commands as ``POST /run`` on port P,
from its default gateway only (the node's end of docker_gwbridge, where the harness
comes in over SSH): the running process answers them, so a probe costs no new process
(``docker exec`` starts two; on User-Mode Linux machines that is seconds each).

Commands:
  serve   HTTP + UDP echo + TCP line-echo servers (the workload under test)
  dns     resolve a name to IPv4 addresses
  tcp     connect to a ``serve`` TCP port and read its hostname line
  udp     send a token to a ``serve`` UDP port and check the echo
  http    GET a URL; understands ``/`` (hostname/version) and ``/bytes`` (sha256)
  ping    ICMP echo over a raw socket, optionally with DF set (MTU checks)
  batch   run a JSON list of dns/tcp/udp/http/ping probes concurrently
  load    sequential GETs for a while; counts versions, errors and outage gaps
  hold    keep one TCP connection alive and detect when it breaks
  ifaces  list the network interfaces the container sees
  health  container healthcheck: exit status 0 only if /health answers 200
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import errno
import hashlib
import http.client
import http.server
import itertools
import json
import math
import os
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias, TypeVar

AGENT_VERSION = "1"

# --- limits: every loop and buffer in this file is bounded by one of these ----------------------
BYTES_CAP = 64 * 1024 * 1024  # largest /bytes body served (and read back by `http`)
SLOW_CAP_MS = 120_000  # longest /slow sleep
LINE_LIMIT = 65_536  # longest line read from a TCP peer
TCP_IDLE_TIMEOUT_S = 900.0  # server side: drop a silent long-lived connection after this
HTTP_IDLE_TIMEOUT_S = 60.0  # server side: drop an idle keep-alive HTTP connection after this
LOAD_MAX_REQUESTS = 100_000
HOLD_MAX_EXCHANGES = 1_000_000
BATCH_MAX_ITEMS = 10_000
# How the deliberately broken image's tasks exit: distinct, so dockerd's "fatal task
# error" for it can be told from a real probe crash (exit 1) in the log scan.
BROKEN_EXIT_CODE = 97
BATCH_WORKERS = 32
PING_MAX_COUNT = 1000
PING_MAX_SIZE = 65_507  # 65535 - 20 (IP header) - 8 (ICMP header)
MIN_INTERVAL_S = 0.001

# Linux socket option numbers (not all are exported by the socket module).
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2
IP_MTU = 14

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11

DEFAULT_UNHEALTHY_FILE = "/tmp/unhealthy"
CONTROL_MAX_BODY = 16 * 1024 * 1024  # largest POST /run body (a batch of BATCH_MAX_ITEMS)


# ================================================================================================
# replies: the JSON each command prints, as dataclasses the harness reads it back into
# ================================================================================================
#
# One definition for both ends: the agent builds these and prints ``to_dict()``; the
# harness imports them from ``harness.probe.agent`` and reads the JSON back with
# ``from_dict`` (or ``parse_reply``). Field order is the JSON's key order.


class _Omitted:
    """The value of a field whose key the reply leaves out (``None`` is printed as null).

    Falsy, as the missing key was to ``dict.get``.
    """

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Final = _Omitted()

_R = TypeVar("_R", bound="_Reply")


class _Reply:
    """JSON plumbing shared by the reply dataclasses."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in field order; OMITTED fields are left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not OMITTED:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls: type[_R], doc: Mapping[str, Any]) -> _R:
        """Read a reply back: keys the JSON lacks keep their defaults, unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        make: Callable[..., _R] = cls
        return make(**{k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class ErrorReply(_Reply):
    """A command or batch item that could not run at all (bad item, bad stdin, serve failing)."""

    op: Any = None  # the op asked for, whatever the caller sent (None: the item was no object)
    ok: bool = False
    error: str = ""
    id: Any = OMITTED  # a batch item's id, copied when the item had one


@dataclass(frozen=True)
class DnsReply(_Reply):
    op: str = "dns"
    name: str = ""
    ok: bool = False
    addresses: tuple[str, ...] = ()
    error: str | None = None  # "NXDOMAIN" when the resolver answered "no such name"
    duration_s: float = 0.0
    id: Any = OMITTED


@dataclass(frozen=True)
class TcpReply(_Reply):
    op: str = "tcp"
    target: str = ""  # host:port
    ok: bool = False  # connected and read the greeting
    connected: bool = False
    hostname: str | None = None  # the greeting: the serving container's hostname
    error: str | None = None
    duration_s: float = 0.0
    id: Any = OMITTED


@dataclass(frozen=True)
class UdpReply(_Reply):
    op: str = "udp"
    target: str = ""  # host:port
    ok: bool = False  # the token came back
    hostname: str | None = None
    attempts: int = 0  # datagrams sent
    error: str | None = None
    duration_s: float = 0.0
    id: Any = OMITTED


@dataclass(frozen=True)
class HttpReply(_Reply):
    op: str = "http"
    url: str = ""
    ok: bool = False
    status: int | None = None
    hostname: str | None = None  # from a JSON body (`/`, `/slow`)
    version: str | None = None
    error: str | None = None
    bytes: int | _Omitted = OMITTED  # body length, for `/bytes` or a body with X-Sha256
    intact: bool | _Omitted = OMITTED  # that body matched its X-Sha256
    duration_s: float = 0.0
    id: Any = OMITTED


@dataclass(frozen=True)
class PingReply(_Reply):
    op: str = "ping"
    target: str = ""
    address: str | None = None
    size: int = 0
    df: bool = False
    ok: bool = False  # at least one echo came back
    received: int = 0
    sent: int = 0
    rtt_ms: tuple[float, ...] = ()
    error: str | None = None
    mtu: int | _Omitted | None = OMITTED  # the path MTU, after EMSGSIZE (None: unreadable)
    loss_error: str | _Omitted | None = OMITTED  # why the lost echoes were lost, when some came back
    duration_s: float = 0.0
    id: Any = OMITTED


@dataclass(frozen=True)
class LoadReply(_Reply):
    op: str = "load"
    url: str = ""
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by error text
    versions: dict[str, int] = field(default_factory=dict)  # answers by image version
    hostnames: dict[str, int] = field(default_factory=dict)  # answers by task hostname
    longest_gap_s: float = 0.0
    first_failure_s: float | None = None  # seconds after the load's start
    last_failure_s: float | None = None
    stopped_early: bool = False
    duration_s: float = 0.0
    # Second by second from the load's start: [answered, failed] requests sent in that second.
    per_second: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class HoldReply(_Reply):
    op: str = "hold"
    target: str = ""  # host:port
    ok: bool = False  # the connection lasted
    connected: bool = False
    hostname: str | None = None
    broken_at_s: float | None = None
    exchanges: int = 0
    error: str | None = None
    stopped_early: bool | _Omitted = OMITTED  # left out when the connect itself failed
    duration_s: float = 0.0


@dataclass(frozen=True)
class RrReply(_Reply):
    """TCP request/response over one connection: one-byte lines echoed, back to back."""

    op: str = "rr"
    target: str = ""  # host:port
    ok: bool = False
    exchanges: int = 0
    per_second: float = 0.0
    p50_us: float = 0.0
    p90_us: float = 0.0
    p99_us: float = 0.0
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class IfacesReply(_Reply):
    op: str = "ifaces"
    ok: bool = True
    hostname: str = ""
    interfaces: tuple[str, ...] = ()
    netns: str = ""  # e.g. "net:[4026531840]"


@dataclass(frozen=True)
class ServeReply(_Reply):
    op: str = "serve"
    ok: bool = True
    pid: int = 0
    hostname: str = ""
    agent_version: str = ""
    http_port: int = 0
    tcp_port: int = 0
    udp_port: int = 0


# What one `batch` item answers: its probe's reply, or an ErrorReply if it could not run.
BatchReply: TypeAlias = DnsReply | TcpReply | UdpReply | HttpReply | PingReply | ErrorReply
BATCH_REPLY_TYPES: Final[dict[str, type[BatchReply]]] = {
    "dns": DnsReply,
    "tcp": TcpReply,
    "udp": UdpReply,
    "http": HttpReply,
    "ping": PingReply,
}
_ERROR_KEYS = frozenset(f.name for f in dataclasses.fields(ErrorReply))


def parse_batch_reply(doc: Mapping[str, Any]) -> BatchReply:
    """One item of the list `batch` prints, typed by its op; an ErrorReply for an item that
    could not run (it carries only op, ok, error and the id)."""
    op = doc.get("op")
    kind = BATCH_REPLY_TYPES.get(op) if isinstance(op, str) else None
    if kind is None or (not doc.get("ok") and set(doc) <= _ERROR_KEYS):
        return ErrorReply.from_dict(doc)
    return kind.from_dict(doc)


# ================================================================================================
# helpers
# ================================================================================================


def _elapsed(start: float) -> float:
    """Monotonic seconds since ``start``, rounded so the JSON stays readable."""
    return round(time.monotonic() - start, 6)


def error_text(exc: BaseException) -> str:
    """Turn an exception into a short, *stable* string.

    ``load`` counts errors by this text, so it must not embed addresses, ports or
    byte counts that would split one failure mode into many keys.
    """
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, BaseException):
            return error_text(exc.reason)
        return f"URLError: {exc.reason}"
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_NONAME:
            return "NXDOMAIN"
        return f"DNS: {exc.strerror}"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return "timeout"
    if isinstance(exc, http.client.IncompleteRead):
        return "IncompleteRead"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "RemoteDisconnected"
    if isinstance(exc, http.client.HTTPException):
        return type(exc).__name__
    if isinstance(exc, OSError) and exc.errno:
        name = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
        return f"{name}: {exc.strerror or os.strerror(exc.errno)}"
    return f"{type(exc).__name__}: {exc}"


def _resolve_ipv4(host: str) -> str:
    """Resolve ``host`` to one IPv4 address (the overlay is IPv4-only)."""
    infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    return str(infos[0][4][0])


def _read_line(sock_file: Any) -> bytes:
    """Read one bounded line; EOF becomes an error because every caller expects data."""
    line: bytes = sock_file.readline(LINE_LIMIT)
    if not line:
        raise ConnectionError("connection closed by peer")
    return line


def _emit(result: Any, out: str | None = None) -> None:
    """Write the single JSON document: to ``out`` atomically, else to stdout."""
    text = json.dumps(result, separators=(",", ":"))
    if out is None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    tmp = f"{out}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.replace(tmp, out)


class StopFlag:
    """The stop request of a long-running command, safe to set from a signal handler.

    A ``threading.Event`` is not: the handler runs in the main thread, and when that
    thread is inside ``Event.wait()`` holding the event's lock, ``Event.set()`` waits for
    that lock forever (reproduced with a handler fired inside ``with event._cond:``). A
    ``load`` client hung that way never writes its counts. Here the handler only sets an
    attribute and writes one byte to a pipe; waiters ``select()`` on the pipe, which stays
    readable once written, so every thread waiting on it wakes.
    """

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            os.write(self._write_fd, b"x")

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout_s: float | None = None) -> bool:
        if not self._set:
            select.select([self._read_fd], [], [], timeout_s)
        return self._set


def _install_stop_handlers(stop: StopFlag) -> None:
    """SIGTERM/SIGINT set ``stop`` so long-running commands can still write their result."""

    def handler(signum: int, frame: types.FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _pattern(n: int) -> bytes:
    """Deterministic body for /bytes: repeating 0..255, so corruption is detectable."""
    block = bytes(range(256))
    reps = n // 256 + 1
    return (block * reps)[:n]


# ================================================================================================
# serve
# ================================================================================================


class _ProbeHTTPHandler(http.server.BaseHTTPRequestHandler):
    """Answers /, /health, /bytes and /slow; identity comes from PROBE_* env vars."""

    protocol_version = "HTTP/1.1"
    server_version = "probe-agent/" + AGENT_VERSION
    timeout = HTTP_IDLE_TIMEOUT_S  # idle keep-alive connections must not pin threads forever

    def log_message(self, format: str, *args: Any) -> None:
        """Per-request logging would flood `docker logs` under load; drop it."""

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        """Always send Content-Length so keep-alive clients can frame the response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _identity(self) -> bytes:
        """Body of `/`: which task answered, so the harness can see load balancing."""
        doc = {
            "hostname": socket.gethostname(),
            "version": os.environ.get("PROBE_VERSION") or "dev",
            "node": os.environ.get("PROBE_NODE", ""),
            "slot": os.environ.get("PROBE_SLOT", ""),
            "task": os.environ.get("PROBE_TASK", ""),
            "client": self.client_address[0],
        }
        return json.dumps(doc).encode()

    def _int_param(self, query: dict[str, list[str]], key: str, default: int) -> int | None:
        """Parse a non-negative integer query parameter; None means 'bad request'."""
        raw = query.get(key, [str(default)])[0]
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if value >= 0 else None

    def do_GET(self) -> None:
        """Route the four endpoints; anything else is a 404 so typos are visible."""
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        path = parsed.path
        if path == "/":
            self._send(200, self._identity(), "application/json")
        elif path == "/health":
            flag = os.environ.get("PROBE_UNHEALTHY_FILE") or DEFAULT_UNHEALTHY_FILE
            if os.path.exists(flag):
                self._send(503, b"unhealthy\n", "text/plain")
            else:
                self._send(200, b"ok\n", "text/plain")
        elif path == "/bytes":
            n = self._int_param(query, "n", 1024)
            if n is None:
                self._send(400, b"bad n\n", "text/plain")
                return
            body = _pattern(min(n, BYTES_CAP))
            digest = hashlib.sha256(body).hexdigest()
            self._send(200, body, "application/octet-stream", {"X-Sha256": digest})
        elif path == "/slow":
            ms = self._int_param(query, "ms", 1000)
            if ms is None:
                self._send(400, b"bad ms\n", "text/plain")
                return
            time.sleep(min(ms, SLOW_CAP_MS) / 1000.0)
            self._send(200, self._identity(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    do_HEAD = do_GET


def _quiet_handle_error(server: socketserver.BaseServer, request: Any, client_address: Any) -> None:
    """Clients vanishing mid-response is normal under chaos tests; only log real bugs."""
    exc = sys.exc_info()[1]
    if isinstance(exc, ConnectionError | TimeoutError):
        return
    socketserver.BaseServer.handle_error(server, request, client_address)


# Connections a listener queues before the kernel drops new SYNs. socketserver's default is
# 5: on a 10-node lab's matrix nine sources connect to one task at once, and some SYNs were
# dropped, answered only by a retransmitted SYN (connect latencies of 1035 and 2055 ms on
# 2026-12-07), a "flaky" cell that was the agent's queue, not the overlay. The kernel caps
# it at net.core.somaxconn.
LISTEN_BACKLOG = 1024


class _ProbeHTTPServer(http.server.ThreadingHTTPServer):
    """Threaded so /slow and long downloads do not block health checks."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    allow_reuse_address = True
    handle_error = _quiet_handle_error


def default_gateway(route_table: str) -> str | None:
    """The IPv4 default gateway in ``/proc/net/route`` text (little-endian hex), if any."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
            return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


class ArgumentsRefused(Exception):
    """Bad arguments for a control call (the command line would exit 2)."""


class _NoExitParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ArgumentsRefused(message)


def control_result(argv: list[str], stdin: Any) -> Any:
    """What the command ``argv`` would print, computed in this process.

    Only commands that print one document and hold no process-wide state are taken;
    the rest (``serve``, ``ifaces``, ``--out`` files) keep their command line."""
    try:
        args = build_parser(_NoExitParser).parse_args(argv)
    except SystemExit:  # --help, --version: text for a terminal, not a call
        raise ArgumentsRefused("--help and --version only on the command line") from None
    if getattr(args, "out", None) is not None or args.command in ("serve", "ifaces"):
        raise ArgumentsRefused(f"`{args.command}` with these arguments runs only as its own process")
    if args.command == "health":
        problem = local_health(args.http_port, args.timeout_s)
        return {"op": "health", "ok": True} if problem is None else {"op": "health", "ok": False, "error": problem}
    if args.command == "batch":
        if not isinstance(stdin, list) or len(stdin) > BATCH_MAX_ITEMS:
            raise ArgumentsRefused(f"stdin must be a JSON list of <= {BATCH_MAX_ITEMS} items")
        return [r.to_dict() for r in run_batch(stdin)]
    calls: dict[str, Callable[[], Any]] = {
        "dns": lambda: probe_dns(args.name, args.timeout_s),
        "tcp": lambda: probe_tcp(args.host, args.port, args.timeout_s),
        "udp": lambda: probe_udp(args.host, args.port, args.timeout_s),
        "http": lambda: probe_http(args.url, args.timeout_s),
        "ping": lambda: probe_ping(args.host, args.size, args.count, args.timeout_s, args.df, args.interval_s),
        "load": lambda: run_load(args.url, args.duration_s, args.interval_s, args.timeout_s),
        "rr": lambda: run_rr(args.host, args.port, args.duration_s, args.timeout_s),
        "hold": lambda: run_hold(args.host, args.port, args.duration_s, args.interval_s, args.timeout_s),
    }
    return calls[args.command]().to_dict()


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    """``POST /run`` with ``{"argv": [...], "stdin": ...}``: 200 and the command's JSON,
    400 for bad arguments, 403 for any client but the default gateway."""

    protocol_version = "HTTP/1.0"  # one call per connection: the harness reads to EOF
    server_version = "probe-agent-control/" + AGENT_VERSION
    allowed: ClassVar[frozenset[str]] = frozenset()

    def log_message(self, format: str, *args: Any) -> None:
        """Calls come by the hundred; `docker logs` keeps only the serve line."""

    def _reply(self, status: int, doc: Any) -> None:
        body = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.client_address[0] not in self.allowed:
            self._reply(403, {"error": f"control calls come only from {sorted(self.allowed)}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != "/run" or not 0 < length <= CONTROL_MAX_BODY:
            self._reply(400, {"error": "POST /run with a JSON body"})
            return
        try:
            doc = json.loads(self.rfile.read(length))
            argv = doc["argv"]
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ArgumentsRefused("argv must be a list of strings")
            result = control_result(argv, doc.get("stdin"))
        except (ArgumentsRefused, ValueError, KeyError, TypeError) as exc:
            self._reply(400, {"error": f"refused: {error_text(exc)}"})
            return
        except Exception as exc:  # the command's own crash, as its process would exit 1
            self._reply(500, {"error": error_text(exc)})
            return
        self._reply(200, result)


class _ControlServer(http.server.ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    allow_reuse_address = True
    handle_error = _quiet_handle_error


def start_control(port: int) -> _ControlServer:
    """Listen for control calls from the default gateway (and this container's loopback)."""
    with open("/proc/net/route", encoding="ascii") as fh:
        gateway = default_gateway(fh.read())
    _ControlHandler.allowed = frozenset({"127.0.0.1"} | ({gateway} if gateway else set()))
    server = _ControlServer(("0.0.0.0", port), _ControlHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


class _TCPEchoHandler(socketserver.StreamRequestHandler):
    """Greets with the hostname, then echoes lines: the long-lived connection target of `hold`."""

    timeout = TCP_IDLE_TIMEOUT_S

    def handle(self) -> None:
        """Echo until the client closes, the idle timeout hits, or the peer resets."""
        try:
            self.wfile.write(socket.gethostname().encode() + b"\n")
            self.wfile.flush()
            for _ in range(HOLD_MAX_EXCHANGES * 4):
                line = self.rfile.readline(LINE_LIMIT)
                if not line:
                    return
                self.wfile.write(line)
                self.wfile.flush()
        except OSError:
            return


class _TCPEchoServer(socketserver.ThreadingTCPServer):
    """One thread per connection; daemon threads so shutdown never waits on a client."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    allow_reuse_address = True
    handle_error = _quiet_handle_error


def _udp_echo_loop(sock: socket.socket, stop: StopFlag) -> None:
    """Reply to every datagram with hostname + echo; the short timeout lets us notice `stop`."""
    hostname = socket.gethostname()
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65_535)
        except TimeoutError:
            continue
        except OSError:
            if stop.is_set():
                return
            time.sleep(0.05)  # e.g. a stray ICMP error; do not spin
            continue
        reply = json.dumps({"hostname": hostname, "echo": data.decode("utf-8", "replace")}).encode()
        try:
            sock.sendto(reply, peer)
        except OSError:
            continue


def _drain_s() -> float:
    try:
        return min(max(float(os.environ.get("PROBE_DRAIN_S") or 0), 0.0), 60.0)
    except ValueError:
        return 0.0


def cmd_ifaces(args: argparse.Namespace) -> int:
    """Which network interfaces this container sees (the none/host driver checks)."""
    names = sorted(name for _, name in socket.if_nameindex())
    try:
        netns = os.readlink("/proc/self/ns/net")  # e.g. "net:[4026531840]": the namespace's identity
    except OSError as exc:
        netns = f"unreadable: {error_text(exc)}"
    _emit(IfacesReply(hostname=socket.gethostname(), interfaces=tuple(names), netns=netns).to_dict())
    return 0


def local_health(http_port: int, timeout_s: float) -> str | None:
    """None when the local /health answers 200, else why not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=timeout_s) as r:
            return None if r.status == 200 else f"unhealthy: /health answered {r.status}"
    except Exception as exc:
        return f"unhealthy: {error_text(exc)}"


def cmd_health(args: argparse.Namespace) -> int:
    """Container healthcheck: exit 0 only when the local /health answers 200."""
    problem = local_health(args.http_port, args.timeout_s)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the three servers until SIGTERM/SIGINT."""
    if os.environ.get("PROBE_FAIL_START") == "1":
        _emit(ErrorReply(op="serve", error="PROBE_FAIL_START=1").to_dict())
        return BROKEN_EXIT_CODE
    stop = StopFlag()
    try:
        httpd = _ProbeHTTPServer((args.bind, args.http_port), _ProbeHTTPHandler)
        tcpd = _TCPEchoServer((args.bind, args.tcp_port), _TCPEchoHandler)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.bind((args.bind, args.udp_port))
    except OSError as exc:
        _emit(ErrorReply(op="serve", error=error_text(exc)).to_dict())
        return 1
    _install_stop_handlers(stop)
    threads = [
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True),
        threading.Thread(target=tcpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True),
        threading.Thread(target=_udp_echo_loop, args=(udp, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    # Last: a control call answered means the three servers are bound.
    control = start_control(args.control_port) if args.control_port else None
    _emit(
        ServeReply(
            pid=os.getpid(),
            hostname=socket.gethostname(),
            agent_version=AGENT_VERSION,
            http_port=httpd.server_address[1],
            tcp_port=tcpd.server_address[1],
            udp_port=udp.getsockname()[1],
        ).to_dict()
    )
    while not stop.wait(1.0):
        pass  # serve is long-running by design; a signal ends it
    # Graceful drain: keep answering for PROBE_DRAIN_S after SIGTERM, as a well-behaved
    # service does, so peers that resolved this task just before it left DNS still succeed.
    threading.Event().wait(_drain_s())
    httpd.shutdown()
    tcpd.shutdown()
    if control is not None:
        control.shutdown()
        control.server_close()
    httpd.server_close()
    tcpd.server_close()
    udp.close()
    return 0


# ================================================================================================
# single probes (shared by the subcommands and `batch`)
# ================================================================================================


def probe_dns(name: str, timeout_s: float = 5.0) -> DnsReply:
    """Resolve ``name`` like the application would (getaddrinfo => /etc/hosts + Docker DNS).

    getaddrinfo has no timeout, so it runs in a daemon thread we stop waiting for.
    """
    start = time.monotonic()
    ok = False
    addresses: tuple[str, ...] = ()
    error: str | None = None
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except BaseException as exc:
            box["exc"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        error = "timeout"
    elif "exc" in box:
        exc = box["exc"]
        if isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_NONAME:
            error = "NXDOMAIN"
        elif isinstance(exc, socket.gaierror):
            error = f"{exc.strerror} (gaierror {exc.errno})"
        else:
            error = error_text(exc)
    else:
        addresses = tuple(sorted({str(info[4][0]) for info in box["infos"]}))
        ok = True
    return DnsReply(name=name, ok=ok, addresses=addresses, error=error, duration_s=_elapsed(start))


def probe_tcp(host: str, port: int, timeout_s: float = 3.0) -> TcpReply:
    """Connect and read the greeting; ``ok`` needs both, ``connected`` says how far we got."""
    start = time.monotonic()
    ok = connected = False
    hostname: str | None = None
    error: str | None = None
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            connected = True
            sock.settimeout(timeout_s)
            with sock.makefile("rb") as fh:
                line = _read_line(fh)
            hostname = line.decode("utf-8", "replace").strip()
            ok = True
    except Exception as exc:
        error = error_text(exc)
    return TcpReply(
        target=f"{host}:{port}",
        ok=ok,
        connected=connected,
        hostname=hostname,
        error=error,
        duration_s=_elapsed(start),
    )


def probe_udp(host: str, port: int, timeout_s: float = 3.0, attempts: int = 3, source_port: int = 0) -> UdpReply:
    """Send a unique token and wait for its echo.

    UDP may drop a datagram, so the token is re-sent up to ``attempts`` times within
    the timeout (the matrix sends once, to count loss itself); stale or foreign
    replies are skipped.  A connected socket turns an
    ICMP port-unreachable into ECONNREFUSED instead of a silent timeout.
    A ``source_port`` makes successive probes one flow to IPVS and conntrack (the same
    5-tuple), which is how a client whose entry outlived its backend is reproduced.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    token = f"probe-{uuid.uuid4().hex}"
    ok = False
    hostname: str | None = None
    sent = 0
    error: str | None = None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            if source_port:
                sock.bind(("", source_port))
            sock.connect((_resolve_ipv4(host), port))
            for attempt in range(attempts):
                sock.send(token.encode())
                sent = attempt + 1
                slot_end = min(deadline, time.monotonic() + timeout_s / attempts)
                if attempt == attempts - 1:
                    slot_end = deadline
                while (remaining := slot_end - time.monotonic()) > 0:
                    sock.settimeout(remaining)
                    try:
                        data = sock.recv(65_535)
                    except TimeoutError:
                        break
                    try:
                        doc = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(doc, dict) and doc.get("echo") == token:
                        ok = True
                        hostname = doc.get("hostname")
                        break
                if ok or time.monotonic() >= deadline:
                    break
            if not ok:
                error = "timeout"
    except Exception as exc:
        error = error_text(exc)
    return UdpReply(
        target=f"{host}:{port}",
        ok=ok,
        hostname=hostname,
        attempts=sent,
        error=error,
        duration_s=_elapsed(start),
    )


# urllib would otherwise honour http_proxy from the container environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_http(url: str, timeout_s: float = 3.0) -> HttpReply:
    """GET ``url``; pick out hostname/version from JSON bodies and verify /bytes checksums."""
    start = time.monotonic()
    path = urllib.parse.urlsplit(url).path or "/"
    ok = False
    status: int | None = None
    hostname: str | None = None
    version: str | None = None
    error: str | None = None
    is_bytes = path == "/bytes"
    length: int | _Omitted = 0 if is_bytes else OMITTED
    intact: bool | _Omitted = False if is_bytes else OMITTED
    try:
        code: int
        headers: Any
        try:
            with _OPENER.open(url, timeout=timeout_s) as resp:
                code = resp.status
                headers = resp.headers
                body: bytes = resp.read(BYTES_CAP + 1)
        except urllib.error.HTTPError as exc:
            code = exc.code
            headers = exc.headers
            body = exc.read(LINE_LIMIT) if exc.fp is not None else b""
        status = code
        content_type = str(headers.get("Content-Type", ""))
        if content_type.startswith("application/json"):
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                hostname = doc.get("hostname")
                version = doc.get("version")
        digest = headers.get("X-Sha256")
        if is_bytes or digest is not None:
            length = len(body)
            intact = digest is not None and hashlib.sha256(body).hexdigest() == str(digest).lower()
        if not 200 <= code < 300:
            error = f"HTTP {code}"
        elif (is_bytes or digest is not None) and not intact:
            error = "missing X-Sha256 header" if digest is None else "sha256 mismatch"
        else:
            ok = True
    except Exception as exc:
        error = error_text(exc)
    return HttpReply(
        url=url,
        ok=ok,
        status=status,
        hostname=hostname,
        version=version,
        error=error,
        bytes=length,
        intact=intact,
        duration_s=_elapsed(start),
    )


# --- ping -----------------------------------------------------------------------------------------

_ident_lock = threading.Lock()
_ident_counter = itertools.count()


def _next_ident() -> int:
    """Unique ICMP identifier per ping call, so concurrent pings in one `batch` do not cross."""
    with _ident_lock:
        return (os.getpid() + next(_ident_counter) * 7919) & 0xFFFF


def _checksum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    """Build an ICMP echo request (type 8)."""
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    csum = _checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, csum, ident, seq) + payload


def _classify_icmp(packet: bytes, ident: int, seq: int, payload: bytes) -> tuple[str, str | None] | None:
    """Decide what a packet from the raw socket means for *our* echo (ident, seq).

    Returns None for unrelated traffic (the kernel hands every ICMP packet to every
    raw socket, including our own outgoing request on loopback), ("reply", None)
    for a matching echo reply, or ("error", text) for an ICMP error about our request.
    """
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8:
        return None
    icmp_type, code = icmp[0], icmp[1]
    if icmp_type == ICMP_ECHO_REPLY:
        r_ident, r_seq = struct.unpack("!HH", icmp[4:8])
        if (r_ident, r_seq) != (ident, seq):
            return None
        if icmp[8:] != payload:
            return ("error", "payload mismatch")
        return ("reply", None)
    if icmp_type in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED):
        inner = icmp[8:]
        if len(inner) < 20:
            return None
        inner_ihl = (inner[0] & 0x0F) * 4
        if inner[9] != socket.IPPROTO_ICMP or len(inner) < inner_ihl + 8:
            return None
        o_type, _, _, o_ident, o_seq = struct.unpack("!BBHHH", inner[inner_ihl : inner_ihl + 8])
        if o_type != ICMP_ECHO_REQUEST or (o_ident, o_seq) != (ident, seq):
            return None
        if icmp_type == ICMP_TIME_EXCEEDED:
            return ("error", "ICMP time exceeded")
        if code == 4:
            (mtu,) = struct.unpack("!H", icmp[6:8])
            return ("error", f"ICMP fragmentation needed (next-hop MTU {mtu})")
        return ("error", f"ICMP destination unreachable (code {code})")
    return None


def _path_mtu(sock: socket.socket, address: str) -> int | None:
    """Ask the kernel for the route MTU towards ``address`` (IP_MTU needs a connected socket)."""
    try:
        sock.connect((address, 0))
        return int(sock.getsockopt(socket.IPPROTO_IP, IP_MTU))
    except OSError:
        return None


def probe_ping(
    host: str,
    size: int = 56,
    count: int = 1,
    timeout_s: float = 2.0,
    df: bool = False,
    interval_s: float = 0.2,
) -> PingReply:
    """ICMP echo with an exact payload size; with ``df`` it proves the path MTU.

    ``ok`` is true when at least one reply came back (ping(8) semantics); compare
    ``received`` with ``sent`` for loss.  With DF set, a packet larger than the
    known path MTU is refused locally by sendto() with EMSGSIZE, which is reported
    rather than silently fragmented.
    """
    start = time.monotonic()
    resolved: str | None = None
    sent = received = 0
    rtt_ms: list[float] = []
    path_mtu: int | _Omitted | None = OMITTED

    def reply(error: str | None, ok: bool = False, loss_error: str | _Omitted | None = OMITTED) -> PingReply:
        return PingReply(
            target=host,
            address=resolved,
            size=size,
            df=df,
            ok=ok,
            received=received,
            sent=sent,
            rtt_ms=tuple(rtt_ms),
            error=error,
            mtu=path_mtu,
            loss_error=loss_error,
            duration_s=_elapsed(start),
        )

    if not 0 <= size <= PING_MAX_SIZE or not 1 <= count <= PING_MAX_COUNT:
        return reply(f"bad arguments: size must be 0..{PING_MAX_SIZE}, count 1..{PING_MAX_COUNT}")
    try:
        address = _resolve_ipv4(host)
        resolved = address
    except Exception as exc:
        return reply(error_text(exc))
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        return reply("EPERM: raw ICMP socket needs root or CAP_NET_RAW")
    except OSError as exc:
        return reply(error_text(exc))
    last_error: str | None = None
    with sock:
        try:
            if df:
                sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError as exc:
            return reply(error_text(exc))
        ident = _next_ident()
        payload = _pattern(size)
        for seq in range(1, count + 1):
            if seq > 1:
                time.sleep(max(interval_s, 0.0))
            packet = _echo_request(ident, seq, payload)
            sent_at = time.monotonic()
            try:
                sock.sendto(packet, (address, 0))
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    mtu = _path_mtu(sock, address)
                    path_mtu = mtu
                    last_error = f"EMSGSIZE (exceeds path MTU {mtu if mtu is not None else 'unknown'})"
                else:
                    last_error = error_text(exc)
                break  # the next packet would fail the same way
            sent += 1
            deadline = sent_at + timeout_s
            outcome: str | None = "timeout"
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                try:
                    data = sock.recv(PING_MAX_SIZE + 1024)
                except TimeoutError:
                    break
                except OSError as exc:
                    outcome = error_text(exc)
                    break
                verdict = _classify_icmp(data, ident, seq, payload)
                if verdict is None:
                    continue
                kind, text = verdict
                if kind == "reply":
                    received += 1
                    rtt_ms.append(round((time.monotonic() - sent_at) * 1000.0, 3))
                    outcome = None
                else:
                    outcome = text
                break
            if outcome is not None:
                last_error = outcome
    ok = received > 0
    return reply(None if ok else last_error, ok, last_error if ok and received < sent else OMITTED)


# ================================================================================================
# batch
# ================================================================================================


def _item_str(item: dict[str, Any], key: str) -> str:
    """Required string field of a batch item."""
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _item_int(item: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int:
    """Integer field of a batch item (bool is rejected even though it is an int)."""
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key!r} must be an integer in {lo}..{hi}")
    return value


def _item_float(item: dict[str, Any], key: str, default: float) -> float:
    """Positive number field of a batch item."""
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ValueError(f"{key!r} must be a number in (0, 3600]")
    return float(value)


def _item_bool(item: dict[str, Any], key: str, default: bool) -> bool:
    """Boolean field of a batch item."""
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be a boolean")
    return value


def _item_call(item: dict[str, Any]) -> Callable[[], BatchReply]:
    """Validate one batch item and bind it to its probe; raises ValueError on a bad item."""
    op = item.get("op")
    if op == "dns":
        name = _item_str(item, "name")
        timeout = _item_float(item, "timeout_s", 5.0)
        return lambda: probe_dns(name, timeout)
    if op in ("tcp", "udp"):
        host = _item_str(item, "host")
        port = _item_int(item, "port", None, 1, 65535)
        timeout = _item_float(item, "timeout_s", 3.0)
        if op == "tcp":
            return lambda: probe_tcp(host, port, timeout)
        attempts = _item_int(item, "attempts", 3, 1, 10)
        source_port = _item_int(item, "source_port", 0, 0, 65535)
        return lambda: probe_udp(host, port, timeout, attempts, source_port)
    if op == "http":
        url = _item_str(item, "url")
        timeout = _item_float(item, "timeout_s", 3.0)
        return lambda: probe_http(url, timeout)
    if op == "ping":
        host = _item_str(item, "host")
        size = _item_int(item, "size", 56, 0, PING_MAX_SIZE)
        count = _item_int(item, "count", 1, 1, PING_MAX_COUNT)
        timeout = _item_float(item, "timeout_s", 2.0)
        df = _item_bool(item, "df", False)
        return lambda: probe_ping(host, size, count, timeout, df)
    raise ValueError(f"unknown op {op!r} (expected dns, tcp, udp, http or ping)")


def run_batch(items: list[Any]) -> list[BatchReply]:
    """Run probes concurrently, keeping input order; a bad item yields an error result, not a crash."""
    results: list[BatchReply | None] = [None] * len(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=BATCH_WORKERS) as pool:
        futures: dict[concurrent.futures.Future[BatchReply], int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results[index] = ErrorReply(op=None, error="bad item: not an object")
                continue
            try:
                call = _item_call(item)
            except ValueError as exc:
                results[index] = ErrorReply(op=item.get("op"), error=f"bad item: {exc}")
                continue
            futures[pool.submit(call)] = index
        for future, index in futures.items():
            try:
                results[index] = future.result()
            except Exception as exc:  # a probe bug must not lose the whole row
                results[index] = ErrorReply(op=items[index].get("op"), error=error_text(exc))
    final: list[BatchReply] = []
    for item, res in zip(items, results, strict=True):
        assert res is not None
        if isinstance(item, dict) and "id" in item:
            res = dataclasses.replace(res, id=item["id"])
        final.append(res)
    return final


def cmd_batch(args: argparse.Namespace) -> int:
    """Read the probe list from stdin: one `docker exec` per reachability row."""
    try:
        items = json.loads(sys.stdin.read())
    except ValueError as exc:
        _emit(ErrorReply(op="batch", error=f"stdin is not JSON: {exc}").to_dict())
        return 2
    if not isinstance(items, list) or len(items) > BATCH_MAX_ITEMS:
        too_long = f"stdin must be a JSON list of <= {BATCH_MAX_ITEMS} items"
        _emit(ErrorReply(op="batch", error=too_long).to_dict())
        return 2
    _emit([r.to_dict() for r in run_batch(items)])
    return 0


# ================================================================================================
# load and hold (long-running, SIGTERM-aware)
# ================================================================================================


def run_load(
    url: str,
    duration_s: float,
    interval_s: float = 0.05,
    timeout_s: float = 2.0,
    stop: StopFlag | threading.Event | None = None,
) -> LoadReply:
    """Sequential GETs (a new connection each, so the VIP load balancer picks per request).

    ``longest_gap_s`` is the longest time without a successful response: between two
    successes, before the first or after the last; with fewer than two successes it is
    the whole run, i.e. an outage throughout.
    """
    stop = stop or threading.Event()
    start = time.monotonic()
    sent = failed = 0
    errors: dict[str, int] = {}
    versions: dict[str, int] = {}
    hostnames: dict[str, int] = {}
    successes = 0
    last_ok: float | None = None
    first_ok: float | None = None
    longest_gap = 0.0
    first_failure: float | None = None
    last_failure: float | None = None
    per_second: list[list[int]] = []
    while sent < LOAD_MAX_REQUESTS and not stop.is_set() and time.monotonic() - start < duration_s:
        res = probe_http(url, timeout_s)
        now = time.monotonic() - start
        sent += 1
        while len(per_second) <= int(now):
            per_second.append([0, 0])
        per_second[int(now)][0 if res.ok else 1] += 1
        if res.ok:
            successes += 1
            if last_ok is not None:
                longest_gap = max(longest_gap, now - last_ok)
            else:
                first_ok = now
            last_ok = now
            version = str(res.version)
            hostname = str(res.hostname)
            versions[version] = versions.get(version, 0) + 1
            hostnames[hostname] = hostnames.get(hostname, 0) + 1
        else:
            failed += 1
            text = str(res.error)
            errors[text] = errors.get(text, 0) + 1
            if first_failure is None:
                first_failure = now
            last_failure = now
        remaining = duration_s - (time.monotonic() - start)
        if remaining > 0:
            stop.wait(min(max(interval_s, 0.0), remaining))
    total = time.monotonic() - start
    if successes < 2:
        longest_gap = total
    elif last_ok is not None and first_ok is not None:
        # An outage that began before the first or outlasted the last success counts too.
        longest_gap = max(longest_gap, first_ok, total - last_ok)
    return LoadReply(
        url=url,
        sent=sent,
        failed=failed,
        errors=errors,
        versions=versions,
        hostnames=hostnames,
        longest_gap_s=round(longest_gap, 6),
        first_failure_s=None if first_failure is None else round(first_failure, 6),
        last_failure_s=None if last_failure is None else round(last_failure, 6),
        stopped_early=stop.is_set(),
        duration_s=round(total, 6),
        per_second=tuple((ok, bad) for ok, bad in per_second),
    )


def run_hold(
    host: str,
    port: int,
    duration_s: float,
    interval_s: float = 1.0,
    timeout_s: float = 3.0,
    stop: StopFlag | threading.Event | None = None,
) -> HoldReply:
    """Keep one TCP connection through the event under test; report when (if) it broke."""
    stop = stop or threading.Event()
    start = time.monotonic()
    target = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except Exception as exc:
        error = f"connect: {error_text(exc)}"
        return HoldReply(target=target, broken_at_s=_elapsed(start), error=error, duration_s=_elapsed(start))
    ok = False
    hostname: str | None = None
    broken_at: float | None = None
    exchanges = 0
    failure: str | None = None
    with sock, sock.makefile("rb") as reader:
        sock.settimeout(timeout_s)
        try:
            hostname = _read_line(reader).decode("utf-8", "replace").strip()
            for seq in range(HOLD_MAX_EXCHANGES):
                if stop.is_set() or time.monotonic() - start >= duration_s:
                    break
                message = f"hold {seq} {time.time():.6f}\n".encode()
                sock.sendall(message)
                echoed = _read_line(reader)
                if echoed != message:
                    raise ValueError("echo mismatch")
                exchanges += 1
                remaining = duration_s - (time.monotonic() - start)
                if remaining <= 0:
                    break
                stop.wait(min(max(interval_s, MIN_INTERVAL_S), remaining))
            ok = True
        except Exception as exc:
            failure = error_text(exc) if not isinstance(exc, ValueError) else str(exc)
            broken_at = _elapsed(start)
    return HoldReply(
        target=target,
        ok=ok,
        connected=True,
        hostname=hostname,
        broken_at_s=broken_at,
        exchanges=exchanges,
        error=failure,
        stopped_early=stop.is_set(),
        duration_s=_elapsed(start),
    )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100); 0.0 for an empty one."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def run_rr(host: str, port: int, duration_s: float, timeout_s: float = 3.0) -> RrReply:
    """Request/response rate and latency, netperf TCP_RR's way: one connection, one
    transaction in flight, a 2-byte request echoed back, for ``duration_s``."""
    target = f"{host}:{port}"
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except Exception as exc:
        return RrReply(target=target, error=f"connect: {error_text(exc)}", duration_s=_elapsed(start))
    latencies: list[float] = []
    failure: str | None = None
    with sock, sock.makefile("rb") as reader:
        sock.settimeout(timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            _read_line(reader)  # the greeting
            begin = time.monotonic()
            while time.monotonic() - begin < duration_s:
                sent = time.perf_counter()
                sock.sendall(b"r\n")
                if _read_line(reader) != b"r\n":
                    raise ValueError("echo mismatch")
                latencies.append((time.perf_counter() - sent) * 1e6)
        except Exception as exc:
            failure = error_text(exc) if not isinstance(exc, ValueError) else str(exc)
        elapsed = time.monotonic() - begin if latencies else 0.0
    latencies.sort()
    return RrReply(
        target=target,
        ok=failure is None and bool(latencies),
        exchanges=len(latencies),
        per_second=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        p50_us=round(percentile(latencies, 50), 1),
        p90_us=round(percentile(latencies, 90), 1),
        p99_us=round(percentile(latencies, 99), 1),
        error=failure,
        duration_s=_elapsed(start),
    )


def cmd_rr(args: argparse.Namespace) -> int:
    _emit(run_rr(args.host, args.port, args.duration_s, args.timeout_s).to_dict())
    return 0


def cmd_dns(args: argparse.Namespace) -> int:
    """`dns` entry."""
    _emit(probe_dns(args.name, args.timeout_s).to_dict())
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    """`tcp` and `udp` entry (same arguments, same result shape)."""
    if args.command == "tcp":
        _emit(probe_tcp(args.host, args.port, args.timeout_s).to_dict())
    else:
        _emit(probe_udp(args.host, args.port, args.timeout_s).to_dict())
    return 0


def cmd_http(args: argparse.Namespace) -> int:
    """`http` entry."""
    _emit(probe_http(args.url, args.timeout_s).to_dict())
    return 0


def cmd_ping(args: argparse.Namespace) -> int:
    """`ping` entry."""
    _emit(probe_ping(args.host, args.size, args.count, args.timeout_s, args.df, args.interval_s).to_dict())
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """`load` entry: SIGTERM ends the run early but the result is still written."""
    stop = StopFlag()
    _install_stop_handlers(stop)
    result = run_load(args.url, args.duration_s, args.interval_s, args.timeout_s, stop)
    _emit(result.to_dict(), args.out)
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    """`hold` entry: SIGTERM ends the run early but the result is still written."""
    stop = StopFlag()
    _install_stop_handlers(stop)
    result = run_hold(args.host, args.port, args.duration_s, args.interval_s, args.timeout_s, stop)
    _emit(result.to_dict(), args.out)
    return 0


# ================================================================================================
# command line
# ================================================================================================


def _port(text: str, allow_zero: bool = False) -> int:
    """argparse type for ports (0 = 'any free port' only where binding)."""
    value = int(text)
    if not (0 if allow_zero else 1) <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _bind_port(text: str) -> int:
    """Port for `serve`; 0 lets the kernel choose (the startup JSON reports it)."""
    return _port(text, allow_zero=True)


def _positive(text: str) -> float:
    """argparse type for durations/timeouts, capped so nothing runs unbounded."""
    value = float(text)
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be in (0, 86400]: {value}")
    return value


def _non_negative(text: str) -> float:
    """argparse type for intervals (0 = back to back)."""
    value = float(text)
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be in [0, 86400]: {value}")
    return value


def _bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """argparse type factory for integers in lo..hi."""

    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}: {value}")
        return value

    return parse


def build_parser(cls: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """All subcommands; argparse exits 2 on bad arguments, as the harness expects."""
    parser = cls(prog="agent.py", description="Swarm overlay probe agent")
    parser.add_argument("--version", action="version", version=AGENT_VERSION)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP/UDP/TCP probe servers")
    p.add_argument("--http-port", type=_bind_port, default=8080)
    p.add_argument("--udp-port", type=_bind_port, default=9090)
    p.add_argument("--tcp-port", type=_bind_port, default=9091)
    p.add_argument("--bind", default="0.0.0.0", help="listen address (default: all IPv4)")
    p.add_argument("--control-port", type=_port, default=None, help="also take commands as POST /run here")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("health", help="exit 0 when the local serve answers /health with 200")
    p.add_argument("--http-port", type=_port, default=8080)
    p.add_argument("--timeout-s", type=_positive, default=2.0)
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("ifaces", help="list the network interfaces this container sees")
    p.set_defaults(func=cmd_ifaces)

    p = sub.add_parser("dns", help="resolve NAME to IPv4 addresses")
    p.add_argument("name")
    p.add_argument("--type", choices=["A"], default="A")
    p.add_argument("--timeout-s", type=_positive, default=5.0)
    p.set_defaults(func=cmd_dns)

    for op in ("tcp", "udp"):
        p = sub.add_parser(op, help=f"{op} dial to a serve instance")
        p.add_argument("host")
        p.add_argument("port", type=_port)
        p.add_argument("--timeout-s", type=_positive, default=3.0)
        p.set_defaults(func=cmd_dial)

    p = sub.add_parser("http", help="GET a URL")
    p.add_argument("url")
    p.add_argument("--timeout-s", type=_positive, default=3.0)
    p.set_defaults(func=cmd_http)

    p = sub.add_parser("ping", help="ICMP echo via a raw socket")
    p.add_argument("host")
    p.add_argument("--size", type=_bounded_int(0, PING_MAX_SIZE), default=56)
    p.add_argument("--count", type=_bounded_int(1, PING_MAX_COUNT), default=1)
    p.add_argument("--timeout-s", type=_positive, default=2.0)
    p.add_argument("--interval-s", type=_non_negative, default=0.2)
    p.add_argument("--df", action="store_true", help="set Don't Fragment (IP_PMTUDISC_DO)")
    p.set_defaults(func=cmd_ping)

    p = sub.add_parser("batch", help="run a JSON list of probes from stdin concurrently")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("load", help="sequential GETs for --duration-s")
    p.add_argument("url")
    p.add_argument("--duration-s", type=_positive, required=True)
    p.add_argument("--interval-s", type=_non_negative, default=0.05)
    p.add_argument("--timeout-s", type=_positive, default=2.0)
    p.add_argument("--out", default=None, help="write the JSON here instead of stdout")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("rr", help="TCP request/response rate and latency for --duration-s")
    p.add_argument("host")
    p.add_argument("port", type=_port)
    p.add_argument("--duration-s", type=_positive, required=True)
    p.add_argument("--timeout-s", type=_positive, default=3.0)
    p.set_defaults(func=cmd_rr)

    p = sub.add_parser("hold", help="hold one TCP connection for --duration-s")
    p.add_argument("host")
    p.add_argument("port", type=_port)
    p.add_argument("--duration-s", type=_positive, required=True)
    p.add_argument("--interval-s", type=_positive, default=1.0)
    p.add_argument("--timeout-s", type=_positive, default=3.0)
    p.add_argument("--out", default=None, help="write the JSON here instead of stdout")
    p.set_defaults(func=cmd_hold)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and dispatch; returns the process exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
