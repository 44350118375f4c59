"""The doctor tells present, absent (the kernel's refusal) and unknown (the probe could not run) apart."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from harness.doctor import capabilities as caps
from harness.doctor.report import DoctorReport


@dataclass
class _Res:
    exit_status: int
    stdout: str
    stderr: str = ""


class FakeHost:
    """Answers each probe script by the first matching substring."""

    def __init__(self, answers: list[tuple[str, int, str]]) -> None:
        self.answers = answers
        self.name = "node1"

    def run(self, cmd: str, timeout_s: float = 30) -> _Res:
        for needle, rc, out in self.answers:
            if needle in cmd:
                return _Res(rc, out)
        return _Res(0, "")


OK_NS = [("command -v $c", 0, ""), ("unshare -n true", 0, "")]


def test_a_kernel_refusal_is_absent_with_its_evidence() -> None:
    host = FakeHost([*OK_NS, ("proto esp", 2, "Error: Requested type not found.")])
    esp = caps.node_capabilities(host)["esp"]  # type: ignore[arg-type]
    assert esp.state == "absent"
    assert "Requested type not found" in esp.reason


@pytest.mark.parametrize(
    "answers, why",
    [
        ([("command -v $c", 1, "no unshare")], "'unshare' is not installed"),
        (
            [
                ("command -v $c", 0, ""),
                ("unshare -n true", 1, "unshare: unshare failed: Operation not permitted"),
            ],
            "cannot create a throwaway network namespace",
        ),
        ([*OK_NS, ("proto esp", 2, "RTNETLINK answers: Operation not permitted")], "not a kernel refusal"),
        ([*OK_NS, ("proto esp", 127, "sh: 1: ip: command not found")], "not a kernel refusal"),
    ],
)
def test_a_probe_that_could_not_run_is_unknown_never_absent(
    answers: list[tuple[str, int, str]], why: str
) -> None:
    esp = caps.node_capabilities(FakeHost(answers))["esp"]  # type: ignore[arg-type]
    assert esp.state == "unknown", esp
    assert why in esp.reason


@pytest.mark.parametrize(
    "out, state",
    [
        ("loaded", "present"),
        ("module", "present"),
        ("nomodules", "absent"),
        ("nomodule", "absent"),
        ("nomodprobe", "unknown"),
    ],
)
def test_ipvs_states(out: str, state: str) -> None:
    ipvs = caps.check_ipvs(FakeHost([("/proc/net/ip_vs", 0, out)]))  # type: ignore[arg-type]
    assert ipvs.state == state


def test_a_report_of_other_nodes_or_too_old_is_not_trusted() -> None:
    report = DoctorReport(cluster={"node1": "198.18.0.2"}, data_path_port=None, measured_at=time.time())
    assert report.describes({"node1": "198.18.0.2"}, None, 3600) is None
    assert "inventory has" in str(report.describes({"node1": "198.18.0.9"}, None, 3600))
    assert "data-path port" in str(report.describes({"node1": "198.18.0.2"}, 4790, 3600))
    old = DoctorReport(cluster={"node1": "198.18.0.2"}, measured_at=time.time() - 7200)
    assert "old" in str(old.describes({"node1": "198.18.0.2"}, None, 3600))
    assert DoctorReport().describes({"node1": "198.18.0.2"}, None, 3600) is not None


def test_states_survive_the_json_round_trip_and_the_table_says_unknown() -> None:
    unknown = caps.Capability("esp", False, "could not measure esp: x", unknown=True)
    report = DoctorReport(capabilities={"node1": {"esp": unknown}, "node2": {"esp": unknown}})
    again = DoctorReport.from_dict(report.to_dict())
    assert again.capabilities["node1"]["esp"].state == "unknown"
    assert again.unknown(["esp"]) == [
        ("esp", "node1", "could not measure esp: x"),
        ("esp", "node2", "could not measure esp: x"),
    ]
    assert again.lacking(["esp"]) == {}
    table = again.table()
    assert "UNKNOWN" in table
    assert "esp unknown on node1, node2: could not measure esp: x" in table


@pytest.mark.parametrize(
    "stdout, facts",
    [
        (
            "kernel=6.1.0-28-cloud-amd64\nengine=20.10.24\nmtu=1500\n",
            {"kernel": "6.1.0-28-cloud-amd64", "engine": "20.10.24", "mtu": "1500"},
        ),
        # Recorded on a host with the Docker client but no daemon, and a 1400-byte eth0.
        (
            "kernel=6.18.44-fc-v1045\nengine=unknown\nmtu=1400\n",
            {"kernel": "6.18.44-fc-v1045", "engine": "unknown", "mtu": "1400"},
        ),
        # A stray line cannot shift the facts after it.
        (
            "kernel=6.1.0\nengine=27.5.1\nWARNING: API is accessible without encryption\nmtu=1450\n",
            {"kernel": "6.1.0", "engine": "27.5.1", "mtu": "1450"},
        ),
        ("", {"kernel": "", "engine": "", "mtu": ""}),
    ],
)
def test_node_facts_are_read_by_name_in_one_round_trip(stdout: str, facts: dict[str, str]) -> None:
    class Recorder(FakeHost):
        commands: list[str]

        def run(self, cmd: str, timeout_s: float = 30) -> _Res:
            self.commands.append(cmd)
            return _Res(0, stdout)

    host = Recorder([])
    host.commands = []
    assert caps.node_facts(host) == facts  # type: ignore[arg-type]
    assert host.commands == [caps.FACTS_SCRIPT]
