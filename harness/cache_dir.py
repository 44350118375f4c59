"""The harness's cache directory on this host: images, downloaded packages, probe tarballs.

Bottom layer, because more than one area keeps things there (the lab its machine
images, the probe its packed image); ``SWARM_HARNESS_CACHE`` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("SWARM_HARNESS_CACHE", "/var/cache/swarm-harness"))
