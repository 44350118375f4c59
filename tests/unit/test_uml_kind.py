"""The uml machine kind's pure parts: its image recipe, identity, process test and files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.lab import images, machine, uml, uml_image
from harness.lab.machine_state import MachineState


@pytest.fixture(autouse=True)
def _own_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_HARNESS_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path / "cache"))


def _state(tmp_path: Path, index: int = 2, lab: str = "lab") -> MachineState:
    return MachineState(
        lab, f"node{index}", index, "198.18.0.12", "198.18.0.0/24", "bookworm", "k", str(tmp_path), kind="uml"
    )


def test_uml_recipe_is_derived_from_the_machine_image_and_keyed_by_the_uml_kernel() -> None:
    nspawn, umlr = images.machine_recipe("bookworm"), images.machine_recipe("bookworm", "uml")
    assert umlr.base == nspawn and umlr.key.startswith("uml-bookworm-") and umlr.key != nspawn.key
    extra = set(uml_image.PACKAGES)
    assert extra <= set(umlr.packages) and not extra & set(nspawn.packages)
    other_kernel = images.Recipe(umlr.kind, umlr.release, umlr.packages, umlr.base, "linux.uml-9.9")
    assert other_kernel.key != umlr.key
    # Images without a base keep the key they had before derived images existed.
    assert nspawn.key == images.Recipe("machine", "bookworm", nspawn.packages).key


def test_uml_is_a_machine_kind_behind_the_same_interface() -> None:
    assert machine.KINDS["uml"] is uml
    for op in ("is_running", "start", "stop", "image_swapped", "release_network"):
        assert callable(getattr(uml, op))


def test_mac_is_fixed_per_lab_and_node_and_locally_administered(tmp_path: Path) -> None:
    a, b = uml.mac(_state(tmp_path, 1)), uml.mac(_state(tmp_path, 2))
    assert a != b and a == uml.mac(_state(tmp_path, 1)) and a.startswith("02:00:")
    assert uml.mac(_state(tmp_path, 1, lab="other")) != a


def test_process_test_knows_its_own_machine_and_no_other() -> None:
    own = ["/usr/bin/linux.uml", "umid=shm-lab-node1", "mem=1G"]
    assert uml.uml_argv("shm-lab-node1")(own)
    assert not uml.uml_argv("shm-lab-node1")(["/usr/bin/linux.uml", "umid=shm-lab-node10"])
    assert uml.uml_argv("shm-lab-", prefix=True)(own)
    assert not uml.uml_argv("shm-lab-", prefix=True)(["/usr/bin/qemu-system-x86_64", "umid=shm-lab-node1"])
    assert not uml.uml_argv("shm-lab-", prefix=True)(["/usr/bin/linux.uml", "umid=shm-other-node1"])


def test_provision_writes_the_address_the_boot_unit_applies(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.root.mkdir(parents=True)
    uml.provision(state)
    env = (state.root / uml_image.MACHINE_ENV).read_text()
    assert "ADDRESS=198.18.0.12/24\n" in env and f"IFACE={uml.IFACE}\n" in env and "MTU=1500\n" in env


def test_boot_unit_runs_before_everything_that_needs_the_machine_files() -> None:
    before = next(ln for ln in uml_image._UNIT.splitlines() if ln.startswith("Before="))
    for unit in ("sysinit.target", "ssh.service", "docker.service", "containerd.service"):
        assert unit in before
    assert "DefaultDependencies=no" in uml_image._UNIT
    assert (
        "/dev/ubdb /srv/data" in uml_image._SCRIPT
        and "mount --bind /srv/data/docker /var/lib/docker" in uml_image._SCRIPT
    )


def test_disks_are_named_per_machine_and_per_image(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert uml.cow_file(state) == state.dir / "node2.cow"
    assert uml.root_image(state) == images.images_dir() / "k" / "root.img"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc (scripts/setup.sh installs it)")
def test_xstate_shim_is_built_once_per_source() -> None:
    lib = uml.xstate_shim()
    assert lib.is_file() and lib.suffix == ".so"
    mtime = lib.stat().st_mtime_ns
    assert uml.xstate_shim() == lib and lib.stat().st_mtime_ns == mtime
