"""The docker SDK over the harness's own verified SSH connection.

docker-py can already speak HTTP over a paramiko channel that runs
``docker system dial-stdio``; its adapter just builds its own SSH client (which
trusts ``~/.ssh``). This adapter hands it ours instead, so the Engine API is
reached only through a connection whose host key was verified.
"""

from __future__ import annotations

from typing import Any

import docker
from docker.transport.sshconn import SSHHTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

from harness.transport.ssh import SSHHost

# Engine 20.10 speaks API 1.41; newer engines still accept it.
API_VERSION = "1.41"


def channel_closed_on_send(err: Exception) -> bool:
    """Paramiko raises "Socket is closed" only from ``Channel.send``: the request did not
    reach the engine, because its pooled channel (a ``docker system dial-stdio``) had
    already ended, as idle ones do on slow hosts."""
    cause = err.args[1] if isinstance(err, ProtocolError) and len(err.args) > 1 else None
    return isinstance(cause, OSError) and str(cause) == "Socket is closed"


class UnsentRequestRetry(Retry):
    """Re-sends, whatever its method, a request that never left on a dead channel;
    anything else keeps urllib3's rules (only idempotent reads are re-sent)."""

    def _is_connection_error(self, err: Exception) -> bool:
        return bool(super()._is_connection_error(err)) or channel_closed_on_send(err)


class _VerifiedSSHAdapter(SSHHTTPAdapter):  # type: ignore[misc]
    def __init__(self, host: SSHHost, timeout_s: int = 60) -> None:
        self._harness_host = host
        super().__init__(f"ssh://{host.user}@{host.address}", timeout=timeout_s)
        # A pooled channel whose dial-stdio ended is only found out when used: a request
        # that could not be sent on it is re-sent on a fresh channel, and read-only ones
        # also after a broken answer; nothing that may have changed state is re-sent.
        self.max_retries = UnsentRequestRetry(
            total=2, connect=2, read=1, status=0, other=0, allowed_methods=frozenset({"GET", "HEAD"})
        )

    def _create_paramiko_client(self, base_url: str) -> None:
        self.ssh_client = self._harness_host.client()

    def _connect(self) -> None:
        self.ssh_client = self._harness_host.client()

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        # docker-py keeps a pool bound to the SSH transport it was made with; if that
        # session died (an idle session dropped, a host rebooted by a fault test), every
        # later call would fail. Start over on a fresh verified connection instead.
        with self.pools.lock:
            pool = self.pools.get(url)
            transport = getattr(pool, "ssh_transport", None)
            if pool is not None and (transport is None or not transport.is_active()):
                del self.pools[url]
                self.ssh_client = self._harness_host.client()
        return super().get_connection(url, proxies)


def docker_client(host: SSHHost, timeout_s: int = 60) -> docker.DockerClient:
    """A ``DockerClient`` for ``host``'s engine, tunnelled through its SSH connection."""
    api = docker.APIClient(base_url="tcp://127.0.0.1:9", version=API_VERSION, timeout=timeout_s)
    adapter = _VerifiedSSHAdapter(host, timeout_s)
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter
    api._unmount("http://", "https://")
    api.base_url = "http+docker://ssh"
    client: Any = docker.DockerClient.__new__(docker.DockerClient)
    client.api = api
    return client
