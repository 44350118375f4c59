"""Docker's address pools: the bridges' (written into each lab machine's ``daemon.json``)
and the swarm's overlays' (given to ``swarm init`` on every provider's hosts).

One bottom module, because two areas must agree on them: the lab keeps its own subnet
clear of all of them (a LAN overlapping an overlay breaks both), and the swarm is
formed with the swarm pool.
"""

from __future__ import annotations

DOCKER_BRIDGE_IP = "198.19.0.1/24"
DOCKER_LOCAL_POOL = "198.19.0.0/18"
SWARM_ADDR_POOL = "198.19.128.0/18"
RESERVED_POOLS = (DOCKER_LOCAL_POOL, SWARM_ADDR_POOL)
