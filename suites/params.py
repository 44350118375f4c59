"""Parameters shared by the suites."""

from __future__ import annotations

import pytest

# The two overlays under test. The encrypted one needs ESP in the kernel; each network's
# checks stay on one xdist worker so its global probe and measurements are made once.
NETWORKS = [
    pytest.param("plain", id="plain", marks=pytest.mark.xdist_group("overlay-plain")),
    pytest.param(
        "encrypted",
        id="encrypted",
        marks=[pytest.mark.needs("esp"), pytest.mark.xdist_group("overlay-encrypted")],
    ),
]
