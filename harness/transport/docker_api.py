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
from urllib3.util.retry import Retry

from harness.transport.ssh import SSHHost

# Engine 20.10 speaks API 1.41; newer engines still accept it.
API_VERSION = "1.41"


class _VerifiedSSHAdapter(SSHHTTPAdapter):  # type: ignore[misc]
    def __init__(self, host: SSHHost, timeout_s: int = 60) -> None:
        self._harness_host = host
        super().__init__(f"ssh://{host.user}@{host.address}", timeout=timeout_s)
        # A pooled channel whose dial-stdio ended is only found out when used: read-only
        # requests are re-sent once on a fresh channel; nothing that changes state is.
        self.max_retries = Retry(
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
