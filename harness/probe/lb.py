"""Load-balancing observations: who answers, and how often, through a name, VIP or port."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness import verdict
from harness.cluster import Cluster
from harness.probe.agent import HttpReply
from harness.probe.service import ProbeTask, batch
from harness.verdict import Symptom


@dataclass(frozen=True)
class Answers:
    """What ``sent`` GETs of ``url`` met: answers per responding hostname, failures per error."""

    url: str
    sent: int
    by_backend: dict[str, int]
    errors: dict[str, int]


def answers(cluster: Cluster, client: ProbeTask, url: str, requests: int, timeout_s: float = 2) -> Answers:
    """Send ``requests`` GETs to ``url`` from ``client``; count answers per responding hostname."""
    ops = [{"id": i, "op": "http", "url": url, "timeout_s": timeout_s} for i in range(requests)]
    results = batch(cluster, client, ops, timeout_s=60 + requests * timeout_s)
    seen: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        if isinstance(r, HttpReply) and r.ok:
            seen[str(r.hostname)] += 1
        else:
            errors[str(r.error)[:80]] += 1
    return Answers(url, requests, dict(seen), dict(errors))


def spread_problems(observed: Answers, backends: set[str], min_each: int = 2) -> list[str]:
    """Every backend answered at least ``min_each`` times, and nobody else answered.
    With no backend, or no request sent, there is no spread to judge: that is a problem
    too, or a service with no task would pass."""
    by = observed.by_backend
    out = []
    if not backends:
        out.append("no backends to spread over: the service has no running task")
    if not observed.sent:
        out.append("no request was sent")
    foreign = sorted(set(by) - backends)
    if foreign:
        out.append(f"foreign backends answered: {foreign}")
    short = {b: by.get(b, 0) for b in sorted(backends) if by.get(b, 0) < min_each}
    if short:
        out.append(f"backends answering fewer than {min_each} times: {short}")
    if observed.errors:
        out.append(f"{sum(observed.errors.values())} of {observed.sent} requests failed: {observed.errors}")
    return out


def observation_symptom(nodes: tuple[str, ...], observed: Answers, problems: list[str]) -> Symptom:
    """What a failed spread observation means for the capability rule.

    Only total silence (or refusal) can be a missing IPVS: a path that answered some
    requests, a replica that never answered, or a stranger answering is a real bug.
    """
    detail = f"{observed.url}: " + "; ".join(problems)
    if observed.by_backend:
        kind = verdict.LOSS if observed.errors else verdict.WRONG_ANSWER
        return Symptom(kind, nodes, detail)
    kinds = {verdict.kind_of_error(e) for e in observed.errors} or {verdict.OTHER}
    return Symptom(kinds.pop() if len(kinds) == 1 else verdict.OTHER, nodes, detail)
