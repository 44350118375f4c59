"""Paramiko SSH with host keys verified against the inventory's known_hosts.

An unknown or changed host key is always an error: the harness never trusts a
first connection. Each host keeps one connection; commands run on their own
channels, so many threads can share it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import paramiko
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from harness import interrupts
from harness.errors import HarnessError, HostKeyError, TransportError
from harness.inventory.schema import Inventory, Node
from harness.transport.result import NO_EXIT_STATUS, CommandError, CommandTimeout, Result

log = logging.getLogger(__name__)
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0
AUTH_TIMEOUT_S = 15.0
BANNER_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 120.0


class SSHHost:
    def __init__(
        self,
        name: str,
        address: str,
        user: str,
        key_path: Path,
        known_hosts_path: Path,
        port: int = 22,
    ) -> None:
        self.name = name
        self.address = address
        self.user = user
        self.key_path = key_path
        self.known_hosts_path = known_hosts_path
        self.port = port
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_node(cls, inventory: Inventory, node: Node) -> SSHHost:
        return cls(
            node.name,
            node.address,
            inventory.ssh.user,
            inventory.ssh.private_key_path,
            inventory.ssh.known_hosts_path,
            inventory.ssh.port,
        )

    def __repr__(self) -> str:
        return f"SSHHost({self.name}@{self.address})"

    # ------------------------------------------------------------- connect

    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts_path))
        except OSError as exc:
            raise HostKeyError(
                f"cannot read known_hosts {self.known_hosts_path}: {exc.strerror}",
                "fix ssh.known_hosts_path in the inventory",
            ) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        check_private_key(self.key_path)
        where = f"{self.name} ({self.address}:{self.port})"
        try:
            client.connect(
                self.address,
                port=self.port,
                username=self.user,
                key_filename=str(self.key_path),
                timeout=CONNECT_TIMEOUT_S,
                auth_timeout=AUTH_TIMEOUT_S,
                banner_timeout=BANNER_TIMEOUT_S,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise HostKeyError(
                f"host key of {where} does not match {self.known_hosts_path}",
                "the host was replaced or someone is intercepting; verify the host, then update known_hosts",
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            text = str(exc)
            if "not found in known_hosts" in text:
                raise HostKeyError(
                    f"host key of {where} is not in {self.known_hosts_path}",
                    "add the host's key to known_hosts (the harness never accepts unknown keys)",
                ) from None
            if isinstance(exc, paramiko.AuthenticationException):
                raise TransportError(
                    f"{where} rejected key {self.key_path} for user {self.user}",
                    "check ssh.user and ssh.private_key_path in the inventory",
                ) from None
            raise TransportError(
                f"SSH to {where} failed: {text}", "check that sshd runs on the host"
            ) from None
        except (OSError, EOFError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TransportError(
                f"cannot reach {where}: {reason}",
                "check the address and that the host is up and sshd is running",
            ) from None
        return client

    def client(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if self._client is None or transport is None or not transport.is_active():
                if self._client is not None:
                    self._client.close()
                self._client = self._new_client()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ------------------------------------------------------------- run

    def run(
        self,
        command: str,
        timeout_s: float = COMMAND_TIMEOUT_S,
        input_bytes: bytes | None = None,
        redact: Iterable[str] = (),
        stdin_path: Path | None = None,
    ) -> Result:
        """Run ``command``; stdout and stderr are drained concurrently.

        ``redact`` strings (join tokens) are replaced in the recorded command so
        they never reach logs, errors or reports.
        """
        shown = command
        for secret in redact:
            shown = shown.replace(secret, "<redacted>")
        started = time.monotonic()
        transport = self.client().get_transport()
        assert transport is not None
        try:
            chan = transport.open_session(timeout=CONNECT_TIMEOUT_S)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransportError(
                f"cannot open a session on {self.name}: {exc}", "check the host's sshd"
            ) from None
        chan.settimeout(timeout_s)
        chan.exec_command(command)
        out: list[bytes] = []
        err: list[bytes] = []

        def _drain(recv: Callable[[int], bytes], sink: list[bytes]) -> None:
            try:
                while True:
                    data = recv(65536)
                    if not data:
                        return
                    sink.append(data)
            except (TimeoutError, OSError):
                return

        readers = [
            threading.Thread(target=_drain, args=(chan.recv, out), daemon=True),
            threading.Thread(target=_drain, args=(chan.recv_stderr, err), daemon=True),
        ]
        for r in readers:
            r.start()
        if input_bytes is not None:
            chan.sendall(input_bytes)
            chan.shutdown_write()
        elif stdin_path is not None:
            with stdin_path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    chan.sendall(chunk)
            chan.shutdown_write()
        deadline = started + timeout_s
        for r in readers:
            r.join(max(0.0, deadline - time.monotonic()))
        timed_out = any(r.is_alive() for r in readers) or not chan.status_event.wait(
            max(0.0, deadline - time.monotonic())
        )
        if timed_out:
            chan.close()
            raise CommandTimeout(
                f"on {self.name}: `{shown}` did not finish within {timeout_s:.0f}s",
                "the host may be overloaded or the command hung; inspect it by hand",
                self._result(shown, NO_EXIT_STATUS, out, err, started),
                timeout_s,
            )
        status = chan.recv_exit_status()
        chan.close()
        result = self._result(shown, status, out, err, started)
        log.debug("%s: %s -> %d (%.2fs)", self.name, shown, status, result.duration_s)
        return result

    def _result(self, shown: str, status: int, out: list[bytes], err: list[bytes], started: float) -> Result:
        """The record of a command; after a timeout, of what it printed until then."""
        return Result(
            host=self.name,
            command=shown,
            exit_status=status,
            stdout=b"".join(list(out)).decode(errors="replace"),
            stderr=b"".join(list(err)).decode(errors="replace"),
            duration_s=time.monotonic() - started,
        )

    def open_tcp(self, address: str, port: int) -> paramiko.Channel:
        """A TCP connection made by the host's sshd to ``address:port`` (direct-tcpip).

        Raises ``paramiko.ChannelException`` when sshd refuses (forwarding disabled) or
        cannot connect, or does not answer within ``CONNECT_TIMEOUT_S`` (its connect still
        pending: the SSH connection itself is fine, so it is kept); ``TransportError`` when
        the SSH connection itself is gone."""
        transport = self.client().get_transport()
        assert transport is not None
        try:
            return transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=CONNECT_TIMEOUT_S
            )
        except paramiko.ChannelException:
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if isinstance(exc, paramiko.SSHException) and transport.is_active():
                raise paramiko.ChannelException(0, f"no answer: {exc}") from None
            self.close()
            raise TransportError(
                f"cannot open a TCP channel on {self.name} to {address}:{port}: {exc}", "check the host's sshd"
            ) from None

    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        sftp = self.client().open_sftp()
        try:
            with sftp.open(remote_path, "wb") as fh:
                fh.set_pipelined(True)
                fh.write(data)
            sftp.chmod(remote_path, mode)
        finally:
            sftp.close()

    def put_file(self, local: Path, remote_path: str) -> None:
        sftp = self.client().open_sftp()
        try:
            sftp.put(str(local), remote_path)
        finally:
            sftp.close()

    def wait_ready(self, timeout_s: float, probe: str = "true") -> Result:
        """Wait until SSH answers and ``probe`` succeeds (policy: SSH up).

        Only unreachable-host errors and a failing probe are retried; a wrong
        host key or a rejected login fails at once.
        """
        last: list[str] = ["no attempt yet"]
        check_private_key(self.key_path)  # a broken key never becomes ready: no waiting

        def _retryable(exc: BaseException) -> bool:
            if isinstance(exc, HostKeyError) or interrupts.stopping.is_set():
                return False
            if isinstance(exc, TransportError) and "rejected key" in exc.message:
                return False
            if isinstance(exc, HarnessError):
                last[0] = exc.message
                return True
            return False

        def _attempt() -> Result:
            res = self.run(probe, timeout_s=20)
            if res.failed:
                raise CommandError(f"`{probe}` exited {res.exit_status}: {res.tail(2)}", "", res)
            return res

        try:
            for attempt in Retrying(
                stop=stop_after_delay(timeout_s),
                wait=wait_fixed(1),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    return _attempt()
        except HostKeyError:
            raise
        except HarnessError:
            raise TransportError(
                f"{self.name} ({self.address}) not ready after {timeout_s:.0f}s; last state: {last[0]}",
                "check the machine's console log and that sshd and dockerd start",
            ) from None
        raise AssertionError("unreachable")


def connect_all(inventory: Inventory) -> dict[str, SSHHost]:
    return {n.name: SSHHost.for_node(inventory, n) for n in inventory.nodes}


def check_private_key(path: Path) -> None:
    """A key file paramiko cannot read fails naming that file; otherwise the login fails
    later as if sshd were down, and the author looks at the wrong host."""
    try:
        paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        raise TransportError(
            f"private key {path} is encrypted with a passphrase",
            "give the harness an unencrypted key (ssh-keygen -p -N '' -f KEY) in ssh.private_key_path",
        ) from None
    except (paramiko.SSHException, ValueError, UnicodeDecodeError) as exc:
        raise TransportError(
            f"private key {path} is not a valid SSH private key "
            f"({(str(exc) or type(exc).__name__).split('. ')[0]})",
            "point ssh.private_key_path at an OpenSSH or PEM private key (ed25519, ecdsa or rsa)",
        ) from None
    except OSError as exc:
        raise TransportError(
            f"cannot read private key {path}: {exc.strerror}", "fix ssh.private_key_path in the inventory"
        ) from None


def run_parallel(
    hosts: Iterable[SSHHost], fn: Callable[[SSHHost], T], max_workers: int = 16
) -> dict[str, T | BaseException]:
    """Apply ``fn`` to every host at once; a per-host map of results or errors."""
    hosts = list(hosts)
    out: dict[str, T | BaseException] = {}
    if not hosts:
        return out
    pool = ThreadPoolExecutor(max_workers=min(max_workers, len(hosts)))
    try:
        futures = {h.name: pool.submit(fn, h) for h in hosts}
        for name, fut in futures.items():
            try:
                out[name] = fut.result()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                out[name] = exc
    except KeyboardInterrupt:
        # A signal reached the main thread: the workers see ``interrupts.stopping`` and
        # give up their waits, so the teardown need not sit out their deadlines.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def raise_first(results: dict[str, T | BaseException]) -> dict[str, T]:
    """Turn a per-host map into plain results, raising the first host error."""
    for value in results.values():
        if isinstance(value, BaseException):
            raise value
    return results  # type: ignore[return-value]


__all__ = ["SSHHost", "connect_all", "raise_first", "run_parallel"]
