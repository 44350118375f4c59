"""The run history: one row per run and per check, regressions across runs, figures that
moved, and one-line errors for a missing or foreign store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness import cli as harness_cli
from harness.errors import UserInputError
from harness.report import publish
from harness.report.history import History, engine_key, figures, since_stamp
from harness.report.rundata import load_run
from tests.unit.report_run import make_run

PAIR = "suites.overlay.test_reachability::test_pair[node1->node2-plain]"


def _two_runs(runs: Path) -> tuple[Path, Path]:
    """Night one clean; night two, the same lab directory again with node1->node2 broken."""
    first = make_run(runs, "lab", "2026-12-01T02:00:00Z", run_id="lab-a")
    publish(first)
    second = make_run(runs, "lab", "2026-12-02T02:00:00Z", frozenset({("node1", "node2")}), 31.0, "lab-b")
    publish(second)
    return first, second


def test_history_command_shows_the_regression_of_the_broken_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    assert harness_cli.main(["history", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    regressions = [ln for ln in out.splitlines() if ln.startswith("REGRESSION")]
    assert len(regressions) == 1, out
    assert PAIR in regressions[0] and "node1->node2: icmp: no answer" in regressions[0]
    trend = next(ln for ln in out.splitlines() if ln.startswith(PAIR))
    assert trend.split()[1] == "PF" and trend.endswith("REGRESSION")
    assert "1 regressions" in out
    assert "2 runs" in out and "engine 20.10.24+dfsg1" in out


def test_history_marks_figures_that_moved_beyond_the_tolerance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    assert harness_cli.main(["history", "--runs-dir", str(runs), "--check", "partition"]) == 0
    out = capsys.readouterr().out
    assert "MOVED suites.faults.test_faults::test_partition_recovers: recovery_s 10 -> 31 (+210%)" in out
    assert "1 checks matching 'partition'" in out
    assert "0 regressions" in out


def test_check_filter_and_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    assert (
        harness_cli.main(["history", "--runs-dir", str(runs), "--check", "NODE1->NODE2", "--last", "1"]) == 0
    )
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("suites.")]
    assert rows == [f"{PAIR}  F"]  # one run shown: no earlier outcome, so no regression either


def test_html_marks_the_regression_with_the_last_outcomes(tmp_path: Path) -> None:
    _, second = _two_runs(tmp_path / "runs")
    text = (second / "reports" / "report.html").read_text()
    row = text[text.index("test_pair[node1-&gt;node2-plain]</td>") :].split("</tr>", 1)[0]
    assert row.count('class="sq passed"') == 1 and row.count('class="sq failed"') == 1
    assert "REGRESSION" in row
    assert "1 regressions" in text
    other = text[text.index("test_pair[node2-&gt;node1-plain]</td>") :].split("</tr>", 1)[0]
    assert "REGRESSION" not in other and other.count('class="sq passed"') == 2


def test_rows_per_run_and_per_check(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first, _ = _two_runs(runs)
    db = sqlite3.connect(runs / "history.sqlite")
    rows = db.execute(
        "SELECT run_id, started_at, inventory, engines, passed FROM runs ORDER BY id"
    ).fetchall()
    assert [r[0] for r in rows] == ["lab-a", "lab-b"]
    assert rows[0][2] == "node1=198.18.0.11,node2=198.18.0.12,node3=198.18.0.13"
    assert '"node1": "20.10.24+dfsg1"' in rows[0][3]
    assert [r[4] for r in rows] == [1, 0]
    n_checks = db.execute(
        "SELECT count(*) FROM checks c JOIN runs r ON r.id = c.run WHERE r.run_id = 'lab-a'"
    )
    assert n_checks.fetchone()[0] == len(load_run(first).checks) == 9
    fig = db.execute("SELECT figures FROM checks WHERE name LIKE '%stop_first%' LIMIT 1").fetchone()[0]
    assert '"traffic_failed": 7.0' in fig and '"update_s": 9.0' in fig


def test_an_older_run_reported_late_is_ordered_by_its_start(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    late = make_run(runs, "old", "2026-11-30T02:00:00Z", frozenset({("node1", "node2")}))
    publish(late)
    with History.open(runs / "history.sqlite") as h:
        past = h.past(PAIR)
        assert [o for _, o in past.outcomes] == ["failed", "passed", "failed"]
        assert past.regression
        assert not h.past(PAIR, load_run(late).run_key).regression


def _on_engine(run: Path, engine: str) -> Path:
    """The run as if its nodes ran ``engine`` (the doctor's facts are where a run says it)."""
    doctor = json.loads((run / "doctor.json").read_text())
    for facts in doctor["facts"].values():
        facts["engine"] = engine
    (run / "doctor.json").write_text(json.dumps(doctor))
    return run


def test_since_shows_only_the_runs_started_from_then(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    _two_runs(runs)
    assert harness_cli.main(["history", "--runs-dir", str(runs), "--since", "2026-12-02"]) == 0
    out = capsys.readouterr().out
    assert "1 runs, 2026-12-02T02:00:00Z .. 2026-12-02T02:00:00Z since 2026-12-02T00:00:00Z" in out
    assert "run lab-a" not in out and "run lab-b" in out
    trend = next(ln for ln in out.splitlines() if ln.startswith(PAIR))
    assert trend.split()[1] == "F" and "REGRESSION" not in trend  # the passing night is before --since
    assert "0 regressions" in out


def test_since_accepts_a_time_ago_and_refuses_other_text() -> None:
    now_s = 1_764_900_000.0  # 2025-12-05T02:00:00Z
    assert since_stamp("2d", now_s) == "2025-12-03T02:00:00Z"
    assert since_stamp("90m", now_s) == "2025-12-05T00:30:00Z"
    assert since_stamp("2026-12-01T02:30") == "2026-12-01T02:30:00Z"
    with pytest.raises(UserInputError, match="neither a time ago nor a UTC date"):
        since_stamp("last tuesday")


def test_a_check_broken_by_an_engine_upgrade_is_a_regression_naming_both_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    for name, day in (("a", "01"), ("b", "02")):
        publish(_on_engine(make_run(runs, name, f"2026-12-{day}T02:00:00Z", run_id=f"lab-{name}"), "20.10.24"))
    broken = frozenset({("node1", "node2")})
    publish(_on_engine(make_run(runs, "c", "2026-12-03T02:00:00Z", broken, run_id="lab-c"), "26.1.5"))
    assert harness_cli.main(["history", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    regression = next(ln for ln in out.splitlines() if ln.startswith(f"REGRESSION {PAIR}"))
    assert "(engine 20.10.24 before, 26.1.5 now)" in regression
    trend = next(ln for ln in out.splitlines() if ln.startswith(PAIR))
    assert trend.split()[1] == "PPF" and "[20.10.24: PP]  [26.1.5: F]" in trend
    # On one Engine version alone, the same check has no regression: it never passed there.
    assert harness_cli.main(["history", "--runs-dir", str(runs), "--engine", "26.1"]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "on engines matching '26.1'" in out and "0 regressions" in out
    assert engine_key({"node1": "26.1.5", "node2": "20.10.24", "node3": "26.1.5"}) == "20.10.24, 26.1.5"


def test_figures_from_properties() -> None:
    props = {"recovery_s": "12.5", "new_leader": "node2", "traffic": '{"sent": 10, "failed": 0}', "x": "{bad"}
    assert figures(props) == {"recovery_s": 12.5, "traffic_sent": 10.0, "traffic_failed": 0.0}


@pytest.mark.parametrize(
    ("setup", "args", "needle"),
    [
        ("none", ["--runs-dir", "nowhere"], "runs directory nowhere does not exist"),
        ("empty", ["--runs-dir", "runs"], "no run history at runs/history.sqlite"),
        ("foreign-text", ["--runs-dir", "runs"], "is not a swarm-harness history store"),
        ("foreign-sqlite", ["--runs-dir", "runs"], "is not a swarm-harness history store"),
        (
            "other-version",
            ["--runs-dir", "runs"],
            "of version 1 (format 'swarm-harness-history', version '9')",
        ),
        ("store-is-dir", ["--runs-dir", "runs"], "history store runs/history.sqlite is a directory"),
        ("empty", ["--runs-dir", "runs", "--last", "0"], "--last 0 must be 1 or more"),
        ("empty", ["--runs-dir", "runs", "--since", "yesterday"], "--since 'yesterday' is neither a time ago"),
    ],
)
def test_history_refuses_bad_input_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    args: list[str],
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "runs" / "history.sqlite"
    if setup != "none":
        store.parent.mkdir()
    if setup == "foreign-text":
        store.write_text("somebody's notes\n")
    if setup == "foreign-sqlite":
        sqlite3.connect(store).execute("CREATE TABLE t (x)").connection.commit()
    if setup == "other-version":
        make_run(tmp_path / "runs")
        publish(tmp_path / "runs" / "lab")
        db = sqlite3.connect(store)
        db.execute("UPDATE meta SET value = '9' WHERE key = 'version'")
        db.commit()
    if setup == "store-is-dir":
        store.mkdir()
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert harness_cli.main(["history", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
