"""The HTML report and the run history on real runs: night one clean, night two with the
VXLAN port between node1 and node2 blocked on purpose.

The page is opened in headless Chromium (Debian's ``chromium``, installed by
scripts/setup.sh); the DOM the browser built must show the node1/node2 cells of the
plain overlay failed and every other pair passed, and a screenshot is saved beside
the report. ``history`` must then name the broken pair's checks as regressions.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.faults import block_port
from harness.inventory import load_inventory
from harness.rundir import RunDir
from tests.lab.conftest import cli, own_lab

LAB = "rpt"
SUBNET = "198.18.22.0/24"
PLAIN = "harness-plain"
BROKEN = {("node1", "node2"), ("node2", "node1")}  # VXLAN dropped one way breaks both directions' replies


class _Cells(HTMLParser):
    """The matrix cells of each network, as the browser serialised them."""

    def __init__(self) -> None:
        super().__init__()
        self.network = ""
        self.cells: dict[str, dict[tuple[str, str], str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "h3" and str(a.get("id", "")).startswith("matrix-"):
            self.network = str(a["id"])[len("matrix-") :]
        if tag == "td" and a.get("data-src"):
            self.cells.setdefault(self.network, {})[(str(a["data-src"]), str(a["data-dst"]))] = str(
                a["data-outcome"]
            )


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed (scripts/setup.sh installs it)")
    return subprocess.run(
        [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def lab_run(tmp_path: Path) -> Iterator[Path]:
    with own_lab(LAB, SUBNET, tmp_path / "runs" / LAB) as run_dir:
        yield run_dir


def _run(run_dir: Path) -> int:
    res = cli(
        "run",
        "--inventory",
        str(RunDir(run_dir).inventory),
        "--suites",
        "suites/overlay",
        "--no-disruptive",
        timeout_s=900,
    )
    assert res.returncode in (0, 1), res.stderr[-3000:]
    assert RunDir(run_dir).report_html.is_file(), res.stderr[-3000:]
    return res.returncode


def test_report_shows_the_broken_pair_and_history_the_regression(lab_run: Path) -> None:
    assert _run(lab_run) == 0
    cluster = Cluster(load_inventory(RunDir(lab_run).inventory), "harness-tests")
    try:
        with block_port(cluster, "node2", "node1", 4789, ("udp",)):
            assert _run(lab_run) == 1
    finally:
        cluster.close()

    page = RunDir(lab_run).report_html
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Cells()
    parsed.feed(dom.stdout)
    plain = parsed.cells[PLAIN]
    assert len(plain) == 6
    assert {p: o for p, o in plain.items() if p in BROKEN} == dict.fromkeys(BROKEN, "failed")
    assert {o for p, o in plain.items() if p not in BROKEN} == {"passed"}, plain
    shot = RunDir(lab_run).report("report.png")
    taken = _chromium("--window-size=1400,2000", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]

    history = cli("history", "--runs-dir", str(lab_run.parent), "--check", "test_pair")
    assert history.returncode == 0, history.stderr
    regressions = [ln for ln in history.stdout.splitlines() if ln.startswith("REGRESSION")]
    named = {ln.split()[1].split("[", 1)[1].split("]", 1)[0] for ln in regressions}
    assert {"node1->node2-plain", "node2->node1-plain"} <= named, history.stdout
    assert not {n for n in named if n.endswith("-plain")} - {"node1->node2-plain", "node2->node1-plain"}
