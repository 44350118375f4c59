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

import docker.errors
import pytest

from harness.cluster import LABEL_TEST, Cluster
from harness.doctor.report import DoctorReport, aggregate, cluster_identity, run_doctor
from harness.doctor.signatures import KNOWN_CAPABILITIES, judge
from harness.errors import HarnessError, WaitTimeout
from harness.inventory import Inventory, load_inventory
from harness.retry import NotYet, eventually
from harness.rundir import RunDir
from harness.swarm.networks import DEFAULT_NETWORKS, NetworkSpec, network_gone
from harness.verdict import CheckFailure

log = logging.getLogger(__name__)

_DOCTOR_KEY = pytest.StashKey[DoctorReport]()
# A capability changes only when a host is rebooted or upgraded; a report from before
# the longest default run (about 15 min on the slowest lab kind) is remeasured.
DOCTOR_MAX_AGE_S = 3600.0


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): capabilities the check needs (doctor names)")
    config.addinivalue_line("markers", "disruptive: injects faults; run serially after the others")
    config.addinivalue_line("markers", "upgrade: changes engine versions; not in the default selection")


# ----------------------------------------------------------------- parametrisation


def _inventory_or_none(config: pytest.Config) -> Inventory | None:
    path = config.getoption("--harness-inventory")
    if not path:
        return None
    cached = getattr(config, "_harness_inventory", None)
    if cached is None:
        try:
            cached = load_inventory(path)
        except HarnessError as exc:
            raise pytest.UsageError(f"--harness-inventory: {exc.one_line()}") from None
        config._harness_inventory = cached  # type: ignore[attr-defined]
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


OPT_IN_MARKERS = ("upgrade", "disruptive")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every ``needs`` name; keep opt-in checks out unless ``-m`` asks for them.

    The upgrade and fault checks change engines or cut nodes off: a plain
    ``pytest suites`` must not run them behind the user's back.
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
    request: pytest.FixtureRequest, harness_cluster: Cluster, harness_run_dir: Path
) -> DoctorReport:
    """The doctor's report: reused from the run directory only when it is of this cluster and fresh.

    'run' measures it right before the suites, and the first xdist worker to need it
    writes it for the others; a report of other nodes, another data-path port, or
    older than ``DOCTOR_MAX_AGE_S`` is measured again, never trusted.
    """
    port = request.config.getoption("--harness-data-path-port")
    report = _saved_doctor(request.config)
    stale = (
        report.describes(cluster_identity(harness_cluster), port, DOCTOR_MAX_AGE_S)
        if report is not None
        else "there is none"
    )
    if stale is not None:
        log.info("measuring the doctor's report again: %s", stale)
        report = run_doctor(harness_cluster, data_path_port=port)
        RunDir(harness_run_dir).write_doctor(report)
    assert report is not None
    request.config.stash[_DOCTOR_KEY] = report
    return report


@pytest.fixture(scope="session")
def harness_strict(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--harness-strict"))


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


def cleanup_by_label(cluster: Cluster, label: str) -> None:
    client = cluster.manager_docker()
    removed = set()
    for svc in client.services.list(filters={"label": label}):
        svc.remove()
        removed.add(svc.id)
    quoted = label.replace("'", "")
    # Containers a test ran itself; a service's tasks are left to the swarm to stop
    # gracefully (a forced removal kills them and dockerd logs a fatal task error).
    cluster.run_all(
        f"docker ps -a --filter 'label={quoted}' --format '{{{{.ID}}}} {{{{.Label \"com.docker.swarm.task.id\"}}}}'"
        " | awk '$2 == \"\" {print $1}' | xargs -r docker rm -f",
        timeout_s=60,
    )

    def _tasks_gone() -> None:
        # Until the swarm has deleted a removed service's tasks, its networks are "in use"
        # and each removal attempt makes dockerd log an error: wait for that instead.
        left = [t["ID"][:12] for t in client.api.tasks() if t.get("ServiceID") in removed]
        if left:
            raise NotYet(f"{len(left)} tasks of removed services still listed: {', '.join(left[:5])}")

    if removed:
        try:
            eventually(_tasks_gone, 60, f"the tasks of services labelled {label} to be deleted", interval_s=1)
        except WaitTimeout as exc:
            log.warning("%s; removing their networks anyway", exc.message)

    deleted: set[str] = set()

    def _in_swarm(net_id: str) -> bool:
        # The manager's listing lags a removal (another check's, or 'docker stack rm');
        # asking swarmkit itself costs a 404, where a DELETE of the gone network is a
        # 500 that dockerd logs as an error.
        try:
            client.api.inspect_network(net_id, scope="swarm")
        except docker.errors.NotFound:
            deleted.add(net_id)
            return False
        return True

    def _networks_gone() -> None:
        # A swarm network stays "in use" until its tasks are torn down on every node. The
        # manager may list a network it has just deleted for a moment: never ask twice.
        busy = []
        for net in client.networks.list(filters={"label": label}):
            if net.id in deleted or (net.attrs.get("Scope") == "swarm" and not _in_swarm(net.id)):
                continue
            try:
                net.remove()
            except docker.errors.APIError as exc:
                # A swarm network deleted meanwhile answers 500 "network ... not found", not 404.
                if not network_gone(exc):
                    busy.append(f"{net.name}: {exc.explanation}")
                    continue
            deleted.add(net.id)
        if busy:
            raise NotYet("; ".join(busy))

    try:
        eventually(_networks_gone, 30, f"networks labelled {label} to be removable", interval_s=1)
    except WaitTimeout as exc:
        log.warning("%s; 'swarm-harness purge' removes them later", exc.message)
    # Node-local networks (bridges, macvlan config-only networks) exist on their node only.
    # Swarm-scoped ones were removed through the manager above; asking a worker (or a
    # manager's stale listing) to remove one only makes dockerd log an error.
    cluster.run_all(
        f"docker network ls -q --filter 'label={quoted}' --filter scope=local | xargs -r docker network rm",
        timeout_s=60,
    )


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


def _unmet_text(unmet: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"unmet capability {line}" for line in aggregate(unmet))


def needs_verdict(
    needs: list[str], report: DoctorReport, exc: BaseException | None, strict: bool
) -> tuple[str, str]:
    """The outcome of a failed check that needs capabilities: ("xfail" | "failed", message).

    An expected failure only when every failed observation the check reported is what
    a capability the doctor measured *absent* produces, on a node lacking it; never in
    strict mode, never for an unrelated assertion or exception, never when the
    capability could only be reported unknown.
    """
    unmet = report.unmet(needs)
    text = _unmet_text(unmet)
    if strict:
        return "failed", f"strict mode: {text}"
    if report.unknown(needs):
        return "failed", f"{text}; a capability that could not be measured never excuses a failure"
    if not isinstance(exc, CheckFailure):
        what = f"{type(exc).__name__}" if exc is not None else "an error"
        return "failed", (
            f"{text}; but this failure ({what}) reports no observations, so it is not one the "
            "missing capability causes: it is a real failure"
        )
    judgement = judge(exc.symptoms, report.lacking(needs))
    if not judgement.expected:
        return "failed", f"{text}; but {judgement.reason}: a real failure"
    return "xfail", f"{text}. The check ran and failed as predicted ({judgement.reason}): {exc.message[:300]}"


_STARTED_KEY = pytest.StashKey[int]()


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
        rep.sections.append(("harness", f"passed although the doctor reported: {_unmet_text(report.unmet(needs))}"))
        return
    if not rep.failed:
        return
    exc = call.excinfo.value if call.excinfo is not None else None
    outcome_, message = needs_verdict(needs, report, exc, strict)
    if outcome_ == "xfail":
        rep.outcome = "skipped"
        rep.wasxfail = message
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
