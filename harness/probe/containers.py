"""Plain containers (not swarm tasks) from the probe image, for the per-node drivers.

The bridge, host, none and macvlan drivers are exercised the way users meet them:
``docker run`` on one node. Every container carries the run's labels, so ``purge``
and the label cleanup find it even if a test dies before removing it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.cluster import Cluster
from harness.probe.image import image_ref
from harness.transport.result import CommandError


def label_flags(labels: dict[str, str]) -> str:
    return " ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in sorted(labels.items()))


def run_once(
    cluster: Cluster,
    node: str,
    network: str,
    labels: dict[str, str],
    agent_args: list[str],
    timeout_s: float = 60,
) -> Any:
    """``docker run --rm`` one agent command on ``node`` attached to ``network``; its JSON."""
    args = " ".join(shlex.quote(a) for a in agent_args)
    cmd = (
        f"docker run --rm {label_flags(labels)} --network {shlex.quote(network)} "
        f"{image_ref('v1')} python3 /agent.py {args}"
    )
    res = cluster.run(node, cmd, timeout_s=timeout_s)
    if res.failed:
        raise CommandError(
            f"probe container on {node} ({network}) failed: exited {res.exit_status}: {res.tail(3)}",
            f"run the same 'docker run' on {node} by hand to see why",
            res,
        )
    return json.loads(res.stdout)


def start(
    cluster: Cluster, node: str, name: str, network: str, labels: dict[str, str], extra: str = ""
) -> str:
    """A detached ``serve`` container; returns its address on ``network``."""
    cmd = (
        f"docker run -d --name {shlex.quote(name)} {label_flags(labels)} "
        f"--network {shlex.quote(network)} {extra} {image_ref('v1')}"
    )
    cluster.run(node, cmd, timeout_s=60).check(hint=f"run 'docker logs {name}' on {node}")
    fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
    res = cluster.run(node, f"docker inspect --format {shlex.quote(fmt)} {shlex.quote(name)}").check()
    return res.stdout.strip()


def remove(cluster: Cluster, node: str, *names: str) -> None:
    if names:
        cluster.run(node, "docker rm -f " + " ".join(shlex.quote(n) for n in names))
