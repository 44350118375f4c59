"""Fixtures shared by the suites: probes deployed once per session and network, the reports directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.lab.images import probe_recipe
from harness.probe.image import ensure_probe_images
from harness.probe.perf import DEFAULT_TOLERANCE_PCT, SECONDS_PER_TEST
from harness.probe.service import ProbeDeployment, deploy_global_probe, remove_service, wait_global_probe
from harness.rundir import RunDir
from harness.swarm.networks import NetworkSpec
from suites.context import NetworkMeasure, OverlayContext, SuiteReports


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("swarm-harness").addoption(
        "--harness-perf-tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_PCT,
        help="perf: an overlay figure below (100 - this)%% of the underlay's fails with --harness-strict",
    )
    parser.getgroup("swarm-harness").addoption(
        "--harness-perf-seconds",
        type=int,
        default=SECONDS_PER_TEST,
        help="perf: seconds of each test per pair and path",
    )


@pytest.fixture(scope="session")
def probe_images(harness_cluster: Cluster) -> dict[str, str]:
    return ensure_probe_images(harness_cluster, probe_recipe())


@pytest.fixture(scope="session")
def suite_reports(harness_run_dir: Path) -> SuiteReports:
    """RUN/reports, where checks write what they measured; measurements shared by checks are cached."""
    return SuiteReports(RunDir(harness_run_dir).reports)


@pytest.fixture(scope="session")
def global_probe(
    harness_cluster: Cluster,
    probe_images: dict[str, str],
    harness_session_labels: dict[str, str],
    harness_worker_suffix: str,
) -> Iterator[Callable[[str], ProbeDeployment]]:
    """Deploy (once per network and xdist worker) a global probe service; remove it at the end."""
    deployed: dict[str, ProbeDeployment] = {}

    def _get(network: str) -> ProbeDeployment:
        if network not in deployed:
            deployed[network] = deploy_global_probe(
                harness_cluster, network, harness_session_labels, suffix=harness_worker_suffix
            )
        else:
            # Re-read: a fault may have restarted a node's probe task (new container).
            deployed[network] = wait_global_probe(harness_cluster, deployed[network].service, network)
        return deployed[network]

    yield _get
    for dep in deployed.values():
        remove_service(harness_cluster, dep.service)


@pytest.fixture
def network_measure(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    suite_reports: SuiteReports,
) -> NetworkMeasure:
    return NetworkMeasure(harness_cluster, global_probe, harness_networks, suite_reports)


@pytest.fixture
def plain_overlay(
    harness_cluster: Cluster,
    global_probe: Callable[[str], ProbeDeployment],
    harness_networks: dict[str, NetworkSpec],
    harness_labels: dict[str, str],
) -> OverlayContext:
    """The plain overlay with its global probe: what most checks run on."""
    net = harness_networks["plain"].name
    return OverlayContext(harness_cluster, net, global_probe(net), harness_labels)
