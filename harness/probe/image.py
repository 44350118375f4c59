"""Build the probe image offline and ship it to every node over SSH.

No registry is needed: a stripped Debian root plus ``agent.py`` is packed into
one tarball, streamed to each node's ``docker import``, and the versions
(v1, v2, and a deliberately broken one for rollback tests) are derived from it
on the node with ``docker commit --change``. Nodes that already hold the
current agent are skipped.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shlex
import tarfile
from pathlib import Path

from harness.lab import images
from harness.lab.naming import cache_root
from harness.swarm.cluster import Cluster
from harness.transport.ssh import SSHHost

log = logging.getLogger(__name__)

AGENT_PATH = Path(__file__).with_name("agent.py")
REPO = "swarm-harness/probe"
VERSIONS = ("v1", "v2")
BROKEN = "broken"
LABEL_AGENT = "com.swarm-harness.agent"
CMD = '["python3", "/agent.py", "serve"]'


def agent_hash() -> str:
    return hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()[:12]


def image_ref(version: str, registry: str | None = None) -> str:
    ref = f"{REPO}:{version}"
    return f"{registry.rstrip('/')}/{ref}" if registry else ref


def base_ref() -> str:
    return f"{REPO}-base:{agent_hash()}"


def build_tarball() -> Path:
    """The probe root plus the agent, as one gzipped tar (a third of the bytes to ship over
    SSH, which matters on software-emulated VMs); cached by image key and agent hash.
    Tarballs of older agents are deleted, so the cache holds one."""
    recipe = images.probe_recipe()
    root = images.ensure_image(recipe)
    out = cache_root() / "probe" / f"{recipe.key}-{agent_hash()}.tar.gz"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in [*out.parent.glob("probe-*.tar"), *out.parent.glob("probe-*.tar.gz")]:
        old.unlink(missing_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    log.info("packing probe image tarball")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)
        data = AGENT_PATH.read_bytes()
        info = tarfile.TarInfo("agent.py")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    tmp.rename(out)
    return out


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


def ensure_probe_images(cluster: Cluster) -> dict[str, str]:
    """Make every node hold the current probe images; return what was done per node."""
    registry = cluster.inventory.registry
    tarball = None if registry else build_tarball()

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
