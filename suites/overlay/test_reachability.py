"""Cross-host overlay reachability: every ordered node pair, ICMP/TCP/UDP/HTTP, per network.

The matrix for a network is measured once (converge, every cell, then a retry of
only the cells that lost probes; see harness/probe/matrix.py for the pass rule)
and each pair's test asserts its own row, so the JUnit report lists every pair
while the cluster is probed only once. A cell that passed only on the retry is
flaky: a warning, and a failure in strict mode.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.doctor.report import remeasure
from harness.probe.diagnose import diagnose, failing_nodes
from harness.probe.matrix import PROTOCOLS, MatrixResult, PairCheck, run_matrix
from harness.probe.pairs import PairId
from harness.probe.service import ProbeDeployment
from harness.run_verdict import FLAKY_PROPERTY
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure, Symptom
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


@pytest.fixture(scope="session")
def diagnoses() -> dict[str, list[str]]:
    return {}


@pytest.fixture
def explain(
    harness_cluster: Cluster,
    harness_networks: dict[str, NetworkSpec],
    pytestconfig: pytest.Config,
    diagnoses: dict[str, list[str]],
) -> Callable[[str, MatrixResult], list[str]]:
    """The causes of a failing matrix, from the doctor re-measuring the failing nodes now.

    Measured once per matrix: every pair's test of that matrix shares the diagnosis.
    """

    def _explain(kind: str, result: MatrixResult) -> list[str]:
        if kind not in diagnoses:
            dpp = pytestconfig.getoption("--harness-data-path-port")
            fresh = remeasure(harness_cluster, failing_nodes(result), dpp)
            diagnoses[kind] = diagnose(result, harness_networks[kind].encrypted, fresh, dpp)
        return diagnoses[kind]

    return _explain


def _flaky_verdict(
    cells: list[PairCheck], strict: bool, where: str, record_property: Callable[[str, object], None]
) -> None:
    """A pass that needed the retry: a failure in strict mode, else a warning the run verdict counts."""
    if not cells:
        return
    text = f"{where}: passed only on the retry: " + "; ".join(
        f"{c.pair} {c.protocol}: {c.detail}" for c in cells
    )
    if strict:
        raise CheckFailure(
            f"strict mode: {text}",
            [Symptom("loss", (c.src, c.dst), f"{c.protocol}: {c.detail}") for c in cells],
        )
    record_property(FLAKY_PROPERTY, text)
    warnings.warn(text, stacklevel=2)


@pytest.mark.parametrize("kind", NETWORKS)
def test_matrix(
    kind: str,
    matrix_for: Callable[[str], MatrixResult],
    explain: Callable[[str, MatrixResult], list[str]],
    harness_strict: bool,
    record_property: Callable[[str, object], None],
) -> None:
    """All ordered pairs on the network pass every protocol."""
    result = matrix_for(kind)
    assert len(result.checks) == len(result.pairs) * len(PROTOCOLS) > 0
    if result.failing_pairs():
        causes = explain(kind, result)
        raise CheckFailure(result.summary() + "\ndiagnosis:\n  " + "\n  ".join(causes), result.symptoms())
    _flaky_verdict(result.flaky(), harness_strict, f"network {result.network}", record_property)


@pytest.mark.parametrize("kind", NETWORKS)
def test_pair(
    kind: str,
    harness_pair: tuple[str, str],
    matrix_for: Callable[[str], MatrixResult],
    explain: Callable[[str, MatrixResult], list[str]],
    harness_networks: dict[str, NetworkSpec],
    harness_strict: bool,
    record_property: Callable[[str, object], None],
) -> None:
    """One ordered pair: ICMP, TCP, UDP and HTTP from the source's task reach the destination's."""
    src, dst = harness_pair
    result = matrix_for(kind)
    checks = result.for_pair(PairId(src, dst))
    assert sorted(c.protocol for c in checks) == sorted(PROTOCOLS)
    failed = [c for c in checks if not c.ok]
    if failed:
        causes = explain(kind, result)
        raise CheckFailure(
            f"{src}->{dst} on {harness_networks[kind].name}: "
            + "; ".join(f"{c.protocol}: {c.detail}" for c in failed)
            + ("\ndiagnosis: " + " | ".join(causes) if causes else ""),
            [c.symptom() for c in failed],
        )
    _flaky_verdict(
        [c for c in checks if c.flaky], harness_strict, f"{src}->{dst} on {result.network}", record_property
    )
