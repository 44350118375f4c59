"""pytest plugin: the only module that imports pytest.

Gives suites a cluster from ``--harness-inventory``, per-node and per-pair
parametrisation, labelled and auto-cleaned Docker objects, the doctor's
capability report, and the ``needs`` marker that turns an unmet capability into
a precise report (or, with ``--harness-strict``, a failure).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import suite_progress
from harness.cluster import LABEL_TEST, Cluster
from harness.doctor.needs import needs_verdict, unmet_text
from harness.doctor.report import DoctorReport, aggregate, cluster_identity, run_doctor
from harness.doctor.saved import fresh_report
from harness.doctor.signatures import KNOWN_CAPABILITIES
from harness.errors import HarnessError
from harness.inventory import Inventory, load_inventory
from harness.rundir import RunDir
from harness.swarm.cleanup import cleanup_by_label
from harness.swarm.networks import DEFAULT_NETWORKS, NetworkSpec
from harness.verdict import CheckFailure

log = logging.getLogger(__name__)

_DOCTOR_KEY = pytest.StashKey[DoctorReport]()
_INVENTORY_KEY = pytest.StashKey[Inventory]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("swarm-harness", "Docker Swarm overlay harness")
    g.addoption(
        "--harness-inventory",
        default=os.environ.get("SWARM_HARNESS_INVENTORY"),
        help="inventory.json of a run directory, or a static YAML inventory",
    )
    g.addoption(
        "--harness-strict",
        action="store_true",
        default=False,
        help="an unmet capability fails the check instead of being reported as expected",
    )
    g.addoption(
        "--harness-run-dir",
        default=None,
        help="where reports and artifacts go (default: the inventory's directory)",
    )
    g.addoption("--harness-plain-network", default=DEFAULT_NETWORKS[0].name)
    g.addoption("--harness-encrypted-network", default=DEFAULT_NETWORKS[1].name)
    g.addoption(
        "--harness-data-path-port", type=int, default=None, help="the swarm's --data-path-port, when not 4789"
    )


@pytest.hookimpl(trylast=True)  # after the terminal reporter exists
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): capabilities the check needs (doctor names)")
    config.addinivalue_line("markers", "disruptive: injects faults; run serially after the others")
    config.addinivalue_line("markers", "upgrade: changes engine versions; not in the default selection")
    config.addinivalue_line("markers", "perf: data-path performance (loads the CPU); not in the default selection")
    if not hasattr(config, "workerinput"):
        suite_progress.register(config.pluginmanager, check_id)


# ----------------------------------------------------------------- parametrisation


def _inventory_or_none(config: pytest.Config) -> Inventory | None:
    path = config.getoption("--harness-inventory")
    if not path:
        return None
    cached = config.stash.get(_INVENTORY_KEY, None)
    if cached is None:
        try:
            cached = load_inventory(path)
        except HarnessError as exc:
            raise pytest.UsageError(f"--harness-inventory: {exc.one_line()}") from None
        config.stash[_INVENTORY_KEY] = cached
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    inv = _inventory_or_none(metafunc.config)
    if "harness_node" in metafunc.fixturenames:
        names = [n.name for n in inv.nodes] if inv else []
        metafunc.parametrize("harness_node", names, ids=names, scope="session")
    if "harness_pair" in metafunc.fixturenames:
        names = [n.name for n in inv.nodes] if inv else []
        pairs = [(a, b) for a in names for b in names if a != b]
        metafunc.parametrize("harness_pair", pairs, ids=[f"{a}->{b}" for a, b in pairs], scope="session")


OPT_IN_MARKERS = ("upgrade", "disruptive", "perf")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every ``needs`` name; keep opt-in checks out unless ``-m`` asks for them.

    The upgrade and fault checks change engines or cut nodes off, the perf checks load
    every node's CPU: a plain ``pytest suites`` must not run them behind the user's back.
    """
    for item in items:
        unknown = [n for n in _needs(item) if n not in KNOWN_CAPABILITIES]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: needs({', '.join(map(repr, unknown))}): unknown capability "
                f"(the doctor measures: {', '.join(KNOWN_CAPABILITIES)})"
            )
    if not config.getoption("markexpr", ""):
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for i in items:
            (dropped if any(i.get_closest_marker(m) for m in OPT_IN_MARKERS) else kept).append(i)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    for item in items:
        names = getattr(item, "fixturenames", None)
        if (
            item.get_closest_marker("needs") is not None
            and names is not None
            and "harness_doctor" not in names
        ):
            names.append("harness_doctor")


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def harness_inventory(pytestconfig: pytest.Config) -> Inventory:
    inv = _inventory_or_none(pytestconfig)
    if inv is None:
        raise pytest.UsageError(
            "these suites need a cluster: pass --harness-inventory RUN/inventory.json "
            "(create one with 'swarm-harness up' and 'swarm-harness bootstrap')"
        )
    return inv


@pytest.fixture(scope="session")
def harness_run_dir(pytestconfig: pytest.Config, harness_inventory: Inventory) -> Path:
    path = _run_dir(pytestconfig)
    assert path is not None  # harness_inventory exists, so a run directory does
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def harness_cluster(harness_inventory: Inventory, harness_run_dir: Path) -> Iterator[Cluster]:
    cluster = Cluster(harness_inventory, RunDir(harness_run_dir).run_id())
    try:
        states = cluster.each(lambda n: cluster.docker(n).info().get("Swarm", {}).get("LocalNodeState"))
    except HarnessError as exc:
        pytest.exit(f"cannot reach the cluster: {exc.one_line()}", returncode=2)
    outside = [n for n, s in states.items() if s != "active"]
    if outside:
        pytest.exit(
            f"nodes not in a swarm: {', '.join(outside)} (run 'swarm-harness bootstrap "
            f"--inventory {harness_inventory.source}')",
            returncode=2,
        )
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def harness_doctor(
    request: pytest.FixtureRequest,
    harness_cluster: Cluster,
    harness_run_dir: Path,
    harness_data_path_port: int | None,
) -> DoctorReport:
    """The doctor's report: reused from the run directory only when it is of this cluster and fresh.

    'run' measures it right before the suites; otherwise the first xdist worker to need
    it measures it and writes it, while the others wait for it and read it. A report of
    other nodes, another data-path port, or older than ``DOCTOR_MAX_AGE_S`` is measured
    again, never trusted.
    """
    report = fresh_report(
        RunDir(harness_run_dir).doctor,
        cluster_identity(harness_cluster),
        harness_data_path_port,
        lambda: run_doctor(harness_cluster, data_path_port=harness_data_path_port),
        known=request.config.stash.get(_DOCTOR_KEY, None),
    )
    request.config.stash[_DOCTOR_KEY] = report
    return report


@pytest.fixture(scope="session")
def harness_strict(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--harness-strict"))


@pytest.fixture(scope="session")
def harness_data_path_port(pytestconfig: pytest.Config) -> int | None:
    """The swarm's data-path (VXLAN) port given to the session; None means Docker's 4789."""
    port: int | None = pytestconfig.getoption("--harness-data-path-port")
    return port


@pytest.fixture(scope="session")
def harness_networks(pytestconfig: pytest.Config) -> dict[str, NetworkSpec]:
    return {
        "plain": NetworkSpec(pytestconfig.getoption("--harness-plain-network"), False),
        "encrypted": NetworkSpec(pytestconfig.getoption("--harness-encrypted-network"), True),
    }


def _test_label(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:/\[\]>-]", "_", nodeid)[:200]


@pytest.fixture
def harness_labels(request: pytest.FixtureRequest, harness_cluster: Cluster) -> Iterator[dict[str, str]]:
    """Labels for every Docker object a test creates; removes them all afterwards."""
    labels = harness_cluster.labels(_test_label(request.node.nodeid))
    yield labels
    cleanup_by_label(harness_cluster, f"{LABEL_TEST}={labels[LABEL_TEST]}")


@pytest.fixture(scope="session")
def harness_session_labels(harness_cluster: Cluster) -> Iterator[dict[str, str]]:
    """Labels for objects shared by a whole session (one per xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    labels = harness_cluster.labels(f"session-{worker}")
    yield labels
    cleanup_by_label(harness_cluster, f"{LABEL_TEST}={labels[LABEL_TEST]}")


@pytest.fixture(scope="session")
def harness_worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# ----------------------------------------------------------------- needs marker


def _needs(item: pytest.Item) -> list[str]:
    return [str(a) for m in item.iter_markers("needs") for a in m.args]


_STARTED_KEY = pytest.StashKey[int]()
# pytest-xdist's --dist loadgroup appends "@GROUP" to the node id of every grouped test.
_XDIST_GROUP_SUFFIX = re.compile(r"@[\w.-]+$")


def check_id(nodeid: str) -> str:
    """A check's id as JUnit, the verdict and the history show it: without the "@GROUP"
    that loadgroup scheduling adds, so a check keeps its name whatever worker layout ran it."""
    return _XDIST_GROUP_SUFFIX.sub("", nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # On the controller only, before JUnit and the terminal read it: the workers match
    # their reports to their items by the id they were given.
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        report.nodeid = check_id(report.nodeid)


def _collect_artifacts(item: pytest.Item, rep: pytest.TestReport) -> None:
    funcargs = getattr(item, "funcargs", {})
    cluster = funcargs.get("harness_cluster")
    if cluster is None:
        # The check may reach the cluster only through another fixture.
        cluster = next((v for v in funcargs.values() if isinstance(v, Cluster)), None)
    run_dir = _run_dir(item.config)
    if cluster is None or run_dir is None:
        return
    from harness.artifacts import collect

    networks = [
        item.config.getoption("--harness-plain-network"),
        item.config.getoption("--harness-encrypted-network"),
    ]
    dest = RunDir(run_dir).artifact_dir(item.nodeid)
    since = item.stash.get(_STARTED_KEY, int(time.time()) - 300)
    try:
        collect(cluster, dest, networks, since)
    except HarnessError as exc:
        rep.sections.append(("harness artifacts", f"could not collect artifacts: {exc.one_line()}"))
        return
    rep.sections.append(("harness artifacts", f"failure artifacts: {dest}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    if call.when == "setup":
        item.stash[_STARTED_KEY] = int(time.time()) - 5
    outcome = yield
    rep: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if rep.failed and rep.when == "call":
        _collect_artifacts(item, rep)
        failure = call.excinfo.value if call.excinfo is not None else None
        if isinstance(failure, CheckFailure) and failure.symptoms:  # where, for JUnit's readers
            item.user_properties.append(("nodes", ",".join(sorted({n for s in failure.symptoms for n in s.nodes}))))
    needs = _needs(item)
    if not needs or rep.when != "call":
        return
    report = item.config.stash.get(_DOCTOR_KEY, None)
    if report is None:
        return
    strict = bool(item.config.getoption("--harness-strict"))
    unknown = report.unknown(needs)
    if strict and unknown and rep.passed:
        rep.outcome = "failed"
        rep.longrepr = "strict mode: the check passed, but " + "; ".join(
            f"capability {line}" for line in aggregate(unknown)
        )
        return
    if not report.unmet(needs):
        return
    if rep.passed:
        rep.sections.append(("harness", f"passed although the doctor reported: {unmet_text(report.unmet(needs))}"))
        return
    if not rep.failed:
        return
    exc = call.excinfo.value if call.excinfo is not None else None
    outcome_, message = needs_verdict(needs, report, exc, strict)
    if outcome_ == "xfail":
        rep.outcome = "skipped"
        rep.wasxfail = message
        # On the item: JUnit writes a testcase's properties from its teardown report.
        lacking = report.lacking(needs)
        item.user_properties.append(("capability", ",".join(sorted(lacking))))
        item.user_properties.append(("capability_nodes", ",".join(sorted(set().union(*lacking.values())))))
        return
    crash = getattr(rep.longrepr, "reprcrash", None)
    if crash is not None:
        crash.message = f"{message}\n{crash.message}"
    rep.sections.append(("harness verdict", message))


def _run_dir(config: pytest.Config) -> Path | None:
    inv = _inventory_or_none(config)
    if inv is None:
        return None
    opt = config.getoption("--harness-run-dir")
    return Path(opt) if opt else RunDir.of_inventory(inv.source).path


def _saved_doctor(config: pytest.Config) -> DoctorReport | None:
    """The doctor's report as measured in this session (by any xdist worker)."""
    report = config.stash.get(_DOCTOR_KEY, None)
    if report is not None:
        return report
    run_dir = _run_dir(config)
    return RunDir(run_dir).doctor_report() if run_dir is not None else None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Record provider, engine, kernel and MTU per node as JUnit testsuite properties.

    Done once, on the controller, because xdist workers cannot add suite properties.
    """
    config = session.config
    if hasattr(config, "workerinput"):
        return
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    inv = _inventory_or_none(config)
    report = _saved_doctor(config)
    if xml is None or inv is None or report is None:
        return
    xml.add_global_property("provider", inv.provider)
    for node, facts in sorted(report.facts.items()):
        for key, value in sorted(facts.items()):
            xml.add_global_property(f"{node}.{key}", value)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = _saved_doctor(config)
    if report is None:
        return
    findings = [
        (f"{c.name} {'could not be measured' if c.unknown else 'missing'}", n, c.reason)
        for n, caps in sorted(report.capabilities.items())
        for c in caps.values()
        if not c.present
    ]
    if findings:
        terminalreporter.section("swarm-harness: unmet capabilities on this cluster")
        for line in aggregate(findings):
            terminalreporter.write_line(line, yellow=True, bold="could not be measured" in line)
