"""The report page's traffic charts: what clients saw while the cluster changed under them.

The rolling-update checks record each node's requests per second (answered and
failed) through the service name; the rolling Engine upgrade records each traffic
window it sent from an idle node, beside the stage each node was in. Both are drawn
as inline SVG, so the page stays one self-contained file.
"""

from __future__ import annotations

import json
from typing import Any

from harness.report.markup import esc, table_html, td
from harness.report.rundata import RunData


def _traffic_svg(windows: dict[str, list[float]], span_s: float) -> str:
    """Each node's error window, in seconds from the start of its own load."""
    if not windows:
        return ""
    span_s = max(span_s, *(w[1] for w in windows.values()), 1.0)
    label_w, plot_w, row_h = 70, 520, 20
    height = row_h * len(windows) + 26
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 20}" height="{height}" '
        'role="img" aria-label="error windows">'
    ]
    for i, (node, (first, last)) in enumerate(sorted(windows.items())):
        y = i * row_h + 4
        x0 = label_w + first / span_s * plot_w
        w = max(2.0, (last - first) / span_s * plot_w)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="12">{esc(node)}</text>'
            f'<line x1="{label_w}" y1="{y + 8}" x2="{label_w + plot_w}" y2="{y + 8}" stroke="#c8e6c9" stroke-width="8"/>'
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{w:.1f}" height="12" fill="#e53935">'
            f"<title>{esc(node)}: failures from {first:.2f} s to {last:.2f} s</title></rect>"
        )
    axis_y = row_h * len(windows) + 18
    parts.append(
        f'<text x="{label_w}" y="{axis_y}" font-size="11">0 s</text>'
        f'<text x="{label_w + plot_w}" y="{axis_y}" font-size="11" text-anchor="end">{span_s:.1f} s</text>'
        "</svg>"
    )
    return "".join(parts)


def _timeline_svg(timeline: dict[str, list[list[int]]]) -> str:
    """Requests per second from each node: answered (green) under failed (red), one strip a node."""
    if not any(timeline.values()):
        return ""
    seconds = max(len(s) for s in timeline.values())
    top = max((a + b for s in timeline.values() for a, b in s), default=1) or 1
    label_w, plot_w, strip_h, gap = 70, 600, 40, 8
    step = plot_w / seconds
    height = (strip_h + gap) * len(timeline) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 60}" height="{height}" '
        'role="img" aria-label="requests per second per node">'
    ]
    for i, (node, series) in enumerate(sorted(timeline.items())):
        base = i * (strip_h + gap) + strip_h
        parts.append(
            f'<text x="{label_w - 6}" y="{base - strip_h / 2 + 4}" text-anchor="end" font-size="12">{esc(node)}</text>'
            f'<line x1="{label_w}" y1="{base}" x2="{label_w + plot_w}" y2="{base}" stroke="#999"/>'
        )
        for sec, (ok, bad) in enumerate(series):
            x = label_w + sec * step
            ok_h, bad_h = ok / top * strip_h, bad / top * strip_h
            title = f"<title>{esc(node)}, second {sec}: {ok} answered, {bad} failed</title>"
            if ok:
                parts.append(
                    f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{max(step - 1, 1):.1f}" '
                    f'height="{ok_h:.1f}" fill="#43a047">{title}</rect>'
                )
            if bad:
                parts.append(
                    f'<rect class="failed-second" x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" '
                    f'width="{max(step - 1, 1):.1f}" height="{bad_h:.1f}" fill="#e53935">{title}</rect>'
                )
    axis_y = (strip_h + gap) * len(timeline) + 12
    parts.append(
        f'<text x="{label_w}" y="{axis_y}" font-size="11">0 s</text>'
        f'<text x="{label_w + plot_w}" y="{axis_y}" font-size="11" text-anchor="end">{seconds} s '
        f"(peak {top} requests/s)</text></svg>"
    )
    return "".join(parts)


def traffic_section(run: RunData) -> str:
    """The rolling-update checks record their traffic: each node's requests per second, answered
    and failed, drawn over the check's time; a record without that series (an older run) shows
    each node's window of failed requests instead."""
    rows = []
    charts = []
    for c in run.checks:
        raw = c.properties.get("traffic")
        if not raw:
            continue
        try:
            t = json.loads(raw)
        except ValueError:
            continue
        rows.append(
            [
                td(c.name),
                td(c.outcome, c.outcome),
                td(t.get("sent", "")),
                td(t.get("failed", "")),
                td(t.get("longest_gap_s", "")),
                td(", ".join(f"{k}: {n}" for k, n in sorted((t.get("versions") or {}).items()))),
            ]
        )
        windows = {k: list(v) for k, v in (t.get("error_windows") or {}).items()}
        timeline = t.get("timeline") or {}
        if isinstance(timeline, dict) and any(timeline.values()):
            charts.append(f"<h3>{esc(c.name)}: requests per second per node</h3>{_timeline_svg(timeline)}")
        elif windows:
            span = float(c.properties.get("update_s", 0) or 0)
            charts.append(f"<h3>{esc(c.name)}: failed requests per node</h3>{_traffic_svg(windows, span)}")
    if not rows:
        return ""
    note = (
        "<p class='small muted'>each node's client sends one request after another through the service "
        "name; green: answered in that second, red: failed.</p>"
    )
    table = table_html(["check", "outcome", "requests", "failed", "longest gap s", "versions answered"], rows)
    return '<h2 id="traffic">traffic during rolling updates</h2>' + note + table + "".join(charts)


_STEP_COLOURS = {"drain": "#fbc02d", "upgrade": "#5c8fd6", "rejoin": "#8e24aa", "checks": "#26a69a"}


def _upgrade_svg(steps: list[dict[str, Any]], timeline: list[list[Any]], window_s: float) -> str:
    """Each node's stages as bands over time, and under them each traffic window's requests."""
    nodes = sorted({str(s["node"]) for s in steps})
    end = max(
        [float(s["started_s"]) + float(s["duration_s"]) for s in steps]
        + [float(w[0]) + window_s for w in timeline]
        + [1.0]
    )
    label_w, plot_w, band_h, chart_h = 90, 640, 16, 60
    scale = plot_w / end
    top = max((int(w[2]) + int(w[3]) for w in timeline), default=1) or 1
    chart_y = len(nodes) * (band_h + 4) + 10
    height = chart_y + chart_h + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 90}" height="{height}" '
        'role="img" aria-label="upgrade stages and traffic">'
    ]
    for i, node in enumerate(nodes):
        y = i * (band_h + 4)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="12">{esc(node)}</text>'
        )
        for s in (s for s in steps if s["node"] == node):
            x, w = label_w + float(s["started_s"]) * scale, max(float(s["duration_s"]) * scale, 1.0)
            fill = "#e53935" if not s.get("ok", True) else _STEP_COLOURS.get(str(s["step"]), "#90a4ae")
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{band_h}" fill="{fill}">'
                f"<title>{esc(node)} {esc(s['step'])}: {float(s['started_s']):.1f} s + "
                f"{float(s['duration_s']):.1f} s{'' if s.get('ok', True) else ' FAILED'}</title></rect>"
            )
    base = chart_y + chart_h
    parts.append(
        f'<text x="{label_w - 6}" y="{base - chart_h / 2}" text-anchor="end" font-size="12">requests</text>'
        f'<line x1="{label_w}" y1="{base}" x2="{label_w + plot_w}" y2="{base}" stroke="#999"/>'
    )
    for start_s, sender, ok, bad in timeline:
        x, w = label_w + float(start_s) * scale, max(window_s * scale - 1, 1.0)
        ok_h, bad_h = int(ok) / top * chart_h, int(bad) / top * chart_h
        title = f"<title>from {esc(sender)} at {float(start_s):.1f} s: {ok} answered, {bad} failed</title>"
        parts.append(
            f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{w:.1f}" height="{ok_h:.1f}" fill="#43a047">{title}</rect>'
        )
        if int(bad):
            parts.append(
                f'<rect class="failed-window" x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" width="{w:.1f}" '
                f'height="{bad_h:.1f}" fill="#e53935">{title}</rect>'
            )
    parts.append(
        f'<text x="{label_w}" y="{height - 4}" font-size="11">0 s</text>'
        f'<text x="{label_w + plot_w}" y="{height - 4}" font-size="11" text-anchor="end">{end:.0f} s</text></svg>'
    )
    return "".join(parts)


def upgrade_section(run: RunData) -> str:
    """The rolling Engine upgrade of this run directory, when one ran: verdict, each node's
    stages, the Engine versions after, and the traffic over time beside the stages."""
    up = run.upgrade
    if not up:
        return ""
    t = up.get("traffic") or {}
    steps = [s for s in up.get("steps") or [] if isinstance(s, dict)]
    rows = [
        [
            td(s.get("node", "")),
            td(s.get("step", "")),
            td(f"{float(s.get('started_s', 0)):.1f}"),
            td(f"{float(s.get('duration_s', 0)):.1f}"),
            td("ok" if s.get("ok") else "FAILED", "passed" if s.get("ok") else "failed"),
            td(s.get("detail", "")),
        ]
        for s in steps
    ]
    last = (up.get("versions") or [{}])[-1].get("engines") or {}
    head = (
        f"<p>verdict: <b>{esc(up.get('verdict', ''))}</b>; order {esc(' -> '.join(up.get('order') or []))}; "
        f"engines after: {esc(', '.join(f'{n}={v}' for n, v in sorted(last.items())) or 'unknown')}</p>"
        f"<p>traffic: {esc(t.get('sent', 0))} requests, {esc(t.get('failed', 0))} failed, longest gap "
        f"{float(t.get('longest_gap_s', 0)):.1f} s; {esc(t.get('connections', 0))} long-lived connections, "
        f"{esc(t.get('connections_broken', 0))} broken</p>"
    )
    timeline = [w for w in t.get("timeline") or [] if isinstance(w, list) and len(w) == 4]
    chart = _upgrade_svg(steps, timeline, float(t.get("window_s") or 4.0)) if steps else ""
    table = table_html(["node", "stage", "started s", "took s", "outcome", "detail"], rows)
    return '<h2 id="upgrade">rolling Engine upgrade</h2>' + head + chart + table
