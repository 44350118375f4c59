"""The dockerd log scan reports a real error line that dockerd logs on a lab node."""

from __future__ import annotations

import time

from harness.cluster import Cluster
from harness.doctor.logscan import scan
from harness.doctor.report import run_doctor
from harness.retry import NotYet, eventually


def test_a_provoked_dockerd_error_is_an_unexpected_line_on_that_node(shared_cluster: Cluster) -> None:
    """Ask a worker's engine for the services list: dockerd logs the 503 'not a swarm manager'
    at level=error for that endpoint, which no allow-list entry explains."""
    doctor = run_doctor(shared_cluster, ports=False)
    since = int(time.time()) - 1
    worker = next(n.name for n in shared_cluster.nodes if not n.is_manager)
    res = shared_cluster.run(worker, "docker service ls")
    assert res.failed and "not a swarm manager" in res.stderr, res

    def _reported() -> list[str]:
        found = scan(shared_cluster, doctor, since_epoch=since)
        lines = [ln for ln in found.unexpected.get(worker, []) if "/services" in ln]
        if not lines:
            raise NotYet(f"unexpected lines so far: {found.unexpected}")
        others = {n: v for n, v in found.unexpected.items() if n != worker and v}
        assert others == {}, others
        return lines

    # journald may take a moment to hand the line to journalctl.
    lines = eventually(_reported, 20, f"the provoked error in {worker}'s dockerd journal", interval_s=1)
    assert "This node is not a swarm manager" in lines[0]
