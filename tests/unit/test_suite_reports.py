"""The suites' shared measurements: made once per session, written to RUN/reports as they are made."""

from __future__ import annotations

import json
from pathlib import Path

from suites.context import SuiteReports


def test_a_measurement_is_made_once_and_written_when_made(tmp_path: Path) -> None:
    reports = SuiteReports(tmp_path / "reports")
    calls: list[str] = []

    def measure() -> list[int]:
        calls.append("measured")
        return [1, 2]

    first = reports.measured_once("mtu-net.json", measure, lambda r: {"values": r})
    assert json.loads((tmp_path / "reports" / "mtu-net.json").read_text()) == {"values": [1, 2]}
    assert reports.measured_once("mtu-net.json", measure, lambda r: {"values": r}) is first
    assert calls == ["measured"]
    reports.measured_once("mtu-other.json", measure, lambda r: r)
    assert calls == ["measured", "measured"]


def test_save_writes_indented_json_under_the_reports_directory(tmp_path: Path) -> None:
    path = SuiteReports(tmp_path / "reports").save("wire-net.json", {"esp": 3})
    assert path == tmp_path / "reports" / "wire-net.json"
    assert path.read_text() == json.dumps({"esp": 3}, indent=2)
