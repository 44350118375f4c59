"""Every node's VXLAN forwarding and neighbour tables describe the network's real endpoints.

A lost permanent FDB entry blackholes one peer while DNS and every other pair work
(moby#52661), and leaked entries outlive their tasks (moby#50232): the reachability
matrix sees at most one dead cell and cannot say why. This check reads, in each
overlay's namespace on every node, ``bridge fdb show`` and ``ip neigh`` and requires,
for every remote task of the probe service, a permanent FDB entry to that node's VTEP
(its data-path address) and a permanent neighbour entry with the task's MAC; entries
for endpoints the network does not have, or pointing at the wrong VTEP, fail it too.

On a kernel without ESP the encrypted network's tables are still programmed (measured
on the nspawn lab: complete on every node, dockerd only fails to add the SAs), so the
check runs there too; a table problem is never of the kind a missing ESP causes
(silence), so it is never excused as an expected failure.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import verdict
from harness.cluster import Cluster
from harness.overlay_tables import WRONG_VTEP
from harness.probe.fdb import wait_tables_complete
from harness.probe.service import ProbeDeployment
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure, Symptom
from suites.params import networks

# Measured on the nspawn lab: the tables were complete on the first read (0.3-0.4 s) in
# 6 of 6 fresh global-probe deployments, plain and encrypted, and stayed clean right after
# the probe was removed. 20 s leaves room for a NetworkDB retransmission on the loaded
# 2-core CI machine; docker never re-adds a lost permanent entry, so waiting longer would
# not change a failure's verdict.
TABLES_DEADLINE_S = 20.0


@pytest.mark.parametrize("kind", networks("vxlan-tables"))
def test_vxlan_tables_complete(
    kind: str,
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    record_property: Callable[[str, object], None],
) -> None:
    """Each node's FDB and neighbour table holds every remote probe task, to the right VTEP, and nothing stale."""
    net = harness_networks[kind].name
    probes = global_probe(net)
    problems, took_s = wait_tables_complete(harness_cluster, probes, TABLES_DEADLINE_S)
    record_property("tables_s", round(took_s, 1))
    if not problems:
        return
    nodes = sorted({p.node for p in problems})
    lines = "\n  ".join(
        p.text() + (f" [peer {p.peer}]" if p.peer else "") + (f" (entry: {p.entry})" if p.entry else "")
        for p in problems
    )
    raise CheckFailure(
        f"{len(problems)} VXLAN table problems on network {net} after {TABLES_DEADLINE_S:.0f} s, "
        f"on {', '.join(nodes)}:\n  {lines}\n"
        "traffic from the named node to that peer's task is blackholed or misrouted (moby#52661, moby#50232); "
        "compare 'bridge fdb show' and 'ip neigh' in the node's namespace under /var/run/docker/netns "
        "(artifact overlay-fdb.txt) with 'docker network inspect -v'; restarting dockerd on the node "
        "reprograms its tables",
        [
            Symptom(
                verdict.WRONG_ANSWER if p.kind == WRONG_VTEP else verdict.OTHER,
                (p.node, p.peer) if p.peer else (p.node,),
                p.text(),
            )
            for p in problems
        ],
    )
