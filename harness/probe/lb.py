"""Load-balancing observations: who answers, and how often, through a name, VIP or port."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.probe.service import ProbeTask, batch
from harness.swarm.cluster import Cluster


def answers(
    cluster: Cluster, client: ProbeTask, url: str, requests: int, timeout_s: float = 2
) -> dict[str, Any]:
    """Send ``requests`` GETs to ``url`` from ``client``; count answers per responding hostname."""
    ops = [{"id": i, "op": "http", "url": url, "timeout_s": timeout_s} for i in range(requests)]
    results = batch(cluster, client, ops, timeout_s=60 + requests * timeout_s)
    seen: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        if r.get("ok"):
            seen[str(r.get("hostname"))] += 1
        else:
            errors[str(r.get("error"))[:80]] += 1
    return {"url": url, "sent": requests, "by_backend": dict(seen), "errors": dict(errors)}


def spread_problems(observed: dict[str, Any], backends: set[str], min_each: int = 2) -> list[str]:
    """Every backend answered at least ``min_each`` times, and nobody else answered."""
    by = observed["by_backend"]
    out = []
    foreign = sorted(set(by) - backends)
    if foreign:
        out.append(f"foreign backends answered: {foreign}")
    short = {b: by.get(b, 0) for b in sorted(backends) if by.get(b, 0) < min_each}
    if short:
        out.append(f"backends answering fewer than {min_each} times: {short}")
    if observed["errors"]:
        out.append(
            f"{sum(observed['errors'].values())} of {observed['sent']} requests failed: {observed['errors']}"
        )
    return out
