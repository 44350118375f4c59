"""The dockerd log scan's classification, on lines captured from lab machines."""

from __future__ import annotations

from harness.doctor.logscan import classify, load_allowlist

IPVS_LINE = (
    'level=error msg="error reading the kernel parameter net.ipv4.vs.conn_reuse_mode" '
    'error="open /proc/sys/net/ipv4/vs/conn_reuse_mode: no such file or directory"'
)
PVID_LINE = (
    'level=error msg="enabling default vlan on bridge br0 failed open '
    '/sys/class/net/br0/bridge/default_pvid: permission denied"'
)
UNKNOWN_LINE = (
    'level=error msg="failed allocating task 3k2j for network harness-plain: no available IPv4 addresses"'
)
PANIC_LINE = "panic: runtime error: invalid memory address or nil pointer dereference"
INFO_LINE = 'level=info msg="Daemon has completed initialization"'


def test_every_allowlist_entry_has_a_reason_and_its_engine_versions() -> None:
    entries = load_allowlist()
    assert entries and all(len(e.reason) > 30 for e in entries)
    assert all(e.engines and all(v[:1].isdigit() for v in e.engines) for e in entries)


def test_an_entry_applies_only_to_the_engine_versions_it_names() -> None:
    allow = load_allowlist()
    assert classify([PVID_LINE], allow, set(), "26.1.5")[0] == []
    assert classify([PVID_LINE], allow, set(), "28.5.2")[0] == [PVID_LINE]
    assert classify([PVID_LINE], allow, set(), "unknown")[0] == [PVID_LINE]


def test_capability_bound_entries_only_apply_while_unmet() -> None:
    allow = load_allowlist()
    unexpected, allowed = classify([IPVS_LINE], allow, unmet_caps={"ipvs"}, engine="20.10.24")
    assert unexpected == [] and sum(allowed.values()) == 1
    unexpected, _ = classify([IPVS_LINE], allow, unmet_caps=set(), engine="20.10.24")
    assert unexpected == [IPVS_LINE]


def test_unknown_errors_and_panics_are_reported_info_is_ignored() -> None:
    unexpected, allowed = classify(
        [PVID_LINE, UNKNOWN_LINE, PANIC_LINE, INFO_LINE], load_allowlist(), set(), "26.1.5"
    )
    assert unexpected == [UNKNOWN_LINE, PANIC_LINE]
    assert sum(allowed.values()) == 1


def test_redaction_of_tokens_and_keys() -> None:
    from harness.artifacts import redact

    text = (
        "docker swarm join --token SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx\n"
        "\taead rfc4106(gcm(aes)) 0x0102030405060708091011121314151617181920 128\n"
    )
    out = redact(text)
    assert "SWMTKN-<redacted>" in out and "3pu6hszjas19" not in out
    assert "0x<redacted> 128" in out and "0102030405" not in out


def test_an_entry_with_a_quota_allows_that_many_lines_per_node_and_reports_the_rest() -> None:
    from harness.doctor.logscan import AllowEntry

    entry = AllowEntry("Bulk sync to node [0-9a-f]+ timed out", "harmless once", ("20.10",), max_per_node=1)
    line = 'level=error msg="Bulk sync to node 52f28001dc02 timed out"'
    assert classify([line], [entry], set(), "20.10.24") == ([], {entry.pattern: 1})
    assert classify([line, line, line], [entry], set(), "20.10.24") == ([line, line], {entry.pattern: 1})


class _Result:
    def __init__(self, stdout: str, stderr: str = "") -> None:
        self.stdout, self.stderr = stdout, stderr


class _Cluster:
    """Two nodes: node1's journal has dockerd's lines, node2's journald never wrote one."""

    journals = {"node1": f"{INFO_LINE}\n{PVID_LINE}\n", "node2": ""}

    def each(self, fn):  # type: ignore[no-untyped-def]
        return {n: fn(n) for n in self.journals}

    def run(self, node: str, command: str, timeout_s: float = 60) -> _Result:
        text = self.journals[node]
        if "-n 1" in command:
            return _Result(text.splitlines()[-1] if text else "", "" if text else "No journal files were found.")
        return _Result(text)


def test_a_node_whose_journal_holds_nothing_is_not_a_clean_scan() -> None:
    from harness.doctor.logscan import scan

    result = scan(_Cluster(), None)  # type: ignore[arg-type]
    assert result.unreadable == {"node2": "No journal files were found."}
    assert not result.clean and result.unexpected["node2"] == []
    (finding,) = result.findings()
    assert finding.startswith("dockerd journal unreadable on node2: No journal files were found.")
    assert "node2: not scanned: No journal files were found." in result.summary()


# Recorded from a 28.5 node (node3) of a mixed 26.1/28.5 nspawn lab's main job, 2026-12-07.
RESOLVER_LINE_285 = (
    'time="2026-12-07T16:00:06.899700885Z" level=error msg="[resolver] failed to query external DNS server" '
    'client-addr="udp:198.18.45.13:37541" dns-server="udp:198.18.45.1:53" '
    'error="read udp 198.18.45.13:37541->198.18.45.1:53: i/o timeout" question=";order-db.\\tIN\\t AAAA"'
)
POOL_LINE_285 = (
    'time="2026-12-07T15:58:42.935307810Z" level=error msg="fatal task error" error="invalid pool request: '
    'Pool overlaps with other one on this address space" module=node/agent/taskmanager'
)
PVID_LINE_285 = (
    'level=error msg="set bridge default vlan failed" error="failed to enable default vlan on bridge br0: '
    'open /sys/class/net/br0/bridge/default_pvid: permission denied"'
)


def test_the_285_entries_allow_the_lab_gateways_resolver_lines_and_no_other_dns_server() -> None:
    allow = load_allowlist()
    assert classify([RESOLVER_LINE_285, PVID_LINE_285], allow, set(), "28.5.2+dfsg4")[0] == []
    # A real host's DNS server that fails is a fault of that host, never excused.
    elsewhere = RESOLVER_LINE_285.replace("198.18.45.1:53", "10.0.0.2:53")
    assert classify([elsewhere], allow, set(), "28.5.2+dfsg4")[0] == [elsewhere]
    # Allowed on the Engine it was seen on only.
    assert classify([RESOLVER_LINE_285], allow, set(), "29.1.0")[0] == [RESOLVER_LINE_285]
    # A task that failed to get its network stays unexpected: not explained yet.
    assert classify([POOL_LINE_285], allow, set(), "28.5.2+dfsg4")[0] == [POOL_LINE_285]
