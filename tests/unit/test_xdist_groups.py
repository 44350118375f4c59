"""The suites rely on ``--dist loadgroup``: checks of one xdist group run on one worker.

They share one measurement per group (the matrix, the MTU table) and some must not
overlap (the drivers' host-interface reads, the faults). A pytest/xdist pair that drops
the group marks does not fail anything by itself, it only makes the suites slower and
racy, so this runs a small session the way the runner does and asserts the grouping.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

_SUITE = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("module")

def _record(name):
    with open(os.path.join(os.environ["GROUPS_OUT"], name), "w") as fh:
        fh.write(os.environ.get("PYTEST_XDIST_WORKER", "none"))

@pytest.mark.parametrize("n", range(8))
def test_module_grouped(n):
    _record(f"module-{n}")
'''

_PARAMS = '''
import os
import pytest

from suites.params import networks

@pytest.mark.parametrize("kind", networks("probe"))
@pytest.mark.parametrize("n", range(6))
def test_param_grouped(kind, n):
    with open(os.path.join(os.environ["GROUPS_OUT"], f"probe-{kind}-{n}"), "w") as fh:
        fh.write(os.environ.get("PYTEST_XDIST_WORKER", "none"))

@pytest.mark.parametrize("n", range(8))
def test_free(n):
    pass
'''


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "test_module_group.py").write_text(_SUITE)
    (tmp_path / "test_param_group.py").write_text(_PARAMS)
    # The plugin's hook that names checks, without its fixtures (they want an inventory).
    (tmp_path / "conftest.py").write_text("from harness.pytest_plugin import pytest_runtest_logreport  # noqa: F401\n")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "-p", "no:swarm_harness", f"--junitxml={tmp_path / 'junit.xml'}", "--rootdir", str(tmp_path),
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "GROUPS_OUT": str(out), "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for f in out.iterdir():
        workers[f.name.rsplit("-", 1)[0]].add(f.read_text())
    assert set(workers) == {"module", "probe-plain", "probe-encrypted"}
    spread = {group: sorted(w) for group, w in workers.items() if len(w) != 1}
    assert not spread, f"xdist groups ran on several workers (loadgroup ignores the marks): {spread}"
    # The harness's plugin reports each check under its own id, without loadgroup's "@GROUP".
    names = [c.get("name", "") for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")]
    assert len(names) == 8 + 12 + 8 and not [n for n in names if "@" in n], names


def test_check_ids_carry_no_xdist_group_suffix() -> None:
    from harness.pytest_plugin import check_id

    assert check_id("suites/overlay/test_reachability.py::test_matrix[plain]@matrix-plain") == (
        "suites/overlay/test_reachability.py::test_matrix[plain]"
    )
    assert check_id("suites/mtu/test_mtu.py::test_mtu_boundary_and_large_body[node1->node2-encrypted]@mtu-encrypted") == (
        "suites/mtu/test_mtu.py::test_mtu_boundary_and_large_body[node1->node2-encrypted]"
    )
    assert check_id("suites/dns/test_service_dns.py::test_removed_service_stops_resolving") == (
        "suites/dns/test_service_dns.py::test_removed_service_stops_resolving"
    )
