"""CLI commands that act on a cluster: bootstrap, doctor, and the whole ``run``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli_options import add_hosts_options, check_target_options, harness_command, local_spec
from harness.errors import HarnessError, TransportError, UserInputError
from harness.runner import DEFAULT_MARKERS, DEFAULT_WORKERS

if TYPE_CHECKING:
    from harness.run_verdict import RunVerdict

log = logging.getLogger(__name__)


def _check_data_path_port(port: int | None) -> None:
    if port is not None and not 1024 <= port <= 49151:
        raise UserInputError(f"--data-path-port {port} is outside 1024..49151", "pick a free UDP port")


def _settings(args: argparse.Namespace) -> Any:
    from harness.swarm.bootstrap import SwarmSettings

    _check_data_path_port(args.data_path_port)
    return SwarmSettings(data_path_port=args.data_path_port)


def _check_out_file(option: str, value: str) -> Path:
    """A report file whose directory is missing fails before the measuring, not after it."""
    path = Path(value)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserInputError(f"{option} {path} is a directory", "name a file, e.g. doctor.json inside it")
    if not parent.is_dir():
        raise UserInputError(
            f"{option} {path}: the directory {parent} does not exist", f"create it (mkdir -p {parent}) first"
        )
    if not os.access(parent, os.W_OK):
        raise UserInputError(f"{option} {path}: the directory {parent} is not writable", "pick another path")
    return path


# Swarm's own rule for object names: a DNS label, letters and digits joined by - or _.
_NETWORK_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[-_]*[A-Za-z0-9]+)*$")


def _networks(args: argparse.Namespace) -> Any:
    """Both overlays' names are checked before any is created, so a bad second name never
    leaves the first network behind."""
    from harness.swarm.networks import NetworkSpec

    for option, name in (("--plain-network", args.plain_network), ("--encrypted-network", args.encrypted_network)):
        if len(name) > 63 or not _NETWORK_NAME_RE.match(name):
            raise UserInputError(
                f"{option} {name!r} is not a valid swarm network name",
                "use up to 63 letters and digits, joined by '-' or '_' (a DNS name component)",
            )
    if args.plain_network == args.encrypted_network:
        raise UserInputError(
            f"--plain-network and --encrypted-network are both {args.plain_network!r}",
            "give the plain and the encrypted overlay different names",
        )
    return (NetworkSpec(args.plain_network, False), NetworkSpec(args.encrypted_network, True))


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from harness.inventory import load_inventory
    from harness.rundir import RunDir
    from harness.runner import StageTimer, prepare_cluster

    inv = load_inventory(args.inventory)
    run_dir = RunDir.of_inventory(args.inventory).path
    timer = StageTimer()
    summary = prepare_cluster(inv, run_dir, _settings(args), _networks(args), timer)
    actions = summary["bootstrap_actions"]
    print("bootstrap: " + ("; ".join(actions) if actions else "no changes (swarm already formed)"))
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timer.stages.items()))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.cluster import Cluster
    from harness.doctor.report import run_doctor
    from harness.inventory import load_inventory

    _check_data_path_port(args.data_path_port)
    out = _check_out_file("--out", args.out) if args.out else None
    inv = load_inventory(args.inventory)
    cluster = Cluster(inv)
    try:
        report = run_doctor(cluster, ports=not args.no_ports, data_path_port=args.data_path_port)
    finally:
        cluster.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.table())
    if out is not None:
        report.write(out)
    if args.strict and (
        report.unmet(["vxlan", "ipvs", "esp"])
        or report.blocked_ports()
        or report.firewall_findings()
        or report.addressing
    ):
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.inventory import load_inventory
    from harness.provision.local_lab import LocalLab
    from harness.provision.providers import down, up
    from harness.provision.terraform_target import TerraformTarget, parse_vars
    from harness.run_verdict import run_verdict
    from harness.rundir import (
        JUNIT,
        JUNIT_DISRUPTIVE,
        JUNIT_PERF,
        LOG_SCAN_FAULTS,
        RunDir,
        RunRecord,
        default_run_dir,
    )
    from harness.runner import (
        StageTimer,
        junit_counts,
        junit_properties,
        prepare_cluster,
        run_suites,
        saved_doctor,
        scan_logs,
        write_report,
    )

    check_target_options(args)
    _check_run_options(args)
    timer = StageTimer()
    started = time.monotonic()
    own_cluster = args.inventory is None
    cloud = own_cluster and args.target != "local"
    if cloud:
        run_dir = args.run_dir or default_run_dir(args.target)
    elif own_cluster:
        spec = local_spec(args)
        run_dir = args.run_dir or default_run_dir(args.lab)
    else:
        # A missing or invalid inventory fails here, before a report is written beside it.
        load_inventory(args.inventory)
        run_dir = RunDir.of_inventory(args.inventory).path
    rd = RunDir(run_dir)
    reached = True
    verdict: RunVerdict | None = None
    record = RunRecord(started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    exit_code = 2
    try:
        if cloud:
            timer.run("up", up, TerraformTarget(args.target, parse_vars(args.var)), run_dir)
            inv_path = rd.inventory
        elif own_cluster:
            timer.run("up", up, LocalLab(spec, harness_command()), run_dir)
            inv_path = rd.inventory
        else:
            inv_path = Path(args.inventory)
        inv = load_inventory(inv_path)
        record.summary = prepare_cluster(inv, run_dir, _settings(args), _networks(args), timer)
        extra = [
            "--harness-plain-network",
            args.plain_network,
            "--harness-encrypted-network",
            args.encrypted_network,
        ]
        if args.data_path_port:
            extra += ["--harness-data-path-port", str(args.data_path_port)]
        if args.k:
            extra += ["-k", args.k]
        suites_from = int(time.time()) - 1
        exit_code = timer.run(
            "suites",
            run_suites,
            inv_path,
            run_dir,
            args.suites,
            args.markers,
            args.strict,
            extra,
            args.workers,
        )
        record.pytest_exit_code = exit_code
        record.junit = junit_counts(rd.junit(JUNIT))
        if args.perf and args.markers == DEFAULT_MARKERS:
            # Alone and serially: it loads every node's CPU, which would slow the other
            # checks and let them halve its figures.
            perf_rc = timer.run(
                "perf suite", run_suites, inv_path, run_dir, args.suites, "perf and not upgrade", args.strict,
                extra, "0", JUNIT_PERF,
            )  # fmt: skip
            record.perf_exit_code = perf_rc
            record.junit_perf = junit_counts(rd.junit(JUNIT_PERF))
            exit_code = exit_code or phase_rc(perf_rc, "perf")
        faults_from: int | None = None
        if args.disruptive and args.markers == DEFAULT_MARKERS:
            faults_from = int(time.time())
            # Fault injection last and serially: it breaks the cluster on purpose.
            faults_rc = timer.run(
                "disruptive suites",
                run_suites,
                inv_path,
                run_dir,
                args.suites,
                "disruptive and not upgrade",
                args.strict,
                extra,
                "0",
                JUNIT_DISRUPTIVE,
            )
            record.disruptive_exit_code = faults_rc
            record.junit_disruptive = junit_counts(rd.junit(JUNIT_DISRUPTIVE))
            record.fault_timings = junit_properties(rd.junit(JUNIT_DISRUPTIVE))
            exit_code = exit_code or phase_rc(faults_rc, "disruptive")
        record.dockerd_log_scan = timer.run("log scan", scan_logs, inv, run_dir, suites_from, faults_from)
        if faults_from is not None:
            record.dockerd_log_scan_faults = scan_logs(inv, run_dir, faults_from, None, LOG_SCAN_FAULTS)
        verdict = run_verdict(
            [rd.junit(JUNIT), rd.junit(JUNIT_PERF), rd.junit(JUNIT_DISRUPTIVE)],
            saved_doctor(run_dir),
            record.dockerd_log_scan["unexpected"],
            args.strict,
            record.dockerd_log_scan.get("findings"),
        )
        record.verdict = verdict.to_dict()
        # The verdict decides, except where pytest itself broke (usage error, interrupted).
        exit_code = verdict.exit_code if exit_code in (0, 1) else exit_code
    except KeyboardInterrupt:
        log.error("interrupted; tearing down")
        exit_code = 130
        raise
    except HarnessError as exc:
        record.error = exc.one_line()
        # Hosts that never answered got no run: no report beside their inventory.
        reached = own_cluster or not isinstance(exc, TransportError)
        raise
    finally:
        if own_cluster and not args.keep and rd.info_path.exists():
            try:
                timer.run("down", down, run_dir)
            except HarnessError as exc:
                log.error("teardown failed: %s", exc.one_line())
        record.stages_s = timer.stages
        record.total_s = round(time.monotonic() - started, 2)
        if run_dir.exists() and reached:
            path = write_report(run_dir, record)
            log.info("report: %s", path)
            from harness.report import publish_after_run

            publish_after_run(run_dir)
    print(
        f"run finished in {record.total_s:.0f}s; stages: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in timer.stages.items())
    )
    if verdict is not None:
        print(verdict.summary())
    print(f"reports: {rd.junit(JUNIT)}, {rd.record_path}")
    if args.keep and own_cluster:
        print(f"cluster kept; tear it down with: swarm-harness down --run-dir {run_dir}")
    return int(exit_code)


PYTEST_NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED (only the plugin imports pytest)


def phase_rc(rc: int, marker: str) -> int:
    """A serial phase whose marker selects nothing in the chosen suites ran nothing: not a
    failure of the run (pytest's exit status 5), but said."""
    if rc == PYTEST_NO_TESTS:
        log.warning("no %s checks in the selected suites; that phase ran nothing", marker)
        return 0
    return rc


def _check_run_options(args: argparse.Namespace) -> None:
    """What ``run`` hands to pytest is checked here, where the error can name the option."""
    from harness.runner import REPO_ROOT

    workers = str(args.workers)
    if workers not in ("auto", "logical") and not (workers.isdigit()):
        raise UserInputError(
            f"--workers {workers} is not a worker count",
            "pass 0 (no xdist), a positive number, or auto (one per CPU)",
        )
    for suite in args.suites:
        path = Path(suite.split("::", 1)[0])
        if not (REPO_ROOT / path).exists():
            raise UserInputError(
                f"--suites {suite}: {REPO_ROOT / path} does not exist",
                f"pass paths under {REPO_ROOT}, e.g. suites/overlay (see 'ls {REPO_ROOT / 'suites'}')",
            )


def cmd_upgrade(args: argparse.Namespace) -> int:
    from harness.upgrade_cmd import upgrade, upgrade_chain

    order = [n.strip() for n in args.order.split(",") if n.strip()] if args.order is not None else None
    if order is not None and not order:
        raise UserInputError(f"--order {args.order!r} names no node", "e.g. --order node2,node3,node1")
    chain = upgrade_chain(args.to)
    for hop, release in enumerate(chain, 1):
        if len(chain) > 1:
            print(f"upgrade {hop} of {len(chain)}: to {release}", flush=True)
        report, path = upgrade(Path(args.inventory), release, order, args.continue_on_failure, not args.no_checks)
        print(f"{report.summary()}\nupgrade report: {path}")
        if report.failed_node:
            if hop < len(chain):
                print(f"the chain stopped there: {', '.join(chain[hop:])} not attempted")
            return 1
    return 0


def _net_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--data-path-port", type=int, default=None, help="swarm VXLAN port (default 4789)")
    sp.add_argument("--plain-network", default="harness-plain", help="plain overlay under test")
    sp.add_argument("--encrypted-network", default="harness-encrypted", help="encrypted overlay under test")


def _inventory_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--inventory", required=True, help="inventory.json or a YAML inventory")


def add_commands(sub: Any) -> None:
    """``bootstrap``, ``doctor``, ``run`` and ``upgrade``, registered by ``harness.cli``."""
    bs = sub.add_parser("bootstrap", help="form the swarm, create the test networks, ship probe images")
    _inventory_option(bs)
    _net_opts(bs)
    bs.set_defaults(fn=cmd_bootstrap)

    dr = sub.add_parser("doctor", help="measure capabilities and port reachability per node")
    _inventory_option(dr)
    dr.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    dr.add_argument("--no-ports", action="store_true", help="skip the node-pair port checks")
    dr.add_argument(
        "--data-path-port", type=int, default=None, help="VXLAN port to check between nodes (default 4789)"
    )
    dr.add_argument("--out", help="also write the JSON report here")
    dr.add_argument("--strict", action="store_true", help="exit 1 if anything is unmet or blocked")
    dr.set_defaults(fn=cmd_doctor)

    rn = sub.add_parser("run", help="up + bootstrap + doctor + suites + report + down (the main job)")
    rn.add_argument("--inventory", help="use these existing hosts instead of creating a local lab")
    add_hosts_options(rn, "the hosts to create (without --inventory)")
    rn.add_argument("--suites", nargs="+", default=["suites"], help="suite paths (default: suites)")
    rn.add_argument(
        "-m",
        "--markers",
        default=DEFAULT_MARKERS,
        help=f"pytest marker expression (default: {DEFAULT_MARKERS})",
    )
    rn.add_argument("-k", default=None, help="pytest -k expression")
    rn.add_argument(
        "--workers",
        default=DEFAULT_WORKERS,
        help=f"pytest-xdist workers: a count, auto (one per CPU) or 0 (no xdist); default {DEFAULT_WORKERS}",
    )
    rn.add_argument("--strict", action="store_true", help="unmet capabilities fail their checks")
    rn.add_argument("--keep", action="store_true", help="keep the cluster afterwards")
    rn.add_argument(
        "--perf",
        action="store_true",
        help="also run the perf suite (throughput, latency, UDP loss per node pair), alone, after the others",
    )
    rn.add_argument(
        "--no-disruptive",
        dest="disruptive",
        action="store_false",
        help="skip the fault-injection suites that normally run last, serially",
    )
    _net_opts(rn)
    rn.set_defaults(fn=cmd_run)

    ug = sub.add_parser("upgrade", help="rolling Engine upgrade node by node under traffic, with a report")
    _inventory_option(ug)
    ug.add_argument(
        "--to",
        default="trixie",
        help="lab image release to upgrade to (default: trixie, Engine 26.1), or a chain of them one after "
        "another, e.g. trixie,forky (20.10 -> 26.1 -> 28.5); each hop writes its own report",
    )
    ug.add_argument(
        "--order", help="comma-separated node order (default: workers, then managers, leader last)"
    )
    ug.add_argument("--continue-on-failure", action="store_true", help="go on after a failing step")
    ug.add_argument("--no-checks", action="store_true", help="skip the checks after each node")
    ug.set_defaults(fn=cmd_upgrade)
