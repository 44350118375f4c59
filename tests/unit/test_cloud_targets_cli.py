"""Non-local targets from the CLI: offline failure is clean, runs are listed and reaped.

No provider can be downloaded here, so Terraform is pointed at an empty local
provider mirror: `init` fails without touching the network, which is exactly
the path that must leave nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UserInputError
from harness.provision.providers import parse_duration_s
from harness.provision.terraform_target import parse_vars


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize("command", ["up", "run"])
def test_cloud_target_fails_cleanly_offline(tmp_path: Path, command: str) -> None:
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    import os

    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc))
    run_dir = tmp_path / "aws-run"
    res = _cli(
        command,
        "--target",
        "aws",
        "--run-dir",
        str(run_dir),
        "-var",
        "owner=ci",
        "-var",
        "ssh_allowed_cidr=203.0.113.0/24",
        env=env,
    )
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "terraform init failed for target aws" in errors[0]
    assert "Traceback" not in res.stderr
    assert not run_dir.exists()


def test_unknown_target(tmp_path: Path) -> None:
    res = _cli("up", "--target", "gcp", "--run-dir", str(tmp_path / "r"))
    assert res.returncode == 2
    assert "unknown target 'gcp'" in res.stderr and "aws, hcloud, libvirt, local" in res.stderr


def _fake_run(root: Path, name: str, age_s: float, status: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age_s))
    (run / "run.json").write_text(
        json.dumps(
            {"run_id": name, "target": "aws", "created_at": created, "variables": {}, "status": status}
        )
    )
    return run


def test_runs_lists_and_down_older_than_reaps_only_stale(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _fake_run(root, "old", 8 * 3600, "up")
    _fake_run(root, "fresh", 600, "up")
    _fake_run(root, "gone", 9 * 3600, "down")
    listing = _cli("runs", "--root", str(root))
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert [ln.split()[0].rsplit("/", 1)[-1] for ln in lines] == ["gone", "old", "fresh"]
    assert "age 8.0h" in lines[1]
    reap = _cli("down", "--older-than", "6h", "--root", str(root))
    assert reap.returncode == 0, reap.stderr
    assert "down: 1 runs older than 6h destroyed" in reap.stdout
    assert json.loads((root / "old/run.json").read_text())["status"] == "down"
    assert json.loads((root / "fresh/run.json").read_text())["status"] == "up"


def test_parse_helpers() -> None:
    assert parse_vars(["a=1", "b=x", 'c={"k": 2}']) == {"a": 1, "b": "x", "c": {"k": 2}}
    assert parse_duration_s("6h") == 21600 and parse_duration_s("30m") == 1800
    with pytest.raises(UserInputError):
        parse_duration_s("soon")
    with pytest.raises(UserInputError):
        parse_vars(["novalue"])
