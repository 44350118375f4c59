"""Real-socket tests for the in-container probe agent (harness/probe/agent.py).

The agent ships alone into containers, so it is exercised the way the harness uses
it: as a separate ``python3 agent.py ...`` process talking to a ``serve`` process
on 127.0.0.1.  Only the MTU/EMSGSIZE corner cases, which loopback (MTU 65536)
cannot produce, are tested in-process with a fake socket.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import types
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.probe.agent import BROKEN_EXIT_CODE
from harness.retry import NotYet, eventually

AGENT = Path(__file__).resolve().parents[2] / "harness" / "probe" / "agent.py"
# -I: isolated mode, so cwd/PYTHONPATH cannot leak `harness` into the agent.
PY = [sys.executable, "-I", str(AGENT)]
HOSTNAME = socket.gethostname()
SERVER_ENV = {
    "PROBE_VERSION": "v-test",
    "PROBE_NODE": "node-1",
    "PROBE_SLOT": "3",
    "PROBE_TASK": "task-abc",
}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _free_ports() -> tuple[int, int, int]:
    """Two distinct free TCP ports (http, tcp) and one free UDP port, chosen by the kernel."""
    with contextlib.ExitStack() as stack:
        socks = []
        for kind in (socket.SOCK_STREAM, socket.SOCK_STREAM, socket.SOCK_DGRAM):
            sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        http_port, tcp_port, udp_port = (s.getsockname()[1] for s in socks)
    return http_port, tcp_port, udp_port


def _closed_port() -> int:
    """A TCP/UDP port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Child environment without proxy variables and without a stray PROBE_FAIL_START."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("PROBE_FAIL_START", None)
    env.update(extra or {})
    return env


def run_agent(*args: str, stdin: str | None = None, timeout: float = 15.0) -> tuple[int, Any]:
    """Run one agent command; returns (exit code, parsed stdout JSON or None)."""
    proc = subprocess.run(
        [*PY, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=_env()
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) <= 1, f"more than one JSON document: {proc.stdout!r}"
    return proc.returncode, (json.loads(lines[0]) if lines else None)


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> int:
    """Stop a child we started, by its PID, escalating to SIGKILL if it ignores SIGTERM."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return proc.returncode


@dataclass
class Server:
    """A running `agent.py serve` on 127.0.0.1."""

    proc: subprocess.Popen[str]
    http_port: int
    tcp_port: int
    udp_port: int
    unhealthy_file: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _wait_ready(proc: subprocess.Popen[str], http_port: int, tcp_port: int, limit_s: float = 10.0) -> None:
    """Bounded wait until both TCP listeners accept (UDP is bound before them)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early with {proc.returncode}")
        try:
            for port in (http_port, tcp_port):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not become ready in time")


@contextlib.contextmanager
def start_server(unhealthy_file: Path) -> Iterator[Server]:
    """Start `serve` on free ports and always stop it by PID."""
    http_port, tcp_port, udp_port = _free_ports()
    env = _env({**SERVER_ENV, "PROBE_UNHEALTHY_FILE": str(unhealthy_file)})
    proc = subprocess.Popen(
        [
            *PY,
            "serve",
            "--bind",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            "--tcp-port",
            str(tcp_port),
            "--udp-port",
            str(udp_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_ready(proc, http_port, tcp_port)
        yield Server(proc, http_port, tcp_port, udp_port, unhealthy_file)
    finally:
        _stop(proc)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("probe") / "unhealthy") as srv:
        yield srv


@pytest.fixture(scope="module")
def agent_module() -> Iterator[types.ModuleType]:
    """The agent imported in-process, for the cases loopback cannot produce."""
    spec = importlib.util.spec_from_file_location("probe_agent_under_test", AGENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Registered while it loads and runs: dataclasses look their module up by name.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


# --------------------------------------------------------------------------------------------------
# packaging / CLI contract
# --------------------------------------------------------------------------------------------------


def test_agent_imports_only_stdlib() -> None:
    """The file is copied alone into a bare container: no third-party or harness imports."""
    tree = ast.parse(AGENT.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            modules.add((node.module or "").split(".")[0])
    assert modules - set(sys.stdlib_module_names) == set()


def test_version() -> None:
    proc = subprocess.run([*PY, "--version"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "1"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["tcp", "127.0.0.1"],
        ["tcp", "127.0.0.1", "notaport"],
        ["udp", "127.0.0.1", "70000"],
        ["ping", "127.0.0.1", "--size", "-1"],
        ["dns", "x", "--type", "AAAA"],
        ["load", "http://127.0.0.1:1/"],
        ["hold", "127.0.0.1", "1"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    code, doc = run_agent(*argv)
    assert code == 2
    assert doc is None


def test_fail_start_env_exits_with_the_broken_code() -> None:
    proc = subprocess.run(
        [*PY, "serve", "--bind", "127.0.0.1", "--http-port", "0", "--tcp-port", "0", "--udp-port", "0"],
        capture_output=True,
        text=True,
        timeout=10,
        env=_env({"PROBE_FAIL_START": "1"}),
    )
    assert proc.returncode == BROKEN_EXIT_CODE == 97
    assert json.loads(proc.stdout)["ok"] is False


def test_serve_reports_ports_and_exits_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [*PY, "serve", "--bind", "127.0.0.1", "--http-port", "0", "--tcp-port", "0", "--udp-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())  # printed once all sockets are bound
        assert ready["ok"] is True and ready["pid"] == proc.pid
        assert all(ready[k] > 0 for k in ("http_port", "tcp_port", "udp_port"))
        assert run_agent("tcp", "127.0.0.1", str(ready["tcp_port"]))[1]["ok"] is True
    finally:
        code = _stop(proc)
        if proc.stdout:
            proc.stdout.close()
    assert code == 0


def test_serve_port_in_use_fails(server: Server) -> None:
    proc = subprocess.run(
        [*PY, "serve", "--bind", "127.0.0.1", "--http-port", str(server.http_port), "--tcp-port", "0"],
        capture_output=True,
        text=True,
        timeout=10,
        env=_env(),
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"].startswith("EADDRINUSE")


# --------------------------------------------------------------------------------------------------
# serve endpoints, checked directly
# --------------------------------------------------------------------------------------------------


def test_http_identity_and_keepalive(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    try:
        for _ in range(2):  # two requests on one keep-alive connection
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200
            assert int(resp.headers["Content-Length"]) == len(body)
            doc = json.loads(body)
            assert doc == {
                "hostname": HOSTNAME,
                "version": "v-test",
                "node": "node-1",
                "slot": "3",
                "task": "task-abc",
                "client": "127.0.0.1",
            }
        conn.request("GET", "/nope")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404
    finally:
        conn.close()


def test_bytes_body_is_deterministic_and_hashed(server: Server) -> None:
    n = 1024 * 1024 + 3
    with urllib.request.urlopen(f"{server.base}/bytes?n={n}", timeout=5) as resp:
        body = resp.read()
        digest = resp.headers["X-Sha256"]
    assert body == (bytes(range(256)) * (n // 256 + 1))[:n]
    assert digest == hashlib.sha256(body).hexdigest()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.base}/bytes?n=abc", timeout=5)
    assert info.value.code == 400
    info.value.close()


def test_tcp_server_greets_then_echoes_lines(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline() == HOSTNAME.encode() + b"\n"
        for line in (b"one\n", b"two words\n"):
            sock.sendall(line)
            assert reader.readline() == line
        reader.close()


def test_udp_server_echoes_with_hostname(server: Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hello", ("127.0.0.1", server.udp_port))
        data, _ = sock.recvfrom(65535)
    assert json.loads(data) == {"hostname": HOSTNAME, "echo": "hello"}


# --------------------------------------------------------------------------------------------------
# dial subcommands
# --------------------------------------------------------------------------------------------------


def test_dns() -> None:
    code, doc = run_agent("dns", "localhost")
    assert code == 0
    assert doc["op"] == "dns" and doc["name"] == "localhost"
    assert "127.0.0.1" in doc["addresses"] and doc["error"] is None
    assert doc["addresses"] == sorted(set(doc["addresses"]))


def test_dns_nxdomain_mapping(agent_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """EAI_NONAME becomes "NXDOMAIN". Faked in-process: a real lookup of an unknown
    name would leave this machine (the lab tests cover real NXDOMAIN from Docker's DNS)."""

    def _no_name(*_a: Any, **_k: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(agent_module.socket, "getaddrinfo", _no_name)
    doc = agent_module.probe_dns("gone.example").to_dict()
    assert doc["addresses"] == [] and doc["error"] == "NXDOMAIN" and doc["ok"] is False


def test_tcp(server: Server) -> None:
    code, doc = run_agent("tcp", "127.0.0.1", str(server.tcp_port))
    assert code == 0
    assert doc["ok"] is True and doc["hostname"] == HOSTNAME and doc["error"] is None
    assert doc["target"] == f"127.0.0.1:{server.tcp_port}" and doc["duration_s"] >= 0
    code, doc = run_agent("tcp", "127.0.0.1", str(_closed_port()), "--timeout-s", "1")
    assert code == 0
    assert doc["ok"] is False and doc["hostname"] is None and doc["error"].startswith("ECONNREFUSED")
    # Something that accepts but never greets (the HTTP port) is a failure, after the timeout.
    code, doc = run_agent("tcp", "127.0.0.1", str(server.http_port), "--timeout-s", "0.3")
    assert doc["ok"] is False and doc["connected"] is True and doc["error"] == "timeout"


def test_udp(server: Server) -> None:
    code, doc = run_agent("udp", "127.0.0.1", str(server.udp_port))
    assert code == 0
    assert doc["op"] == "udp" and doc["ok"] is True and doc["hostname"] == HOSTNAME
    code, doc = run_agent("udp", "127.0.0.1", str(_closed_port()), "--timeout-s", "1")
    assert code == 0
    assert doc["ok"] is False and doc["error"].startswith("ECONNREFUSED")


def test_http_root_bytes_health_slow(server: Server) -> None:
    code, doc = run_agent("http", f"{server.base}/")
    assert code == 0
    assert doc["ok"] is True and doc["status"] == 200
    assert doc["hostname"] == HOSTNAME and doc["version"] == "v-test"

    code, doc = run_agent("http", f"{server.base}/bytes?n=300000")
    assert doc["ok"] is True and doc["bytes"] == 300000 and doc["intact"] is True

    code, doc = run_agent("http", f"{server.base}/health")
    assert doc["ok"] is True and doc["status"] == 200
    server.unhealthy_file.touch()
    try:
        code, doc = run_agent("http", f"{server.base}/health")
        assert code == 0
        assert doc["ok"] is False and doc["status"] == 503 and doc["error"] == "HTTP 503"
    finally:
        server.unhealthy_file.unlink()

    code, doc = run_agent("http", f"{server.base}/slow?ms=300")
    assert doc["ok"] is True and doc["duration_s"] >= 0.3 and doc["version"] == "v-test"
    code, doc = run_agent("http", f"{server.base}/slow?ms=2000", "--timeout-s", "0.2")
    assert code == 0
    assert doc["ok"] is False and doc["error"] == "timeout"

    code, doc = run_agent("http", f"http://127.0.0.1:{_closed_port()}/")
    assert code == 0
    assert doc["ok"] is False and doc["status"] is None and doc["error"].startswith("ECONNREFUSED")


# --------------------------------------------------------------------------------------------------
# ping
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")
def test_ping_df_1000_on_loopback() -> None:
    code, doc = run_agent(
        "ping", "127.0.0.1", "--size", "1000", "--df", "--count", "3", "--interval-s", "0.05"
    )
    assert code == 0
    assert doc["ok"] is True and doc["error"] is None
    assert (doc["sent"], doc["received"], len(doc["rtt_ms"])) == (3, 3, 3)
    assert doc["size"] == 1000 and doc["df"] is True and doc["target"] == "127.0.0.1"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user")
def test_ping_without_cap_net_raw_reports_eperm() -> None:
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no system python3 runnable by an unprivileged user")
    proc = subprocess.run(
        [system_python, "-I", str(AGENT), "ping", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=10,
        user=65534,
        env=_env(),
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot run the agent as uid 65534 here: {proc.stderr.strip()[:200]}")
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["error"].startswith("EPERM")


def test_ping_emsgsize_reports_path_mtu(
    agent_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loopback's MTU is 65536, so the DF-too-big path is driven through a fake raw socket."""

    class FakeRawSocket:
        def __init__(self, *args: Any) -> None:
            self.opts: dict[tuple[int, int], int] = {}

        def __enter__(self) -> FakeRawSocket:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def setsockopt(self, level: int, opt: int, value: int) -> None:
            self.opts[(level, opt)] = value

        def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
            assert self.opts[(socket.IPPROTO_IP, 10)] == 2  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
            raise OSError(errno.EMSGSIZE, "Message too long")

        def connect(self, addr: tuple[str, int]) -> None:
            return None

        def getsockopt(self, level: int, opt: int) -> int:
            assert (level, opt) == (socket.IPPROTO_IP, 14)
            return 1450

    monkeypatch.setattr(agent_module.socket, "socket", FakeRawSocket)
    doc = agent_module.probe_ping("127.0.0.1", size=1473, count=2, timeout_s=1.0, df=True).to_dict()
    assert doc["ok"] is False and doc["sent"] == 0 and doc["received"] == 0
    assert doc["error"] == "EMSGSIZE (exceeds path MTU 1450)"


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")
def test_path_mtu_of_loopback(agent_module: types.ModuleType) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        # lo has MTU 65536; the kernel caps the route MTU it reports at 65535.
        assert agent_module._path_mtu(sock, "127.0.0.1") in (65535, 65536)


def test_icmp_frag_needed_is_matched_to_our_echo(agent_module: types.ModuleType) -> None:
    """A router's 'fragmentation needed' quoting our request becomes the ping error."""
    ident, seq, payload = 0x1234, 7, b"x" * 16
    request = agent_module._echo_request(ident, seq, payload)
    assert agent_module._checksum(request) == 0  # a valid checksum sums to zero
    inner_ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(request), 0, 0x4000, 64, 1, 0, b"\0" * 4, b"\0" * 4
    )
    icmp_err = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + inner_ip + request[:8]
    outer_ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp_err), 0, 0, 64, 1, 0, b"\0" * 4, b"\0" * 4)
    packet = outer_ip + icmp_err
    assert agent_module._classify_icmp(packet, ident, seq, payload) == (
        "error",
        "ICMP fragmentation needed (next-hop MTU 1400)",
    )
    assert agent_module._classify_icmp(packet, ident, seq + 1, payload) is None
    assert agent_module._classify_icmp(outer_ip + request, ident, seq, payload) is None  # our own request


# --------------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------------


def test_batch_mixed_row(server: Server) -> None:
    closed = _closed_port()
    items: list[dict[str, Any]] = [
        {"id": "dns-ok", "op": "dns", "name": "localhost"},
        {"id": "tcp-ok", "op": "tcp", "host": "127.0.0.1", "port": server.tcp_port},
        {"id": "tcp-closed", "op": "tcp", "host": "127.0.0.1", "port": closed, "timeout_s": 1},
        {"id": "udp-ok", "op": "udp", "host": "127.0.0.1", "port": server.udp_port},
        {"id": "http-ok", "op": "http", "url": f"{server.base}/"},
        {"id": "bytes", "op": "http", "url": f"{server.base}/bytes?n=5000"},
        {"op": "http", "url": f"{server.base}/slow?ms=200"},  # no id: none copied
        {"id": 7, "op": "teleport"},
        {"id": "bad-port", "op": "tcp", "host": "127.0.0.1", "port": "80"},
    ]
    if os.geteuid() == 0:
        items.append({"id": "ping", "op": "ping", "host": "127.0.0.1", "size": 1000, "df": True})
    start = time.monotonic()
    code, results = run_agent("batch", stdin=json.dumps(items))
    assert code == 0
    assert isinstance(results, list) and len(results) == len(items)
    by_id = {r.get("id"): r for r in results}
    assert [r.get("id") for r in results] == [i.get("id") for i in items]
    assert "127.0.0.1" in by_id["dns-ok"]["addresses"]
    assert by_id["tcp-ok"]["ok"] is True and by_id["tcp-ok"]["hostname"] == HOSTNAME
    assert by_id["tcp-closed"]["ok"] is False and by_id["tcp-closed"]["error"].startswith("ECONNREFUSED")
    assert by_id["udp-ok"]["ok"] is True
    assert by_id["http-ok"]["version"] == "v-test"
    assert by_id["bytes"]["intact"] is True and by_id["bytes"]["bytes"] == 5000
    assert "id" not in results[6] and results[6]["ok"] is True
    assert by_id[7]["ok"] is False and "unknown op" in by_id[7]["error"]
    assert by_id["bad-port"]["ok"] is False and by_id["bad-port"]["error"].startswith("bad item")
    if os.geteuid() == 0:
        assert by_id["ping"]["ok"] is True
    assert time.monotonic() - start < 5  # concurrent, not a sum of timeouts


@contextlib.contextmanager
def _peer_port_echo() -> Iterator[int]:
    """A UDP echo that answers with the sender's source port as its hostname."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    done = threading.Event()

    def _loop() -> None:
        while not done.is_set():
            try:
                data, peer = sock.recvfrom(65_535)
            except TimeoutError:
                continue
            sock.sendto(json.dumps({"hostname": str(peer[1]), "echo": data.decode()}).encode(), peer)

    thread = threading.Thread(target=_loop, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        done.set()
        thread.join()
        sock.close()


def test_udp_source_port_pins_the_flow_and_a_taken_one_is_an_error() -> None:
    """Successive probes with one ``source_port`` leave from it (one flow to IPVS);
    a port another socket holds is the probe's error, not a crash."""
    pinned = _closed_port()
    with _peer_port_echo() as port, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("", 0))
        op = {"op": "udp", "host": "127.0.0.1", "port": port, "timeout_s": 2}
        seen = []
        for _ in range(2):
            code, (reply,) = run_agent("batch", stdin=json.dumps([{**op, "source_port": pinned}]))
            assert code == 0 and reply["ok"] is True
            seen.append(reply["hostname"])
        assert seen == [str(pinned), str(pinned)]
        _, (free,) = run_agent("batch", stdin=json.dumps([op]))
        assert free["ok"] is True and free["hostname"] != str(pinned)
        _, (taken,) = run_agent("batch", stdin=json.dumps([{**op, "source_port": holder.getsockname()[1]}]))
        assert taken["ok"] is False and "EADDRINUSE" in taken["error"]
        _, (bad,) = run_agent("batch", stdin=json.dumps([{**op, "source_port": 70000}]))
        assert bad["ok"] is False and "'source_port' must be an integer" in bad["error"]


@pytest.mark.parametrize("stdin", ["not json", '{"op": "dns"}'])
def test_batch_bad_stdin_exits_2(stdin: str) -> None:
    code, doc = run_agent("batch", stdin=stdin)
    assert code == 2 and doc["ok"] is False


# --------------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------------


def test_load_counts_versions(server: Server) -> None:
    code, doc = run_agent("load", f"{server.base}/", "--duration-s", "0.8", "--interval-s", "0.02")
    assert code == 0
    assert doc["op"] == "load" and doc["sent"] >= 5 and doc["failed"] == 0 and doc["errors"] == {}
    assert doc["versions"] == {"v-test": doc["sent"]}
    assert doc["hostnames"] == {HOSTNAME: doc["sent"]}
    assert 0 < doc["longest_gap_s"] < 0.5
    assert doc["first_failure_s"] is None and doc["last_failure_s"] is None


def test_load_counts_each_second_answered_and_failed(server: Server) -> None:
    code, doc = run_agent("load", f"{server.base}/", "--duration-s", "2.2", "--interval-s", "0.05")
    assert code == 0
    assert len(doc["per_second"]) == 3, "seconds 0, 1 and the started third"
    assert sum(a for a, _ in doc["per_second"]) == doc["sent"] and all(b == 0 for _, b in doc["per_second"])
    assert all(a > 5 for a, _ in doc["per_second"][:2]), doc["per_second"]


def test_load_against_closed_port_counts_errors() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    code, doc = run_agent("load", url, "--duration-s", "0.4", "--interval-s", "0.05")
    assert code == 0
    assert doc["sent"] >= 2 and doc["failed"] == doc["sent"]
    assert doc["errors"] == {"ECONNREFUSED: Connection refused": doc["sent"]}
    assert doc["versions"] == {} and doc["first_failure_s"] <= doc["last_failure_s"]
    assert doc["per_second"] == [[0, doc["sent"]]], "every failure counted in its second"


def test_load_sigterm_writes_out_file(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.Popen(
        [*PY, "load", f"{server.base}/", "--duration-s", "60", "--out", str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        time.sleep(1.0)  # past interpreter start-up, so the handler is installed
        os.kill(proc.pid, signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=5)
    finally:
        _stop(proc, signal.SIGKILL)
    assert proc.returncode == 0 and stdout == ""
    doc = json.loads(out.read_text())
    assert doc["stopped_early"] is True and doc["sent"] > 0 and doc["failed"] == 0
    assert doc["duration_s"] < 10


_EVENT_SET_IN_HANDLER = """
import signal, threading, time
stop = threading.Event()
signal.signal(signal.SIGALRM, lambda s, f: stop.set())
signal.setitimer(signal.ITIMER_REAL, 0.05)
with stop._cond:  # where Event.wait() is when the signal lands between its steps
    time.sleep(0.3)
print("returned")
"""


def test_an_event_set_from_a_signal_handler_can_hang() -> None:
    """Why the agent's stop flag is not a threading.Event: the handler blocks on the
    lock its own thread holds. If this ever returns, the hazard is gone, not the need."""
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-I", "-c", _EVENT_SET_IN_HANDLER], capture_output=True, timeout=3)


def test_stop_flag_set_by_a_signal_wakes_the_main_thread_and_other_threads() -> None:
    from harness.probe.agent import StopFlag

    flag = StopFlag()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(flag.wait(10)))
    waiter.start()
    previous = signal.signal(signal.SIGALRM, lambda s, f: flag.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        started = time.monotonic()
        assert flag.wait(10) is True
        waited_s = time.monotonic() - started
        waiter.join(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert waited_s < 5 and woke == [True] and flag.is_set()
    assert flag.wait(0) is True  # stays set: a late waiter returns at once


# --------------------------------------------------------------------------------------------------
# hold
# --------------------------------------------------------------------------------------------------


def test_hold_keeps_connection(server: Server) -> None:
    args = ("hold", "127.0.0.1", str(server.tcp_port), "--duration-s", "1", "--interval-s", "0.1")
    code, doc = run_agent(*args)
    assert code == 0
    assert doc["ok"] is True and doc["broken_at_s"] is None and doc["error"] is None
    # Several exchanges on one connection is the property; how many fit in 1 s is the
    # machine's load (3 of the nominal 10 once, beside a lab and a parallel unit run).
    assert doc["exchanges"] >= 2 and doc["hostname"] == HOSTNAME


def test_hold_connect_refused() -> None:
    code, doc = run_agent("hold", "127.0.0.1", str(_closed_port()), "--duration-s", "5", "--timeout-s", "1")
    assert code == 0
    assert (
        doc["ok"] is False and doc["connected"] is False and doc["error"].startswith("connect: ECONNREFUSED")
    )


def _established_to(port: int) -> None:
    """Raise NotYet until a TCP connection to 127.0.0.1:``port`` is established."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    if not any(r[2] == want and r[3] == "01" for r in rows):
        raise NotYet(f"no established connection to port {port}")


def test_hold_detects_server_death(tmp_path: Path) -> None:
    """Killing the serving process mid-hold must show up as a break, well before --duration-s."""
    with start_server(tmp_path / "unhealthy") as victim:
        hold = subprocess.Popen(
            [*PY, "hold", "127.0.0.1", str(victim.tcp_port), "--duration-s", "20", "--interval-s", "0.1"],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            # Kill only once the hold is connected: on a loaded machine its interpreter may
            # take longer to start than any fixed sleep.
            eventually(lambda: _established_to(victim.tcp_port), 30, "the hold to connect", interval_s=0.1)
            time.sleep(0.5)  # a few exchanges at --interval-s 0.1 before the server dies
            _stop(victim.proc, signal.SIGKILL)
            stdout, _ = hold.communicate(timeout=8)
        finally:
            _stop(hold, signal.SIGKILL)
    doc = json.loads(stdout)
    assert doc["ok"] is False and doc["connected"] is True and doc["exchanges"] >= 1
    assert doc["broken_at_s"] is not None and 0 < doc["broken_at_s"] < 15
    assert doc["error"]


def test_hold_sigterm_writes_out_file(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "hold.json"
    proc = subprocess.Popen(
        [
            *PY,
            "hold",
            "127.0.0.1",
            str(server.tcp_port),
            "--duration-s",
            "60",
            "--interval-s",
            "0.1",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=5)
    finally:
        _stop(proc, signal.SIGKILL)
    assert proc.returncode == 0 and stdout == ""
    doc = json.loads(out.read_text())
    assert doc["ok"] is True and doc["stopped_early"] is True and doc["exchanges"] >= 3


# --------------------------------------------------------------------------------------------------
# health and graceful drain (rolling updates depend on both)
# --------------------------------------------------------------------------------------------------


def test_health_exit_status_follows_the_health_endpoint(server: Server) -> None:
    ok = subprocess.run([*PY, "health", "--http-port", str(server.http_port)], env=_env(), timeout=15)
    assert ok.returncode == 0
    server.unhealthy_file.touch()
    try:
        bad = subprocess.run(
            [*PY, "health", "--http-port", str(server.http_port)], env=_env(), timeout=15, capture_output=True
        )
    finally:
        server.unhealthy_file.unlink()
    assert bad.returncode == 1 and b"unhealthy" in bad.stderr
    closed = subprocess.run([*PY, "health", "--http-port", str(_closed_port())], env=_env(), timeout=15)
    assert closed.returncode == 1


def test_serve_keeps_answering_for_the_drain_period_after_sigterm(tmp_path: Path) -> None:
    http_port, tcp_port, udp_port = _free_ports()
    argv = [*PY, "serve", "--bind", "127.0.0.1", "--http-port", str(http_port)]
    argv += ["--tcp-port", str(tcp_port), "--udp-port", str(udp_port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=_env({"PROBE_DRAIN_S": "1.5"}))
    try:
        _wait_ready(proc, http_port, tcp_port)  # type: ignore[arg-type]
        os.kill(proc.pid, signal.SIGTERM)
        _code, doc = run_agent("http", f"http://127.0.0.1:{http_port}/")
        assert doc["ok"] is True, "a draining server must still answer"
        assert proc.wait(timeout=10) == 0
        _code, doc = run_agent("http", f"http://127.0.0.1:{http_port}/")
        assert doc["ok"] is False, "after the drain period the server is gone"
    finally:
        _stop(proc)


def test_ifaces_lists_loopback() -> None:
    code, doc = run_agent("ifaces")
    assert code == 0 and doc["ok"] is True and "lo" in doc["interfaces"]
    assert doc["hostname"] == HOSTNAME


def test_swarm_healthcheck_command_follows_the_agents_health(server: Server) -> None:
    """The bash healthcheck the updates suite gives its services: healthy while /health
    answers 200, unhealthy with the agent's unhealthy file, unhealthy with nothing listening."""
    from harness.swarm.updates import health_command

    def _exit(port: int) -> int:
        return subprocess.run(["bash", "-c", health_command(port)], timeout=30, capture_output=True).returncode

    assert _exit(server.http_port) == 0
    server.unhealthy_file.write_text("")
    try:
        assert _exit(server.http_port) != 0
    finally:
        server.unhealthy_file.unlink()
    assert _exit(server.http_port) == 0
    assert _exit(_free_ports()[0]) != 0


# --------------------------------------------------------------------------------------------------
# rr (request/response rate and latency)
# --------------------------------------------------------------------------------------------------


def test_rr_measures_rate_and_ordered_percentiles(server: Server) -> None:
    code, doc = run_agent("rr", "127.0.0.1", str(server.tcp_port), "--duration-s", "0.3")
    assert code == 0 and doc["ok"], doc
    assert doc["exchanges"] > 10 and doc["per_second"] > 0
    assert 0 < doc["p50_us"] <= doc["p90_us"] <= doc["p99_us"], doc


def test_rr_to_a_closed_port_says_refused(server: Server) -> None:
    closed = _free_ports()[0]
    code, doc = run_agent("rr", "127.0.0.1", str(closed), "--duration-s", "0.3")
    assert code == 0 and not doc["ok"] and doc["exchanges"] == 0
    assert doc["error"].startswith("connect: ECONNREFUSED"), doc


def test_percentile_is_nearest_rank(agent_module: types.ModuleType) -> None:
    values = [float(v) for v in range(1, 101)]
    assert [agent_module.percentile(values, q) for q in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert agent_module.percentile([], 50) == 0.0
    assert agent_module.percentile([7.0], 99) == 7.0


def test_a_burst_of_connections_is_queued_while_the_server_does_not_accept(agent_module: Any) -> None:
    """The matrix's sources connect to one task all at once; the listener must queue them
    all rather than drop SYNs (a dropped SYN is answered only by a retransmit 1 s later,
    a cell the matrix calls flaky). Nothing accepts here, so only the backlog holds them."""
    burst = 64
    for server_class in (agent_module._TCPEchoServer, agent_module._ProbeHTTPServer, agent_module._ControlServer):
        server = server_class(("127.0.0.1", 0), agent_module._TCPEchoHandler)
        clients: list[socket.socket] = []
        try:
            for _ in range(burst):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(server.server_address)
                clients.append(sock)
            deadline = time.monotonic() + 0.5
            connected: set[int] = set()
            while time.monotonic() < deadline and len(connected) < burst:
                for i, sock in enumerate(clients):
                    if i not in connected and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        with contextlib.suppress(OSError):
                            sock.getpeername()
                            connected.add(i)
                time.sleep(0.01)
            assert len(connected) == burst, f"{server_class.__name__}: {len(connected)} of {burst} handshakes done"
        finally:
            for sock in clients:
                sock.close()
            server.server_close()
