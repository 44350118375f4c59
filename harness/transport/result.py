"""A frozen record of one remote command, and the errors that carry it.

``CommandError`` and ``CommandTimeout`` live here, next to the ``Result`` they
hold, rather than in ``harness.errors``: the record and its error need each
other, and one module keeps that from becoming an import cycle. Like invoke's
``UnexpectedExit`` and ``CommandTimedOut``, the error is a result plus one line
for the user, so a caller that catches it can still read the command's host,
status and output instead of parsing the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

# What ``exit_status`` holds while the command has not exited (paramiko's own value).
NO_EXIT_STATUS = -1


@dataclass(frozen=True)
class Result:
    host: str
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def failed(self) -> bool:
        return not self.ok

    def tail(self, lines: int = 10) -> str:
        text = (self.stderr.strip() + "\n" + self.stdout.strip()).strip()
        return "\n".join(text.splitlines()[-lines:])

    def check(self, hint: str = "") -> Result:
        if self.failed:
            raise CommandError(
                f"on {self.host}: `{self.command}` exited {self.exit_status}: "
                + self.tail(5).replace("\n", " | "),
                hint or f"log in to {self.host} and run the command by hand to see why",
                self,
            )
        return self


class CommandError(HarnessError):
    """A remote command exited non-zero where success was required.

    ``result`` is the command's record (host, command, exit status, both outputs):
    the message shows its tail, the record keeps all of it.
    """

    def __init__(self, message: str, hint: str, result: Result) -> None:
        super().__init__(message, hint)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        # The default would rebuild from ``args`` (the message alone) and lose the record.
        return (type(self), (self.message, self.hint, self.result))


class CommandTimeout(CommandError):
    """A remote command did not finish within ``timeout_s``.

    ``result`` holds what it printed until then; its ``exit_status`` is
    ``NO_EXIT_STATUS`` because the command had not exited.
    """

    def __init__(self, message: str, hint: str, result: Result, timeout_s: float) -> None:
        super().__init__(message, hint, result)
        self.timeout_s = timeout_s

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.hint, self.result, self.timeout_s))
