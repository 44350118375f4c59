"""The release table: which releases a lab image can be built from, what each installs,
how debootstrap is told about a suite it predates, and the Engine an image reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness import cli
from harness.errors import LabError, UserInputError
from harness.lab import images, nspawn
from harness.provision.local_lab import LocalSpec

# `dockerd --version` as printed inside the images built on 2026-12-03 (chroot ROOT
# /usr/sbin/dockerd --version), one line each.
DOCKERD_VERSION_OUTPUT = {
    "bookworm": ("Docker version 20.10.24+dfsg1, build 5d6db84\n", "20.10.24+dfsg1"),
    "forky": (
        "Docker version 28.5.2+dfsg4, build 3ef3c07c883be49a2e8097bcf6d2952fce1d70eb\n",
        "28.5.2+dfsg4",
    ),
}


def test_three_releases_with_their_engine_series() -> None:
    assert images.ENGINE_BY_RELEASE == {"bookworm": "20.10", "trixie": "26.1", "forky": "28.5"}
    assert images.releases_help() == "bookworm (Engine 20.10), trixie (Engine 26.1), forky (Engine 28.5)"


def test_forky_installs_the_split_docker_cli_like_trixie() -> None:
    assert images.release_packages("bookworm") == images.MACHINE_PACKAGES
    for release in ("trixie", "forky"):
        assert images.release_packages(release) == (*images.MACHINE_PACKAGES, "docker-cli")


def test_existing_image_keys_do_not_move() -> None:
    """Adding forky must not rebuild the bookworm and trixie images every lab has cached."""
    assert images.machine_recipe("bookworm").key == "machine-bookworm-655710d10291"
    assert images.machine_recipe("trixie").key == "machine-trixie-b04b7f7267f6"


def test_a_renamed_package_is_replaced_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = images.Release("future", "99.0", extra_packages=("x",), renamed=(("iputils-ping", "ping-ng"),))
    monkeypatch.setitem(images.RELEASES, "future", renamed)
    packages = images.release_packages("future")
    assert "iputils-ping" not in packages
    assert packages.index("ping-ng") == images.MACHINE_PACKAGES.index("iputils-ping")
    assert packages[-1] == "x"
    assert images.machine_recipe("future", "uml").base == images.Recipe("machine", "future", packages)


@pytest.mark.parametrize("kind", images.MACHINE_KINDS)
def test_forky_recipe_for_every_kind(kind: str) -> None:
    recipe = images.machine_recipe("forky", kind)
    assert recipe.release == "forky" and recipe.key.startswith(f"{recipe.kind}-forky-")
    assert "docker-cli" in recipe.packages


@pytest.mark.parametrize(
    "spec",
    [
        LocalSpec(lab="hfk", release="forky"),
        LocalSpec(lab="hfk", node_releases={"node3": "forky"}),
        LocalSpec(lab="hfk", release="forky", node_releases={"node1": "bookworm", "node2": "trixie"}),
    ],
)
def test_forky_is_a_valid_lab_release(spec: LocalSpec) -> None:
    spec.validate()
    assert "forky" in spec.releases()


@pytest.mark.parametrize(
    "spec",
    [LocalSpec(release="forkyy"), LocalSpec(node_releases={"node3": "sid"})],
)
def test_an_unknown_release_names_every_known_one(spec: LocalSpec) -> None:
    with pytest.raises(UserInputError) as exc:
        spec.validate()
    assert re.fullmatch(r"unknown image release '(forkyy|sid)'", exc.value.message)
    assert exc.value.hint == f"use one of: {images.releases_help()}"


def test_cli_unknown_node_release_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", "--lab", "hfk", "--node-release", "node3=forkyy"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: unknown image release 'forkyy' (use one of: bookworm (Engine 20.10), "
        "trixie (Engine 26.1), forky (Engine 28.5))"
    ]


def _scripts(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_text("# debootstrap script\n")
    return tmp_path


def test_debootstrap_uses_sid_for_a_suite_it_predates(tmp_path: Path) -> None:
    """Debian 12's debootstrap ships trixie (a link to sid) but no forky."""
    scripts = _scripts(tmp_path, "sid", "trixie", "bookworm")
    assert images.debootstrap_script("trixie", scripts) == []
    assert images.debootstrap_script("forky", scripts) == [str(scripts / "sid")]


def test_debootstrap_that_knows_forky_gets_no_script(tmp_path: Path) -> None:
    assert images.debootstrap_script("forky", _scripts(tmp_path, "sid", "forky")) == []


def test_debootstrap_without_any_script_is_a_lab_error(tmp_path: Path) -> None:
    with pytest.raises(LabError) as exc:
        images.debootstrap_script("forky", tmp_path)
    assert "neither a 'forky' nor a 'sid' script" in exc.value.message
    assert "newer debootstrap" in exc.value.hint


@pytest.mark.parametrize("release", sorted(DOCKERD_VERSION_OUTPUT))
def test_engine_version_from_real_dockerd_output(release: str) -> None:
    output, version = DOCKERD_VERSION_OUTPUT[release]
    assert images.parse_engine_version(output) == version


@pytest.mark.parametrize("output", ["", "dockerd: not found\n", "Docker version , build x"])
def test_engine_version_of_something_else_is_empty(output: str) -> None:
    assert images.parse_engine_version(output) == ""


def test_a_root_without_dockerd_has_no_engine(tmp_path: Path) -> None:
    assert images.measure_engine(tmp_path) == ""


def _cached(cache: Path, key: str, **meta: object) -> None:
    (cache / "images" / key / "root").mkdir(parents=True)
    info = {"recipe": "machine", "packages": [], "revision": 1, "built_at": "2026-12-03T14:00:00Z"}
    (cache / "images" / key / "complete.json").write_text(json.dumps({**info, **meta}))


def test_images_list_shows_each_images_recorded_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path))
    _cached(tmp_path, "machine-bookworm-aaa", release="bookworm", engine="20.10.24+dfsg1", build_s=80.0)
    _cached(tmp_path, "machine-forky-bbb", release="forky", engine="28.5.2+dfsg4", build_s=190.5)
    _cached(tmp_path, "probe-bookworm-ccc", release="bookworm", engine="", build_s=20.0)
    assert cli.main(["images", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert re.match(
        r"machine-bookworm-aaa +bookworm +engine 20\.10\.24\+dfsg1 +built .* in 80\.0s$", lines[0]
    )
    assert re.match(r"machine-forky-bbb +forky +engine 28\.5\.2\+dfsg4 +built .* in 190\.5s$", lines[1])
    assert re.match(r"probe-bookworm-ccc +bookworm +engine - +built", lines[2])


def test_images_list_measures_an_image_built_before_engines_were_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path))
    _cached(tmp_path, "machine-trixie-old", release="trixie", build_s=85.0)
    measured: list[Path] = []

    def fake_measure(root: Path) -> str:
        measured.append(root)
        return "26.1.5+dfsg1"

    monkeypatch.setattr(images, "measure_engine", fake_measure)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    [info] = images.list_cached()
    assert info["engine"] == "26.1.5+dfsg1"
    assert measured == [tmp_path / "images/machine-trixie-old/root"]


def test_images_list_on_an_empty_cache_says_how_to_fill_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARM_HARNESS_CACHE", str(tmp_path))
    assert cli.main(["images", "list"]) == 0
    assert "swarm-harness images build" in capsys.readouterr().out


def test_terraform_local_accepts_exactly_the_release_table() -> None:
    """terraform/local validates its release variables itself; a release missing there
    would pass the CLI's check and then fail `up` inside terraform apply."""
    text = (Path(__file__).resolve().parents[2] / "terraform/local/variables.tf").read_text()
    lists = re.findall(r"contains\(\[([^\]]*)\], (var\.image_release|r)\)", text)
    assert [var for _, var in lists] == ["var.image_release", "r"]
    for names, _ in lists:
        assert re.findall(r'"(\w+)"', names) == list(images.RELEASES)


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_older_releases_keep_the_hosts_cgroup_controllers(release: str) -> None:
    """Their dockerd limits containers through the host's v1 controllers: bound in as before."""
    assert nspawn.cgroup_args(release) == ["--bind=/sys/fs/cgroup"]
    assert nspawn.cgroup_env(release) == {}


def test_forky_boots_on_nspawns_own_cgroup2_mount() -> None:
    """systemd 262 exits at once on the host's hybrid /sys/fs/cgroup (seen: 'Detected
    unsupported legacy cgroup hierarchy, refusing execution'); binding it in is what broke."""
    assert nspawn.cgroup_args("forky") == []
    assert nspawn.cgroup_env("forky") == {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}


def test_only_forky_skips_the_release_files_expiry() -> None:
    """Stable releases carry no Valid-Until; testing's had expired on the archive this
    machine reaches, so apt inside a forky image (the uml build) must not check it."""
    assert images.RELEASES["forky"].apt_options == "-o Acquire::Check-Valid-Until=false"
    assert images.RELEASES["bookworm"].apt_options == images.RELEASES["trixie"].apt_options == ""
