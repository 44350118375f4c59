"""Parameters shared by the suites."""

from __future__ import annotations

from typing import Any

import pytest


def networks(group: str | None = None) -> list[Any]:
    """The two overlays under test; the encrypted one needs ESP in the kernel.

    A suite whose checks share one measurement per network (the matrix, the MTU table,
    measured once per xdist worker) passes ``group``: that network's checks of that
    suite then stay on one worker as ``GROUP-plain`` / ``GROUP-encrypted``. Each suite
    has its own groups, so the encrypted matrix, MTU table and wire capture run side by
    side on different workers: on a kernel without ESP each waits out its timeouts, and
    one group for all of them made those waits one serial chain (about 150 s).
    """

    def _marks(kind: str) -> list[Any]:
        marks: list[Any] = [pytest.mark.needs("esp")] if kind == "encrypted" else []
        if group:
            marks.append(pytest.mark.xdist_group(f"{group}-{kind}"))
        return marks

    return [pytest.param(kind, id=kind, marks=_marks(kind)) for kind in ("plain", "encrypted")]
