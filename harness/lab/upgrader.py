"""Upgrade a lab machine's engine the way an operator replaces a host's OS: stop, swap, start.

``ImageSwapUpgrader`` is an ``harness.upgrade.upgrader.Upgrader`` (by its shape: the
lab does not import the upgrade flow, the caller hands the upgrader in).
"""

from __future__ import annotations

import logging

from harness.errors import LabError, UserInputError
from harness.inventory.schema import Node
from harness.lab import images, machine

log = logging.getLogger(__name__)


class ImageSwapUpgrader:
    """A per-node upgrade: swap the machine's image to ``release``, keeping its Docker state."""

    def __init__(self, lab: str, release: str) -> None:
        self.lab = lab
        self.release = release

    def upgrade(self, node: Node) -> None:
        state = machine.load_state(self.lab, node.name)
        if state is None:
            raise LabError(
                f"lab {self.lab} has no machine {node.name}", "check the inventory's provider_data.lab"
            )
        log.info("%s: swapping image %s -> %s", node.name, state.release, self.release)
        machine.stop(state)
        machine.swap_image(state, self.release)
        machine.start(state)


def _kinds(lab: str) -> set[str]:
    return {s.kind for s in machine.list_states(lab)} or {"nspawn"}


def check_release(lab: str, to_release: str, nodes: list[str]) -> None:
    """An upgrade to the release the machines already run would drain and swap for nothing."""
    for kind in _kinds(lab):
        images.machine_recipe(to_release, kind)
    states = [machine.load_state(lab, n) for n in nodes]
    if states and all(s is not None and s.release == to_release for s in states):
        raise UserInputError(
            f"every node of lab {lab} already runs {to_release}",
            f"pass another --to: {images.releases_help()}",
        )


def lab_upgrader(lab: str, release: str) -> ImageSwapUpgrader:
    """The image swap to ``release``, its machine images built (or found cached) first."""
    for kind in _kinds(lab):
        images.ensure_image(images.machine_recipe(release, kind))
    return ImageSwapUpgrader(lab, release)
