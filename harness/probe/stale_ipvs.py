"""Through a VIP right after a service update, only the current tasks answer (moby#36878).

IPVS keeps a connection entry per client flow (for UDP 300 s by default). A service
update replaces every task behind the VIP; an entry whose real server is gone must not
keep steering its flow there. In moby#36878 it did: a UDP client that keeps its source
port (a resolver, a syslog or statsd sender) was blackholed for about 5 minutes after
each update, while new clients were fine, so a spread check with fresh sockets sees
nothing. The check therefore pins one UDP flow per node to a fixed source port, lets
it reach an old task, replaces every task, and sends the same flow again; fresh TCP
connections through the VIP must meet only the new tasks as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import verdict
from harness.cluster import Cluster
from harness.probe.agent import UdpReply
from harness.probe.lb import Answers, observation_symptom
from harness.probe.service import ProbeTask, batch
from harness.verdict import Symptom

UDP_TIMEOUT_S = 3.0  # the agent re-sends its token 3 times within it: a lost datagram is not a stale entry


def pinned_udp(cluster: Cluster, client: ProbeTask, host: str, port: int, source_port: int, datagrams: int) -> Answers:
    """``datagrams`` UDP probes from ``client`` to ``host:port``, all from ``source_port``:
    one flow to IPVS. They go one after another, since one socket at a time holds the port."""
    seen: dict[str, int] = {}
    errors: dict[str, int] = {}
    op = {"op": "udp", "host": host, "port": port, "timeout_s": UDP_TIMEOUT_S, "source_port": source_port}
    for _ in range(datagrams):
        (reply,) = batch(cluster, client, [op], timeout_s=60)
        if isinstance(reply, UdpReply) and reply.ok and reply.hostname:
            seen[reply.hostname] = seen.get(reply.hostname, 0) + 1
        else:
            error = str(getattr(reply, "error", None) or "no hostname in the reply")[:80]
            errors[error] = errors.get(error, 0) + 1
    return Answers(f"udp://{host}:{port} from source port {source_port}", datagrams, seen, errors)


@dataclass(frozen=True)
class NodeFlows:
    """What one node's client met through the VIP: its pinned UDP flow before and after
    the update, and fresh TCP connections after it."""

    node: str
    pinned_before: Answers
    pinned_after: Answers
    tcp_after: Answers


def _replaced(observed: Answers, old: set[str]) -> dict[str, int]:
    return {b: n for b, n in sorted(observed.by_backend.items()) if b in old}


def _strangers(observed: Answers, old: set[str], new: set[str]) -> dict[str, int]:
    return {b: n for b, n in sorted(observed.by_backend.items()) if b not in old | new}


def node_problems(flows: NodeFlows, old: set[str], new: set[str]) -> list[str]:
    """Why ``flows`` shows the VIP steering traffic to tasks the update replaced, or
    dropping it; empty when every request after the update met a current task."""
    out: list[str] = []
    if not flows.pinned_after.sent or not flows.tcp_after.sent:
        out.append("no request was sent through the VIP after the update")
    before, after = flows.pinned_before, flows.pinned_after
    if after.sent and after.errors and not after.by_backend and before.by_backend:
        out.append(
            f"{after.url} was answered before the update (by {', '.join(sorted(before.by_backend))}) and "
            f"none of its {after.sent} requests after it ({after.errors}): an IPVS entry still steers the "
            "flow to a replaced task (moby#36878)"
        )
    elif after.errors:
        out.append(f"{sum(after.errors.values())} of {after.sent} requests of {after.url} failed after the update: {after.errors}")
    if flows.tcp_after.errors:
        tcp = flows.tcp_after
        out.append(f"{sum(tcp.errors.values())} of {tcp.sent} fresh TCP connections to {tcp.url} failed: {tcp.errors}")
    for label, observed in (("the pinned UDP flow", after), ("fresh TCP connections", flows.tcp_after)):
        if replaced := _replaced(observed, old):
            out.append(f"{label} reached tasks the update replaced: {replaced}")
        if strangers := _strangers(observed, old, new):
            out.append(f"{label} reached backends that are neither old nor new tasks: {strangers}")
    return out


def update_problems(old: set[str], new: set[str]) -> list[str]:
    """The premise: the update replaced every task, so an answer can be told old or new."""
    out = []
    if not old:
        out.append("the service had no running task before the update")
    if not new:
        out.append("the service has no running task after the update")
    if kept := sorted(old & new):
        out.append(f"the update kept tasks {kept}: it must replace every one")
    return out


def symptom(node: str, observed: Answers, problems: list[str]) -> Symptom:
    """After the update: a flow that answered before and not after is a real fault of the
    data path (its kernel has IPVS: it answered), never a missing capability."""
    detail = f"{observed.url}: " + "; ".join(problems)
    return Symptom(verdict.LOSS if observed.errors else verdict.WRONG_ANSWER, (node,), detail)


def before_symptom(node: str, observed: Answers) -> Symptom:
    """Before the update the VIP must answer at all; silence there is what a kernel
    without IPVS shows, judged like the spread check's."""
    problems = [f"{sum(observed.errors.values())} of {observed.sent} requests failed: {observed.errors}"]
    return observation_symptom((node,), observed, problems)
