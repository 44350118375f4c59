"""Swarm operations over SSH: bootstrap, networks, services."""
