"""The VXLAN FDB/neighbour check on tables recorded on the lab (Engine 20.10, 3 nodes).

``tests/fixtures/overlay/plain-nodeN.txt`` is ``tables_script('harness-plain')`` as each
node printed it with a global probe on the network (tasks node1 198.19.129.3, node2 .5,
node3 .4; each node also holds the network's load-balancer endpoint). The node2
variants were recorded after breaking node2's namespace on purpose: ``bridge fdb del``
of node1's task entry (missing), that entry re-added with node3's VTEP (wrong VTEP),
and an FDB plus a neighbour entry added for a MAC and an address no endpoint has (stale).
"""

from __future__ import annotations

from pathlib import Path

from harness.overlay_tables import (
    MISSING_FDB,
    MISSING_NEIGH,
    NO_DEVICE,
    NOT_PERMANENT,
    STALE_FDB,
    STALE_NEIGH,
    WRONG_VTEP,
    Endpoint,
    FdbEntry,
    TableProblem,
    parse_fdb,
    parse_neigh,
    parse_vxlan_links,
    table_problems,
)
from harness.probe.fdb import NodeRead, judge_reads, parse_node_read

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "overlay"
NET = "harness-plain"
VTEPS = {"node1": "198.18.32.11", "node2": "198.18.32.12", "node3": "198.18.32.13"}
PROBES = {"node1": "198.19.129.3", "node2": "198.19.129.5", "node3": "198.19.129.4"}


def _read(node: str, variant: str = "") -> NodeRead:
    name = f"plain-{node}{'-' + variant if variant else ''}.txt"
    return parse_node_read(node, NET, (FIXTURES / name).read_text())


def _judge(node2_variant: str = "") -> list[TableProblem]:
    reads = {"node1": _read("node1"), "node2": _read("node2", node2_variant), "node3": _read("node3")}
    return judge_reads(NET, reads, reads, PROBES, VTEPS)


def test_recorded_tables_parse_into_typed_entries() -> None:
    read = _read("node2")
    assert read.tables is not None
    assert read.tables.namespace == "/var/run/docker/netns/1-uhgx94mob9"
    assert read.tables.vni == 4097
    assert read.tables.vxlan is not None and read.tables.vxlan.name == "vxlan0"
    assert read.tables.vxlan.dstport == 4789
    remote = {e.mac: e.dst for e in read.tables.fdb if e.dst}
    assert remote == {
        "02:42:c6:13:81:04": "198.18.32.13",
        "02:42:c6:13:81:03": "198.18.32.11",
        "02:42:c6:13:81:07": "198.18.32.13",
        "02:42:c6:13:81:06": "198.18.32.11",
    }
    assert all(e.permanent and "self" in e.flags for e in read.tables.fdb if e.dst)
    assert {n.ip: n.mac for n in read.tables.neigh} == {
        "198.19.129.7": "02:42:c6:13:81:07",
        "198.19.129.3": "02:42:c6:13:81:03",
        "198.19.129.4": "02:42:c6:13:81:04",
        "198.19.129.6": "02:42:c6:13:81:06",
    }
    assert all(n.permanent for n in read.tables.neigh)
    # node2's own endpoints: its probe task and the network's load-balancer endpoint.
    assert sorted(e.ip for e in read.endpoints) == ["198.19.129.5", "198.19.129.8"]


def test_complete_tables_on_every_node_have_no_problem() -> None:
    assert _judge() == []


def test_the_encrypted_network_is_read_the_same_way() -> None:
    read = parse_node_read("node1", "harness-encrypted", (FIXTURES / "encrypted-node1.txt").read_text())
    assert read.tables is not None and read.tables.vni == 4098
    assert len([e for e in read.tables.fdb if e.dst]) == 4 and len(read.tables.neigh) == 4


def test_a_deleted_fdb_entry_names_the_node_the_network_and_the_peer() -> None:
    problems = _judge("missing-fdb")
    assert [(p.kind, p.node, p.network, p.peer) for p in problems] == [(MISSING_FDB, "node2", NET, "node1")]
    assert (
        problems[0]
        .text()
        .startswith(
            "node2, network harness-plain: missing-fdb: no FDB entry for node1's endpoint probe-harness-plain-dev."
        )
    )
    assert "(198.19.129.3, 02:42:c6:13:81:03) -> VTEP 198.18.32.11 (node1)" in problems[0].text()


def test_an_entry_pointing_at_another_nodes_vtep_names_both_nodes() -> None:
    problems = _judge("wrong-vtep")
    assert [(p.kind, p.node, p.peer) for p in problems] == [(WRONG_VTEP, "node2", "node1")]
    assert "points at VTEP 198.18.32.13 (node3), not 198.18.32.11 (node1)" in problems[0].detail


def test_entries_for_endpoints_that_do_not_exist_are_stale() -> None:
    problems = _judge("stale")
    assert [(p.kind, p.node, p.peer) for p in problems] == [
        (STALE_FDB, "node2", "node1"),
        (STALE_NEIGH, "node2", None),
    ]
    assert "02:42:c6:13:81:63 -> VTEP 198.18.32.11 (node1)" in problems[0].detail
    assert "198.19.129.99 -> 02:42:c6:13:81:63" in problems[1].detail


def test_an_endpoint_seen_only_in_the_second_read_is_not_stale() -> None:
    """A task another check created while the tables were read is known from the later read."""
    stale = {"node1": _read("node1"), "node2": _read("node2", "stale"), "node3": _read("node3")}
    late = Endpoint("node1", "late-task", "198.19.129.99", "02:42:c6:13:81:63")
    after = {**stale, "node1": NodeRead((*stale["node1"].endpoints, late), None)}
    assert judge_reads(NET, stale, after, PROBES, VTEPS) == []


def test_a_learned_entry_is_not_the_permanent_one_docker_programs() -> None:
    """moby#52661: the entry loses its permanent half; a learned one ages out."""
    read = _read("node2")
    assert read.tables is not None
    fdb = tuple(
        FdbEntry(e.mac, e.dev, e.dst, e.master, ("self",)) if e.mac == "02:42:c6:13:81:03" else e
        for e in read.tables.fdb
    )
    tables = type(read.tables)(**{**read.tables.__dict__, "fdb": fdb})
    known = [e for n in ("node1", "node2", "node3") for e in _read(n).endpoints]
    required = [e for e in known if (e.node, e.ip) in {(n, a) for n, a in PROBES.items()}]
    problems = table_problems(tables, required, known, VTEPS)
    assert [(p.kind, p.peer) for p in problems] == [(NOT_PERMANENT, "node1")]


def test_a_node_without_the_namespace_says_so() -> None:
    read = _read("node2")
    assert read.tables is not None
    empty = type(read.tables)(
        **{**read.tables.__dict__, "namespace": "", "links": (), "fdb": (), "neigh": ()}
    )
    problems = table_problems(empty, [], [], VTEPS)
    assert [p.kind for p in problems] == [NO_DEVICE]


def test_parsers_skip_lines_that_are_not_entries() -> None:
    assert parse_fdb("garbage\n\n33:33:00:00:00:01 dev br0 self permanent") == [
        FdbEntry("33:33:00:00:00:01", "br0", None, None, ("self", "permanent"))
    ]
    (failed,) = parse_neigh("198.19.129.9 dev vxlan0  FAILED\nnonsense")
    assert failed.mac is None and failed.states == ("FAILED",) and not failed.permanent
    assert parse_vxlan_links("1: lo: <LOOPBACK> mtu 65536\n    link/loopback 00:00") == []
    assert MISSING_NEIGH == "missing-neigh"


def test_the_failed_pairs_diagnosis_names_the_table_entry_of_that_pair() -> None:
    from harness.doctor.report import DoctorReport
    from harness.probe.diagnose import diagnose
    from harness.probe.matrix import Attempt, MatrixResult, _cell

    silent = _cell("node2", "node1", "icmp", [Attempt(5, 0, ("timeout",) * 5)] * 2)
    result = MatrixResult(NET, [silent, _cell("node2", "node3", "icmp", [Attempt(5, 5, ())])])
    doctor = DoctorReport(capabilities={n: {} for n in VTEPS}, measured_at=1.0)
    causes = diagnose(result, False, doctor, tables=_judge("missing-fdb"))
    assert causes == [
        "VXLAN table on node2 for peer node1: no FDB entry for node1's endpoint "
        "probe-harness-plain-dev.xryq2mecpda0crdyy26zygyb3.f3ye6j6qg80njytqpcyti7wwh "
        "(198.19.129.3, 02:42:c6:13:81:03) -> VTEP 198.18.32.11 (node1) on vxlan0"
    ]
    # A table problem of another pair explains nothing here.
    assert diagnose(result, False, doctor, tables=[])[0].startswith("the doctor found no cause")
