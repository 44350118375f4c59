"""A frozen record of one remote command, with the helpers errors need."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import CommandError


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
            )
        return self
