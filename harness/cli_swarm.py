"""CLI commands that act on a provisioned cluster: bootstrap, doctor, run."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    _ = sub
    _ = argparse
