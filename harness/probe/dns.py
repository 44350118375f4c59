"""Name resolution as seen from the probe task on every node."""

from __future__ import annotations

from typing import Any

from harness.probe.service import ProbeDeployment, batch
from harness.retry import NotYet, eventually
from harness.swarm.cluster import Cluster
from harness.transport.ssh import raise_first, run_parallel


def resolve_everywhere(cluster: Cluster, probes: ProbeDeployment, name: str) -> dict[str, dict[str, Any]]:
    """{node: agent dns result} for ``name``, resolved in every node's probe task."""
    hosts = [cluster.host(n) for n in probes.tasks]
    results = raise_first(
        run_parallel(hosts, lambda h: batch(cluster, probes.tasks[h.name], [{"op": "dns", "name": name}])[0])
    )
    return dict(results)


def wait_resolves_to(
    cluster: Cluster, probes: ProbeDeployment, name: str, expected: set[str] | None, timeout_s: float = 30
) -> dict[str, dict[str, Any]]:
    """Until every node resolves ``name`` to exactly ``expected`` (None: to nothing).

    On timeout the error lists what each node saw, which is the evidence for
    stale or missing service-discovery entries.
    """

    def _check() -> dict[str, dict[str, Any]]:
        seen = resolve_everywhere(cluster, probes, name)
        wrong = []
        for node, res in sorted(seen.items()):
            got = set(res.get("addresses") or [])
            if expected is None:
                if got:
                    wrong.append(f"{node} still resolves {sorted(got)}")
            elif got != expected:
                extra, missing = sorted(got - expected), sorted(expected - got)
                wrong.append(
                    f"{node} got {sorted(got)} (extra {extra}, missing {missing}, error {res.get('error')})"
                )
        if wrong:
            want = "nothing" if expected is None else sorted(expected)
            raise NotYet(f"{name} should resolve to {want}: " + "; ".join(wrong))
        return seen

    return eventually(
        _check,
        timeout_s,
        f"{name} to resolve consistently on every node",
        interval_s=1,
        hint="compare 'docker service ps' with 'docker network inspect -v' on each node",
    )
