"""The one ``up`` sequence around a provider: ready hosts, or nothing left behind.

A fake provider records what it created and what ``down`` was asked to remove, so
every way ``up`` can end is checked without a host: success, a refusal before
anything exists, a failed or interrupted create, a bug, and a teardown that fails too.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError, ProvisionError, UserInputError
from harness.interrupts import Interrupted
from harness.inventory import Inventory
from harness.inventory.schema import Node, SSHConfig
from harness.provision import providers
from harness.provision.local_lab import LocalLab, LocalSpec
from harness.provision.providers import Provider, down, provider_of, up
from harness.provision.terraform_target import TerraformTarget
from harness.rundir import RunDir, RunInfo

NODES = ("node1", "node2", "node3")


class FakeProvider:
    """Creates ``NODES`` one by one; ``fail_at`` names the node whose creation fails."""

    target = "fake"
    run_id_prefix = "fake"
    ready_timeout_s = 7.0
    hosts_word = "hosts"

    def __init__(self, fail_at: str | None = None, error: BaseException | None = None) -> None:
        self.fail_at = fail_at
        self.error = error or ProvisionError("create failed", "fix it")
        self.refuse: UserInputError | None = None
        self.down_error: HarnessError | None = None
        self.created: list[str] = []
        self.calls: list[str] = []

    def check(self, run_dir: RunDir, info: RunInfo | None) -> None:
        self.calls.append("check")
        if self.refuse is not None:
            raise self.refuse

    def variables(self, run_dir: RunDir, info: RunInfo) -> dict[str, Any]:
        return {"run_id": info.run_id, "size": len(NODES)}

    def notes(self) -> dict[str, str]:
        return {"machine_kind": "fake: the test's own"}

    def up(self, run_dir: RunDir, variables: dict[str, Any]) -> None:
        self.calls.append("up")
        # The sequence records the run as provisioning before anything is created.
        assert json.loads(run_dir.info_path.read_text())["status"] == "provisioning"
        for name in NODES:
            if name == self.fail_at:
                raise self.error
            self.created.append(name)

    def inventory(self, run_dir: RunDir) -> Inventory:
        self.calls.append("inventory")
        ssh = SSHConfig("root", run_dir.ssh_key, run_dir.known_hosts)
        return Inventory(
            "fake", ssh, tuple(Node(n, f"192.0.2.{i + 1}", "manager") for i, n in enumerate(self.created))
        )

    def down(self, run_dir: RunDir) -> None:
        self.calls.append(f"down {','.join(self.created)}")
        if self.down_error is not None:
            raise self.down_error
        self.created.clear()


@pytest.fixture
def ready(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``wait_ready`` without SSH: records the timeout each call was given."""
    timeouts: list[float] = []

    def fake_wait_ready(inventory: Inventory, timeout_s: float) -> dict[str, str]:
        timeouts.append(timeout_s)
        return {n.name: "26.1.5" for n in inventory.nodes}

    monkeypatch.setattr(providers, "wait_ready", fake_wait_ready)
    return timeouts


def test_both_providers_fit_the_protocol() -> None:
    kinds: list[Provider] = [LocalLab(LocalSpec()), TerraformTarget("aws"), FakeProvider()]
    assert [p.target for p in kinds] == ["local", "aws", "fake"]


def test_up_records_the_run_and_writes_the_inventory(tmp_path: Path, ready: list[float]) -> None:
    fake = FakeProvider()
    run_dir = tmp_path / "run"
    inv = up(fake, run_dir)
    rd = RunDir(run_dir)
    assert [n.name for n in inv.nodes] == list(NODES)
    assert fake.calls == ["check", "up", "inventory"], "down only after a failure"
    info = rd.require_info()
    assert info.status == "up" and info.target == "fake" and info.run_id.startswith("fake-")
    assert info.variables == {"run_id": info.run_id, "size": 3}
    assert info.notes == {"machine_kind": "fake: the test's own"}, "the provider's choices are kept"
    assert json.loads(rd.inventory.read_text())["provider"] == "fake"
    assert ready == [7.0], "the provider's own ready timeout unless one is given"
    assert rd.up_log.is_file()


def test_up_again_keeps_the_run_id_and_takes_a_given_timeout(tmp_path: Path, ready: list[float]) -> None:
    run_dir = tmp_path / "run"
    up(FakeProvider(), run_dir)
    first = RunDir(run_dir).require_info().run_id
    up(FakeProvider(), run_dir, ready_timeout_s=30.0)
    assert RunDir(run_dir).require_info().run_id == first
    assert ready == [7.0, 30.0]


def test_a_refusal_creates_nothing_and_tears_nothing_down(tmp_path: Path, ready: list[float]) -> None:
    fake = FakeProvider()
    fake.refuse = UserInputError("no such target", "pick another")
    run_dir = tmp_path / "run"
    with pytest.raises(UserInputError):
        up(fake, run_dir)
    assert fake.calls == ["check"]
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "error",
    [ProvisionError("apply failed", "see up.log"), RuntimeError("a bug"), Interrupted(signal.SIGTERM)],
    ids=["harness-error", "bug", "signal"],
)
def test_a_failed_create_is_torn_down_and_its_new_directory_goes(
    tmp_path: Path, ready: list[float], error: BaseException
) -> None:
    fake = FakeProvider(fail_at="node3", error=error)
    run_dir = tmp_path / "run"
    with pytest.raises(type(error)):
        up(fake, run_dir)
    assert fake.calls == ["check", "up", "down node1,node2"], "down once, for what was created"
    assert fake.created == []
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("error", "status"),
    [(ProvisionError("apply failed", "see up.log"), "failed"), (Interrupted(signal.SIGHUP), "interrupted")],
    ids=["failed", "interrupted"],
)
def test_a_failed_create_in_an_existing_directory_is_recorded(
    tmp_path: Path, ready: list[float], error: BaseException, status: str
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fake = FakeProvider(fail_at="node2", error=error)
    with pytest.raises(type(error)):
        up(fake, run_dir)
    assert fake.calls == ["check", "up", "down node1"]
    assert RunDir(run_dir).require_info().status == status
    assert not RunDir(run_dir).inventory.exists()


def test_hosts_that_never_answer_are_torn_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(inventory: Inventory, timeout_s: float) -> dict[str, str]:
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(providers, "wait_ready", never)
    fake = FakeProvider()
    with pytest.raises(Interrupted):
        up(fake, tmp_path / "run")
    assert fake.calls == ["check", "up", "inventory", "down node1,node2,node3"]


def test_a_failed_teardown_keeps_the_directory_for_another_down(tmp_path: Path, ready: list[float]) -> None:
    fake = FakeProvider(fail_at="node2")
    fake.down_error = ProvisionError("destroy failed", "retry")
    run_dir = tmp_path / "run"
    with pytest.raises(ProvisionError, match="destroy failed"):
        up(fake, run_dir)
    assert fake.created == ["node1"]
    assert RunDir(run_dir).require_info().status == "failed", "the state to destroy stays"


def test_down_uses_the_provider_the_run_record_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = provider_of(RunInfo("lab-1", "local", "2026-12-01T02:00:00Z", {"lab_name": "lab"}))
    assert isinstance(local, LocalLab) and local.spec.lab == "lab"
    cloud = provider_of(RunInfo("aws-1", "aws", "2026-12-01T02:00:00Z", {"owner": "ci"}))
    assert type(cloud) is TerraformTarget and cloud.target == "aws"
    fake = FakeProvider()
    fake.created = ["node1"]
    monkeypatch.setattr(providers, "provider_of", lambda info: fake)
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.write_info(RunInfo("fake-1", "fake", "2026-12-01T02:00:00Z"))
    rd.inventory.write_text("{}")
    down(rd.path)
    assert fake.calls == ["down node1"]
    assert rd.require_info().status == "down" and not rd.inventory.exists()


def test_down_refuses_a_directory_without_a_run_record(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"no run\.json"):
        down(tmp_path)
