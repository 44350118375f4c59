"""Cross-host overlay reachability: every ordered node pair, ICMP/TCP/UDP/HTTP, per network.

The matrix for a network is measured once (converge, every cell, then a retry of
only the cells that lost probes; see harness/probe/matrix.py for the pass rule)
and each pair's test asserts its own row, so the JUnit report lists every pair
while the cluster is probed only once. A cell that passed only on the retry is
flaky: a warning, and a failure in strict mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.doctor.report import remeasure
from harness.probe.diagnose import diagnose, failing_nodes
from harness.probe.engine_pairs import engine_pairs, is_mixed, version_pattern
from harness.probe.fdb import measure_problems
from harness.probe.matrix import PROTOCOLS, MatrixResult, PairCheck, run_matrix
from harness.probe.pairs import PairId
from harness.probe.service import ProbeDeployment
from harness.run_verdict import FLAKY_PROPERTY
from harness.rundir import matrix_name
from harness.swarm.networks import NetworkSpec
from harness.verdict import CheckFailure, Symptom
from suites.context import NetworkMeasure
from suites.params import networks


@pytest.fixture
def matrix_for(network_measure: NetworkMeasure) -> Callable[[str], MatrixResult]:
    return lambda kind: network_measure(kind, matrix_name, run_matrix, MatrixResult.to_dict)


@pytest.fixture(scope="session")
def diagnoses() -> dict[str, list[str]]:
    return {}


@pytest.fixture
def explain(
    harness_cluster: Cluster,
    harness_networks: dict[str, NetworkSpec],
    harness_data_path_port: int | None,
    diagnoses: dict[str, list[str]],
    global_probe: Callable[[str], ProbeDeployment],
) -> Callable[[str, MatrixResult], list[str]]:
    """The causes of a failing matrix, from the doctor re-measuring the failing nodes now
    and the network's VXLAN tables read now (one read, no wait).

    Measured once per matrix: every pair's test of that matrix shares the diagnosis.
    """

    def _explain(kind: str, result: MatrixResult) -> list[str]:
        if kind not in diagnoses:
            fresh = remeasure(harness_cluster, failing_nodes(result), harness_data_path_port)
            net = harness_networks[kind]
            try:
                tables = measure_problems(harness_cluster, global_probe(net.name))
            except Exception as exc:  # the diagnosis must not hide the matrix's own failure
                tables = []
                causes = [f"the VXLAN tables could not be read: {str(exc).splitlines()[0][:200]}"]
            else:
                causes = []
            diagnoses[kind] = diagnose(result, net.encrypted, fresh, harness_data_path_port, tables) + causes
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


@pytest.mark.parametrize("kind", networks("matrix"))
def test_matrix(
    kind: str,
    harness_cluster: Cluster,
    matrix_for: Callable[[str], MatrixResult],
    explain: Callable[[str, MatrixResult], list[str]],
    harness_strict: bool,
    record_property: Callable[[str, object], None],
) -> None:
    """All ordered pairs on the network pass every protocol. On a cluster of several Engine
    versions the pairs are also counted per version pair (property ``engine_pairs``)."""
    result = matrix_for(kind)
    assert len(result.checks) == len(result.pairs) * len(PROTOCOLS) > 0
    engines = {n.hostname: n.engine_version for n in harness_cluster.swarm_nodes()}
    by_engine = engine_pairs(result, engines) if is_mixed(engines) else []
    if by_engine:
        record_property("engine_pairs", "; ".join(map(str, by_engine)))
    if result.failing_pairs():
        pattern = version_pattern(by_engine)
        causes = ([pattern] if pattern else []) + explain(kind, result)
        versions = "".join(f"\n  {row}" for row in by_engine)
        raise CheckFailure(
            result.summary() + (f"\nby Engine version:{versions}" if versions else "")
            + "\ndiagnosis:\n  " + "\n  ".join(causes),
            result.symptoms(),
        )
    _flaky_verdict(result.flaky(), harness_strict, f"network {result.network}", record_property)


@pytest.mark.parametrize("kind", networks("matrix"))
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
