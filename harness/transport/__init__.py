"""SSH transport: verified connections, command results, Docker API and testinfra over them."""

from harness.transport.result import Result
from harness.transport.ssh import SSHHost, connect_all, run_parallel

__all__ = ["Result", "SSHHost", "connect_all", "run_parallel"]
