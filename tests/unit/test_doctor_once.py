"""The doctor is measured once per session, however many xdist workers need it (pytester).

Each worker is its own process with its own session: the first to need the report
measures and saves it, the others wait and read it. The cluster is a stand-in and
the doctor a stub that logs which worker ran it, so no case dials a host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.doctor.report import DoctorReport

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODES = {"node1": "198.18.0.11", "node2": "198.18.0.12"}

CONFTEST = """
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import harness.pytest_plugin as plugin
from harness.doctor.report import DoctorReport, cluster_identity

RUN_DIR = Path(__file__).parent / "run"
NODES = {nodes!r}


def _stub_doctor(cluster, ports=True, data_path_port=None):
    with (RUN_DIR / "measured.log").open("a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    time.sleep(1.5)  # long enough for the other workers to ask meanwhile
    return DoctorReport(cluster=cluster_identity(cluster), data_path_port=data_path_port, measured_at=time.time())


plugin.run_doctor = _stub_doctor  # this process is the inner pytest (or one of its workers)


@pytest.fixture(scope="session")
def harness_cluster():
    nodes = [SimpleNamespace(name=n, address=a) for n, a in NODES.items()]
    return SimpleNamespace(inventory=SimpleNamespace(nodes=nodes))


@pytest.fixture(scope="session")
def harness_run_dir():
    RUN_DIR.mkdir(exist_ok=True)
    return RUN_DIR
"""

TESTS = """
import os


def _used(harness_doctor, harness_run_dir):
    with (harness_run_dir / "used.log").open("a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    assert sorted(harness_doctor.cluster) == ["node1", "node2"]


def test_one(harness_doctor, harness_run_dir):
    _used(harness_doctor, harness_run_dir)


def test_two(harness_doctor, harness_run_dir):
    _used(harness_doctor, harness_run_dir)
"""


def _run_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, saved: DoctorReport | None
) -> tuple[list[str], set[str]]:
    """Three workers, each running every test; (workers that measured, workers that used it)."""
    # The inner pytest and its workers import this checkout's harness, not an installed one.
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeconftest(CONFTEST.format(nodes=NODES))
    pytester.makepyfile(test_doctor_users=TESTS)
    run_dir = pytester.path / "run"
    run_dir.mkdir()
    if saved is not None:
        saved.write(run_dir / "doctor.json")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "3", "--dist", "each")
    result.assert_outcomes(passed=6)
    measured_log = run_dir / "measured.log"
    measured = measured_log.read_text().split() if measured_log.exists() else []
    used = set((run_dir / "used.log").read_text().split())
    return measured, used


def test_without_a_saved_report_one_worker_measures_and_the_others_read_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured, used = _run_workers(pytester, monkeypatch, None)
    assert used == {"gw0", "gw1", "gw2"}
    assert len(measured) == 1, measured
    saved = json.loads((pytester.path / "run" / "doctor.json").read_text())
    assert saved["cluster"] == NODES


def test_a_report_of_another_cluster_is_measured_again_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = DoctorReport(cluster={"node1": "10.0.0.1"}, measured_at=time.time())
    measured, used = _run_workers(pytester, monkeypatch, other)
    assert used == {"gw0", "gw1", "gw2"}
    assert len(measured) == 1, measured
    assert json.loads((pytester.path / "run" / "doctor.json").read_text())["cluster"] == NODES


def test_a_fresh_report_of_this_cluster_is_read_by_every_worker_and_not_measured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = DoctorReport(cluster=dict(NODES), measured_at=time.time())
    measured, used = _run_workers(pytester, monkeypatch, fresh)
    assert used == {"gw0", "gw1", "gw2"}
    assert measured == []
