"""Typed inventory: the one shape every provider yields and every suite reads."""

from harness.inventory.loader import load_inventory, parse_inventory
from harness.inventory.schema import SCHEMA_VERSION, Inventory, Node, SSHConfig

__all__ = ["SCHEMA_VERSION", "Inventory", "Node", "SSHConfig", "load_inventory", "parse_inventory"]
