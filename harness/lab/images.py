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

# Engine version each release ships, for the docs and for assertions in tests.
ENGINE_BY_RELEASE = {"bookworm": "20.10", "trixie": "26.1"}

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
PROBE_PACKAGES = ("python3",)

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


# From trixie on, the docker CLI is its own package.
EXTRA_PACKAGES = {"trixie": ("docker-cli",)}


# A VM boots its own stock kernel (with ip_vs, esp4 and gcm as modules) and needs udev
# for its disks' device units and kmod to load those modules.
VM_PACKAGES = ("linux-image-cloud-amd64", "udev", "kmod")
MACHINE_KINDS = ("nspawn", "vm", "uml")


def machine_recipe(release: str, kind: str = "nspawn") -> Recipe:
    if release not in ENGINE_BY_RELEASE:
        raise UserInputError(
            f"unknown image release {release!r}",
            f"use one of: {', '.join(sorted(ENGINE_BY_RELEASE))}",
        )
    if kind not in MACHINE_KINDS:
        raise UserInputError(f"unknown machine kind {kind!r}", f"use one of: {', '.join(MACHINE_KINDS)}")
    packages = MACHINE_PACKAGES + EXTRA_PACKAGES.get(release, ())
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
            uml_image.build_image(base_root, staging)
        else:
            hostcmd.require_tools(["debootstrap"])
            _debootstrap(recipe, staging / "root")
            _post_process(recipe, staging / "root")
        elapsed = time.monotonic() - started
        (staging / "complete.json").write_text(
            json.dumps(
                {
                    "recipe": recipe.kind,
                    "release": recipe.release,
                    "packages": list(recipe.packages),
                    "revision": RECIPE_REVISION,
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


def list_cached() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for meta in sorted(images_dir().glob("*/complete.json")):
        info = json.loads(meta.read_text())
        info["key"] = meta.parent.name
        info["path"] = str(meta.parent / "root")
        out.append(info)
    return out
