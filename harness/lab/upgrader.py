"""Upgrade a lab machine's engine the way an operator replaces a host's OS: stop, swap, start."""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness.errors import LabError
from harness.inventory.schema import Node
from harness.lab import images, machine

log = logging.getLogger(__name__)


def lab_upgrader(lab: str, release: str) -> Callable[[Node], None]:
    """A per-node upgrade: swap the machine's image to ``release``, keeping its Docker state."""
    kinds = {s.kind for s in machine.list_states(lab)} or {"nspawn"}
    for kind in kinds:
        images.ensure_image(images.machine_recipe(release, kind))

    def _upgrade(node: Node) -> None:
        state = machine.load_state(lab, node.name)
        if state is None:
            raise LabError(f"lab {lab} has no machine {node.name}", "check the inventory's provider_data.lab")
        log.info("%s: swapping image %s -> %s", node.name, state.release, release)
        machine.stop(state)
        machine.swap_image(state, release)
        machine.start(state)

    return _upgrade
