"""The agent's control port, driven the way the harness drives it, on loopback.

A real ``agent.py serve --control-port`` runs as a child process; the harness side
(``control_call``) talks to it through a stand-in for the SSH host whose "channel" is a
plain TCP socket, which offers the same ``sendall``/``recv``/``settimeout`` calls.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest

from harness.probe.agent_control import (
    ControlUnavailable,
    control_call,
    controllable,
    gwbridge_addresses,
    parse_response,
)
from harness.transport.result import CommandError, CommandTimeout
from tests.unit.test_probe_agent import PY, _env, _free_ports, _stop, _wait_ready
from tests.unit.test_probe_agent import agent_module as agent_module  # the fixture, by name


@dataclass
class LoopbackHost:
    """Connects every "channel" to the control port on loopback, from ``source``."""

    port: int
    source: str = "127.0.0.1"
    refuse: bool = False
    refuse_code: int = 2
    name: str = "node1"

    def open_tcp(self, address: str, port: int) -> Any:
        if self.refuse:
            text = {1: "Administratively prohibited", 2: "Connect failed"}[self.refuse_code]
            raise paramiko.ChannelException(self.refuse_code, text)
        return socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(self.source, 0))


@dataclass
class Control:
    host: LoopbackHost
    http_port: int
    unhealthy_file: Path

    def call(self, argv: list[str], stdin: Any = None, timeout_s: float = 20, **host: Any) -> Any:
        h = LoopbackHost(self.host.port, **host)
        return control_call(h, "node1", "172.18.0.3", argv, stdin, timeout_s)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Control]:
    http_port, tcp_port, udp_port = _free_ports()
    control_port, _, _ = _free_ports()
    unhealthy = tmp_path_factory.mktemp("control") / "unhealthy"
    ports = ["--http-port", str(http_port), "--tcp-port", str(tcp_port), "--udp-port", str(udp_port)]
    proc = subprocess.Popen(
        [*PY, "serve", "--bind", "127.0.0.1", *ports, "--control-port", str(control_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env({"PROBE_VERSION": "v-test", "PROBE_UNHEALTHY_FILE": str(unhealthy)}),
    )
    try:
        _wait_ready(proc, http_port, control_port)
        yield Control(LoopbackHost(control_port), http_port, unhealthy)
    finally:
        _stop(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_health_answers_from_the_running_process_and_follows_the_unhealthy_file(control: Control) -> None:
    assert control.call(["health", "--http-port", str(control.http_port)]) == {"op": "health", "ok": True}
    control.unhealthy_file.write_text("")
    try:
        reply = control.call(["health", "--http-port", str(control.http_port)])
    finally:
        control.unhealthy_file.unlink()
    assert reply["ok"] is False and "503" in reply["error"]


def test_http_and_batch_give_what_the_command_line_prints(control: Control) -> None:
    url = f"http://127.0.0.1:{control.http_port}/"
    reply = control.call(["http", url, "--timeout-s", "2"])
    assert reply["ok"] is True and reply["version"] == "v-test"
    ops = [
        {"id": "web", "op": "http", "url": url},
        {"id": "nothing", "op": "tcp", "host": "127.0.0.1", "port": _closed_port()},
    ]
    replies = {r["id"]: r for r in control.call(["batch"], stdin=ops)}
    assert replies["web"]["ok"] is True
    assert replies["nothing"]["ok"] is False and "refused" in replies["nothing"]["error"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["http"], "the following arguments are required: url"),
        (["serve"], "`serve` with these arguments runs only as its own process"),
        (["load", "http://x/", "--duration-s", "1", "--out", "/tmp/x"], "runs only as its own process"),
        (["--help"], "--help and --version only on the command line"),
    ],
)
def test_bad_or_process_bound_commands_are_refused_with_the_reason(
    control: Control, argv: list[str], why: str
) -> None:
    with pytest.raises(CommandError) as exc:
        control.call(argv)
    assert "answered 400" in exc.value.message and why in exc.value.message, exc.value.message


def test_a_batch_that_is_not_a_list_is_refused(control: Control) -> None:
    with pytest.raises(CommandError, match="stdin must be a JSON list"):
        control.call(["batch"], stdin={"op": "http"})


def test_a_call_longer_than_its_timeout_is_a_timeout_naming_node_and_command(control: Control) -> None:
    url = f"http://127.0.0.1:{control.http_port}/"
    with pytest.raises(CommandTimeout) as exc:
        control.call(["load", url, "--duration-s", "3"], timeout_s=0.5)
    assert "on node1: agent `load" in exc.value.message and "within 0.5s" in exc.value.message


def test_a_client_other_than_the_gateway_is_refused_and_the_caller_told_to_use_exec(control: Control) -> None:
    with pytest.raises(ControlUnavailable, match="refused this client"):
        control.call(["health"], source="127.0.0.2")


def test_a_refused_channel_means_use_exec(control: Control) -> None:
    with pytest.raises(ControlUnavailable, match="Connect failed") as exc:
        control.call(["health"], refuse=True)
    assert not exc.value.prohibited  # nothing listening (yet): a starting task


def test_sshd_that_forwards_nothing_is_told_apart(control: Control) -> None:
    with pytest.raises(ControlUnavailable, match="prohibited") as exc:
        control.call(["health"], refuse=True, refuse_code=1)
    assert exc.value.prohibited


def test_default_gateway_is_read_from_the_route_table(agent_module: Any) -> None:
    table = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t0081130A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eth1\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    assert agent_module.default_gateway(table) == "172.18.0.1"
    assert agent_module.default_gateway(table.splitlines()[0] + "\n" + table.splitlines()[1]) is None


def test_response_parsing_and_which_commands_go_by_the_control_port() -> None:
    assert parse_response(b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{"a": 1}') == (200, {"a": 1})
    with pytest.raises(ValueError, match="not an HTTP response"):
        parse_response(b"garbage")
    assert controllable(["batch"]) and controllable(["load", "u", "--duration-s", "1"])
    assert not controllable(["load", "u", "--duration-s", "1", "--out", "/tmp/f"])
    assert not controllable(["ifaces"]) and not controllable([])


def test_gwbridge_addresses_come_from_the_network_inspect() -> None:
    inspect = {
        "Containers": {
            "abc": {"Name": "probe.1", "IPv4Address": "172.18.0.3/16"},
            "ingress-sbox": {"Name": "gateway_ingress-sbox", "IPv4Address": "172.18.0.2/16"},
            "noaddr": {"IPv4Address": ""},
        }
    }
    assert gwbridge_addresses(inspect) == {"abc": "172.18.0.3", "ingress-sbox": "172.18.0.2"}
    assert gwbridge_addresses({}) == {}
