"""Providers: each turns a target into an ``Inventory`` and nothing else."""
