"""Which ``Upgrader`` gives an inventory's hosts their new engine, chosen once per upgrade.

An ``upgrade_command`` (per node or for the inventory) wins for any provider; without
one, a provider that owns its machines swaps their image (the local lab); any other
provider's hosts cannot be upgraded by the harness.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.cluster import Cluster
from harness.errors import UserInputError
from harness.inventory import Inventory
from harness.upgrade.upgrader import CommandUpgrader, Upgrader


def _lab_image_swap(inv: Inventory, inventory_path: Path, to_release: str, nodes: list[str]) -> Upgrader:
    from harness.lab.upgrader import check_release, lab_upgrader

    lab = str(inv.provider_data.get("lab", ""))
    if not lab:
        raise UserInputError(
            f"{inventory_path} has no provider_data.lab", "regenerate it with 'swarm-harness up'"
        )
    check_release(lab, to_release, nodes)
    return lab_upgrader(lab, to_release)


# Providers whose machines the harness itself can give another engine.
_OWN_UPGRADERS: dict[str, Callable[[Inventory, Path, str, list[str]], Upgrader]] = {
    "local": _lab_image_swap,
}


def choose_upgrader(
    inv: Inventory, inventory_path: Path, cluster: Cluster, to_release: str, nodes: list[str]
) -> Upgrader:
    """The upgrader for ``nodes`` of ``inv``; ``to_release`` is the lab image release."""
    if inv.upgrade_command or any(n.upgrade_command for n in inv.nodes):
        return CommandUpgrader(cluster, inv.upgrade_command)
    own = _OWN_UPGRADERS.get(inv.provider)
    if own is None:
        raise UserInputError(
            f"{inventory_path}: no way to upgrade {inv.provider} hosts",
            "set upgrade_command (per node or for the inventory), e.g. an apt install of a pinned engine",
        )
    return own(inv, inventory_path, to_release, nodes)
