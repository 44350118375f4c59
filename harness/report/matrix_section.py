"""The report page's node-pair matrix: one grid per network, a cell per source and destination.

A cell joins what the overlay suite's probes saw for the pair (per protocol), the path
MTU the mtu suite measured, and the checks that name the pair, so a failing pair shows
its loss, its detail and the diagnosis in one place.
"""

from __future__ import annotations

from harness.report.markup import LABELS, esc, message_html, table_html
from harness.report.rundata import Check, RunData


def _network_kind(network: str) -> str:
    """The word the checks' ids use for a network: the suites name pairs 'node1->node2-encrypted'."""
    return "encrypted" if "encrypt" in network else "plain"


def _pair_checks(run: RunData, src: str, dst: str, network: str) -> list[Check]:
    kind = _network_kind(network)
    return [c for c in run.checks if f"{src}->{dst}-{kind}" in c.name or f"{src}->{dst}-{network}" in c.name]


def _cell(run: RunData, network: str, src: str, dst: str) -> str:
    matrix = run.matrices.get(network, {})
    probes = [c for c in matrix.get("checks", []) if c.get("src") == src and c.get("dst") == dst]
    mtu = next((m for m in run.mtu.get(network, []) if m.get("src") == src and m.get("dst") == dst), None)
    lines = []
    good = [p for p in probes if p.get("ok")]
    if good:
        names = " ".join(f"{p.get('protocol', '?')}{' (flaky)' if p.get('flaky') else ''}" for p in good)
        lines.append(f'<div class="proto">{esc(names)}: ok</div>')
        timed = [
            f"{p.get('protocol', '?')} {float(p['latency_ms']):.1f}"
            for p in good
            if p.get("latency_ms") is not None
        ]
        if timed:
            lines.append(f'<div class="proto muted">latency ms: {esc(", ".join(timed))}</div>')
    bad = [p for p in probes if not p.get("ok")]
    details = {str(p.get("detail", "")) for p in bad}
    for p in bad:
        loss = f"lost {p.get('lost', 0)} of {p.get('sent', 0)}"
        own = f" &middot; {esc(p.get('detail', ''))}" if len(details) > 1 else ""
        lines.append(f'<div class="proto">{esc(p.get("protocol", "?"))}: FAILED, {esc(loss)}{own}</div>')
    if len(details) == 1:
        lines.append(f'<div class="proto muted">{esc(details.pop())}</div>')
    mtu_ok = True
    if mtu is not None:
        measured = mtu.get("measured_path_mtu")
        expected = mtu.get("overlay_mtu")
        mtu_ok = bool(measured) and measured == expected and bool(mtu.get("body_intact"))
        lines.append(
            f'<div class="proto">path MTU {esc(measured or "not measured")} (overlay {esc(expected)})'
            f"{'' if mtu_ok else ' FAILED'}</div>"
        )
        if not mtu_ok:
            lines.append(f'<div class="proto muted">{esc(mtu.get("measured_detail", ""))}</div>')
    converge = (matrix.get("converge_s") or {}).get(f"{src}->{dst}")
    if converge is not None:
        lines.append(f'<div class="proto muted">converged in {float(converge):.2f} s</div>')
    if not probes and mtu is None:
        outcome = "none"
    elif all(p.get("ok") for p in probes) and mtu_ok:
        outcome = "flaky" if any(p.get("flaky") for p in probes) else "passed"
    else:
        outcome = "failed"
    checks = _pair_checks(run, src, dst, network)
    reason = ""
    if outcome == "failed" and checks and all(c.outcome == "xfailed" for c in checks):
        outcome = "xfailed"
        reason = checks[0].message.split(". The check ran", 1)[0]
        lines.append(f'<div class="proto">{esc(reason.split(":", 1)[0])}</div>')
    elif outcome == "failed":
        diagnoses = {ln for c in checks for ln in c.message.splitlines() if ln.startswith("diagnosis:")}
        lines += [f'<div class="proto"><b>{esc(d[:300])}</b></div>' for d in sorted(diagnoses)]
    head = f'<div class="head">{esc(LABELS[outcome])}</div>'
    return (
        f'<td class="cell {outcome}" data-src="{esc(src)}" data-dst="{esc(dst)}" data-outcome="{outcome}"'
        f' title="{esc(reason)}">'
        f"{head}{''.join(lines)}</td>"
    )


def _nodes_of(run: RunData, network: str) -> list[str]:
    names = [str(n.get("name")) for n in run.nodes]
    seen = {c.get(k) for c in run.matrices.get(network, {}).get("checks", []) for k in ("src", "dst")}
    seen |= {m.get(k) for m in run.mtu.get(network, []) for k in ("src", "dst")}
    return names + sorted(str(s) for s in seen if s and s not in names)


def matrices_section(run: RunData) -> str:
    if not run.networks:
        return "<p class='muted'>no node-pair matrix in this run (the overlay and mtu suites write them)</p>"
    out = [
        "<p class='small muted'>rows: source node, columns: destination node. Per cell the probes of each "
        "protocol (loss counted over every pass), the path MTU the mtu suite measured for that pair, and "
        "for a failing cell its detail; latency is each protocol's median round trip over the answered probes "
        "of one pass (sent at once, so a figure to compare, not an idle-path RTT).</p>"
    ]
    for network in run.networks:
        nodes = _nodes_of(run, network)
        matrix = run.matrices.get(network, {})
        rows = []
        for src in nodes:
            cells = [f"<th>{esc(src)}</th>"]
            for dst in nodes:
                cells.append('<td class="self">-</td>' if src == dst else _cell(run, network, src, dst))
            rows.append(cells)
        table = table_html(["source \\ destination", *(esc(n) for n in nodes)], rows, "matrix")
        summary = matrix.get("summary", "")
        rule = matrix.get("pass_rule", "")
        out.append(
            f'<h3 id="matrix-{esc(network)}">network {esc(network)}</h3>{table}'
            + (f"<p class='small muted'>pass rule: {esc(rule)}</p>" if rule else "")
            + message_html(summary)
        )
    return "".join(out)
