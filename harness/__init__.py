"""Swarm multi-host overlay test harness."""

__version__ = "0.1.0"
