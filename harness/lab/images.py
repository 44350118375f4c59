"""Debian root images for lab machines and for the probe container, cached on disk.

Building an image takes about a minute (debootstrap), so each one is cached
under a key made of the release, the package list and the recipe revision, and
reused until that key changes or a rebuild is asked for. Downloaded packages
are cached too, so a rebuild after a recipe change is mostly offline.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.cache_dir import cache_root
from harness.errors import LabError, UserInputError
from harness.lab import hostcmd, uml_image

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_SCRIPTS = Path("/usr/share/debootstrap/scripts")


@dataclass(frozen=True)
class Release:
    """One Debian release the lab builds machine images from.

    Each newer release is another Engine to test against; what differs between them
    (packages split off or renamed, a debootstrap too old to know the suite) lives here
    rather than in ``if release ==`` branches.
    """

    name: str
    # The Engine series its docker.io ships: for help texts and as what a test expects.
    # What an image really holds is measured when it is built (``engine`` in
    # complete.json, see ``measure_engine``).
    engine: str
    # Packages this release needs beyond MACHINE_PACKAGES (trixie split the docker CLI
    # out of docker.io) ...
    extra_packages: tuple[str, ...] = ()
    # ... and MACHINE_PACKAGES names it spells differently (old name -> new name).
    renamed: tuple[tuple[str, str], ...] = ()
    # The debootstrap script to use when this host's debootstrap has none named after
    # the release: Debian 12's debootstrap predates forky, whose layout is sid's.
    debootstrap_script: str = "sid"
    # Its systemd boots only on a unified (v2) cgroup hierarchy: from systemd 258 on
    # (forky), PID 1 exits with "Detected unsupported legacy cgroup hierarchy, refusing
    # execution" when /sys/fs/cgroup is this host's hybrid v1 layout (see nspawn.py).
    cgroup_v2_only: bool = False
    # Options for apt-get inside an image of this release (the uml image installs more).
    # Testing's Release file carries a Valid-Until a week ahead, and the Debian archive
    # this machine reaches served one that had expired 27 days before (apt: "Release file
    # ... is expired"); debootstrap does not check it, apt does.
    apt_options: str = ""


RELEASES = {
    r.name: r
    for r in (
        Release("bookworm", "20.10"),
        Release("trixie", "26.1", extra_packages=("docker-cli",)),
        # Testing: every MACHINE_PACKAGES name exists there as of 2026-12 (checked with
        # apt-cache policy against forky/main), the CLI is split off as in trixie.
        Release(
            "forky",
            "28.5",
            extra_packages=("docker-cli",),
            cgroup_v2_only=True,
            apt_options="-o Acquire::Check-Valid-Until=false",
        ),
    )
}

# Engine series each release ships, for the docs and for assertions in tests.
ENGINE_BY_RELEASE = {name: r.engine for name, r in RELEASES.items()}

MACHINE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "docker.io",
    "iproute2",
    "iptables",
    "tcpdump",
    "iputils-ping",
    "procps",
    "ca-certificates",
    "python3",
)
# iperf3: the perf suite's throughput and UDP loss (its JSON output is parsed by probe.perf).
PROBE_PACKAGES = ("python3", "iperf3")

# Bump when the post-processing below changes, so cached images are rebuilt.
RECIPE_REVISION = 1


@dataclass(frozen=True)
class Recipe:
    kind: str  # "machine" (nspawn), "vm", "uml" or "probe"
    release: str
    packages: tuple[str, ...]
    # An image made from another cached image rather than by debootstrap (uml), and
    # what else it is made of (the UML kernel's release): both part of its key.
    base: Recipe | None = None
    variant: str = ""

    @property
    def key(self) -> str:
        parts: list[object] = [self.kind, self.release, sorted(self.packages), RECIPE_REVISION]
        if self.base is not None:
            parts += [self.base.key, self.variant]
        blob = json.dumps(parts)
        return f"{self.kind}-{self.release}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def ensure(self, rebuild: bool = False) -> Path:
        """The cached root of this recipe, built first if needed (see ``ensure_image``)."""
        return ensure_image(self, rebuild)


# A VM boots its own stock kernel (with ip_vs, esp4 and gcm as modules) and needs udev
# for its disks' device units and kmod to load those modules.
VM_PACKAGES = ("linux-image-cloud-amd64", "udev", "kmod")
MACHINE_KINDS = ("nspawn", "vm", "uml")


def release_info(release: str) -> Release:
    """The table entry of ``release``; an unknown name is bad input, refused in one line."""
    if release not in RELEASES:
        raise UserInputError(
            f"unknown image release {release!r}",
            f"use one of: {releases_help()}",
        )
    return RELEASES[release]


def releases_help() -> str:
    """``bookworm (Engine 20.10), trixie (Engine 26.1), forky (Engine 28.5)``: for help and errors."""
    return ", ".join(f"{name} (Engine {r.engine})" for name, r in RELEASES.items())


def release_packages(release: str) -> tuple[str, ...]:
    """The machine packages of ``release``: the common list with its renames and extras."""
    info = release_info(release)
    renamed = dict(info.renamed)
    return tuple(renamed.get(p, p) for p in MACHINE_PACKAGES) + info.extra_packages


def machine_recipe(release: str, kind: str = "nspawn") -> Recipe:
    release_info(release)
    if kind not in MACHINE_KINDS:
        raise UserInputError(f"unknown machine kind {kind!r}", f"use one of: {', '.join(MACHINE_KINDS)}")
    packages = release_packages(release)
    if kind == "vm":
        return Recipe("vm", release, packages + VM_PACKAGES)
    if kind == "uml":
        base = Recipe("machine", release, packages)
        return Recipe(
            "uml", release, packages + uml_image.PACKAGES, base, f"linux.uml-{uml_image.kernel_release()}"
        )
    return Recipe("machine", release, packages)


def probe_recipe() -> Recipe:
    """The probe image's root, which ``probe.image`` packs (passed in by its callers)."""
    return Recipe("probe", "bookworm", PROBE_PACKAGES)


def images_dir() -> Path:
    return cache_root() / "images"


def image_root(recipe: Recipe) -> Path:
    return images_dir() / recipe.key / "root"


def is_cached(recipe: Recipe) -> bool:
    return (images_dir() / recipe.key / "complete.json").is_file()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_image(recipe: Recipe, rebuild: bool = False) -> Path:
    """Return the cached root for ``recipe``, building it first if needed.

    Concurrent callers (Terraform creates machines in parallel) serialise on a
    lock file, so an image is built once.
    """
    with _locked(images_dir() / f"{recipe.key}.lock"):
        final = images_dir() / recipe.key
        if is_cached(recipe) and not rebuild:
            return final / "root"
        hostcmd.require_root()
        base_root = ensure_image(recipe.base) if recipe.base is not None else None
        staging = images_dir() / f".{recipe.key}.building"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        started = time.monotonic()
        if base_root is not None:
            uml_image.build_image(base_root, staging, RELEASES[recipe.release].apt_options)
        else:
            hostcmd.require_tools(["debootstrap"])
            _debootstrap(recipe, staging / "root")
            _post_process(recipe, staging / "root")
        engine = _built_engine(recipe, staging)
        elapsed = time.monotonic() - started
        (staging / "complete.json").write_text(
            json.dumps(
                {
                    "recipe": recipe.kind,
                    "release": recipe.release,
                    "packages": list(recipe.packages),
                    "revision": RECIPE_REVISION,
                    "engine": engine,
                    "build_s": round(elapsed, 1),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=2,
            )
        )
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        log.info("image %s built in %.0fs", recipe.key, elapsed)
        return final / "root"


def debootstrap_script(release: str, scripts: Path = DEBOOTSTRAP_SCRIPTS) -> list[str]:
    """The script argument debootstrap needs for ``release``: none when it has a script
    of that name, else the table's stand-in (Debian 12's debootstrap has no ``forky``)."""
    if (scripts / release).exists():
        return []
    stand_in = RELEASES[release].debootstrap_script if release in RELEASES else "sid"
    if not (scripts / stand_in).exists():
        raise LabError(
            f"debootstrap has neither a {release!r} nor a {stand_in!r} script in {scripts}",
            "install a newer debootstrap (apt-get install debootstrap)",
        )
    return [str(scripts / stand_in)]


def _debootstrap(recipe: Recipe, target: Path) -> None:
    debs = cache_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--cache-dir={debs}",
        f"--include={','.join(recipe.packages)}",
        recipe.release,
        str(target),
        MIRROR,
        *debootstrap_script(recipe.release),
    ]
    log.info("building %s image for %s (about a minute)...", recipe.kind, recipe.release)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    phase = ""
    count = 0
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-9:], line]
        if line.startswith("I: "):
            count += 1
            new_phase = line[3:].split(" ", 1)[0]
            if new_phase != phase or count % 40 == 0:
                phase = new_phase
                log.info("  debootstrap %s: %s", recipe.release, line[3:])
    rc = proc.wait()
    if rc != 0:
        raise LabError(
            f"debootstrap of {recipe.release} failed ({rc}): {' | '.join(tail[-3:])}",
            "check that the Debian mirror is reachable (apt-get update), then retry",
        )


def _post_process(recipe: Recipe, root: Path) -> None:
    # Host keys are generated per machine; a shared key would defeat known_hosts.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for p in (root / junk).glob("*"):
            if p.is_file():
                p.unlink()
    if recipe.kind == "probe":
        for junk in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
            shutil.rmtree(root / junk, ignore_errors=True)
        return
    # The machine's own DNS resolver points at the lab gateway (see machine.py);
    # an empty machine-id makes systemd generate a unique one at first boot.
    (root / "etc/machine-id").write_text("")
    # Quiet, faster boots: these units have nothing to do in a lab machine.
    wants = root / "etc/systemd/system"
    for unit in (
        "systemd-networkd-wait-online.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_all.timer",
        "fstrim.timer",
        "man-db.timer",
    ):
        link = wants / unit
        if not link.exists():
            link.symlink_to("/dev/null")


_ENGINE_RE = re.compile(r"^Docker version (\S+?),")


def parse_engine_version(output: str) -> str:
    """``28.5.2+dfsg4`` from ``Docker version 28.5.2+dfsg4, build 0d4ab55``; "" if not that."""
    match = _ENGINE_RE.match(output.strip())
    return match.group(1) if match else ""


def measure_engine(root: Path) -> str:
    """The Engine version the image really holds, from its own ``dockerd --version``.

    The release table only says which series Debian meant to ship; testing releases move,
    and a list of images should say what a lab booted from them will run. "" when the
    root has no dockerd (the probe image) or it does not answer.
    """
    if not (root / "usr/sbin/dockerd").exists():
        return ""
    res = hostcmd.run(["chroot", str(root), "/usr/sbin/dockerd", "--version"], check=False, timeout_s=30)
    return parse_engine_version(res.stdout)


def _built_engine(recipe: Recipe, staging: Path) -> str:
    """The Engine of a freshly built image: measured in its root, or its base's for an
    image made from another (uml)."""
    if recipe.base is not None:
        base_meta = images_dir() / recipe.base.key / "complete.json"
        engine = json.loads(base_meta.read_text()).get("engine", "")
        if engine or not (staging / "root").is_dir():
            return str(engine)
    return measure_engine(staging / "root")


def list_cached() -> list[dict[str, object]]:
    """Every cached image's complete.json, with its key, root and the Engine it holds.

    Images built before the Engine was recorded at build time are measured now (as
    root: chroot), so the list never shows the release table's guess for a real image.
    """
    out: list[dict[str, object]] = []
    for meta in sorted(images_dir().glob("*/complete.json")):
        info = json.loads(meta.read_text())
        info["key"] = meta.parent.name
        info["path"] = str(meta.parent / "root")
        if "engine" not in info and os.geteuid() == 0:
            info["engine"] = measure_engine(meta.parent / "root")
        info.setdefault("engine", "")
        out.append(info)
    return out
