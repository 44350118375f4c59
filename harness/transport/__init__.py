"""SSH transport: verified connections, command results and their errors, Docker API over them."""

from harness.transport.result import CommandError, CommandTimeout, Result
from harness.transport.ssh import SSHHost, connect_all, run_parallel

__all__ = ["CommandError", "CommandTimeout", "Result", "SSHHost", "connect_all", "run_parallel"]
