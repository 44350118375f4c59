"""Live local-lab fixtures for the harness's own tests.

One shared lab (``hlt``) serves the tests that only need a formed swarm; tests
that exercise creation and destruction make their own small labs, each with
its own name and subnet, and check that nothing of theirs is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.inventory import Inventory, load_inventory
from harness.lab.naming import state_root
from harness.retry import eventually
from harness.rundir import RunDir

SHARED_LAB = "hlt"
SHARED_SUBNET = "198.18.4.0/24"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, timeout_s: float = 600, env: dict[str, str] | None = None) -> CliResult:
    """Run ``swarm-harness`` as a user would, in a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


REPO = Path(__file__).resolve().parents[2]


def run_suites(
    inventory: Path, junit: Path, *args: str, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the harness's own suites (``args``: paths and pytest options) against ``inventory``
    as a user would, in a separate pytest, with a JUnit file to judge the outcome by."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *args,
            f"--harness-inventory={inventory}",
            f"--junitxml={junit}",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def interrupted_cli(
    args: list[str],
    reached: Callable[[], None],
    what: str,
    signum: int,
    *,
    reach_s: float = 300,
    wait_s: float = 400,
    whole_group: bool = False,
    interval_s: float = 0.2,
    purge_lab: str | None = None,
) -> tuple[int, str]:
    """Start ``swarm-harness ARGS`` in its own session, wait until ``reached()`` stops
    raising NotYet (``what`` names that moment), send ``signum`` to the process or its
    whole group, and return its exit status and stderr. A process still running after
    ``wait_s`` is killed with its group, and a lab it may have left is purged, so one
    failed test does not leave its machines to the next."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        eventually(reached, reach_s, what, interval_s=interval_s)
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=wait_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if purge_lab is not None and leftovers(purge_lab):
            cli("purge", "--lab", purge_lab)
    return proc.returncode, err


def interrupted_errors(returncode: int, err: str, signum: int) -> list[str]:
    """The ``error:`` lines of a harness process ended by ``signum``, once its exit status
    is the signal's (128 + signum) and it printed no traceback."""
    assert returncode == 128 + signum, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


def assert_one_line_error(res: CliResult, *needles: str) -> None:
    """Exit 2, one ``error:`` line naming the problem, no traceback."""
    assert res.returncode == 2, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def leftovers(lab: str) -> list[str]:
    """Every kernel object, process, mount or state file of ``lab`` that still exists."""
    found: list[str] = []
    netns = Path("/run/netns")
    if netns.is_dir():
        found += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith(f"shn-{lab}-")]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    found += [
        f"link {ln['ifname']}"
        for ln in links
        if ln["ifname"] == f"shb-{lab}" or ln["ifname"].startswith(f"shv-{lab}-")
    ]
    base = str(state_root() / "labs" / lab)
    with open("/proc/mounts") as fh:
        found += [f"mount {ln.split()[1]}" for ln in fh if ln.split()[1].startswith(base)]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if any(f"{flag}shm-{lab}-".encode() in cmd for flag in ("--machine=", "guest=", "umid=")):
                found.append(f"process {proc.name}")
    if Path(base).exists():
        found.append(f"state {base}")
    return found


# (what, figures as JSON) of each lab test that measured its own stages, in order.
_FIGURES: list[tuple[str, str]] = []


def report_figures(what: str, figures: Mapping[str, object]) -> None:
    """Keep a lab test's measured figures for the session's summary: pytest hides a passing
    test's output, and the CI log is where one reads where a long lab test spent its time."""
    _FIGURES.append((what, json.dumps(figures)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("lab test figures")
        for what, text in _FIGURES:
            terminalreporter.write_line(f"{what}: {text}")


@contextmanager
def own_lab(lab: str, subnet: str, run_dir: Path, *up_args: str) -> Iterator[Path]:
    """A lab of a test's own with a formed swarm; on exit it is torn down and checked gone.

    ``bootstrap``'s output is kept in ``RUN/bootstrap-1.out`` for the tests that read it.
    """
    if os.geteuid() != 0:
        pytest.fail("the live lab tests must run as root (they create namespaces and machines)")
    cli("purge", "--lab", lab)
    up = cli("up", "--lab", lab, "--subnet", subnet, "--run-dir", str(run_dir), *up_args)
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        boot = cli("bootstrap", "--inventory", str(RunDir(run_dir).inventory))
        assert boot.returncode == 0, boot.stderr[-3000:]
        (run_dir / "bootstrap-1.out").write_text(boot.stdout)
        yield run_dir
    finally:
        down = cli("down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        assert leftovers(lab) == []


@pytest.fixture(scope="session")
def shared_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 3-node lab with a formed swarm, networks and probe images, for the whole session."""
    with own_lab(SHARED_LAB, SHARED_SUBNET, tmp_path_factory.mktemp("shared") / "run") as run_dir:
        yield run_dir


@pytest.fixture(scope="session")
def shared_inventory(shared_run_dir: Path) -> Inventory:
    return load_inventory(RunDir(shared_run_dir).inventory)


@pytest.fixture
def shared_cluster(shared_inventory: Inventory) -> Iterator[Cluster]:
    cluster = Cluster(shared_inventory, "harness-tests")
    yield cluster
    cluster.close()
