"""Rolling Engine upgrade, node by node, under continuous traffic.

- ``stages``: the named stages of one node's turn (drain, upgrade, rejoin, checks);
- ``flow``: the order of the nodes and the loop that runs the stages for each;
- ``upgrader``: the ``Upgrader`` protocol and the upgrade-command implementation
  (the lab's image swap lives with the lab, and is handed in by the caller);
- ``monitor``: the traffic kept flowing from the nodes not being upgraded;
- ``report``: what the upgrade writes to ``reports/upgrade-report.json``.

Service rolling updates (a new image for a service's tasks) are another topic:
``harness/swarm/updates.py`` and ``suites/updates``.
"""
