"""The probe tarball is packed from the root its caller passes in: named by that root's
key and the agent, with the agent added and the unused parts of the root left out."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.lab import images
from harness.probe import image


@dataclass
class FakeRoot:
    key: str
    path: Path
    calls: list[int] = field(default_factory=list)

    def ensure(self) -> Path:
        self.calls.append(1)
        return self.path


def test_the_tarball_is_packed_from_the_given_root_and_cached_by_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").write_text("#!\n")
    (root / "usr/share/doc/python3").mkdir(parents=True)
    (root / "usr/share/doc/python3/README").write_text("docs\n")
    fake = FakeRoot("probe-bookworm-abc", root)
    out = image.build_tarball(fake)
    assert out.parent == tmp_path / "cache" / "probe"
    assert out.name.startswith(f"probe-bookworm-abc-{image.agent_hash()}-")
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"agent.py", "usr/bin/python3"} <= names
    assert not any(n.startswith("usr/share/doc") for n in names), names
    assert image.build_tarball(fake) == out and len(fake.calls) == 2


def test_the_lab_probe_recipe_is_a_probe_root() -> None:
    recipe: image.ProbeRoot = images.probe_recipe()
    assert recipe.key.startswith("probe-bookworm-")
