"""Failure artifacts: everything needed to debug a failed check, per node, redacted.

Collected into ``RUN/artifacts/<test id>/<node>/`` when a check fails, so the
evidence is gathered while the cluster is still in the failing state.
"""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path
from typing import Any

import docker.errors

from harness.cluster import Cluster

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"SWMTKN-[0-9A-Za-z-]+")
_KEY_RE = re.compile(r"0x[0-9a-fA-F]{16,}")


def redact(text: str) -> str:
    """Hide join tokens and IPsec keys (``ip xfrm state`` prints them in hex)."""
    return _KEY_RE.sub("0x<redacted>", _TOKEN_RE.sub("SWMTKN-<redacted>", text))


def _commands(networks: list[str], since_epoch: int, is_manager: bool) -> dict[str, str]:
    nets = " ".join(shlex.quote(n) for n in networks)
    cmds = {
        "docker-info.txt": "docker info",
        "containers.txt": "docker ps -a --no-trunc",
        "dockerd-journal.txt": f"journalctl -u docker --no-pager --since @{since_epoch}",
        "iptables-save.txt": "iptables-save",
        "xfrm-state.txt": "ip xfrm state",
        "xfrm-policy.txt": "ip xfrm policy",
        "ip-link.txt": "ip -d link",
        "routes.txt": "ip route show table all",
        # Each namespace's VXLAN tables: FDB (MAC -> remote VTEP) and neighbours (IP -> MAC),
        # what suites/overlay/test_vxlan_tables.py judges.
        "overlay-fdb.txt": (
            'for ns in /var/run/docker/netns/*; do [ -e "$ns" ] || continue; echo "== $ns"; '
            'nsenter --net="$ns" ip -d link; echo "-- bridge fdb show"; nsenter --net="$ns" bridge fdb show; '
            'echo "-- ip neigh"; nsenter --net="$ns" ip neigh; done'
        ),
        "task-logs.txt": (
            'for c in $(docker ps -aq --filter label=com.docker.swarm.task); do echo "== $c"; '
            'docker logs --timestamps --tail 200 "$c" 2>&1; done'
        ),
    }
    if nets:
        verbose = "-v " if is_manager else ""
        cmds["network-inspect.json"] = f"docker network inspect {verbose}{nets}"
    return cmds


def service_tasks_text(services: list[Any], tasks: list[Any], nodes: list[Any]) -> str:
    """What ``docker service ps --no-trunc`` shows of every service, from three list calls.

    ``service ps`` looks each service up by ID (and each task's node): a service that another
    check removes between the listing and the lookup makes dockerd log "Error getting service
    ...: not found" at level=error, an error line of the harness's own making in the log scan.
    Lists never miss, so the table is built from them (a removed service's tasks say so).
    """
    names = {s["ID"]: s["Spec"]["Name"] for s in services}
    hosts = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"]) for n in nodes}
    rows = ["SERVICE  SLOT  TASK  NODE  DESIRED  STATE  SINCE  IMAGE  ERROR"]
    for t in sorted(tasks, key=lambda t: (names.get(t.get("ServiceID", ""), "~"), t.get("Slot") or 0)):
        status = t.get("Status") or {}
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append(
            "  ".join(
                str(x) or "-"
                for x in (
                    names.get(t.get("ServiceID", ""), f"(removed) {t.get('ServiceID', '')}"),
                    t.get("Slot") or "",
                    t.get("ID", ""),
                    hosts.get(t.get("NodeID", ""), t.get("NodeID", "")),
                    t.get("DesiredState", ""),
                    status.get("State", ""),
                    status.get("Timestamp", ""),
                    image,
                    status.get("Err", ""),
                )
            )
        )
    return "\n".join(rows) + "\n"


def collect(cluster: Cluster, dest: Path, networks: list[str], since_epoch: int) -> Path:
    """Write the bundle under ``dest``; a node that cannot be reached gets an error file."""
    dest.mkdir(parents=True, exist_ok=True)

    def _one(node_name: str) -> None:
        node = cluster.inventory.node(node_name)
        out = dest / node_name
        out.mkdir(exist_ok=True)
        for filename, cmd in _commands(networks, since_epoch, node.is_manager).items():
            res = cluster.run(node_name, cmd, timeout_s=60)
            body = res.stdout + (
                f"\n--- stderr (exit {res.exit_status}) ---\n{res.stderr}" if res.failed else ""
            )
            (out / filename).write_text(redact(body))
        if node.is_manager:
            try:
                api = cluster.docker(node_name).api
                text = service_tasks_text(api.services(), api.tasks(), api.nodes())
            except docker.errors.DockerException as exc:
                text = f"could not list services and tasks on {node_name}: {exc}\n"
            (out / "service-ps.txt").write_text(redact(text))

    from harness.transport.ssh import run_parallel

    results = run_parallel(cluster.hosts.values(), lambda h: _one(h.name))
    for name, res in results.items():
        if isinstance(res, BaseException):
            (dest / f"{name}.error.txt").write_text(redact(str(res)))
    log.info("failure artifacts: %s", dest)
    return dest
