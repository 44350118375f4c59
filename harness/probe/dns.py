"""Name resolution as seen from the probe task on every node.

"A name does not resolve" is only evidence when the resolver was answering at that
moment: Docker's embedded DNS forwards names it does not know to the node's upstream
resolver, and where that upstream is silent (the local lab) a removed name times out
exactly as it would with the embedded DNS down. So every absence is judged together
with a control name, looked up in the same exec on the same node, that must resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.cluster import Cluster
from harness.probe.agent import BatchReply, DnsReply
from harness.probe.service import ProbeDeployment, batch
from harness.retry import NotYet, eventually
from harness.transport.ssh import raise_first, run_parallel

# The agent's error for a resolver that answered "no such name" (EAI_NONAME).
NXDOMAIN = "NXDOMAIN"


def lookup_everywhere(
    cluster: Cluster, probes: ProbeDeployment, names: list[str]
) -> dict[str, dict[str, BatchReply]]:
    """{node: {name: agent dns result}}, every name looked up in one exec per node, so
    all names of a node see its resolver at the same moment."""
    ops = [{"id": name, "op": "dns", "name": name} for name in names]
    hosts = [cluster.host(n) for n in probes.tasks]
    results = raise_first(
        run_parallel(hosts, lambda h: {r.id: r for r in batch(cluster, probes.tasks[h.name], ops)})
    )
    return dict(results)


def resolve_everywhere(cluster: Cluster, probes: ProbeDeployment, name: str) -> dict[str, BatchReply]:
    """{node: agent dns result} for ``name``, resolved in every node's probe task."""
    return {node: res[name] for node, res in lookup_everywhere(cluster, probes, [name]).items()}


def control(probes: ProbeDeployment) -> tuple[str, set[str]]:
    """A name that must resolve wherever the probes run, and addresses it must include:
    the probe service's own tasks, which are running on every node probed."""
    return f"tasks.{probes.service}", {t.address for t in probes.tasks.values()}


def _got(res: BatchReply | None) -> set[str]:
    return set(res.addresses) if isinstance(res, DnsReply) else set()


def _error(res: BatchReply | None) -> str:
    if res is None:
        return "no result"
    return str(res.error or "none")


def address_problems(name: str, seen: Mapping[str, BatchReply | None], expected: set[str]) -> list[str]:
    """Per node, how its view of ``name`` differs from exactly ``expected``."""
    wrong = []
    for node, res in sorted(seen.items()):
        got = _got(res)
        if got != expected:
            extra, missing = sorted(got - expected), sorted(expected - got)
            wrong.append(f"{node} got {sorted(got)} (extra {extra}, missing {missing}, error {_error(res)})")
    return wrong


def absence_problems(
    name: str, seen: Mapping[str, Mapping[str, BatchReply]], control_name: str, control_addresses: set[str]
) -> list[str]:
    """Per node: ``name`` gives no address, and ``control_name``, looked up in the same
    exec, resolves to at least ``control_addresses``. Without the control, a resolver
    that is down would pass for a name that is gone."""
    wrong = []
    for node, results in sorted(seen.items()):
        res, ctl = results.get(name), results.get(control_name)
        if got := _got(res):
            wrong.append(f"{node} still resolves {sorted(got)}")
            continue
        ctl_got = _got(ctl)
        if not ctl_got or not control_addresses <= ctl_got:
            answer = "the resolver answered NXDOMAIN" if _error(res) == NXDOMAIN else f"error {_error(res)}"
            wrong.append(
                f"{node} resolver not answering: the control name {control_name} gave {sorted(ctl_got)} "
                f"(missing {sorted(control_addresses - ctl_got)}, error {_error(ctl)}), so {name} giving "
                f"no address ({answer}) proves nothing"
            )
    return wrong


def wait_resolves_to(
    cluster: Cluster,
    probes: ProbeDeployment,
    name: str,
    expected: set[str] | Callable[[], set[str]] | None,
    timeout_s: float = 30,
) -> dict[str, BatchReply]:
    """Until every node resolves ``name`` to exactly ``expected`` (None: to nothing, with
    the resolver shown to be answering by the probes' control name).

    ``expected`` may be a reader of the service's running task addresses, read again on
    every attempt: the swarm may replace a task while the check waits (measured: a node
    that missed heartbeats on a loaded machine had both tasks of a service rescheduled),
    and DNS must then follow the tasks that run, not the ones read before.

    On timeout the error lists what each node saw, which is the evidence for
    stale or missing service-discovery entries.
    """
    ctl_name, ctl_addresses = control(probes)

    def _check() -> dict[str, BatchReply]:
        want = expected() if callable(expected) else expected
        if want is None:
            both = lookup_everywhere(cluster, probes, [name, ctl_name])
            wrong = absence_problems(name, both, ctl_name, ctl_addresses)
            seen = {node: res[name] for node, res in both.items()}
        else:
            seen = resolve_everywhere(cluster, probes, name)
            wrong = address_problems(name, seen, want)
        if wrong:
            shown = "nothing" if want is None else sorted(want)
            raise NotYet(f"{name} should resolve to {shown}: " + "; ".join(wrong))
        return seen

    return eventually(
        _check,
        timeout_s,
        f"{name} to resolve consistently on every node",
        interval_s=1,
        hint="compare 'docker service ps' with 'docker network inspect -v' on each node",
    )


def service_name_problems(
    cluster: Cluster, probes: ProbeDeployment, service: str, vip: str | None, tasks: set[str]
) -> list[str]:
    """Per node, how its view of ``service`` and ``tasks.<service>`` is wrong, both names
    looked up in one exec per node (see ``name_view_problems``)."""
    seen = lookup_everywhere(cluster, probes, [service, f"tasks.{service}"])
    return name_view_problems(seen, service, vip, tasks)


def name_view_problems(
    seen: Mapping[str, Mapping[str, BatchReply]], service: str, vip: str | None, tasks: set[str]
) -> list[str]:
    """Per node: ``service`` must resolve to ``vip`` (or, for dnsrr, ``vip`` None, to
    ``tasks``) and ``tasks.<service>`` to exactly ``tasks``."""
    want = {service: {vip} if vip else tasks, f"tasks.{service}": tasks}
    wrong = []
    for name, expected in want.items():
        views = {node: results.get(name) for node, results in seen.items()}
        wrong += [f"{name}: {p}" for p in address_problems(name, views, expected)]
    return wrong
