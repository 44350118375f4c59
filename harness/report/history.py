"""The run history: every run and every check's outcome, in one SQLite file.

It lives beside the run directories (``runs/history.sqlite`` by default), so
nightly runs of one machine share it and a newcomer finds it where the runs are.
A check's past is read by its name across runs in start-time order; two readings
come out of it: a **regression** (the check passed, or passed on a retry, the
last time it ran, and fails now) and a **figure that moved** (a number a check
recorded, such as a recovery time or a path MTU, that changed by more than
``FIGURE_TOLERANCE`` since the last run). Each run carries its Engine versions, so
a trend can be read per Engine version (``engine_key``) and a regression names the
versions it ran on before and after: an upgrade that broke a check shows as such.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import UserInputError
from harness.report.rundata import RunData

HISTORY_FILE = "history.sqlite"
FORMAT = "swarm-harness-history"
VERSION = "1"
GOOD = ("passed", "flaky")
FIGURE_TOLERANCE = 0.25  # a figure moved when it changed by more than this share of its last value
LETTERS = {"passed": "P", "failed": "F", "xfailed": "x", "flaky": "~", "skipped": "s"}

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_key TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    inventory TEXT NOT NULL,
    engines TEXT NOT NULL,
    passed INTEGER NOT NULL,
    counts TEXT NOT NULL,
    summary TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE checks (
    run INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    duration_s REAL,
    figures TEXT NOT NULL,
    PRIMARY KEY (run, name)
);
CREATE INDEX checks_by_name ON checks(name);
"""


def default_history_path(run_dir: Path) -> Path:
    return run_dir.resolve().parent / HISTORY_FILE


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def figures(properties: dict[str, str]) -> dict[str, float]:
    """The numbers a check recorded; a JSON traffic summary gives its counts and gap."""
    out: dict[str, float] = {}
    for key, value in properties.items():
        number = _number(value)
        if number is not None:
            out[key] = number
        elif key == "traffic":
            try:
                traffic = json.loads(value)
            except ValueError:
                continue
            for k in ("sent", "failed", "longest_gap_s"):
                if isinstance(traffic.get(k), int | float):
                    out[f"traffic_{k}"] = float(traffic[k])
    return out


def engine_key(engines: dict[str, str]) -> str:
    """The Engine versions one run ran on, as one text: '20.10.24+dfsg1', or
    '20.10.24+dfsg1, 26.1.5+dfsg1' for a mixed cluster."""
    return ", ".join(sorted({v for v in engines.values() if v})) or "unknown"


def _engine_key_of_json(text: str) -> str:
    try:
        engines = json.loads(text)
    except ValueError:
        return "unknown"
    return engine_key(engines) if isinstance(engines, dict) else "unknown"


_AGO = re.compile(r"^(\d+)([mhdw])$")
_AGO_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def since_stamp(text: str, now_s: float | None = None) -> str:
    """``--since``: '7d', '12h', '2w', '30m' ago, or a UTC date/time such as '2026-12-01'
    or '2026-12-01T02:00', as the store's start-time text (which sorts as time does)."""
    found = _AGO.match(text.strip())
    if found:
        ago_s = int(found.group(1)) * _AGO_S[found.group(2)]
        return time.strftime(_STAMP, time.gmtime((time.time() if now_s is None else now_s) - ago_s))
    for form in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return time.strftime(_STAMP, time.strptime(text.strip(), form))
        except ValueError:
            continue
    raise UserInputError(
        f"--since {text!r} is neither a time ago nor a UTC date",
        "e.g. --since 7d, --since 12h, --since 2026-12-01 or --since 2026-12-01T02:00",
    )


@dataclass
class Past:
    """One check's outcomes, oldest first, ending with the run asked about."""

    name: str
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (started_at, outcome)
    figures: list[dict[str, float]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)  # engine_key of each run, same order

    @property
    def regression(self) -> bool:
        if len(self.outcomes) < 2:
            return False
        return self.outcomes[-1][1] == "failed" and self.outcomes[-2][1] in GOOD

    @property
    def fixed(self) -> bool:
        return len(self.outcomes) >= 2 and self.outcomes[-1][1] in GOOD and self.outcomes[-2][1] == "failed"

    def moved(self) -> list[str]:
        """Figures beyond the tolerance since the run before, as 'name old -> new (+n%)'."""
        if len(self.figures) < 2:
            return []
        before, now = self.figures[-2], self.figures[-1]
        out = []
        for key in sorted(set(before) & set(now)):
            old, new = before[key], now[key]
            if old == new:
                continue
            share = abs(new - old) / abs(old) if old else float("inf")
            if share > FIGURE_TOLERANCE:
                pct = f"{(new - old) / old * 100:+.0f}%" if old else "from 0"
                out.append(f"{key} {old:g} -> {new:g} ({pct})")
        return out

    def letters(self) -> str:
        return "".join(LETTERS.get(o, "?") for _, o in self.outcomes)


class History:
    """The store, opened once per command; ``with`` closes it."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db
        db.create_function("engine_key", 1, _engine_key_of_json, deterministic=True)

    @classmethod
    def open(cls, path: Path, create: bool = False) -> History:
        if path.is_dir():
            raise UserInputError(
                f"history store {path} is a directory", f"pass a file, e.g. {path / HISTORY_FILE}"
            )
        if not path.exists():
            if not create:
                raise UserInputError(
                    f"no run history at {path}",
                    "record one with 'swarm-harness report RUN_DIR' (every 'run' records itself) "
                    "or pass another --runs-dir",
                )
            if not path.parent.is_dir():
                raise UserInputError(f"the directory of {path} does not exist", f"create {path.parent} first")
            db = sqlite3.connect(path)
            with db:
                db.executescript(_SCHEMA)
                db.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", VERSION)])
            return cls(path, db)
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            db.close()
            raise UserInputError(
                f"{path} is not a swarm-harness history store ({exc})",
                "move it away, or pass another --runs-dir / --history",
            ) from exc
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            db.close()
            raise UserInputError(
                f"{path} is not a swarm-harness history store of version {VERSION} "
                f"(format {meta.get('format')!r}, version {meta.get('version')!r})",
                "move it away, or pass another --runs-dir / --history",
            )
        return cls(path, db)

    def __enter__(self) -> History:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.db.close()

    def record(self, run: RunData) -> bool:
        """Adds the run and its checks once; a run already recorded is left as it is."""
        if self.db.execute("SELECT 1 FROM runs WHERE run_key = ?", (run.run_key,)).fetchone():
            return False
        verdict = run.verdict
        counts = verdict.get("counts", {})
        summary = f"{'PASSED' if verdict.get('passed') else 'FAILED'}: " + ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "xfailed", "flaky", "skipped")
        )
        with self.db:
            cur = self.db.execute(
                "INSERT INTO runs (run_key, run_id, started_at, run_dir, inventory, engines, passed, counts,"
                " summary, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_key,
                    run.run_id,
                    run.started_at,
                    str(run.run_dir.resolve()),
                    run.identity,
                    json.dumps(run.engines),
                    int(bool(verdict.get("passed"))),
                    json.dumps(counts),
                    summary,
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                ),
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        cur.lastrowid,
                        c.name,
                        c.outcome,
                        c.message.splitlines()[0][:500] if c.message else "",
                        c.duration_s,
                        json.dumps(figures(c.properties)),
                    )
                    for c in run.checks
                ],
            )
        return True

    def runs(self, since: str | None = None, engine: str | None = None) -> list[dict[str, Any]]:
        where, args = _run_filter(since, engine, "")
        rows = self.db.execute(
            "SELECT id, run_key, run_id, started_at, inventory, engines, summary FROM runs"
            f" WHERE 1{where} ORDER BY started_at, id",
            args,
        ).fetchall()
        keys = ("id", "run_key", "run_id", "started_at", "inventory", "engines", "summary")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def past(
        self,
        name: str,
        until_key: str | None = None,
        last: int = 5,
        since: str | None = None,
        engine: str | None = None,
    ) -> Past:
        """The check's last ``last`` outcomes up to the run ``until_key`` (default: the newest),
        from ``since`` on and on runs whose Engine versions contain ``engine``, if given."""
        bound, args = _run_filter(since, engine, "r.")
        args = [name, *args]
        if until_key is not None:
            row = self.db.execute(
                "SELECT started_at, id FROM runs WHERE run_key = ?", (until_key,)
            ).fetchone()
            if row:
                bound += " AND (r.started_at < ? OR (r.started_at = ? AND r.id <= ?))"
                args += [row[0], row[0], row[1]]
        rows = self.db.execute(
            "SELECT r.started_at, c.outcome, c.figures, c.message, engine_key(r.engines)"
            " FROM checks c JOIN runs r ON r.id = c.run"
            f" WHERE c.name = ?{bound} ORDER BY r.started_at DESC, r.id DESC LIMIT ?",
            [*args, last],
        ).fetchall()
        rows.reverse()
        return Past(
            name,
            [(r[0], r[1]) for r in rows],
            [json.loads(r[2]) for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
        )

    def check_names(
        self, contains: str = "", since: str | None = None, engine: str | None = None
    ) -> list[str]:
        where, args = _run_filter(since, engine, "r.")
        rows = self.db.execute(
            "SELECT DISTINCT c.name FROM checks c JOIN runs r ON r.id = c.run"
            f" WHERE instr(lower(c.name), lower(?)) > 0{where} ORDER BY c.name",
            [contains, *args],
        ).fetchall()
        return [r[0] for r in rows]

    def trends_for(self, run: RunData, last: int = 5) -> dict[str, Past]:
        return {c.name: self.past(c.name, run.run_key, last) for c in run.checks}


def _run_filter(since: str | None, engine: str | None, prefix: str) -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) on the runs table for ``--since``/``--engine``."""
    where, args = "", []
    if since is not None:
        where += f" AND {prefix}started_at >= ?"
        args.append(since)
    if engine is not None:
        where += f" AND instr(engine_key({prefix}engines), ?) > 0"
        args.append(engine)
    return where, args


def history_text(
    history: History, contains: str = "", last: int = 5, since: str | None = None, engine: str | None = None
) -> str:
    """What ``swarm-harness history`` prints: regressions first, then every check's trend,
    one column per Engine version when the runs shown ran on more than one."""
    runs = history.runs(since, engine)
    names = history.check_names(contains, since, engine)
    pasts = [history.past(n, None, last, since, engine) for n in names]
    keys = sorted({_engine_key_of_json(r["engines"]) for r in runs})
    lines = [
        f"history: {history.path}: {len(runs)} runs"
        + (f", {runs[0]['started_at']} .. {runs[-1]['started_at']}" if runs else "")
        + (f" since {since}" if since else "")
        + (f" on engines matching {engine!r}" if engine else "")
        + f"; {len(names)} checks"
        + (f" matching {contains!r}" if contains else "")
    ]
    for r in runs[-last:]:
        lines.append(
            f"  run {r['run_id']} at {r['started_at']} (engine {_engine_key_of_json(r['engines'])}): {r['summary']}"
        )
    regressions = [p for p in pasts if p.regression]
    for p in regressions:
        on = ""
        if p.engines[-2] != p.engines[-1]:
            on = f" (engine {p.engines[-2]} before, {p.engines[-1]} now)"
        lines.append(
            f"REGRESSION {p.name}: {p.outcomes[-2][1]} at {p.outcomes[-2][0]}, failed at {p.outcomes[-1][0]}{on}: "
            f"{p.messages[-1][:200]}"
        )
    for p in pasts:
        for text in p.moved():
            lines.append(f"MOVED {p.name}: {text} (tolerance {FIGURE_TOLERANCE:.0%})")
    if names:
        width = min(max(len(n) for n in names), 100)
        lines.append(
            f"{'check':<{width}}  last {last}, oldest first (P passed, F failed, x expected failure, "
            "~ flaky, s skipped)" + ("; then per Engine version" if len(keys) > 1 else "")
        )
        for p in pasts:
            mark = "  REGRESSION" if p.regression else "  fixed" if p.fixed else ""
            line = f"{p.name:<{width}}  {p.letters():<{last}}{mark}"
            if len(keys) > 1:
                per = [history.past(p.name, None, last, since, key) for key in keys]
                line += "  " + "  ".join(
                    f"[{key}: {q.letters() or '-'}]" for key, q in zip(keys, per, strict=True)
                )
            lines.append(line.rstrip())
    lines.append(f"{len(regressions)} regressions")
    return "\n".join(lines)
