"""Cross-host overlay reachability: every ordered node pair, ICMP/TCP/UDP/HTTP, per network.

The matrix for a network is measured once (all pairs, then a retry of only the
failures) and each pair's test asserts its own row, so the JUnit report lists
every pair while the cluster is probed only once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.doctor.report import DoctorReport
from harness.probe.diagnose import diagnose
from harness.probe.matrix import PROTOCOLS, MatrixResult, run_matrix
from harness.probe.service import ProbeDeployment
from harness.swarm.cluster import Cluster
from harness.swarm.networks import NetworkSpec
from suites.params import NETWORKS


@pytest.fixture(scope="session")
def matrices() -> dict[str, MatrixResult]:
    return {}


@pytest.fixture
def matrix_for(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_run_dir: Path,
    matrices: dict[str, MatrixResult],
) -> Callable[[str], MatrixResult]:
    def _get(kind: str) -> MatrixResult:
        if kind not in matrices:
            spec = harness_networks[kind]
            result = run_matrix(harness_cluster, global_probe(spec.name))
            out = harness_run_dir / "reports" / f"matrix-{spec.name}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result.to_dict(), indent=2))
            matrices[kind] = result
        return matrices[kind]

    return _get


def _explain(result: MatrixResult, spec: NetworkSpec, doctor: DoctorReport, dpp: int | None) -> str:
    causes = diagnose(result, spec.encrypted, doctor, dpp)
    return result.summary() + ("\ndiagnosis:\n  " + "\n  ".join(causes) if causes else "")


@pytest.mark.parametrize("kind", NETWORKS)
def test_matrix(
    kind: str,
    matrix_for: Callable[[str], MatrixResult],
    harness_networks: dict[str, NetworkSpec],
    harness_doctor: DoctorReport,
    pytestconfig: pytest.Config,
) -> None:
    """All ordered pairs on the network pass every protocol."""
    result = matrix_for(kind)
    assert len(result.checks) == len(result.pairs) * len(PROTOCOLS) > 0
    assert not result.failing_pairs(), _explain(
        result, harness_networks[kind], harness_doctor, pytestconfig.getoption("--harness-data-path-port")
    )


@pytest.mark.parametrize("kind", NETWORKS)
def test_pair(
    kind: str,
    harness_pair: tuple[str, str],
    matrix_for: Callable[[str], MatrixResult],
    harness_networks: dict[str, NetworkSpec],
    harness_doctor: DoctorReport,
    pytestconfig: pytest.Config,
) -> None:
    """One ordered pair: ICMP, TCP, UDP and HTTP from the source's task reach the destination's."""
    src, dst = harness_pair
    result = matrix_for(kind)
    checks = result.for_pair(f"{src}->{dst}")
    assert sorted(c.protocol for c in checks) == sorted(PROTOCOLS)
    failed = [c for c in checks if not c.ok]
    if failed:
        causes = diagnose(
            result,
            harness_networks[kind].encrypted,
            harness_doctor,
            pytestconfig.getoption("--harness-data-path-port"),
        )
        pytest.fail(
            f"{src}->{dst} on {harness_networks[kind].name}: "
            + "; ".join(f"{c.protocol}: {c.detail}" for c in failed)
            + ("\ndiagnosis: " + " | ".join(causes) if causes else ""),
            pytrace=False,
        )
