"""Data-path performance: TCP throughput (1 and 4 streams), UDP loss at a stated rate and
TCP request/response rate and latency, per sampled node pair, on the underlay and on each
overlay, and the overlay/underlay ratio of each figure.

A path that carries nothing fails the check, always. A ratio below ``1 - tolerance``
(``--harness-perf-tolerance``, default 10%) fails it only with ``--harness-strict``:
without strict mode it is reported, since on a loaded CI machine (or a lab whose
underlay is a memory copy between namespaces) the overlay's share of a CPU-bound path
says little about the overlay. The figures are JUnit properties, saved in
``RUN/reports/perf-*.json``, and go into the run history.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.cluster import Cluster
from harness.doctor.report import DoctorReport
from harness.probe.perf import (
    UNDERLAY,
    VXLAN_PAYLOAD_RATIO,
    PairPerf,
    PathFigures,
    measure_pairs,
    overlay_endpoints,
    sample_pairs,
    start_underlay_endpoints,
    stop_underlay_endpoints,
    symptoms,
    to_dicts,
)
from harness.verdict import OTHER, CheckFailure, Symptom
from suites.context import NetworkMeasure, SuiteReports
from suites.params import networks

# Every perf check on one worker, one after another: two measurements at once would
# share the CPU and each report about half.
pytestmark = [pytest.mark.perf, pytest.mark.xdist_group("perf")]


@pytest.fixture(scope="session")
def perf_seconds(pytestconfig: pytest.Config) -> int:
    return int(pytestconfig.getoption("--harness-perf-seconds"))


@pytest.fixture(scope="session")
def underlay_figures(
    perf_seconds: int,
    harness_cluster: Cluster,
    suite_reports: SuiteReports,
    probe_images: dict[str, str],
    harness_session_labels: dict[str, str],
    harness_worker_suffix: str,
) -> list[PathFigures]:
    pairs = sample_pairs([n.name for n in harness_cluster.nodes])

    def _measure() -> list[PathFigures]:
        name = f"perf-underlay-{harness_worker_suffix or 'main'}"
        endpoints = start_underlay_endpoints(harness_cluster, name, harness_session_labels)
        try:
            return measure_pairs(harness_cluster, UNDERLAY, endpoints, pairs, seconds=perf_seconds)
        finally:
            stop_underlay_endpoints(harness_cluster, name)

    return suite_reports.measured_once("perf-underlay.json", _measure, to_dicts)


def _table(rows: list[PairPerf]) -> str:
    lines = []
    for r in rows:
        ratios = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in r.ratios().items())
        lines.append(
            f"{r.pair}: tcp {r.overlay.tcp_mbps}/{r.underlay.tcp_mbps} Mbit/s, x4 {r.overlay.tcp_streams_mbps}/"
            f"{r.underlay.tcp_streams_mbps}, rr {r.overlay.rr_per_s}/{r.underlay.rr_per_s} per s "
            f"(p99 {r.overlay.rr_p99_us}/{r.underlay.rr_p99_us} us), udp loss {r.overlay.udp_loss_pct}"
            f"/{r.underlay.udp_loss_pct} % (overlay/underlay; ratios: {ratios})"
        )
    return "\n".join(lines)


def test_underlay_is_measured_between_every_sampled_pair(
    underlay_figures: list[PathFigures], record_property: Callable[[str, object], None]
) -> None:
    """The reference itself: without it no overlay ratio means anything."""
    for f in underlay_figures:
        record_property(f"underlay {f.pair} tcp_mbps", f.tcp_mbps)
    failed = [f for f in underlay_figures if f.errors]
    if failed:
        raise CheckFailure(
            "the underlay (host network) could not be measured: "
            + "; ".join(f"{f.pair}: {', '.join(f.errors)}" for f in failed)
            + " (check the doctor's port table and that iperf3 runs in the probe image)",
            symptoms(failed),
        )


@pytest.mark.parametrize("kind", networks())
def test_overlay_throughput_and_latency_against_the_underlay(
    kind: str,
    network_measure: NetworkMeasure,
    underlay_figures: list[PathFigures],
    perf_seconds: int,
    harness_strict: bool,
    harness_doctor: DoctorReport,
    pytestconfig: pytest.Config,
    record_property: Callable[[str, object], None],
) -> None:
    tolerance_pct = float(pytestconfig.getoption("--harness-perf-tolerance"))
    pairs = [f.pair for f in underlay_figures]
    # Without ESP somewhere, the encrypted overlay's first silent pair is its whole story.
    known_silent = kind == "encrypted" and bool(harness_doctor.lacking(["esp"]))
    figures = network_measure(
        kind,
        lambda net: f"perf-{net}.json",
        lambda cluster, probes: measure_pairs(
            cluster, probes.network, overlay_endpoints(probes), pairs, known_silent, perf_seconds
        ),
        to_dicts,
    )
    underlay = {f.pair: f for f in underlay_figures}
    rows = [PairPerf(f.src, f.dst, f, underlay[f.pair]) for f in figures]
    for r in rows:
        for figure, ratio in r.ratios().items():
            record_property(f"{r.pair} {figure} ratio", ratio)
        record_property(f"{r.pair} tcp_mbps", r.overlay.tcp_mbps)
        record_property(f"{r.pair} rr_p99_us", r.overlay.rr_p99_us)
    network = figures[0].path if figures else kind
    silent = [f for f in figures if f.errors]
    if silent:
        skipped = len(pairs) - len(figures)
        raise CheckFailure(
            f"the {kind} overlay {network} did not carry the measurements: "
            + "; ".join(f"{f.pair}: {', '.join(f.errors)}" for f in silent)
            + (f" ({skipped} more pairs not measured: the doctor found ESP missing)" if skipped else ""),
            symptoms(silent),
        )
    short = {str(r.pair): r.problems(tolerance_pct) for r in rows if r.problems(tolerance_pct)}
    print(f"{network} against the underlay (VXLAN's payload ratio is {VXLAN_PAYLOAD_RATIO:.3f}):\n{_table(rows)}")
    if short and harness_strict:
        raise CheckFailure(
            f"the {kind} overlay {network} falls short of the underlay by more than {tolerance_pct:g}%: "
            + "; ".join(f"{p}: {', '.join(v)}" for p, v in short.items()),
            [Symptom(OTHER, r.pair.nodes, "; ".join(r.problems(tolerance_pct))) for r in rows if r.problems(tolerance_pct)],
        )
    if short:
        record_property("perf_below_tolerance", "; ".join(f"{p}: {', '.join(v)}" for p, v in short.items()))
