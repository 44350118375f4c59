"""``terraform init -backend=false`` + ``terraform validate`` of every cloud module.

Providers are never downloaded: these tests run only when every provider a module
needs is already unpacked in a local plugin cache (``TF_PLUGIN_CACHE_DIR`` or
``~/.terraform.d/plugins``, layout ``HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/``), which is
then used as the only installation source. Otherwise they skip and say which
provider was missing.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from harness.provision.terraform import TerraformRunner
from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
CLOUD_MODULES = ["aws", "hcloud", "libvirt"]
REGISTRY = "registry.terraform.io"


def plugin_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("TF_PLUGIN_CACHE_DIR"):
        dirs.append(Path(os.environ["TF_PLUGIN_CACHE_DIR"]).expanduser())
    dirs.append(Path.home() / ".terraform.d" / "plugins")
    return [d for d in dirs if d.is_dir()]


def target_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def _version(text: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def satisfies(version: str, constraint: str) -> bool:
    """Pessimistic ('~>') and plain comparison constraints, comma-separated."""
    have = _version(version)
    if have is None:
        return False
    for part in constraint.split(","):
        m = re.fullmatch(r"\s*(~>|>=|<=|>|<|=|!=)?\s*([\d.]+)\s*", part)
        if not m:
            return False
        op, want_text = m.group(1) or "=", m.group(2)
        want = _version(want_text)
        assert want is not None
        width = max(len(have), len(want))
        h = have + (0,) * (width - len(have))
        w = want + (0,) * (width - len(want))
        if op == "~>":
            upper = (*want[:-2], want[-2] + 1) if len(want) > 1 else (want[0] + 1,)
            u = upper + (0,) * (width - len(upper))
            ok = w <= h < u
        else:
            ok = {
                "=": h == w,
                "!=": h != w,
                ">=": h >= w,
                "<=": h <= w,
                ">": h > w,
                "<": h < w,
            }[op]
        if not ok:
            return False
    return True


def required_providers(module_dir: Path) -> dict[str, str]:
    """source -> version constraint, from the versions.tf of the module and of the shared
    local modules it calls (init installs theirs too)."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    found: dict[str, str] = {}
    for versions in [module_dir / "versions.tf", *sorted((TF_DIR / "modules").glob("*/versions.tf"))]:
        data = hcl2.loads(versions.read_text(), serialization_options=options)
        for block in data.get("terraform", []):
            for item in block.get("required_providers", []):
                for spec in item.values():
                    found[spec["source"]] = spec["version"]
    return found


def find_in_cache(source: str, constraint: str, dirs: list[Path]) -> Path | None:
    """The cache directory that holds a matching, unpacked build of ``source``."""
    parts = source.split("/")
    host_source = source if len(parts) == 3 else f"{REGISTRY}/{source}"
    for base in dirs:
        provider_dir = base / host_source
        if not provider_dir.is_dir():
            continue
        for version_dir in provider_dir.iterdir():
            if satisfies(version_dir.name, constraint) and (version_dir / target_platform()).is_dir():
                return base
    return None


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("root", ["", "examples/basic"], ids=["module", "example"])
@pytest.mark.parametrize("name", CLOUD_MODULES)
def test_terraform_validate(name: str, root: str, tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not on PATH; terraform validate did not run")
    dirs = plugin_dirs()
    mirrors: set[Path] = set()
    for source, constraint in required_providers(TF_DIR / name).items():
        where = find_in_cache(source, constraint, dirs)
        if where is None:
            pytest.skip(f"provider {source} not in local plugin cache; terraform validate did not run")
        mirrors.add(where)

    # Work on a copy, so .terraform/ and the lock file never land in the repository; the
    # shared local modules go beside it, where "../modules/..." finds them.
    work = tmp_path / name
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(TF_DIR / name, work, ignore=ignore)
    shutil.copytree(TF_DIR / "modules", tmp_path / "modules", ignore=ignore)
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        "provider_installation {\n"
        + "".join(f'  filesystem_mirror {{\n    path = "{d}"\n  }}\n' for d in sorted(mirrors))
        + "}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_CACHE_DIR"}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    cwd = work / root if root else work
    init = _run([terraform, "init", "-backend=false", "-input=false", "-no-color"], cwd, env)
    assert init.returncode == 0, f"terraform init failed in {name}/{root}:\n{init.stdout}{init.stderr}"
    validate = _run([terraform, "validate", "-no-color"], cwd, env)
    assert validate.returncode == 0, (
        f"terraform validate failed in {name}/{root}:\n{validate.stdout}{validate.stderr}"
    )


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("5.70.0", "~> 5.70", True),
        ("5.99.1", "~> 5.70", True),
        ("6.0.0", "~> 5.70", False),
        ("5.69.0", "~> 5.70", False),
        ("0.8.3", "~> 0.8.3", True),
        ("0.8.9", "~> 0.8.3", True),
        ("0.9.0", "~> 0.8.3", False),
        ("4.1.0", ">= 4.0, < 5.0", True),
        ("not-a-version", "~> 1.0", False),
    ],
)
def test_version_constraints(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


def test_cache_lookup_uses_the_unpacked_layout(tmp_path: Path) -> None:
    (tmp_path / REGISTRY / "hashicorp" / "tls" / "4.0.6" / target_platform()).mkdir(parents=True)
    assert find_in_cache("hashicorp/tls", "~> 4.0", [tmp_path]) == tmp_path
    assert find_in_cache("hashicorp/tls", "~> 3.0", [tmp_path]) is None
    assert find_in_cache("hashicorp/aws", "~> 5.70", [tmp_path]) is None


@pytest.mark.parametrize(("target", "shared"), [("aws", True), ("libvirt", True), ("local", False)])
def test_runner_copies_the_shared_pieces_where_the_copy_finds_them(
    target: str, shared: bool, tmp_path: Path
) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not on PATH; TerraformRunner refuses to start")
    runner = TerraformRunner(target, RunDir(tmp_path))
    runner.prepare({})
    copied = runner.workdir / ".." / "modules" / "node-common" / "outputs.tf"
    assert copied.is_file() is shared
    # The shared inputs arrive as a plain file, not as a link that the copy would break.
    linked = runner.workdir / "run_variables.tf"
    assert linked.is_file() is shared and not linked.is_symlink()
    if shared:
        assert 'variable "run_id"' in linked.read_text()
