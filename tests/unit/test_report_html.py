"""The HTML run report, from a synthetic run directory: the matrix shows each pair's real
outcome, the page needs nothing from outside, and bad run directories are one error line."""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness import cli as harness_cli
from harness.report import publish, publish_after_run
from harness.report.html import render
from harness.report.rundata import load_run
from tests.unit.report_run import NETWORK, make_run, pairs

BROKEN = frozenset({("node1", "node2")})


class _Cells(HTMLParser):
    """Every matrix cell: (src, dst) -> its outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs
        a = dict(attrs)
        if tag == "td" and a.get("data-src"):
            self.cells[(str(a["data-src"]), str(a["data-dst"]))] = str(a["data-outcome"])


def _page(run_dir: Path) -> str:
    page, _ = publish(run_dir)
    return page.read_text()


def _parsed(text: str) -> _Cells:
    p = _Cells()
    p.feed(text)
    return p


def test_matrix_shows_the_broken_pair_failed_and_every_other_pair_passed(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", broken=BROKEN)
    cells = _parsed(_page(run)).cells
    assert set(cells) == set(pairs())
    assert cells[("node1", "node2")] == "failed"
    assert {pair: o for pair, o in cells.items() if pair not in BROKEN} == dict.fromkeys(
        set(pairs()) - BROKEN, "passed"
    )


def test_failed_cell_carries_each_protocol_the_loss_the_mtu_and_the_detail(tmp_path: Path) -> None:
    text = _page(make_run(tmp_path / "runs", broken=BROKEN))
    cell = re.search(r'<td class="cell failed" data-src="node1" data-dst="node2".*?</td>', text, re.S)
    assert cell is not None
    for needle in (
        "icmp: FAILED",
        "tcp: FAILED",
        "udp: FAILED",
        "http: FAILED",
        "lost 10 of 10",
        "timeout",
        "path MTU not measured",
        "diagnosis: VXLAN data path port 4789/udp blocked from node1 to node2",
    ):
        assert needle in cell.group(0), needle
    ok = re.search(r'data-src="node2" data-dst="node1".*?</td>', text, re.S)
    assert ok is not None and "path MTU 1450" in ok.group(0) and "FAILED" not in ok.group(0)
    assert "latency ms: icmp 0.2, tcp 0.5, udp 0.8, http 1.0" in ok.group(0)
    assert "latency ms" not in cell.group(0), "a cell with nothing answered has no latency"


def test_page_is_self_contained(tmp_path: Path) -> None:
    text = _page(make_run(tmp_path / "runs", broken=BROKEN))
    parsed = _parsed(text)
    assert not parsed.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not [v for k, v in parsed.attrs if k == "src"]
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace name, never fetched
    assert "<svg" in text and "<style>" in text


def test_page_holds_verdict_cluster_stages_doctor_logscan_and_checks(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", broken=BROKEN)
    text = _page(run)
    for needle in (
        "verdict: FAILED",
        "1 failed",
        "1 expected failure",
        "unmet capability esp on node1, node2, node3: kernel lacks ESP",  # expected-failure reason
        "1 unexpected dockerd error lines",  # warning
        "198.18.0.11",
        "manager",
        "6.1.0-test",
        "machine kind: uml: this machine&#x27;s kernel lacks what the suites need (ipvs absent)",
        "20.10.24+dfsg1",
        "suites",  # stage name in the timing chart
        "60.0 s",
        f"network {NETWORK}",
        "kernel lacks ESP (INET_ESP)",  # doctor reason
        "4789/udp: BLOCKED",
        "&lt;b&gt;odd&lt;/b&gt;",  # a log line from a host, escaped
        "test_pair[node1-&gt;node2-plain]",
        "node1-&gt;node2: icmp: no answer",
    ):
        assert needle in text, needle
    assert "<b>odd</b>" not in text


def test_failed_check_links_its_artifact_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", broken=BROKEN)
    text = _page(run)
    links = re.findall(r'href="\.\./(artifacts/[^"]+)/"', text)
    assert len(links) == 1
    assert (run / links[0]).is_dir()
    assert "test_pair_node1-_node2-plain_" in links[0]


def test_rolling_update_error_windows_are_drawn(tmp_path: Path) -> None:
    text = _page(make_run(tmp_path / "runs"))
    assert "traffic during rolling updates" in text
    assert "node1: failures from 2.00 s to 3.50 s" in text
    assert ">420<" in text and ">7<" in text


def test_rolling_update_requests_per_second_are_drawn_with_the_failed_seconds(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "runs"))
    (check,) = [c for c in run.checks if "traffic" in c.properties]
    traffic = json.loads(check.properties["traffic"])
    traffic["timeline"] = {"node1": [[20, 0], [12, 3], [20, 0]], "node2": [[19, 0], [20, 0], [20, 0]]}
    check.properties["traffic"] = json.dumps(traffic)
    text = render(run)
    assert "requests per second per node" in text
    assert text.count('class="failed-second"') == 1
    assert "node1, second 1: 12 answered, 3 failed" in text
    assert "node2, second 1: 20 answered, 0 failed" in text
    assert "3 s (peak 20 requests/s)" in text
    assert "failures from" not in text, "the series replaces the bare error windows"


def test_an_upgrade_draws_each_nodes_stages_and_the_traffic_windows_beside_them(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs")
    assert "rolling Engine upgrade" not in _page(run_dir), "no upgrade ran: no section"
    steps = [
        {"node": n, "step": st, "started_s": 10.0 * i + j * 2, "duration_s": 2.0, "ok": True, "detail": ""}
        for i, n in enumerate(("node2", "node3"))
        for j, st in enumerate(("drain", "upgrade", "rejoin", "checks"))
    ]
    steps[-1] = {**steps[-1], "ok": False, "detail": "matrix: 2 of 6 pairs failed"}
    report = {
        "order": ["node2", "node3"],
        "steps": steps,
        "versions": [{"after": "node3", "engines": {"node1": "20.10.24", "node2": "26.1.5"}}],
        "traffic": {
            "sent": 90,
            "failed": 4,
            "longest_gap_s": 1.5,
            "connections": 3,
            "connections_broken": 0,
            "window_s": 4.0,
            "timeline": [[0.5, "node1", 40, 0], [5.0, "node1", 36, 4]],
        },
        "verdict": "upgrade failed",
    }
    (run_dir / "reports" / "upgrade-report.json").write_text(json.dumps(report))
    text = _page(run_dir)
    assert "verdict: <b>upgrade failed</b>; order node2 -&gt; node3" in text
    assert "node3 checks: 16.0 s + 2.0 s FAILED" in text and "node2 drain: 0.0 s + 2.0 s" in text
    assert "from node1 at 5.0 s: 36 answered, 4 failed" in text
    assert text.count('class="failed-window"') == 1
    assert "matrix: 2 of 6 pairs failed" in text and "node2=26.1.5" in text


def test_run_without_updates_has_no_traffic_section(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "runs"))
    run.checks = [c for c in run.checks if "traffic" not in c.properties]
    assert "traffic during rolling updates" not in render(run)


def test_report_json_missing_verdict_is_taken_from_junit(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", broken=BROKEN)
    (run_dir / "reports" / "report.json").unlink()
    run = load_run(run_dir)
    assert run.verdict["counts"]["failed"] == 1
    assert {c.name: c.outcome for c in run.checks}[
        "suites.overlay.test_reachability::test_pair[node1->node2-plain]"
    ] == "failed"


def test_report_command_writes_the_page_and_records_the_run_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "runs", broken=BROKEN)
    assert harness_cli.main(["report", str(run)]) == 0
    assert (run / "reports" / "report.html").is_file()
    assert "recorded this run in" in capsys.readouterr().out
    assert harness_cli.main(["report", str(run)]) == 0
    assert "already in" in capsys.readouterr().out
    assert (tmp_path / "runs" / "history.sqlite").is_file()


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("missing", "does not exist"),
        ("empty", "is not a run directory (no run.json)"),
        ("bad-run-json", "is not a readable run record"),
        ("no-run-id", "is not a harness run record"),
        ("no-results", "holds no results yet"),
        ("bad-report-json", "is not a readable run report"),
        ("foreign-history", "is not a swarm-harness history store"),
    ],
)
def test_report_refuses_bad_input_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, needle: str
) -> None:
    runs = tmp_path / "runs"
    run = runs / "lab"
    if setup != "missing":
        run.mkdir(parents=True)
    if setup == "bad-run-json":
        (run / "run.json").write_text("{not json")
    if setup == "no-run-id":
        (run / "run.json").write_text('{"name": "x"}')
    if setup == "no-results":
        (run / "run.json").write_text('{"run_id": "lab-1"}')
    if setup in ("bad-report-json", "foreign-history"):
        run = make_run(runs)
    if setup == "bad-report-json":
        (run / "reports" / "report.json").write_text("[1, 2")
    if setup == "foreign-history":
        (runs / "history.sqlite").write_text("not a database, somebody's notes\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert harness_cli.main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert "Traceback" not in err[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_publishing_after_a_run_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = make_run(tmp_path / "runs")
    (tmp_path / "runs" / "history.sqlite").write_text("foreign")
    with caplog.at_level(logging.WARNING):
        publish_after_run(run)
        publish_after_run(tmp_path / "nowhere")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "could not be written" in warnings[0].getMessage()


def test_fault_phase_log_scan_is_shown_apart_and_not_counted(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    (run / "reports" / "dockerd-log-scan-faults.json").write_text(
        '{"unexpected": {"node1": ["level=error msg=\\"heartbeat to manager failed\\""]}, "allowed": {}}'
    )
    text = _page(run)
    assert "fault-injection phase" in text and "1 dockerd error lines not on the allow-list" in text
    assert "1 unexpected dockerd error lines" in text  # the suites' window, as before


def test_cluster_is_known_after_down_removed_the_inventory(tmp_path: Path) -> None:
    """``run`` reports after its teardown, and ``down`` removes inventory.json."""
    run_dir = make_run(tmp_path / "runs")
    identity = load_run(run_dir).identity
    (run_dir / "inventory.json").unlink()
    run = load_run(run_dir)
    assert run.identity == identity
    assert [(n["name"], n["role"], n["labels"]["harness.release"]) for n in run.nodes] == [
        ("node1", "manager", "bookworm"),
        ("node2", "worker", "bookworm"),
        ("node3", "worker", "trixie"),
    ]
    assert "198.18.0.13" in render(run)
