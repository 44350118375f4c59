"""``RUN/reports/report.html``: one file a person opens to see what a run found.

The page is self-contained (inline CSS and SVG, no script, no font or image from
anywhere), so it can be attached to a CI job, mailed, or opened offline years
later. Every text that came from a host or a check is escaped. Colours follow the
verdict's outcomes: passed, failed, expected failure (xfailed), flaky, skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.history import FIGURE_TOLERANCE, Past
from harness.report.markup import LABELS, chip, esc, message_html, table_html, td
from harness.report.matrix_section import matrices_section
from harness.report.rundata import OUTCOMES, Check, RunData
from harness.report.traffic_section import traffic_section, upgrade_section
from harness.rundir import RunDir

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d232a;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f5f7} .muted{color:#6a737d} .small{font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;font-size:12px}
.banner{padding:12px 16px;border-radius:6px;margin:12px 0;font-size:16px}
.chip{display:inline-block;padding:1px 8px;border-radius:10px;margin:2px 4px 2px 0;font-size:13px}
.passed{background:#e6f4ea;color:#1b5e20} .failed{background:#fde7e9;color:#b71c1c}
.xfailed{background:#fff1e0;color:#a84300} .flaky{background:#f3e5f5;color:#6a1b9a}
.skipped,.none{background:#eceff1;color:#455a64} .self{background:#fafafa;color:#9e9e9e}
td.cell{min-width:170px} .cell .head{font-weight:600} .proto{font-size:12px}
.present{background:#e6f4ea} .absent{background:#fde7e9} .unknown{background:#fff8d6}
.sq{display:inline-block;width:12px;height:12px;margin-right:2px;border:1px solid #90a4ae;vertical-align:middle}
.sq.passed{background:#43a047} .sq.failed{background:#e53935} .sq.xfailed{background:#fb8c00}
.sq.flaky{background:#8e24aa} .sq.skipped{background:#b0bec5}
.tag{font-weight:700;font-size:11px;padding:0 4px;border-radius:3px;background:#b71c1c;color:#fff}
.tag.moved{background:#5d4037}
.checks{width:100%} .checks td:nth-child(2){min-width:340px;overflow-wrap:anywhere} .checks td:nth-child(5){min-width:300px}
.checks td:nth-child(6){min-width:160px}
"""


# ------------------------------------------------------------------ sections


def _verdict(run: RunData, trends: dict[str, Past]) -> str:
    v = run.verdict
    counts = v.get("counts", {})
    passed = bool(v.get("passed"))
    strict = " (strict)" if v.get("strict") else ""
    chips = "".join(chip(k, f"{counts.get(k, 0)} {LABELS[k]}") for k in OUTCOMES)
    out = [
        f'<div class="banner {"passed" if passed else "failed"}"><b>verdict: '
        f"{'PASSED' if passed else 'FAILED'}{strict}</b> &nbsp; {chips}</div>"
    ]
    if run.record.error:
        out.append(f'<p class="failed chip">run error: {esc(run.record.error)}</p>')
    if not run.checks:
        out.append("<p><b>no check ran</b></p>")
    failed = [c for c in run.checks if c.outcome == "failed"]
    regressions = [n for n, p in trends.items() if p.regression]
    items = [
        f'<li><a href="#check-{i}">{esc(c.name)}</a>'
        + (' <span class="tag">REGRESSION</span>' if c.name in regressions else "")
        + f": {esc(c.message.splitlines()[0][:300] if c.message else '')}</li>"
        for i, c in enumerate(run.checks)
        if c.outcome == "failed"
    ]
    if failed:
        out.append(f"<h3>failed ({len(failed)})</h3><ul>{''.join(items)}</ul>")
    if regressions:
        out.append(
            f"<p><span class='tag'>{len(regressions)} regressions</span> passed the last time they ran, fail now</p>"
        )
    if v.get("expected_failures"):
        lis = "".join(f"<li>{esc(r)}</li>" for r in v["expected_failures"])
        out.append(f"<h3>expected failures (the reason, with how many checks it explains)</h3><ul>{lis}</ul>")
    if v.get("warnings"):
        lis = "".join(f"<li>{esc(w)}</li>" for w in v["warnings"])
        out.append(f"<h3>warnings</h3><ul>{lis}</ul>")
    return "".join(out)


def _cluster(run: RunData) -> str:
    facts = (run.doctor or {}).get("facts", {})
    rows = []
    for n in run.nodes:
        name = str(n.get("name", ""))
        f = facts.get(name, {})
        release = (n.get("labels") or {}).get("harness.release", "")
        rows.append(
            [
                td(name),
                td(n.get("address", "")),
                td(n.get("role", "")),
                td(release),
                td(f.get("kernel", "?")),
                td(f.get("engine", "?")),
                td(f.get("mtu", "?")),
            ]
        )
    notes = "".join(f"<p>{esc(k.replace('_', ' '))}: {esc(v)}</p>" for k, v in sorted(run.notes.items()))
    if not rows:
        return notes + "<p class='muted'>no inventory.json in the run directory</p>"
    return notes + table_html(
        ["node", "address", "role", "release", "kernel", "engine", "underlay MTU"], rows
    )


def _bars_svg(values: dict[str, float], unit: str = "s") -> str:
    if not values:
        return ""
    top = max(values.values()) or 1.0
    row_h, label_w, bar_w = 22, 170, 520
    height = row_h * len(values) + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" height="{height}" '
        'role="img" aria-label="stage timings">'
    ]
    for i, (name, value) in enumerate(values.items()):
        y = i * row_h + 3
        w = max(1.0, value / top * bar_w)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{esc(name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="#5c8fd6"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{value:.1f} {unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stages(run: RunData) -> str:
    stages = {k: float(v) for k, v in (run.record.stages_s or {}).items()}
    if not stages:
        return "<p class='muted'>no stage timings recorded (no reports/report.json)</p>"
    total = run.record.total_s
    head = f"<p>total {float(total):.1f} s</p>" if total is not None else ""
    return head + _bars_svg(stages)


def _doctor(run: RunData) -> str:
    doctor = run.doctor
    if not doctor:
        return "<p class='muted'>no doctor.json: capabilities and ports were not measured</p>"
    caps = doctor.get("capabilities", {})
    names = sorted({k for node in caps.values() for k in node})
    rows = []
    for node, by_name in sorted(caps.items()):
        row = [f"<th>{esc(node)}</th>"]
        for name in names:
            c = by_name.get(name)
            if c is None:
                row.append(td("", "none"))
                continue
            state = c.get("state") or (
                "unknown" if c.get("unknown") else "present" if c.get("present") else "absent"
            )
            row.append(
                f'<td class="{esc(state)}" title="{esc(c.get("reason", ""))}"><b>{esc(state)}</b>'
                f'<div class="small muted">{esc(c.get("reason", ""))}</div></td>'
            )
        rows.append(row)
    out = [table_html(["node", *(esc(n) for n in names)], rows)]
    ports = doctor.get("ports", [])
    if ports:
        nodes = sorted({p["src"] for p in ports} | {p["dst"] for p in ports})
        prow = []
        for src in nodes:
            cells = [f"<th>{esc(src)}</th>"]
            for dst in nodes:
                found = [p for p in ports if p["src"] == src and p["dst"] == dst]
                if src == dst or not found:
                    cells.append('<td class="self">-</td>')
                    continue
                bad = [p for p in found if not p.get("ok")]
                body = "".join(
                    f'<div class="proto">{esc(p["port"])}/{esc(p["proto"])}: '
                    f"{'ok' if p.get('ok') else 'BLOCKED'} <span class='muted'>{esc(p.get('detail', ''))}</span></div>"
                    for p in found
                )
                cells.append(f'<td class="cell {"failed" if bad else "passed"}">{body}</td>')
            prow.append(cells)
        dpp = doctor.get("data_path_port") or 4789
        out.append(f"<h3>port checks (data-path port {esc(dpp)})</h3>")
        out.append(table_html(["source \\ destination", *(esc(n) for n in nodes)], prow))
    return "".join(out)


def _log_scan(run: RunData) -> str:
    out = _one_scan(run.log_scan, "unexpected dockerd error lines")
    if run.log_scan_faults is not None:
        out += (
            "<h3>fault-injection phase (scanned on its own: lines the faults cause on purpose, not counted)</h3>"
            + _one_scan(run.log_scan_faults, "dockerd error lines not on the allow-list", "xfailed")
        )
    return out


def _one_scan(scan: dict[str, Any] | None, what: str, bad: str = "failed") -> str:
    if scan is None:
        return "<p class='muted'>no dockerd log scan in this run</p>"
    unexpected = scan.get("unexpected", {})
    allowed = scan.get("allowed", {})
    total = sum(len(v) for v in unexpected.values())
    head = chip("passed" if not total else bad, f"{total} {what}")
    rows = []
    for node in sorted(set(unexpected) | set(allowed)):
        lines = unexpected.get(node, [])
        shown = (
            f"<details><summary>{len(lines)} lines</summary><pre>{esc(chr(10).join(lines[:50]))}</pre></details>"
            if lines
            else "0"
        )
        allow = "".join(
            f"<div class='small'>{esc(k)}: {esc(n)}</div>" for k, n in sorted(allowed.get(node, {}).items())
        )
        rows.append([td(node), td(shown, raw=True), td(allow or "0", raw=True)])
    return f"<p>{head}</p>" + table_html(
        ["node", "unexpected", "allowed (known and harmless here), by reason"], rows
    )


def _trend(past: Past | None) -> str:
    if past is None or not past.outcomes:
        return ""
    squares = "".join(
        f'<span class="sq {esc(o)}" title="{esc(at)}: {esc(LABELS.get(o, o))}"></span>'
        for at, o in past.outcomes
    )
    tags = ' <span class="tag">REGRESSION</span>' if past.regression else ""
    moved = past.moved()
    if moved:
        tags += f' <span class="tag moved" title="{esc("; ".join(moved))}">moved</span>'
    return squares + tags


def _figures(check: Check) -> str:
    shown = {k: v for k, v in check.properties.items() if k not in ("traffic", "flaky")}
    return "".join(f"<div class='small'>{esc(k)}: {esc(v[:120])}</div>" for k, v in sorted(shown.items()))


def _checks(run: RunData, trends: dict[str, Past]) -> str:
    if not run.checks:
        return "<p class='muted'>no check ran</p>"
    rows = []
    for i, c in enumerate(run.checks):
        link = f'<a href="../{esc(c.artifact)}/" title="{esc(c.artifact)}">bundle</a>' if c.artifact else ""
        duration = f"{c.duration_s:.1f} s" if c.duration_s is not None else ""
        rows.append(
            [
                f'<td class="{esc(c.outcome)}" id="check-{i}">{esc(LABELS.get(c.outcome, c.outcome))}</td>',
                td(c.name),
                td(duration),
                td(_trend(trends.get(c.name)), raw=True),
                td(message_html(c.message), raw=True),
                td(_figures(c), raw=True),
                td(link, raw=True),
            ]
        )
    note = (
        f"<p class='small muted'>last 5: this check's outcomes in the run history, oldest first, this run last. "
        f"REGRESSION: passed (or was flaky) the last time it ran and fails now; moved: a recorded figure changed "
        f"by more than {FIGURE_TOLERANCE:.0%} since the last run.</p>"
    )
    return note + table_html(
        ["outcome", "check", "duration", "last 5", "message", "figures", "artifacts"], rows, "checks"
    )


def render(run: RunData, trends: dict[str, Past] | None = None) -> str:
    trends = trends or {}
    title = f"swarm-harness run {run.run_id}"
    engines = ", ".join(sorted(set(run.engines.values()))) or "unknown"
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p class='muted'>started {esc(run.started_at)} &middot; run directory {esc(run.run_dir)} "
        f"&middot; engine {esc(engines)}</p>",
        _verdict(run, trends),
        "<h2>cluster</h2>",
        _cluster(run),
        "<h2>stage timings</h2>",
        _stages(run),
        "<h2>node-pair matrix per network</h2>",
        matrices_section(run),
        "<h2>doctor: capabilities per node</h2>",
        _doctor(run),
        "<h2>dockerd log scan</h2>",
        _log_scan(run),
        traffic_section(run),
        upgrade_section(run),
        f"<h2>checks ({len(run.checks)})</h2>",
        _checks(run, trends),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_html(run: RunData, trends: dict[str, Past] | None = None) -> Path:
    path = RunDir(run.run_dir).report_html
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(run, trends))
    tmp.rename(path)
    return path
