"""Flake hunt: the main job N times back to back, every failure and flaky check recorded.

    .venv/bin/python -m benchmarks.bench soak --runs 10 [--suites suites/overlay ...] [--reuse]

Each run is ``swarm-harness run`` on its own fresh lab (or, with ``--reuse``, one
lab kept up and ``run --inventory`` against it). Per run: the verdict, every failed
or flaky check with its message, the duration and the stage timings, from the
run's own ``reports/report.json``. One JSON file holds them all, and a table is
printed; the soak counts as clean only when every run's verdict passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
LAB = "soak"
SUBNET = "198.18.23.0/24"
RUN_TIMEOUT_S = 3600  # a hung run ends the soak with its own record; the main job takes about 6 min


def _harness(*args: str, timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout_s,
    )


def _record(
    index: int, run_dir: Path, proc: subprocess.CompletedProcess[str], wall_s: float
) -> dict[str, Any]:
    report_path = RunDir(run_dir).record_path
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    verdict = report.get("verdict", {})
    checks = verdict.get("checks", [])
    return {
        "run": index,
        "exit_code": proc.returncode,
        "passed": bool(verdict.get("passed")) and proc.returncode == 0,
        "counts": verdict.get("counts", {}),
        "warnings": verdict.get("warnings", []),
        "failed": [c for c in checks if c["outcome"] == "failed"],
        "flaky": [c for c in checks if c["outcome"] == "flaky"],
        "wall_s": round(wall_s, 1),
        "stages_s": report.get("stages_s", {}),
        "error": report.get("error") or ("" if report else proc.stderr.strip()[-500:]),
    }


def soak(runs: int, suites: list[str], reuse: bool, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    suite_args = ["--suites", *suites] if suites else []
    records: list[dict[str, Any]] = []
    shared = out_dir / "lab"
    _harness("purge", "--lab", LAB, timeout_s=600)
    if reuse:
        up = _harness("up", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(shared))
        if up.returncode != 0:
            return {"error": f"up failed: {up.stderr.strip()[-500:]}", "runs": []}
    try:
        for i in range(1, runs + 1):
            started = time.monotonic()
            if reuse:
                run_dir = shared
                proc = _harness("run", "--inventory", str(RunDir(shared).inventory), *suite_args)
            else:
                run_dir = out_dir / f"run-{i}"
                proc = _harness(
                    "run", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(run_dir), *suite_args
                )
            rec = _record(i, run_dir, proc, time.monotonic() - started)
            if reuse:
                # The next run writes its own report over this one: keep a copy.
                (out_dir / f"report-{i}.json").write_text(RunDir(run_dir).record_path.read_text())
            records.append(rec)
            print(_row(rec), file=sys.stderr, flush=True)
            (out_dir / "soak.json").write_text(json.dumps({"runs": records}, indent=2) + "\n")
    finally:
        if reuse:
            _harness("down", "--run-dir", str(shared), timeout_s=600)
    clean = sum(r["passed"] for r in records)
    result = {
        "runs": records,
        "clean_runs": clean,
        "of": len(records),
        "consecutive_clean_from_start": next(
            (i for i, r in enumerate(records) if not r["passed"]), len(records)
        ),
        "suites": suites or "default",
        "reuse": reuse,
    }
    (out_dir / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(records), file=sys.stderr)
    return result


def _row(rec: dict[str, Any]) -> str:
    c = rec["counts"]
    problems = [f"FAILED {f['name']}: {f['message'][:120]}" for f in rec["failed"]]
    problems += [f"FLAKY {f['name']}" for f in rec["flaky"]]
    problems += [f"warning: {w[:120]}" for w in rec["warnings"]]
    if rec["error"]:
        problems.append(f"error: {rec['error'][:200]}")
    return (
        f"run {rec['run']:>2}: {'PASS' if rec['passed'] else 'FAIL'} exit {rec['exit_code']} "
        f"{rec['wall_s']:>6.0f}s  passed {c.get('passed', 0)} failed {c.get('failed', 0)} "
        f"xfailed {c.get('xfailed', 0)} flaky {c.get('flaky', 0)}"
        + "".join(f"\n        {p}" for p in problems)
    )


def table(records: list[dict[str, Any]]) -> str:
    clean = sum(r["passed"] for r in records)
    return "\n".join([*(_row(r) for r in records), f"soak: {clean} of {len(records)} runs passed"])
