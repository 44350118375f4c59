"""Build the probe image offline and ship it to every node over SSH.

No registry is needed: a stripped Debian root plus ``agent.py`` is packed into
one tarball, streamed to each node's ``docker import``, and the versions
(v1, v2, and a deliberately broken one for rollback tests) are derived from it
on the node with ``docker commit --change``. Nodes that already hold the
current agent are skipped. The Debian root comes from the caller's image cache
(the lab's ``images.probe_recipe()``), so the probe knows no provider.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shlex
import tarfile
from pathlib import Path
from typing import Protocol

from harness.cache_dir import cache_root
from harness.cluster import Cluster
from harness.transport.ssh import SSHHost

log = logging.getLogger(__name__)

AGENT_PATH = Path(__file__).with_name("agent.py")
REPO = "swarm-harness/probe"
VERSIONS = ("v1", "v2")
BROKEN = "broken"
LABEL_AGENT = "com.swarm-harness.agent"
CMD = '["python3", "/agent.py", "serve"]'
# Parts of the probe root the agent never uses (package databases, Perl, time zones,
# charset converters, Python's own tests). Leaving them out cuts the files a node must
# unpack by half (2308 of 4514), which dominates the import time on emulated VMs.
UNSHIPPED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/zoneinfo",
    "usr/share/perl5",
    "usr/share/lintian",
    "usr/share/bash-completion",
    "usr/share/common-licenses",
    "usr/lib/x86_64-linux-gnu/perl-base",
    "usr/lib/x86_64-linux-gnu/gconv",
    "usr/lib/apt",
    "var/lib/apt",
    "var/lib/dpkg",
    "var/cache",
    "var/log",
    "usr/lib/python3.11/test",
    "usr/lib/python3.11/pydoc_data",
)
# Bump when what is packed changes, so cached tarballs are rebuilt.
PACK_REVISION = 2


class ProbeRoot(Protocol):
    """The Debian root the probe image is packed from, as an image cache offers it."""

    @property
    def key(self) -> str:
        """Changes whenever the root's recipe does; part of the tarball's cache key."""
        ...

    def ensure(self) -> Path:
        """The root directory, built first if it is not cached."""
        ...


def agent_hash() -> str:
    return hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()[:12]


def image_ref(version: str, registry: str | None = None) -> str:
    ref = f"{REPO}:{version}"
    return f"{registry.rstrip('/')}/{ref}" if registry else ref


def base_ref() -> str:
    return f"{REPO}-base:{agent_hash()}"


def build_tarball(probe_root: ProbeRoot) -> Path:
    """The probe root plus the agent, as one gzipped tar (a third of the bytes to ship over
    SSH, which matters on software-emulated VMs); cached by image key and agent hash.
    Tarballs of older agents are deleted, so the cache holds one."""
    root = probe_root.ensure()
    out = cache_root() / "probe" / f"{probe_root.key}-{agent_hash()}-p{PACK_REVISION}.tar.gz"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in [*out.parent.glob("probe-*.tar"), *out.parent.glob("probe-*.tar.gz")]:
        old.unlink(missing_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    log.info("packing probe image tarball")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name, filter=_shipped)
        data = AGENT_PATH.read_bytes()
        info = tarfile.TarInfo("agent.py")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    tmp.rename(out)
    return out


def _shipped(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = info.name.removeprefix("./")
    return None if any(name == p or name.startswith(p + "/") for p in UNSHIPPED) else info


def _has_current(host: SSHHost) -> bool:
    fmt = '{{index .Config.Labels "' + LABEL_AGENT + '"}}'
    refs = [image_ref(v) for v in (*VERSIONS, BROKEN)]
    res = host.run(f"docker image inspect --format '{fmt}' {' '.join(refs)}", timeout_s=30)
    return res.ok and all(line.strip() == agent_hash() for line in res.stdout.splitlines())


def _ship(host: SSHHost, tarball: Path) -> None:
    changes = [
        f"LABEL {LABEL_AGENT}={agent_hash()}",
        f"CMD {CMD}",
        "ENV PYTHONUNBUFFERED=1",
    ]
    flags = " ".join(f"--change {shlex.quote(c)}" for c in changes)
    host.run(f"docker import {flags} - {base_ref()}", timeout_s=600, stdin_path=tarball).check()
    for version in (*VERSIONS, BROKEN):
        env = f"ENV PROBE_VERSION={version}"
        if version == BROKEN:
            env += " PROBE_FAIL_START=1"
        cid = host.run(f"docker create {base_ref()}", timeout_s=60).check().stdout.strip()
        host.run(
            f"docker commit --change {shlex.quote(env)} --change {shlex.quote('CMD ' + CMD)} "
            f"{cid} {image_ref(version)} && docker rm {cid}",
            timeout_s=60,
        ).check()
    log.info("%s: probe images %s ready", host.name, ", ".join((*VERSIONS, BROKEN)))


def _pull(host: SSHHost, registry: str) -> None:
    for version in (*VERSIONS, BROKEN):
        remote = image_ref(version, registry)
        host.run(f"docker pull {remote} && docker tag {remote} {image_ref(version)}", timeout_s=600).check(
            hint=f"push the probe images to {registry} first, or remove 'registry' from the inventory"
        )


def ensure_probe_images(cluster: Cluster, probe_root: ProbeRoot) -> dict[str, str]:
    """Make every node hold the current probe images; return what was done per node.
    ``probe_root`` is built and packed only when no registry serves the images."""
    registry = cluster.inventory.registry
    tarball = None if registry else build_tarball(probe_root)

    def _one(host: SSHHost) -> str:
        if _has_current(host):
            return "current"
        if registry:
            _pull(host, registry)
            return "pulled"
        assert tarball is not None
        _ship(host, tarball)
        return "shipped"

    from harness.transport.ssh import raise_first, run_parallel

    return raise_first(run_parallel(cluster.hosts.values(), _one))
