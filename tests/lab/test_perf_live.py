"""The perf suite on a lab of its own, healthy and then broken on purpose twice.

Healthy: every sampled pair is measured on the underlay and the plain overlay with real
figures, and the encrypted overlay is an expected failure for ESP where the kernel lacks
it (measured like the plain one where it has it). Broken: VXLAN dropped from node1 to
node2 fails the plain overlay's check naming node1->node2 and node2->node1 and no other
pair; node1's probe task capped at 20 Mbit/s fails it in strict mode on the throughput
ratio of node1's pairs and no other (without strict mode a shortfall is only reported).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.cluster import Cluster
from harness.faults import block_port, slowed_task
from harness.inventory import load_inventory
from harness.probe.service import deploy_global_probe
from harness.rundir import RunDir
from tests.lab.conftest import own_lab, report_figures, run_suites

LAB = "prf"
SUBNET = "198.18.24.0/24"
PLAIN_CHECK = "test_overlay_throughput_and_latency_against_the_underlay[plain]"


def _cases(junit: Path) -> dict[str, tuple[str, str, dict[str, str]]]:
    """name -> (outcome, message, properties) of every testcase."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, child.get("message", "") + (child.text or "")
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        out[case.get("name", "")] = (outcome, message, props)
    return out


def _perf(run_dir: Path, name: str, *args: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    junit = RunDir(run_dir).report(f"junit-{name}.xml")
    res = run_suites(
        RunDir(run_dir).inventory,
        junit,
        "suites/perf",
        "-m",
        "perf",
        f"--harness-run-dir={run_dir}",
        "--harness-perf-seconds=1",
        *args,
    )
    assert junit.is_file(), res.stdout[-3000:] + res.stderr[-2000:]
    return _cases(junit)


def test_perf_measures_every_pair_and_catches_a_dropped_and_a_slowed_path(tmp_path: Path) -> None:
    with own_lab(LAB, SUBNET, tmp_path / "run") as run_dir:
        healthy = _perf(run_dir, "healthy")
        assert healthy["test_underlay_is_measured_between_every_sampled_pair"][0] == "passed", healthy
        outcome, message, props = healthy[PLAIN_CHECK]
        assert outcome == "passed", message
        # Without strict mode a ratio below the default floor (0.90) is reported, not failed.
        ratios = [float(v) for k, v in props.items() if k.endswith(" ratio") and v not in ("", "None")]
        assert bool(props.get("perf_below_tolerance")) == any(r < 0.9 for r in ratios), props
        figures = json.loads((RunDir(run_dir).reports / "perf-harness-plain.json").read_text())
        underlay = json.loads((RunDir(run_dir).reports / "perf-underlay.json").read_text())
        assert len(figures) == len(underlay) == 6
        for row in figures + underlay:
            assert row["errors"] == [] and row["tcp_mbps"] > 0 and row["rr_per_s"] > 0, row
            assert row["tcp_streams_mbps"] > 0 and row["udp_loss_pct"] is not None, row
        assert {k for k in props if k.endswith("tcp_mbps ratio")} == {
            f"{a}->{b} tcp_mbps ratio"
            for a in ("node1", "node2", "node3")
            for b in ("node1", "node2", "node3")
            if a != b
        }
        encrypted = healthy["test_overlay_throughput_and_latency_against_the_underlay[encrypted]"]
        assert encrypted[0] in ("passed", "skipped"), encrypted  # skipped: xfail for ESP
        if encrypted[0] == "skipped":
            assert "esp" in encrypted[1], encrypted[1]
        report_figures(
            "perf (plain overlay / underlay, Mbit/s)",
            {
                f"{r['src']}->{r['dst']}": f"{r['tcp_mbps']} / {u['tcp_mbps']}"
                for r, u in zip(figures, underlay, strict=True)
            },
        )

        cluster = Cluster(load_inventory(RunDir(run_dir).inventory), "harness-tests")
        try:
            with block_port(cluster, "node2", "node1", 4789, ("udp",)):
                dropped = _perf(run_dir, "dropped", "-k", "plain or underlay")
            outcome, message, _ = dropped[PLAIN_CHECK]
            assert outcome == "failure", message
            named = {
                p
                for p in (
                    "node1->node2",
                    "node2->node1",
                    "node1->node3",
                    "node3->node1",
                    "node2->node3",
                    "node3->node2",
                )
                if f"{p}: " in message
            }
            assert named == {"node1->node2", "node2->node1"}, message
            assert dropped["test_underlay_is_measured_between_every_sampled_pair"][0] == "passed"

            # The suite reuses a global probe of its name that is already there (and removes it
            # when its session ends): deployed first, its node1 task can be slowed beforehand.
            def _slowed(name: str, *args: str) -> dict[str, tuple[str, str, dict[str, str]]]:
                probes = deploy_global_probe(
                    cluster, "harness-plain", cluster.labels("perf-live"), suffix="main"
                )
                task = probes.tasks["node1"]
                with slowed_task(cluster, "node1", task.container_id, task.address, "20mbit"):
                    return _perf(run_dir, name, "-k", "plain or underlay", *args)

            # This lab's healthy overlay measures 0.37-0.86 of its underlay (a CPU-bound path:
            # measured 2026-12-07), so the tolerance here is 90%: a floor of 0.10 that every
            # healthy pair clears and node1's capped task (about 0.00) does not.
            strict = _slowed("slowed-strict", "--harness-strict", "--harness-perf-tolerance=90")
        finally:
            cluster.close()
        outcome, message, _ = strict[PLAIN_CHECK]
        assert outcome == "failure", message
        assert "falls short of the underlay by more than 90%" in message, message
        assert "node1->node2: tcp_mbps" in message and "node1->node3: tcp_mbps" in message, message
        others = ("node2->node1", "node2->node3", "node3->node1", "node3->node2")
        assert not [p for p in others if f"{p}: " in message], message
