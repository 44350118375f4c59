"""A failed or timed-out command raises an error that carries its Result, with the same one line."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import pytest

from harness.transport.result import NO_EXIT_STATUS, CommandError, CommandTimeout, Result
from harness.transport.ssh import SSHHost


def test_check_carries_the_result_and_keeps_its_message() -> None:
    res = Result("node1", "docker ps", 3, "out line", "err line", 0.2)
    with pytest.raises(CommandError) as exc:
        res.check(hint="look at dockerd")
    assert exc.value.result is res
    assert exc.value.one_line() == "on node1: `docker ps` exited 3: err line | out line (look at dockerd)"
    assert not isinstance(exc.value, CommandTimeout)


def test_errors_survive_pickling_with_their_result() -> None:
    res = Result("node2", "sleep 9", NO_EXIT_STATUS, "partial", "", 2.0)
    again = pickle.loads(pickle.dumps(CommandTimeout("slow", "wait", res, 2.0)))
    assert isinstance(again, CommandTimeout)
    assert (again.message, again.hint, again.result, again.timeout_s) == ("slow", "wait", res, 2.0)
    plain = pickle.loads(pickle.dumps(CommandError("failed", "", res)))
    assert (plain.message, plain.result) == ("failed", res)


class _HangingChannel:
    """A channel that prints a little on both streams, then never exits."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.status_event = threading.Event()  # never set: no exit status arrives
        self._sent = {"out": False, "err": False}

    def settimeout(self, timeout_s: float) -> None:
        pass

    def exec_command(self, command: str) -> None:
        self.command = command

    def _recv(self, stream: str, data: bytes) -> bytes:
        if not self._sent[stream]:
            self._sent[stream] = True
            return data
        self.closed.wait()
        return b""

    def recv(self, size: int) -> bytes:
        return self._recv("out", b"started\n")

    def recv_stderr(self, size: int) -> bytes:
        return self._recv("err", b"warming up\n")

    def close(self) -> None:
        self.closed.set()

    def recv_exit_status(self) -> int:
        raise AssertionError("a timed-out command has no exit status to wait for")


class _Transport:
    def __init__(self, chan: _HangingChannel) -> None:
        self.chan = chan

    def open_session(self, timeout: float) -> _HangingChannel:
        return self.chan


class _Client:
    def __init__(self, chan: _HangingChannel) -> None:
        self.transport = _Transport(chan)

    def get_transport(self) -> _Transport:
        return self.transport


def test_a_timeout_carries_the_partial_result_and_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    host = SSHHost("node3", "198.18.0.13", "root", Path("/nonexistent/key"), Path("/nonexistent/kh"))
    chan = _HangingChannel()
    monkeypatch.setattr(host, "client", lambda: _Client(chan))
    with pytest.raises(CommandTimeout) as exc:
        host.run("tail -f /var/log/syslog; secret-token", timeout_s=0.3, redact=["secret-token"])
    err = exc.value
    assert isinstance(err, CommandError) and chan.closed.is_set()
    assert err.message == "on node3: `tail -f /var/log/syslog; <redacted>` did not finish within 0s"
    assert err.timeout_s == 0.3
    assert err.result.host == "node3" and err.result.command == "tail -f /var/log/syslog; <redacted>"
    assert err.result.exit_status == NO_EXIT_STATUS and err.result.failed
    assert (err.result.stdout, err.result.stderr) == ("started\n", "warming up\n")
    assert err.result.duration_s >= 0.3
