"""A run directory's names and records stay what every earlier version wrote.

Run directories outlive the code that made them (``report`` and ``history`` read old
ones), so the file names are pinned here by their literal spelling, and the records
must read back the JSON earlier versions wrote and write the same JSON again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.errors import UserInputError
from harness.rundir import ADHOC_RUN_ID, RunDir, RunInfo, RunRecord


def test_paths_keep_their_names(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert rd.info_path == tmp_path / "run.json"
    assert rd.inventory == tmp_path / "inventory.json"
    assert rd.doctor == tmp_path / "doctor.json"
    assert rd.up_log == tmp_path / "up.log"
    assert rd.ssh_key == tmp_path / "ssh" / "id_ed25519"
    assert rd.known_hosts == tmp_path / "ssh" / "known_hosts"
    assert rd.terraform_dir == tmp_path / "tf"
    assert rd.terraformrc == tmp_path / "terraformrc"
    assert rd.record_path == tmp_path / "reports" / "report.json"
    assert rd.report_html == tmp_path / "reports" / "report.html"
    assert rd.upgrade_report == tmp_path / "reports" / "upgrade-report.json"
    assert rd.junit() == tmp_path / "reports" / "junit.xml"
    assert rd.matrix("harness-plain") == tmp_path / "reports" / "matrix-harness-plain.json"
    assert rd.mtu("harness-plain") == tmp_path / "reports" / "mtu-harness-plain.json"
    assert rd.artifact_dir("suites/a.py::test[x->y]") == tmp_path / "artifacts" / "suites_a.py_test_x-_y_"
    assert RunDir.of_inventory(tmp_path / "inventory.json") == RunDir(tmp_path.resolve())
    assert str(rd) == str(tmp_path)


def test_run_info_writes_the_json_it_always_wrote(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    info = RunInfo("lab-20261201020000-ab12", "local", "2026-12-01T02:00:00Z", {"lab_name": "lab"}, "up")
    rd.write_info(info)
    assert rd.info_path.read_text() == (
        "{\n"
        '  "run_id": "lab-20261201020000-ab12",\n'
        '  "target": "local",\n'
        '  "created_at": "2026-12-01T02:00:00Z",\n'
        '  "variables": {\n'
        '    "lab_name": "lab"\n'
        "  },\n"
        '  "status": "up"\n'
        "}\n"
    )
    assert rd.read_info() == info
    assert rd.run_id() == "lab-20261201020000-ab12"


def test_run_info_reads_a_partial_record_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert rd.read_info() is None and rd.run_id() == ADHOC_RUN_ID
    rd.info_path.write_text('{"run_id": "lab-1"}')
    assert rd.read_info() == RunInfo("lab-1", "", "", {}, "new")
    rd.info_path.write_text('{"name": "x"}')
    with pytest.raises(UserInputError, match="is not a harness run record"):
        rd.read_info()
    rd.info_path.write_text("{not json")
    with pytest.raises(UserInputError, match="is not a readable run record"):
        rd.read_info()
    with pytest.raises(UserInputError, match="is not a run directory"):
        RunDir(tmp_path / "missing").require_info()


def test_run_record_keeps_the_stage_order_and_leaves_out_what_did_not_run(tmp_path: Path) -> None:
    record = RunRecord(started_at="2026-12-01T02:00:00Z")
    record.summary = {"bootstrap_actions": []}
    record.pytest_exit_code = 0
    record.junit = {}
    record.error = "up failed"
    record.stages_s = {"up": 1.5}
    record.total_s = 2.0
    rd = RunDir(tmp_path)
    path = rd.write_record(record)
    assert path == tmp_path / "reports" / "report.json"
    data = json.loads(path.read_text())
    assert list(data) == [
        "started_at",
        "summary",
        "pytest_exit_code",
        "junit",
        "error",
        "stages_s",
        "total_s",
    ]
    assert data["junit"] == {}, "an empty count is written, only an unset field is left out"
    assert rd.read_record() == record


def test_run_record_reads_old_and_newer_reports(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert rd.read_record() is None
    rd.reports.mkdir()
    rd.record_path.write_text('{"total_s": 3.0, "from_a_newer_version": 1}')
    assert rd.read_record() == RunRecord(started_at="", total_s=3.0)
    rd.record_path.write_text("[1, 2]")
    with pytest.raises(UserInputError, match="is not a harness run report"):
        rd.read_record()


def test_a_damaged_doctor_report_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rd = RunDir(tmp_path)
    assert rd.doctor_report() is None and rd.doctor_data() is None
    rd.doctor.write_text('{"facts": {}}')
    with caplog.at_level(logging.WARNING):
        assert rd.doctor_report() is None
    assert rd.doctor_data() == {"facts": {}}, "the page still shows what a sound file holds"
    assert "ignoring unreadable" in caplog.text
    rd.doctor.write_text("{half")
    assert rd.doctor_report() is None and rd.doctor_data() is None
