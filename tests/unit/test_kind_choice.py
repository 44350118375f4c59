"""``--kind auto``: nspawn only where this machine's kernel has what the suites need."""

from __future__ import annotations

import argparse

import pytest

from harness.cli_options import local_spec
from harness.doctor.capabilities import Capability
from harness.lab import kind_choice
from harness.provision.local_lab import LocalLab
from harness.transport.local import LocalHost
from harness.transport.result import CommandTimeout, Result


class RecordedHost:
    """Answers each probe script by the first matching substring, as a host recorded it."""

    name = "this machine"

    def __init__(self, answers: list[tuple[str, int, str]]) -> None:
        self.answers = answers
        self.commands: list[str] = []

    def run(self, command: str, timeout_s: float = 30) -> Result:
        self.commands.append(command)
        for needle, rc, out in self.answers:
            if needle in command:
                return Result(self.name, command, rc, out, "", 0.0)
        return Result(self.name, command, 0, "", "", 0.0)


NS_OK = [("command -v $c", 0, ""), ("unshare -n true", 0, "")]
# What this CI machine's kernel (Debian 12 cloud, no IP_VS, no ESP) answered.
NO_IPVS_NO_ESP = [
    *NS_OK,
    ("/proc/net/ip_vs", 0, "nomodules"),
    ("proto esp", 2, "Error: Requested type not found."),
]
FULL_KERNEL = [*NS_OK, ("/proc/net/ip_vs", 0, "module")]


def _present(*names: str) -> dict[str, Capability]:
    return {n: Capability(n, True, f"{n} ok") for n in names}


def test_a_kernel_with_vxlan_ipvs_and_esp_gets_nspawn() -> None:
    choice = kind_choice.choose(_present("vxlan", "ipvs", "esp", "tcpdump"))
    assert choice.kind == "nspawn" and "VXLAN, IPVS and ESP" in choice.reason


@pytest.mark.parametrize("lacking", ["vxlan", "ipvs", "esp"])
def test_any_one_need_absent_gets_uml_naming_it_and_its_evidence(lacking: str) -> None:
    caps = _present("vxlan", "ipvs", "esp")
    caps[lacking] = Capability(lacking, False, f"the kernel refused {lacking}")
    choice = kind_choice.choose(caps)
    assert choice.kind == "uml"
    assert f"{lacking} absent: the kernel refused {lacking}" in choice.reason
    assert all(f"{n} absent" not in choice.reason for n in ("vxlan", "ipvs", "esp") if n != lacking)


def test_an_unmeasurable_or_missing_need_is_not_taken_for_present() -> None:
    caps = _present("vxlan", "ipvs")
    caps["ipvs"] = Capability("ipvs", False, "could not measure ipvs: modprobe missing", unknown=True)
    choice = kind_choice.choose(caps)  # esp was not measured at all
    assert choice.kind == "uml"
    assert "ipvs unknown" in choice.reason and "esp unknown" in choice.reason


def test_auto_measures_the_kernel_the_doctor_way() -> None:
    host = RecordedHost(NO_IPVS_NO_ESP)
    choice = kind_choice.resolve("auto", host)
    assert choice.kind == "uml"
    assert "ipvs absent" in choice.reason and "esp absent" in choice.reason and "vxlan" not in choice.reason
    assert "Requested type not found" in choice.reason, "the kernel's own refusal is the evidence"
    assert any("unshare -n ip link add" in c for c in host.commands), "in a throwaway namespace"
    assert kind_choice.resolve("auto", RecordedHost(FULL_KERNEL)).kind == "nspawn"


def test_an_explicit_kind_is_taken_as_asked_without_measuring() -> None:
    host = RecordedHost(NO_IPVS_NO_ESP)
    assert kind_choice.resolve("nspawn", host) == kind_choice.KindChoice("nspawn", "as asked with --kind")
    assert host.commands == []


def _args(kind: str) -> argparse.Namespace:
    return argparse.Namespace(
        lab="kc", nodes=3, managers=1, release="bookworm", node_release=[], subnet="198.18.0.0/24", kind=kind
    )


def test_the_choice_and_its_reason_reach_the_run_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind_choice, "LocalHost", lambda: RecordedHost(NO_IPVS_NO_ESP))
    spec = local_spec(_args("auto"))
    assert spec.kind == "uml" and "ipvs absent" in spec.kind_reason
    assert LocalLab(spec).notes() == {"machine_kind": f"uml: {spec.kind_reason}"}
    explicit = local_spec(_args("nspawn"))
    assert explicit.kind == "nspawn" and LocalLab(explicit).notes() == {}


def test_this_machine_runs_a_command_and_reports_a_timeout_with_what_it_printed() -> None:
    host = LocalHost()
    res = host.run("echo out; echo err >&2; exit 3")
    assert (res.exit_status, res.stdout, res.stderr, res.host) == (3, "out\n", "err\n", "this machine")
    with pytest.raises(CommandTimeout) as exc:
        host.run("echo started; sleep 5", timeout_s=0.5)
    assert exc.value.result.stdout == "started\n" and exc.value.timeout_s == 0.5
