"""Bad input to every command: exit 2, one `error:` line naming the culprit, nothing made.

Each case runs the CLI entry point in-process, in an empty working directory, with
the lab state root pointed at a scratch directory, and compares the whole scratch
tree before and after: a refused command creates no run directory, report, state
file or lab. No case needs a lab or root; the one host that must be unreachable is
an unused address of the lab range, and no case dials anything else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import cli as harness_cli
from harness import cli_lab

# An address of the lab LAN range that no lab machine is given (nodes start at .11).
UNREACHABLE = "198.18.0.250"


def _inventory(**changes: Any) -> dict[str, Any]:
    """A schema-valid inventory of two hosts at unused lab addresses; each change is a
    path with ``__`` between keys (``ssh__port``, ``nodes__0``) and its new value."""
    inv: dict[str, Any] = {
        "schema_version": 1,
        "provider": "static",
        "ssh": {"user": "root", "private_key_path": "key", "known_hosts_path": "known_hosts", "port": 22},
        "nodes": [
            {"name": "node1", "address": UNREACHABLE, "role": "manager"},
            {"name": "node2", "address": "198.18.0.251", "role": "worker"},
        ],
    }
    for dotted, value in changes.items():
        target: Any = inv
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value
    return inv


@dataclass
class Case:
    args: list[str]
    needles: list[str]
    inventory: dict[str, object] | str | None = None  # written to in/inv.yaml; a str is raw text
    key: str = "not checked before connecting\n"
    files: dict[str, str] = field(default_factory=dict)  # more inputs, relative to in/


def _node(**kw: object) -> dict[str, object]:
    return {"name": "node1", "address": UNREACHABLE, "role": "manager", **kw}


INV = "{in}/inv.yaml"

CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- inventory files
    "inventory-missing": Case(
        ["bootstrap", "--inventory", "{in}/nosuch.yaml"], ["nosuch.yaml", "does not exist"]
    ),
    "inventory-is-a-directory": Case(["doctor", "--inventory", "{in}"], ["is a directory", "inventory.json"]),
    "inventory-bad-yaml": Case(
        ["bootstrap", "--inventory", INV], ["invalid YAML", "line 2"], "nodes: [\n  - {a: b\n"
    ),
    "inventory-bad-json": Case(
        ["bootstrap", "--inventory", "{in}/inv.json"],
        ["inv.json", "invalid JSON"],
        files={"inv.json": "{nope"},
    ),
    "inventory-top-level-list": Case(
        ["bootstrap", "--inventory", INV], ["top level must be a mapping"], "- a\n"
    ),
    "inventory-unknown-node-field": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[0].data_path_adress", "not a field", "did you mean 'data_path_address'", "labels"],
        _inventory(nodes__0=_node(data_path_adress="198.18.0.252")),
    ),
    "inventory-unknown-top-field": Case(
        ["doctor", "--inventory", INV],
        ["'registy'", "did you mean 'registry'", "allowed at the top level", "provider_data"],
        _inventory(registy="r:5000"),
    ),
    "inventory-unknown-ssh-field": Case(
        ["upgrade", "--inventory", INV],
        ["ssh.prot", "did you mean 'port'", "known_hosts_path"],
        _inventory(ssh__prot=2222),
    ),
    "inventory-schema-version": Case(
        ["bootstrap", "--inventory", INV], ["schema_version", "is 2"], _inventory(schema_version=2)
    ),
    "inventory-node-without-address": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[0].address", "is missing", "add 'address'"],
        _inventory(nodes__0={"name": "node1", "role": "manager"}),
    ),
    "inventory-address-is-hostname": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[1].address", "not an IP address"],
        _inventory(nodes__1={"name": "node2", "address": "worker.example", "role": "worker"}),
    ),
    "inventory-empty-user": Case(
        ["bootstrap", "--inventory", INV], ["ssh.user", "is empty", "login user"], _inventory(ssh__user="")
    ),
    "inventory-bad-role": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[0].role", "'boss'"],
        _inventory(nodes__0=_node(role="boss")),
    ),
    "inventory-duplicate-name": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[1].name", "repeats the name 'node1'"],
        _inventory(nodes__1={"name": "node1", "address": "198.18.0.251", "role": "worker"}),
    ),
    "inventory-duplicate-address": Case(
        ["bootstrap", "--inventory", INV],
        ["nodes[1].address", f"repeats {UNREACHABLE}"],
        _inventory(nodes__1={"name": "node2", "address": UNREACHABLE, "role": "worker"}),
    ),
    "inventory-no-manager": Case(
        ["bootstrap", "--inventory", INV],
        ["no node with role 'manager'"],
        _inventory(nodes__0=_node(role="worker")),
    ),
    "inventory-no-nodes": Case(["bootstrap", "--inventory", INV], ["'nodes' is empty"], _inventory(nodes=[])),
    "inventory-ssh-port": Case(
        ["bootstrap", "--inventory", INV], ["ssh.port", "70000"], _inventory(ssh__port=70000)
    ),
    "inventory-key-missing": Case(
        ["bootstrap", "--inventory", INV],
        ["ssh.private_key_path", "does not exist"],
        _inventory(ssh__private_key_path="nokey"),
    ),
    "inventory-key-is-a-directory": Case(
        ["bootstrap", "--inventory", INV],
        ["ssh.private_key_path", "not a file"],
        _inventory(ssh__private_key_path="."),
    ),
    "inventory-garbage-key": Case(
        ["bootstrap", "--inventory", INV],
        ["private key", "/in/key", "not a valid SSH private key", "ssh.private_key_path"],
        _inventory(),
        key="garbage\n",
    ),
    # ---------------------------------------------------------------- bootstrap / doctor
    "bootstrap-bad-network-name": Case(
        ["bootstrap", "--inventory", INV, "--plain-network", "bad name!"],
        ["--plain-network 'bad name!'", "not a valid swarm network name", "DNS name"],
        _inventory(),
    ),
    "bootstrap-long-network-name": Case(
        ["bootstrap", "--inventory", INV, "--encrypted-network", "n" * 64],
        ["--encrypted-network", "not a valid swarm network name", "63"],
        _inventory(),
    ),
    "bootstrap-same-network-names": Case(
        ["bootstrap", "--inventory", INV, "--plain-network", "same", "--encrypted-network", "same"],
        ["both 'same'", "different names"],
        _inventory(),
    ),
    "bootstrap-data-path-port-low": Case(
        ["bootstrap", "--inventory", INV, "--data-path-port", "5"],
        ["--data-path-port 5", "1024..49151"],
        _inventory(),
    ),
    "doctor-data-path-port-low": Case(
        ["doctor", "--inventory", INV, "--data-path-port", "5"],
        ["--data-path-port 5", "1024..49151"],
        _inventory(),
    ),
    "doctor-data-path-port-high": Case(
        ["doctor", "--inventory", INV, "--data-path-port", "70000"], ["--data-path-port 70000"], _inventory()
    ),
    "doctor-out-missing-dir": Case(
        ["doctor", "--inventory", INV, "--out", "{in}/nonexistent/dir/d.json"],
        ["--out", "nonexistent/dir", "does not exist", "mkdir -p"],
        _inventory(),
    ),
    "doctor-out-is-a-directory": Case(
        ["doctor", "--inventory", INV, "--out", "{in}"], ["--out", "is a directory"], _inventory()
    ),
    # ---------------------------------------------------------------- upgrade
    "upgrade-unknown-node": Case(
        ["upgrade", "--inventory", INV, "--order", "node9,node1"],
        ["--order names node9", "node1,node2"],
        _inventory(),
    ),
    "upgrade-repeated-node": Case(
        ["upgrade", "--inventory", INV, "--order", "node1,node2,node1"],
        ["--order repeats node1"],
        _inventory(),
    ),
    "upgrade-empty-order": Case(
        ["upgrade", "--inventory", INV, "--order", ","], ["names no node"], _inventory()
    ),
    "upgrade-unknown-release": Case(
        ["upgrade", "--inventory", INV, "--to", "sid"],
        ["unknown image release 'sid'"],
        _inventory(provider="local", provider_data={"lab": "nolab"}),
    ),
    "upgrade-chain-unknown-release": Case(
        ["upgrade", "--inventory", INV, "--to", "trixie,sid"],
        ["unknown image release 'sid'"],
        _inventory(provider="local", provider_data={"lab": "nolab"}),
    ),
    "upgrade-chain-repeated-release": Case(
        ["upgrade", "--inventory", INV, "--to", "trixie,forky,trixie"],
        ["--to 'trixie,forky,trixie'", "name each release once"],
        _inventory(provider="local", provider_data={"lab": "nolab"}),
    ),
    "upgrade-static-without-command": Case(
        ["upgrade", "--inventory", INV], ["no way to upgrade static hosts", "upgrade_command"], _inventory()
    ),
    # ---------------------------------------------------------------- run
    "run-negative-workers": Case(["run", "--workers", "-3"], ["--workers -3", "not a worker count"]),
    "run-word-workers": Case(["run", "--workers", "many"], ["--workers many"]),
    "run-missing-suite-path": Case(
        ["run", "--suites", "suites/nosuch"], ["--suites suites/nosuch", "does not exist"]
    ),
    "run-var-on-local": Case(
        ["run", "-var", "owner=alice"], ["-var owner=alice", "local lab does not read -var"]
    ),
    "run-inventory-missing": Case(
        ["run", "--inventory", "{in}/gone/inv.yaml"], ["gone/inv.yaml", "does not exist"]
    ),
    "run-inventory-invalid": Case(
        ["run", "--inventory", INV], ["nodes[0].role"], _inventory(nodes__0=_node(role="boss"))
    ),
    "run-inventory-unreachable": Case(
        ["run", "--inventory", INV, "--no-disruptive"],
        [f"node1 ({UNREACHABLE}:22)"],
        _inventory(nodes=[_node()]),
        key="",
    ),
    # ---------------------------------------------------------------- up / down / lab
    "up-var-on-local": Case(
        ["up", "-var", "owner=alice"], ["-var owner=alice", "--target aws|hcloud|libvirt"]
    ),
    "up-ready-timeout-zero": Case(["up", "--ready-timeout", "0"], ["--ready-timeout 0", "more than 0"]),
    "up-ready-timeout-negative": Case(["up", "--ready-timeout", "-5"], ["--ready-timeout -5"]),
    "up-node-release-format": Case(
        ["up", "--node-release", "node3"], ["--node-release 'node3'", "NODE=RELEASE"]
    ),
    "up-unknown-release": Case(
        ["up", "--release", "forkyy"], ["unknown image release 'forkyy'", "forky (Engine 28.5)"]
    ),
    "up-node-release-unknown": Case(
        ["up", "--node-release", "node3=sid"], ["unknown image release 'sid'", "bookworm (Engine 20.10)"]
    ),
    "images-build-unknown-release": Case(
        ["images", "build", "--release", "buster"], ["unknown image release 'buster'", "trixie"]
    ),
    "down-not-a-run-dir": Case(["down", "--run-dir", "{in}"], ["is not a run directory", "--run-dir"]),
    "down-bad-age": Case(["down", "--older-than", "6x"], ["duration '6x'"]),
    "lab-start-unknown-lab": Case(
        ["lab", "start", "--lab", "nolab", "--node", "node1"], ["lab 'nolab' does not exist", "status"]
    ),
    "status-unknown-lab": Case(["status", "--lab", "nolab"], ["lab 'nolab' does not exist"]),
}


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in sorted(root.rglob("*"))}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("SWARM_HARNESS_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _setup_inputs(scratch: Path, case: Case) -> None:
    inp = scratch / "in"
    if case.key:
        (inp / "key").write_text(case.key)
    else:
        # A real key, so that only the unreachable host can fail the case.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(inp / "key")], check=True)
    (inp / "known_hosts").write_text("")
    if case.inventory is not None:
        text = case.inventory if isinstance(case.inventory, str) else yaml.safe_dump(case.inventory)
        (inp / "inv.yaml").write_text(text)
    for name, text in case.files.items():
        (inp / name).write_text(text)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = harness_cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    _setup_inputs(scratch, case)
    before = _tree(scratch)
    argv = [a.replace("{in}", str(scratch / "in")) for a in case.args]
    started = time.monotonic()
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    for needle in case.needles:
        assert needle.replace("{in}", str(scratch / "in")) in errors[0], errors[0]
    assert errors[0].rstrip().endswith(")"), f"no hint: {errors[0]}"
    assert _tree(scratch) == before, "the refused command created or changed files"
    assert time.monotonic() - started < 60


def test_matrix_size() -> None:
    """The README states how many cases this matrix holds; keep the two in step."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"{len(CASES) + len(SIGNAL_CASES)} cases" in readme


# -------------------------------------------------------------------- signals


def _signalling(signums: Sequence[int]) -> Callable[..., int]:
    """A command that is sent ``signums`` in turn while it works, and cleans up meanwhile."""

    def _cmd(args: object) -> int:
        try:
            os.kill(os.getpid(), signums[0])
            time.sleep(5)
        except KeyboardInterrupt:
            # Teardown under way: later signals must not cut it short.
            for later in signums[1:]:
                os.kill(os.getpid(), later)
                time.sleep(0.05)
            raise
        raise AssertionError("the signal did not interrupt the command")

    return _cmd


SIGNAL_CASES = {
    "sigterm": ([signal.SIGTERM], 143, "SIGTERM"),
    "sighup": ([signal.SIGHUP], 129, "SIGHUP"),
    "sigint": ([signal.SIGINT], 130, "SIGINT"),
    "sigint-then-sigterm": ([signal.SIGINT, signal.SIGTERM], 130, "SIGINT"),
}


@pytest.mark.parametrize("name", list(SIGNAL_CASES))
def test_signal_exit_status(
    name: str, scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signums, status, signame = SIGNAL_CASES[name]
    monkeypatch.setattr(cli_lab, "cmd_status", _signalling(signums))
    previous = signal.getsignal(signal.SIGTERM)
    code, err = _run(["status", "--lab", "sig"], capsys)
    assert code == status, err
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: interrupted by {signame} during status (check with 'swarm-harness status --lab sig'; "
        "if it is listed, 'swarm-harness purge --lab sig')"
    ], err
    if len(signums) > 1:
        assert "received while stopping" in err
    assert signal.getsignal(signal.SIGTERM) == previous, "the handlers outlived the command"


def test_verbose_after_the_verb(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert harness_cli.main(["status", "-v"]) == 0
    assert "no labs" in capsys.readouterr().out


def test_every_option_has_help() -> None:
    import argparse

    parser = harness_cli.build_parser()
    missing: list[str] = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                for name, sp in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{path} {name}")
                    walk(sp, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(parser, "swarm-harness")
    assert missing == []
