"""The vm machine kind's pure parts: its image recipe, identity and kernel lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import LabError, UserInputError
from harness.lab import images, vm
from harness.lab.machine_state import MachineState


@pytest.fixture(autouse=True)
def _own_state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_HARNESS_STATE", str(tmp_path / "state"))


def _state(tmp_path: Path, index: int = 2, lab: str = "lab") -> MachineState:
    return MachineState(
        lab, f"node{index}", index, "198.18.0.12", "198.18.0.0/24", "bookworm", "k", str(tmp_path), kind="vm"
    )


def test_vm_recipe_adds_a_kernel_and_has_its_own_cache_key() -> None:
    nspawn, vmr = images.machine_recipe("bookworm"), images.machine_recipe("bookworm", "vm")
    assert "linux-image-cloud-amd64" in vmr.packages and "linux-image-cloud-amd64" not in nspawn.packages
    assert set(nspawn.packages) < set(vmr.packages)
    assert vmr.key != nspawn.key and vmr.key.startswith("vm-bookworm-")
    with pytest.raises(UserInputError, match="unknown machine kind 'lxc'"):
        images.machine_recipe("bookworm", "lxc")


def test_mac_is_stable_per_lab_and_unique_per_node(tmp_path: Path) -> None:
    a, b = vm._mac(_state(tmp_path, 1)), vm._mac(_state(tmp_path, 2))
    assert a != b and a.startswith("52:54:00:") and a == vm._mac(_state(tmp_path, 1))
    assert vm._mac(_state(tmp_path, 1, lab="other")) != a


def test_image_without_kernel_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "boot").mkdir()
    with pytest.raises(LabError, match="no kernel or initrd") as exc:
        vm._kernel(tmp_path)
    assert "images build --kind vm --rebuild" in exc.value.hint
    (tmp_path / "boot/vmlinuz-6.1.0-1-cloud-amd64").write_text("k")
    (tmp_path / "boot/initrd.img-6.1.0-1-cloud-amd64").write_text("i")
    assert vm._kernel(tmp_path)[0].name == "vmlinuz-6.1.0-1-cloud-amd64"


def test_provision_writes_address_without_gateway_and_data_mounts(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert str(state.root).startswith(str(tmp_path))
    state.root.mkdir(parents=True)
    vm.provision(state)
    net = (state.root / "etc/systemd/network/10-lab.network").read_text()
    assert "Address=198.18.0.12/24" in net and "Gateway" not in net
    fstab = (state.root / "etc/fstab").read_text()
    assert "/srv/data/docker /var/lib/docker" in fstab and "/srv/data/etc-docker /etc/docker" in fstab


def test_accelerator_names_its_choice_and_reason() -> None:
    vm.accelerator.cache_clear()
    accel, why = vm.accelerator()
    assert accel in ("kvm", "tcg") and why
