"""Read every node's VXLAN FDB and neighbour tables for one overlay, and judge them.

Each node's tables live in Docker's namespace for the overlay
(``/var/run/docker/netns/<n>-<network id[:10]>``), reached with ``nsenter`` over the
harness's SSH connection; the endpoints they must describe come from ``docker network
inspect`` on each node (it lists that node's own endpoints with IP and MAC), read
before and after the tables so endpoints other checks create or remove meanwhile are
neither missing nor stale. The comparison itself is ``harness.overlay_tables``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from dataclasses import dataclass

from harness.cluster import Cluster
from harness.errors import WaitTimeout
from harness.overlay_tables import (
    NO_DEVICE,
    NO_ENDPOINT,
    Endpoint,
    OverlayTables,
    TableProblem,
    parse_fdb,
    parse_neigh,
    parse_vxlan_links,
    problems_text,
    table_problems,
)
from harness.probe.service import ProbeDeployment
from harness.retry import NotYet, eventually
from harness.swarm.bootstrap import swarm_address

# Section markers of the script's output; no line of ip/bridge/docker output starts so.
_MARK = "=== swarm-harness "


def tables_script(network: str, tables: bool = True) -> str:
    """One round trip per node: the network's local endpoints, and (``tables``) its namespace's
    ``ip -d link``, ``bridge fdb show`` and ``ip neigh``."""
    net = shlex.quote(network)
    script = f"echo '{_MARK}inspect'; docker network inspect {net}"
    if tables:
        script += (
            f"; id=$(docker network inspect -f '{{{{.Id}}}}' {net} 2>/dev/null | cut -c1-10); "
            'ns=""; [ -n "$id" ] && for f in /var/run/docker/netns/*-"$id"; do [ -e "$f" ] && ns=$f; done; '
            f'echo "{_MARK}namespace $ns"; '
            'if [ -n "$ns" ]; then '
            f"echo '{_MARK}link'; nsenter --net=\"$ns\" ip -d link; "
            f"echo '{_MARK}fdb'; nsenter --net=\"$ns\" bridge fdb show; "
            f"echo '{_MARK}neigh'; nsenter --net=\"$ns\" ip neigh; fi"
        )
    return script


def _sections(stdout: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines():
        if line.startswith(_MARK):
            head = line[len(_MARK) :]
            current = head.split(" ", 1)[0]
            out[current] = [head.split(" ", 1)[1]] if " " in head else []
        elif current:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


@dataclass(frozen=True)
class NodeRead:
    endpoints: tuple[Endpoint, ...]  # the network's endpoints on this node
    tables: OverlayTables | None


def parse_node_read(node: str, network: str, stdout: str) -> NodeRead:
    """What ``tables_script`` printed on ``node``, typed."""
    sec = _sections(stdout)
    endpoints: list[Endpoint] = []
    vni: int | None = None
    try:
        inspected = json.loads(sec.get("inspect", "") or "[]")
    except json.JSONDecodeError:
        inspected = []
    for net in inspected[:1]:
        for ep in (net.get("Containers") or {}).values():
            ip = str(ep.get("IPv4Address", "")).split("/")[0]
            if ip and ep.get("MacAddress"):
                endpoints.append(Endpoint(node, str(ep.get("Name", "")), ip, str(ep["MacAddress"]).lower()))
        vnis = str((net.get("Options") or {}).get("com.docker.network.driver.overlay.vxlanid_list", ""))
        vni = int(vnis.split(",")[0]) if vnis.split(",")[0].isdigit() else None
    if "namespace" not in sec:
        return NodeRead(tuple(endpoints), None)
    tables = OverlayTables(
        node,
        network,
        sec["namespace"].strip(),
        vni,
        tuple(parse_vxlan_links(sec.get("link", ""))),
        tuple(parse_fdb(sec.get("fdb", ""))),
        tuple(parse_neigh(sec.get("neigh", ""))),
    )
    return NodeRead(tuple(endpoints), tables)


def _read(cluster: Cluster, network: str, tables: bool) -> dict[str, NodeRead]:
    script = tables_script(network, tables)
    results = cluster.run_all(script, timeout_s=60)
    return {node: parse_node_read(node, network, res.stdout) for node, res in results.items()}


def vteps(cluster: Cluster) -> dict[str, str]:
    """node -> the VTEP its peers must send to: the data-path address it joined with."""
    return {n.name: swarm_address(n) for n in cluster.nodes}


def judge_reads(
    network: str,
    first: dict[str, NodeRead],
    after: dict[str, NodeRead],
    probe_tasks: dict[str, str],
    addresses: dict[str, str],
) -> list[TableProblem]:
    """The problems of every node's tables: ``first`` read with the tables, ``after`` the
    endpoints once more; ``probe_tasks``: node -> the probe task's address on the network,
    whose endpoints must be in every other node's tables; ``addresses``: node -> VTEP."""
    known = [e for r in (*first.values(), *after.values()) for e in r.endpoints]
    by_ip = {(e.node, e.ip): e for e in known}
    problems: list[TableProblem] = []
    required = []
    for node, address in sorted(probe_tasks.items()):
        ep = by_ip.get((node, address))
        if ep is None:
            problems.append(
                TableProblem(
                    NO_ENDPOINT,
                    node,
                    network,
                    None,
                    "",
                    f"docker network inspect on {node} does not list the probe task's endpoint {address}, "
                    "so its MAC is unknown",
                )
            )
        else:
            required.append(ep)
    for node, read in sorted(first.items()):
        if read.tables is None:
            problems.append(
                TableProblem(
                    NO_DEVICE,
                    node,
                    network,
                    None,
                    "",
                    f"{node} printed no namespace section for {network}: the read itself failed",
                )
            )
            continue
        problems += table_problems(read.tables, required, known, addresses)
    return problems


def measure_problems(cluster: Cluster, probes: ProbeDeployment) -> list[TableProblem]:
    """Every node's tables for the probes' network, judged once."""
    first = _read(cluster, probes.network, tables=True)
    after = _read(cluster, probes.network, tables=False)
    tasks = {node: t.address for node, t in probes.tasks.items()}
    return judge_reads(probes.network, first, after, tasks, vteps(cluster))


def wait_tables_complete(
    cluster: Cluster, probes: ProbeDeployment, timeout_s: float
) -> tuple[list[TableProblem], float]:
    """Until every node's tables are complete and clean, or ``timeout_s``: the problems left
    (empty when clean) and how long it took."""
    started = time.monotonic()
    last: list[list[TableProblem]] = [[]]

    def _check() -> None:
        last[0] = measure_problems(cluster, probes)
        if last[0]:
            raise NotYet(problems_text(last[0]))

    with contextlib.suppress(WaitTimeout):
        eventually(_check, timeout_s, f"the VXLAN tables of {probes.network} to be complete", interval_s=2)
    return last[0], time.monotonic() - started
