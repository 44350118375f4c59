"""`swarm-harness run`, the main job, end to end on a fresh 3-node lab."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.retry import NotYet
from harness.rundir import JUNIT_DISRUPTIVE, RunDir
from tests.lab.conftest import cli, interrupted_cli, leftovers, report_figures


def _cases(junit: Path) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.parse(junit).getroot().iter("testcase")}


def _property(case: ET.Element, name: str) -> str:
    for prop in case.iter("property"):
        if prop.get("name") == name:
            return prop.get("value") or ""
    raise AssertionError(f"{case.get('name')} has no property {name}")


# The checks that carry traffic over the encrypted overlay (this kernel has no ESP) or
# through a VIP or the ingress mesh (no IPVS): the only expected failures of the main job.
ESP_CHECKS = (
    "test_matrix",
    "test_pair",
    "test_mtu_boundary_and_large_body",
    "test_overlay_on_the_wire",
)
IPVS_CHECKS = (
    "test_vip_spreads_over_every_replica",
    "test_vip_reaches_only_current_tasks_right_after_an_update",
    "test_ingress_answers_on_every_node",
)
EXPECTED_FAILURES = 17  # 14 ESP checks and 3 IPVS checks


# Error lines the harness itself used to make dockerd log: requests to workers, removals of
# networks still in use or already gone, killed or crashing probe tasks, verbose inspects.
# (A DELETE of a network already gone, about once a run, is not listed: its caller is not
# yet found after the cleanup's own causes were removed; it stays a verdict warning.)
HARNESS_CAUSED = (
    "This node is not a swarm manager",
    "non-zero exit (137)",
    "non-zero exit (1)",
    "Inconsistent driver and libnetwork state",
)


def _needs_missing(name: str) -> bool:
    base = name.split("[")[0]
    return (base in ESP_CHECKS and "encrypted" in name) or base in IPVS_CHECKS


def _outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def test_run_main_job(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cli("purge", "--lab", "hre")
    res = cli("run", "--lab", "hre", "--subnet", "198.18.8.0/24", "--run-dir", str(run_dir), timeout_s=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cases = _cases(RunDir(run_dir).junit())
    plain = {n: c for n, c in cases.items() if n.startswith("test_pair") and n.endswith("-plain]")}
    plain["test_matrix[plain]"] = cases["test_matrix[plain]"]
    assert len(plain) == 7
    assert all(
        len(c) == 0 or all(ch.tag in ("properties", "system-out", "system-err") for ch in c)
        for c in plain.values()
    ), "a plain-overlay check did not pass"
    pairs = sorted(n for n in plain if n.startswith("test_pair"))
    assert len(pairs) == 6
    matrix = json.loads(RunDir(run_dir).matrix("harness-plain").read_text())
    assert len(matrix["checks"]) == 24 and all(c["ok"] for c in matrix["checks"])
    assert {c["protocol"] for c in matrix["checks"]} == {"icmp", "tcp", "udp", "http"}
    # The encrypted overlay cannot pass here (no ESP): reported precisely, never as a pass.
    enc = {n: c for n, c in cases.items() if n.startswith("test_pair") and "encrypted" in n}
    assert len(enc) == 6
    for name, case in enc.items():
        skipped = case.find("skipped")
        assert skipped is not None, f"{name} was not reported as an expected failure"
        assert "unmet capability esp on node1, node2, node3" in (skipped.get("message") or "")
    report = json.loads(RunDir(run_dir).record_path.read_text())
    assert report["pytest_exit_code"] == 0
    assert set(report["stages_s"]) >= {"up", "bootstrap", "probe images", "doctor", "suites", "down"}
    report_figures("main job (run --lab hre) stages", report["stages_s"])
    # Passing: reachability 7 + DNS 5 + MTU 6 pairs and 2 underlay checks + the plain wire capture 1
    # + the VXLAN tables 2 (plain and encrypted: docker programs both without ESP).
    # Expected failures (no ESP): reachability 7 + MTU 6 + the encrypted wire capture 1.
    assert report["junit"]["failures"] == 0 and report["junit"]["errors"] == 0
    # + load balancing: DNSRR spread and host-mode publishing pass; the VIP spread, the VIP
    # right after an update and ingress need IPVS (absent).
    # + DNS after an update and for a container name 2, rolling updates 8, drivers and
    # isolation 7, the shop stack 1: all pass here.
    # Judged per test, not by totals (a pass and an expected failure swapped keep the totals):
    # exactly the checks that need ESP or IPVS are expected failures, every other one passed.
    ran = list(ET.parse(RunDir(run_dir).junit()).getroot().iter("testcase"))
    outcome = {(c.get("classname", ""), c.get("name", "")): _outcome(c) for c in ran}
    needs_missing = {key for key in outcome if _needs_missing(key[1])}
    assert len(needs_missing) == EXPECTED_FAILURES, sorted(needs_missing)
    wrong = {key: o for key, o in outcome.items() if o != ("skipped" if key in needs_missing else "passed")}
    assert wrong == {}, wrong
    assert (report["junit"]["passed"], report["junit"]["skipped"]) == (len(outcome) - EXPECTED_FAILURES, EXPECTED_FAILURES)
    for suite, count in (("test_rolling_updates", 8), ("test_drivers", 7), ("test_shop_stack", 1)):
        assert len([c for c in ran if suite in (c.get("classname") or "")]) == count, suite
    zero_loss = cases["test_start_first_with_healthcheck_loses_no_request"]
    traffic = json.loads(_property(zero_loss, "traffic"))
    assert traffic["sent"] >= 200 and traffic["failed"] == 0 and set(traffic["versions"]) == {"v1", "v2"}
    for name in IPVS_CHECKS:
        skipped = cases[name].find("skipped")
        assert skipped is not None and "unmet capability ipvs on node1, node2, node3" in (
            skipped.get("message") or ""
        )
    # Fault injection ran last, serially: 6 faults recovered (DNS after a short disconnect and a
    # node reboot among them); leader loss needs 3 managers (1 here).
    assert report["junit_disruptive"] == {"tests": 7, "failures": 0, "errors": 0, "skipped": 1, "passed": 6}
    timings = report["fault_timings"]
    assert float(timings["test_partitioned_node_recovers"]["recovery_s"]) > 0
    assert float(timings["test_stopped_engine_tasks_are_rescheduled"]["rescheduled_s"]) > 0
    assert 0 < float(timings["test_service_dns_heals_after_a_short_disconnect"]["dns_healed_s"]) <= 60
    rebooted = timings["test_rebooted_node_brings_back_its_tasks_and_overlay"]
    assert float(rebooted["booted_s"]) > 0 and float(rebooted["recovery_s"]) > 0, rebooted
    dis = _cases(RunDir(run_dir).junit(JUNIT_DISRUPTIVE))
    skipped = dis["test_leader_loss_elects_a_new_leader"].find("skipped")
    assert skipped is not None and "needs 3 managers; this cluster has 1" in (skipped.get("message") or "")
    wire = json.loads(RunDir(run_dir).wire("harness-plain").read_text())
    assert wire["vxlan_plaintext"] > 0
    # The same capture outside the node, on this machine's port of the lab bridge for node1.
    assert wire["outside"]["interface"] == "shv-hre-1" and wire["outside"]["vxlan_plaintext"] > 0, wire
    # The dockerd journals were scanned against the allow-list and the result kept: every
    # node's journal was read, and the run's report counts the same unexpected lines.
    scan = json.loads(RunDir(run_dir).report("dockerd-log-scan.json").read_text())
    assert set(scan["unexpected"]) == set(scan["allowed"]) == {"node1", "node2", "node3"}
    unexpected = sum(len(lines) for lines in scan["unexpected"].values())
    # Every node's journal held lines, so the scan has nothing it could not read.
    assert report["dockerd_log_scan"] == {
        "clean": unexpected == 0,
        "unexpected": unexpected,
        "findings": [],
    }, scan["unexpected"]
    assert sum(sum(v.values()) for v in scan["allowed"].values()) > 0  # e.g. the missing-IPVS sysctl reads
    # The harness's own actions cause no dockerd error line in its suites' window (the
    # fault phase is scanned on its own: its faults cause errors on purpose). Lines the
    # engine logs by itself and no allow-list entry explains (e.g. NetworkDB's "Bulk sync
    # to node ... timed out", seen about once a run on this loaded 2-core machine) are
    # reported, as a warning of the verdict.
    lines = [f"{n}: {ln}" for n, found in scan["unexpected"].items() for ln in found]
    caused = [ln for ln in lines if any(mark in ln for mark in HARNESS_CAUSED)]
    assert caused == [], "\n".join(caused)
    assert RunDir(run_dir).report("dockerd-log-scan-faults.json").is_file()
    # One verdict, each outcome counted on its own: nothing failed, the 17 ESP/IPVS checks
    # are expected failures (not "skipped"), leader loss is the one skip (1 manager).
    verdict = report["verdict"]
    assert verdict["passed"] is True and verdict["exit_code"] == 0, verdict["warnings"]
    assert verdict["counts"] == {
        "passed": len(outcome) - EXPECTED_FAILURES + 6,  # + the fault phase's 6 passes
        "failed": 0,
        "xfailed": EXPECTED_FAILURES,
        "flaky": 0,
        "skipped": 1,
    }, verdict["counts"]
    expected_warnings = [f"{unexpected} unexpected dockerd error lines (reports/dockerd-log-scan.json)"]
    assert verdict["warnings"] == (expected_warnings if unexpected else []), verdict["warnings"]
    assert "verdict: PASSED: " in res.stdout and f"{EXPECTED_FAILURES} expected failures, 0 flaky, 1 skipped" in res.stdout
    # The suites' progress line, on its own lines of the plain (non-TTY) log.
    progress = [ln for ln in res.stdout.splitlines() if ln.startswith("progress: ")]
    assert progress and all(" checks done " in ln and " elapsed" in ln for ln in progress), progress[:3]
    # Each failed (expected-failure) check left an artifact bundle, with secrets redacted.
    bundles = sorted(p.name for p in RunDir(run_dir).artifacts.iterdir())
    assert len(bundles) == EXPECTED_FAILURES
    assert all(
        "encrypted" in b or "vip_spreads" in b or "vip_reaches" in b or "ingress_answers" in b for b in bundles
    ), bundles
    node1 = RunDir(run_dir).artifacts / bundles[0] / "node1"
    for name in (
        "docker-info.txt",
        "service-ps.txt",
        "network-inspect.json",
        "dockerd-journal.txt",
        "iptables-save.txt",
        "xfrm-state.txt",
        "xfrm-policy.txt",
        "ip-link.txt",
        "routes.txt",
        "overlay-fdb.txt",
        "task-logs.txt",
    ):
        assert (node1 / name).is_file(), name
    assert "harness-encrypted" in (node1 / "network-inspect.json").read_text()
    for path in RunDir(run_dir).artifacts.rglob("*"):
        if path.is_file():
            assert "SWMTKN-1-" not in path.read_text(errors="replace"), path
    props = {
        p.get("name"): p.get("value", "")
        for p in ET.parse(RunDir(run_dir).junit()).getroot().iter("property")
    }
    assert props["provider"] == "local"
    assert props["node1.engine"].startswith("20.10")
    assert "node3.kernel" in props
    # The page shows what the real probes measured: each plain-overlay cell's latency, and
    # each node's requests per second during the rolling updates.
    page = RunDir(run_dir).report_html.read_text()
    assert page.count("latency ms: icmp ") >= 6, "every plain pair answered, so every one is timed"
    assert "requests per second per node" in page and "second 0: " in page
    assert leftovers("hre") == []


def test_run_tears_down_on_ctrl_c(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    def _in_suites() -> None:
        if not RunDir(run_dir).doctor.exists():
            raise NotYet("not in the suites stage yet")

    returncode, err = interrupted_cli(
        ["run", "--lab", "hri", "--subnet", "198.18.9.0/24", "--run-dir", str(run_dir)],
        _in_suites,
        "the run to reach its suites",
        signal.SIGINT,
        wait_s=300,
        whole_group=True,
    )
    assert returncode == 130, err[-2000:]
    assert "== down" in err
    assert leftovers("hri") == []
