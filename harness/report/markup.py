"""The small pieces of HTML every section of the report page is built from.

Every text that came from a host or a check goes through ``esc``; the table
helpers take cells that are HTML already, so each caller escapes what it knows
came from outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

LABELS = {
    "passed": "passed",
    "failed": "failed",
    "xfailed": "expected failure",
    "flaky": "flaky",
    "skipped": "skipped",
    "none": "not measured",
}


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def table_html(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """Cells arrive as HTML already: callers escape what came from outside."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def td(text: object, cls: str = "", raw: bool = False) -> str:
    inner = str(text) if raw else esc(text)
    return f'<td class="{cls}">{inner}</td>' if cls else f"<td>{inner}</td>"


def chip(outcome: str, text: str) -> str:
    return f'<span class="chip {outcome}">{esc(text)}</span>'


def message_html(text: str) -> str:
    if not text:
        return ""
    first, _, rest = text.partition("\n")
    if not rest and len(first) <= 240:
        return esc(first)
    return f"<details><summary>{esc(first[:240])}</summary><pre>{esc(text)}</pre></details>"
