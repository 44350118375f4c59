"""How the harness grows with the node count: per N, the main job's stages (up, bootstrap,
networks, probe images, doctor), the plain overlay matrix alone, optionally the default
suites, and the memory each machine holds.

    .venv/bin/python -m benchmarks.bench scale --nodes 3,6,10,16 [--full] [--out runs/scale]

Each N gets its own fresh lab: ``run --nodes N --keep`` with only the plain matrix check
(its stage timings come from the run record, the matrix time from its JUnit case), then,
with ``--full``, the default suites against the kept cluster with the main job's workers,
then ``down``. The table's last columns are each figure over the first N's, so the growth
(about N for per-node work, about N^2 for per-pair work) can be read off.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
LAB = "scale"
SUBNET = "198.18.24.0/24"
MATRIX = ("suites/overlay/test_reachability.py", "-k", "test_matrix and plain")
STAGES = ("up", "bootstrap", "networks", "probe images", "doctor")
RUN_TIMEOUT_S = 3600  # a 16-node lab on 2 cores: about 10x the 3-node figures, with margin


def parse_nodes(text: str) -> list[int]:
    """``3,6,10,16`` -> [3, 6, 10, 16]; each 1-16 (the CLI's range), no repeats."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--nodes {text!r}: give node counts separated by commas, e.g. 3,6,10,16") from None
    if not counts or any(not 1 <= n <= 16 for n in counts) or len(set(counts)) != len(counts):
        raise ValueError(f"--nodes {text!r}: each count must be 1-16, each once")
    return counts


def _harness(*args: str, timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout_s
    )


def _case_time(junit: Path, prefix: str) -> float | None:
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.get("name", "").startswith(prefix):
            return round(float(case.get("time") or 0), 1)
    return None


def measure(nodes: int, full: bool, out_dir: Path) -> dict[str, Any]:
    """One N: the stages, the matrix, optionally the default suites, memory per machine."""
    from benchmarks.bench import _rss_per_machine

    run_dir = out_dir / f"n{nodes}"
    _harness("purge", "--lab", LAB, timeout_s=600)
    row: dict[str, Any] = {"nodes": nodes, "pairs": nodes * (nodes - 1)}
    started = time.monotonic()
    run = _harness(
        "run", "--lab", LAB, "--subnet", SUBNET, "--nodes", str(nodes), "--run-dir", str(run_dir),
        "--keep", "--no-disruptive", "--suites", MATRIX[0], "-k", MATRIX[2],
    )
    row["run_s"] = round(time.monotonic() - started, 1)
    rd = RunDir(run_dir)
    try:
        record = json.loads(rd.record_path.read_text()) if rd.record_path.is_file() else {}
        row["stages_s"] = {k: v for k, v in record.get("stages_s", {}).items() if k in STAGES}
        row["matrix_s"] = _case_time(rd.junit(), "test_matrix[plain]") if rd.junit().is_file() else None
        row["verdict"] = record.get("verdict", {}).get("counts", {})
        if run.returncode != 0:
            row["error"] = (run.stderr or run.stdout).strip()[-500:]
            return row
        rss = _rss_per_machine(LAB)
        row["rss_mib_per_machine"] = round(sum(rss.values()) / max(1, len(rss)) / 1024, 1)
        if full:
            junit = run_dir / "scale-suites.xml"
            started = time.monotonic()
            suites = subprocess.run(
                [
                    sys.executable, "-m", "pytest", "suites", f"--harness-inventory={rd.inventory}",
                    f"--junitxml={junit}", "-p", "no:cacheprovider", "-q", "-n", "4", "--dist", "loadgroup",
                ],
                capture_output=True, text=True, cwd=REPO, timeout=RUN_TIMEOUT_S,
            )
            row["default_suites_s"] = round(time.monotonic() - started, 1)
            row["default_suites"] = (suites.stdout.strip().splitlines() or [""])[-1].strip("= ")
    finally:
        _harness("down", "--run-dir", str(run_dir), timeout_s=900)
    return row


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each figure of each row over the first row's: ~N/N0 is per-node work, ~(N/N0)^2 per-pair."""
    if not rows:
        return []
    base = rows[0]
    out = []
    for row in rows:
        ratios: dict[str, float | None] = {}
        for key in ("matrix_s", "run_s", "default_suites_s"):
            b, v = base.get(key), row.get(key)
            ratios[key] = round(v / b, 2) if isinstance(b, int | float) and b and isinstance(v, int | float) else None
        out.append({"nodes": row["nodes"], "over_first": ratios})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = "| N | pairs | " + " | ".join(STAGES) + " | matrix | default suites | MiB/machine | matrix / first |"
    lines = [head, "|" + "---|" * (len(STAGES) + 7)]
    ratios = {g["nodes"]: g["over_first"] for g in growth(rows)}
    for row in rows:
        stages = row.get("stages_s", {})
        cells = [str(row["nodes"]), str(row["pairs"])]
        cells += [f"{stages[s]:.1f}" if s in stages else "-" for s in STAGES]
        cells += [str(row.get("matrix_s", "-")), str(row.get("default_suites_s", "-"))]
        cells += [str(row.get("rss_mib_per_machine", "-")), str(ratios[row["nodes"]]["matrix_s"] or "-")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scale(nodes: list[int], full: bool, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in nodes:
        print(f"scale: {n} nodes ...", file=sys.stderr, flush=True)
        rows.append(measure(n, full, out_dir))
        print(f"scale: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
        (out_dir / "scale.json").write_text(json.dumps({"rows": rows, "growth": growth(rows)}, indent=2))
    print(table(rows), file=sys.stderr)
    return {"rows": rows, "growth": growth(rows)}
