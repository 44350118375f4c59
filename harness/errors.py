"""One root exception, so the CLI can turn any harness failure into one clear line.

Every error carries a ``hint``: what the user should do next. The CLI prints
``error: <message> (<hint>)`` and exits with the error's ``exit_code``.

``CommandError`` and ``CommandTimeout`` carry the command's ``Result`` and so
live with it in ``harness.transport.result``.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.strip().replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UserInputError(HarnessError):
    """Bad input from the user: arguments, inventory files, host configuration."""

    exit_code = 2


class MissingToolError(UserInputError):
    """A host tool the harness needs is not installed."""


class InventoryError(UserInputError):
    """An inventory file or Terraform output does not match the schema."""


class LabError(HarnessError):
    """The local lab could not be created, changed or destroyed."""

    exit_code = 2


class TransportError(HarnessError):
    """A host could not be reached or authenticated over SSH."""

    exit_code = 2


class HostKeyError(TransportError):
    """A host presented a key that is unknown or differs from known_hosts."""


class SwarmError(HarnessError):
    """The swarm could not be formed or is in a state the harness cannot use."""

    exit_code = 2


class ProvisionError(HarnessError):
    """Terraform could not create or destroy the hosts."""

    exit_code = 2


class WaitTimeout(HarnessError):
    """A condition did not hold before its deadline; the message holds the last state seen."""
