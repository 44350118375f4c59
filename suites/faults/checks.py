"""The fault suite's verdicts on the manager's view, as problems a test waits to see empty.

"The new leader accepts updates" is only shown by an update that took effect: an API
call that did not raise proves the request was received, not that the cluster acts on
it. These functions read plain Engine API documents, so they are tested on recorded
or synthetic ones.
"""

from __future__ import annotations

from typing import Any


def _image(ref: object) -> str:
    return str(ref).split("@")[0]


def spec_version(attrs: dict[str, Any]) -> int:
    return int((attrs.get("Version") or {}).get("Index", 0))


def converged_problems(
    attrs: dict[str, Any],
    tasks: list[dict[str, Any]],
    replicas: int,
    image: str,
    after_version: int,
    down_node_ids: set[str],
) -> list[str]:
    """The service's spec, newer than ``after_version``, asks for ``replicas`` tasks of
    ``image``, and exactly that many run it, none on a node in ``down_node_ids``."""
    out = []
    spec = attrs.get("Spec") or {}
    version = spec_version(attrs)
    if version <= after_version:
        out.append(f"spec version {version} is not newer than {after_version}: the update was not recorded")
    want = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
    if want != replicas:
        out.append(f"spec asks for {want} replicas, want {replicas}")
    spec_image = _image(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image"))
    if spec_image != image:
        out.append(f"spec image {spec_image}, want {image}")
    running = [
        t
        for t in tasks
        if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"
    ]
    on_image = [t for t in running if _image(t["Spec"]["ContainerSpec"]["Image"]) == image]
    if len(on_image) != replicas:
        seen = sorted(_image(t["Spec"]["ContainerSpec"]["Image"]) for t in running)
        out.append(f"{len(on_image)} of {replicas} tasks run {image} (running: {seen or 'none'})")
    stale = sorted(str(t.get("NodeID")) for t in running if t.get("NodeID") in down_node_ids)
    if stale:
        out.append(f"tasks reported running on stopped nodes {stale}")
    return out
