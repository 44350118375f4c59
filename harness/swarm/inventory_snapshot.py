"""What the swarm holds (services, networks, secrets, configs, node labels), for before/after diffs.

An upgrade must not lose or change anything operators created; comparing a
snapshot taken before with one taken after catches a service deleted or
altered behind the upgrade's back.
"""

from __future__ import annotations

import json
from typing import Any

from harness.cluster import Cluster


def snapshot(cluster: Cluster, via: str | None = None) -> dict[str, dict[str, Any]]:
    client = cluster.docker(via) if via else cluster.manager_docker()
    out: dict[str, dict[str, Any]] = {
        "services": {},
        "networks": {},
        "secrets": {},
        "configs": {},
        "node_labels": {},
    }
    for s in client.services.list():
        spec = s.attrs["Spec"]
        task = spec.get("TaskTemplate", {}).get("ContainerSpec", {})
        out["services"][s.name] = {
            "image": str(task.get("Image", "")).split("@")[0],
            "mode": json.dumps(spec.get("Mode", {}), sort_keys=True),
            "labels": spec.get("Labels") or {},
            "env": sorted(task.get("Env") or []),
        }
    for n in client.networks.list(filters={"driver": "overlay"}):
        attrs = client.api.inspect_network(n.id)
        if attrs.get("Scope") != "swarm":
            continue
        out["networks"][n.name] = {
            "encrypted": "encrypted" in (attrs.get("Options") or {}),
            "attachable": bool(attrs.get("Attachable")),
        }
    for sec in client.secrets.list():
        out["secrets"][sec.name] = {"labels": sec.attrs["Spec"].get("Labels") or {}}
    for cfg in client.configs.list():
        out["configs"][cfg.name] = {"labels": cfg.attrs["Spec"].get("Labels") or {}}
    for node in cluster.swarm_nodes(via):
        out["node_labels"][node.hostname] = dict(node.labels)
    return out


def diff(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], ignore: set[str] | None = None
) -> list[str]:
    """Human-readable differences; objects named in ``ignore`` (the harness's own) are skipped."""
    ignore = ignore or set()
    out = []
    for kind, items in before.items():
        now = after.get(kind, {})
        for name, value in sorted(items.items()):
            if name in ignore:
                continue
            if name not in now:
                out.append(f"{kind[:-1] if kind.endswith('s') else kind} {name} is gone")
            elif now[name] != value:
                out.append(
                    f"{kind[:-1] if kind.endswith('s') else kind} {name} changed: {value} -> {now[name]}"
                )
    return out
