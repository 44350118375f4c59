"""testinfra hosts that reuse the harness's verified SSH connection.

testinfra's paramiko backend would otherwise accept unknown host keys with a
warning; handing it our client keeps host-key verification strict.
"""

from __future__ import annotations

from typing import Any

import testinfra
from testinfra.backend.paramiko import ParamikoBackend

from harness.transport.ssh import SSHHost


def infra_host(host: SSHHost) -> Any:
    backend = ParamikoBackend(f"paramiko://{host.user}@{host.address}:{host.port}")
    # `client` is a cached_property: pre-seed it with our verified connection.
    backend.__dict__["client"] = host.client()
    return testinfra.host.Host(backend)
