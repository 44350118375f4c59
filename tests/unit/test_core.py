"""Unit tests of the layers under the lab: waits, results, naming, specs, matrix logic."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import cli
from harness.doctor.capabilities import Capability
from harness.doctor.ports import PortCheck, _count
from harness.doctor.report import DoctorReport
from harness.errors import UserInputError, WaitTimeout
from harness.lab.naming import bridge_name, node_address, veth_name
from harness.probe.diagnose import diagnose
from harness.probe.matrix import Attempt, MatrixResult, PairCheck
from harness.provision.local_lab import LocalSpec
from harness.retry import NotYet, eventually, is_transient_docker_error
from harness.transport.result import CommandError, Result

REPO = Path(__file__).resolve().parents[2]


def test_eventually_returns_the_value_once_the_check_holds() -> None:
    calls: Iterator[NotYet | str] = iter([NotYet("a"), NotYet("b"), "done"])

    def check() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert eventually(check, 5, "thing", interval_s=0.01) == "done"


def test_eventually_reports_the_last_state_seen() -> None:
    seen = iter(range(1000))

    def check() -> None:
        raise NotYet(f"state {next(seen)}")

    with pytest.raises(WaitTimeout) as exc:
        eventually(check, 0.2, "the widget", interval_s=0.05)
    assert re.search(r"waiting for the widget; last state: state \d+", exc.value.message)


def test_eventually_does_not_retry_real_errors() -> None:
    def check() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        eventually(check, 5, "x", interval_s=0.01)


def test_only_known_transient_docker_errors_are_retried() -> None:
    assert is_transient_docker_error("rpc error: code = Unavailable desc = ...")
    assert not is_transient_docker_error("invalid reference format")


def test_a_transient_docker_error_inside_a_wait_is_its_last_state_and_any_other_error_fails() -> None:
    from harness.errors import WaitTimeout
    from harness.retry import transient_is_not_yet

    calls = []

    def mid_election() -> str:
        calls.append(1)
        with transient_is_not_yet("node2"):
            if len(calls) < 3:
                raise RuntimeError("500 Server Error: rpc error: code = DeadlineExceeded desc = x\nmore")
        return "leader"

    assert eventually(mid_election, 5, "a leader", interval_s=0.01) == "leader"

    def always_electing() -> None:
        with transient_is_not_yet("node2"):
            raise RuntimeError(
                "The swarm does not have a leader. It's possible that too few managers are online."
            )

    with pytest.raises(WaitTimeout, match="last state: node2: The swarm does not have a leader"):
        eventually(always_electing, 0.2, "a leader", interval_s=0.05)

    def broken() -> None:
        with transient_is_not_yet("node2"):
            raise RuntimeError("invalid reference format")

    with pytest.raises(RuntimeError, match="invalid reference format"):
        eventually(broken, 5, "a leader", interval_s=0.01)


def test_result_check_shows_command_status_and_tail() -> None:
    res = Result("node1", "false", 1, "", "\n".join(f"line {i}" for i in range(20)), 0.1)
    assert res.failed and not res.ok
    with pytest.raises(CommandError) as exc:
        res.check()
    assert "on node1: `false` exited 1" in exc.value.message and "line 19" in exc.value.message
    assert "line 0" not in exc.value.message


def test_interface_names_fit_the_kernel_limit() -> None:
    assert len(veth_name("abcdefgh", 16)) <= 15
    assert len(bridge_name("abcdefgh")) <= 15


def test_node_addresses_match_terraform_cidrhost() -> None:
    main_tf = (REPO / "terraform/local/main.tf").read_text()
    assert "cidrhost(var.subnet, 11 + i)" in main_tf
    assert node_address("198.18.0.0/24", 1) == "198.18.0.11"
    assert node_address("198.18.0.0/24", 16) == "198.18.0.26"
    assert ipaddress.ip_address(node_address("198.18.4.0/24", 3)) in ipaddress.ip_network("198.18.4.0/24")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (LocalSpec(nodes=0), "outside 1..16"),
        (LocalSpec(managers=0), "manager count 0"),
        (LocalSpec(subnet="198.19.128.0/24"), "overlaps the lab's Docker address pool"),
        (LocalSpec(subnet="198.18.0.0/28"), "prefix /28"),
        (LocalSpec(release="buster"), "unknown image release"),
        (LocalSpec(lab="x" * 9), "lab name"),
    ],
)
def test_local_spec_validation(spec: LocalSpec, needle: str) -> None:
    with pytest.raises(UserInputError, match=re.escape(needle)):
        spec.validate()


def test_cli_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", "--nodes", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: node count 99 is outside 1..16 (pass --nodes between 1 and 16)"]


def test_cli_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("up", "down", "status", "purge", "bootstrap", "doctor", "run", "images"):
        assert f"    {cmd}" in out


def _matrix(failing: set[tuple[str, str]]) -> MatrixResult:
    nodes = ["node1", "node2", "node3"]
    checks = [
        PairCheck(
            a,
            b,
            p,
            (a, b) not in failing,
            "timeout" if (a, b) in failing else "ok",
            (Attempt(3, 0, ("timeout",) * 3),) if (a, b) in failing else (Attempt(3, 3, ()),),
        )
        for a in nodes
        for b in nodes
        if a != b
        for p in ("icmp", "tcp")
    ]
    return MatrixResult("net", checks)


def test_matrix_summary_lists_failing_pairs() -> None:
    result = _matrix({("node1", "node2")})
    assert result.summary().splitlines() == [
        "1 of 6 pairs failed on network net",
        "  node1->node2: icmp: timeout; tcp: timeout",
    ]


def _doctor(esp: bool, blocked: list[tuple[str, str]]) -> DoctorReport:
    caps = {
        n: {"esp": Capability("esp", esp, "ok" if esp else "kernel lacks ESP (INET_ESP)")}
        for n in ("node1", "node2", "node3")
    }
    ports = [PortCheck(a, b, 4789, "udp", False, "no datagram arrived") for a, b in blocked]
    return DoctorReport(capabilities=caps, ports=ports)


def test_diagnose_names_esp_for_encrypted_networks_only() -> None:
    result = _matrix({("node1", "node2"), ("node3", "node1")})
    assert diagnose(result, True, _doctor(False, []))[0].startswith("ESP unavailable on node1, node2, node3")
    assert "no cause" in diagnose(result, False, _doctor(False, []))[0]


def test_diagnose_names_a_blocked_vxlan_port() -> None:
    result = _matrix({("node1", "node2"), ("node2", "node1")})
    causes = diagnose(result, False, _doctor(True, [("node1", "node2")]))
    assert causes == [
        "VXLAN data path port 4789/udp blocked from node1 to node2 (measured at an unknown time): "
        "no datagram arrived"
    ]


def test_doctor_report_roundtrip_and_unmet() -> None:
    report = _doctor(False, [("node2", "node3")])
    again = DoctorReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.unmet(["esp"]) == [
        ("esp", n, "kernel lacks ESP (INET_ESP)") for n in ("node1", "node2", "node3")
    ]
    assert again.unmet(["warp-drive"])[0][2] == "the doctor does not know capability 'warp-drive'"
    assert "BLOCKED node2 -> node3 4789/udp" in again.table()


def test_iptables_counter_parsing() -> None:
    listing = (
        "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n"
        "    pkts      bytes target prot opt in out source destination\n"
        "       3      129            udp  --  *  *   198.18.0.11  0.0.0.0/0  udp dpt:4789 "
        "/* swarm-harness-doctor-ab12-node1-4789 */\n"
    )
    assert _count(listing, "swarm-harness-doctor-ab12-node1-4789") == 3
    assert _count(listing, "swarm-harness-doctor-ab12-node2-4789") == 0


def test_until_elapsed_waits_out_the_minimum_and_no_longer() -> None:
    import time

    from harness.retry import until_elapsed

    started = time.monotonic()
    until_elapsed(started, 0.5, "half a second")
    took_s = time.monotonic() - started
    assert 0.5 <= took_s < 2.0
    until_elapsed(started - 10, 0.5, "already over")  # returns at once
    assert time.monotonic() - started < 2.5


def test_pids_where_finds_processes_by_their_command_line() -> None:
    import os
    import sys

    from harness.lab import hostcmd

    mine = hostcmd.pids_where(lambda args: args == hostcmd.process_cmdline(os.getpid()))
    assert os.getpid() in mine
    assert hostcmd.pids_where(lambda args: args[0] == sys.executable + "-no-such-binary") == []


def test_machine_process_tests_match_one_machine_or_a_name_prefix_and_never_another_program() -> None:
    import os

    from harness.lab import hostcmd
    from harness.lab.nspawn import nspawn_argv
    from harness.lab.vm import qemu_argv

    nspawn = ["/usr/bin/systemd-nspawn", "--quiet", "--machine=shl-dev-node1", "--boot"]
    assert nspawn_argv("shl-dev-node1")(nspawn)
    assert not nspawn_argv("shl-dev-node")(nspawn)  # one machine: the whole name
    assert nspawn_argv("shl-dev-", prefix=True)(nspawn)  # purge: every machine of the lab
    assert not nspawn_argv("shl-ci-", prefix=True)(nspawn)
    assert not nspawn_argv("shl-dev-node1")(["/bin/sleep", "--machine=shl-dev-node1"])
    qemu = ["qemu-system-x86_64", "-name", "guest=shl-dev-node2", "-accel", "tcg"]
    assert qemu_argv("shl-dev-node2")(qemu) and not qemu_argv("shl-dev-node1")(qemu)
    assert qemu_argv("shl-", prefix=True)(qemu)
    assert not qemu_argv("shl-", prefix=True)(nspawn)
    assert not hostcmd.pid_runs(os.getpid(), nspawn_argv("shl-dev-node1"))


def test_the_reboot_loop_boots_again_on_133_only_and_is_recognised_as_the_machine(tmp_path: Path) -> None:
    """nspawn exits 133 when the machine reboots: the loop runs it again; a power-off (0),
    a failure or a kill ends it. Its argv is recognised as the machine's, not another's."""
    import subprocess

    from harness.lab.nspawn import KEEPER, KEEPER_SCRIPT, keeper_argv, nspawn_argv

    runs = tmp_path / "runs"
    # A stand-in for nspawn: "reboots" (133) twice, then exits with the status asked for.
    fake = f'echo x >> {runs}; [ "$(wc -l < {runs})" -le 2 ] && exit 133; exit "$1"'
    for final, expected_runs in ((0, 3), (1, 3)):
        runs.unlink(missing_ok=True)
        done = subprocess.run(
            ["/bin/sh", "-c", KEEPER_SCRIPT, KEEPER, "/bin/sh", "-c", fake, "fake", str(final)],
            capture_output=True, text=True, timeout=30,
        )
        assert done.returncode == 0 and len(runs.read_text().splitlines()) == expected_runs
        assert done.stderr.count("machine rebooted") == 2
    argv = ["/bin/sh", "-c", KEEPER_SCRIPT, KEEPER, "systemd-nspawn", "--machine=shl-dev-node1", "--boot"]
    assert keeper_argv("shl-dev-node1")(argv) and keeper_argv("shl-dev-", prefix=True)(argv)
    assert not keeper_argv("shl-dev-node2")(argv) and not keeper_argv("shl-ci-", prefix=True)(argv)
    assert not nspawn_argv("shl-dev-node1")(argv)  # the loop is not the nspawn it runs
    assert not keeper_argv("shl-dev-node1")(["/bin/sh", "-c", "true", "other", "--machine=shl-dev-node1"])


def test_a_request_that_never_left_a_dead_channel_is_resent_whatever_its_method() -> None:
    from urllib3.exceptions import MaxRetryError, ProtocolError

    from harness.transport.docker_api import UnsentRequestRetry

    policy = UnsentRequestRetry(total=2, connect=2, read=1, status=0, other=0, allowed_methods={"GET"})
    unsent = ProtocolError("Connection aborted.", OSError("Socket is closed"))
    again = policy.increment("DELETE", "/services/x", error=unsent)
    assert again.connect == 1  # re-sent: the engine never saw it
    # A broken answer to a request that changes state is not re-sent: it may have happened.
    broken = ProtocolError("Connection aborted.", ConnectionResetError("reset by peer"))
    with pytest.raises(ProtocolError):
        policy.increment("DELETE", "/services/x", error=broken)
    assert policy.increment("GET", "/services", error=broken).read == 0
    with pytest.raises(MaxRetryError):
        policy.increment("DELETE", "/x", error=unsent).increment("DELETE", "/x", error=unsent).increment(
            "DELETE", "/x", error=unsent
        )


def test_a_network_already_deleted_counts_as_removed_whatever_the_status() -> None:
    import docker.errors
    import requests

    from harness.swarm.networks import network_gone

    def _err(status: int, text: str) -> docker.errors.APIError:
        resp = requests.Response()
        resp.status_code = status
        return docker.errors.APIError("x", response=resp, explanation=text)

    assert network_gone(docker.errors.NotFound("x", explanation="no such network"))
    assert network_gone(_err(500, "network ifl11o4uaihvhxh2lfc3wk1ui not found"))
    assert not network_gone(_err(500, "rpc error: code = FailedPrecondition desc = network x is in use by task y"))
