"""Benchmarks of the local lab and the swarm spine (figures for the README).

    sudo .venv/bin/python -m benchmarks.bench lab [--cold]   # image build, up->ready, RSS per machine
    sudo .venv/bin/python -m benchmarks.bench swarm          # bootstrap, matrix suite, whole `run`
    sudo .venv/bin/python -m benchmarks.bench suites         # each suite's wall time, -n 0 and -n auto
    sudo .venv/bin/python -m benchmarks.bench soak --runs 10 # the main job N times: every failure and flake
    sudo .venv/bin/python -m benchmarks.bench scale --nodes 3,6,10,16 [--full]  # stages and matrix per N

Uses its own lab name and subnet (bench, 198.18.12.0/24) and tears it down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
LAB = "bench"
SUBNET = "198.18.12.0/24"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=REPO
    )


def _rss_per_machine(lab: str) -> dict[str, int]:
    """Resident memory (KiB) of every process in each machine's network namespace."""
    out: dict[str, int] = {}
    for ns in sorted(Path("/run/netns").glob(f"shn-{lab}-*")):
        inode = os.stat(ns).st_ino
        total = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if os.stat(proc / "ns/net").st_ino != inode:
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        out[ns.name.removeprefix(f"shn-{lab}-")] = total
    return out


def bench_lab(cold: bool) -> dict[str, Any]:
    from harness.lab import images

    result: dict[str, Any] = {}
    if cold:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            env = dict(os.environ, SWARM_HARNESS_CACHE=tmp)
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "harness.cli", "images", "build", "--release", "bookworm"],
                env=env,
                capture_output=True,
                text=True,
                cwd=REPO,
            )
            assert proc.returncode == 0, proc.stderr[-2000:]
            result["cold_image_build_s"] = round(time.monotonic() - started, 1)
    images.ensure_image(images.machine_recipe("bookworm"))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _cli("purge", "--lab", LAB)
        started = time.monotonic()
        up = _cli("up", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(run_dir))
        result["up_to_ready_3_machines_s"] = round(time.monotonic() - started, 1)
        assert up.returncode == 0, up.stderr[-2000:]
        rss = _rss_per_machine(LAB)
        result["rss_kib_per_machine"] = rss
        result["rss_mib_mean"] = round(sum(rss.values()) / max(1, len(rss)) / 1024, 1)
        started = time.monotonic()
        down = _cli("down", "--run-dir", str(run_dir))
        result["down_s"] = round(time.monotonic() - started, 1)
        assert down.returncode == 0, down.stderr[-2000:]
    return result


def bench_swarm() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _cli("purge", "--lab", LAB)
        started = time.monotonic()
        proc = _cli("run", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(run_dir))
        total = round(time.monotonic() - started, 1)
        report = json.loads(RunDir(run_dir).record_path.read_text())
        assert proc.returncode == 0, proc.stdout[-2000:]
        matrix_cases = {}
        import xml.etree.ElementTree as ET

        for case in ET.parse(RunDir(run_dir).junit()).getroot().iter("testcase"):
            if case.get("name", "").startswith("test_matrix["):
                matrix_cases[case.get("name", "")] = float(case.get("time", 0))
        return {
            "run_total_s": total,
            "stages_s": report["stages_s"],
            "matrix_test_s": matrix_cases,
            "junit": report["junit"],
        }


SUITES = ("overlay", "dns", "lb", "mtu", "encryption", "updates", "drivers", "stack")


def bench_suites(workers: tuple[str, ...] = ("0", "auto")) -> dict[str, Any]:
    """Wall time of each default suite on one 3-node lab, serial and with xdist workers."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _cli("purge", "--lab", LAB)
        up = _cli("up", "--lab", LAB, "--subnet", SUBNET, "--run-dir", str(run_dir))
        assert up.returncode == 0, up.stderr[-2000:]
        inventory = str(RunDir(run_dir).inventory)
        try:
            boot = _cli("bootstrap", "--inventory", inventory)
            assert boot.returncode == 0, boot.stderr[-2000:]
            out: dict[str, Any] = {}
            for suite in SUITES:
                for n in workers:
                    cmd = [
                        sys.executable,
                        "-m",
                        "pytest",
                        f"suites/{suite}",
                        f"--harness-inventory={inventory}",
                    ]
                    cmd += ["-q", "-p", "no:cacheprovider", "-n", n]
                    if n != "0":
                        cmd += ["--dist", "loadgroup"]
                    started = time.monotonic()
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                    summary = (proc.stdout.strip().splitlines() or [""])[-1]
                    out.setdefault(suite, {})[f"n={n}"] = {
                        "wall_s": round(time.monotonic() - started, 1),
                        "result": summary.strip("= "),
                    }
                    print(suite, n, out[suite][f"n={n}"], file=sys.stderr, flush=True)
            return out
        finally:
            _cli("down", "--run-dir", str(run_dir))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["lab", "swarm", "suites", "soak", "scale"])
    p.add_argument("--cold", action="store_true", help="also time a cold image build (about 90 s)")
    p.add_argument("--runs", type=int, default=10, help="soak: how many main-job runs (default 10)")
    p.add_argument(
        "--suites", action="append", default=[], help="soak: a suite path to run (repeatable; default: all)"
    )
    p.add_argument("--reuse", action="store_true", help="soak: one lab for every run instead of a fresh one each")
    p.add_argument("--out", default=None, help="soak, scale: where their JSON and run directories go (runs/WHAT)")
    p.add_argument("--nodes", default="3,6,10,16", help="scale: node counts, comma-separated (default 3,6,10,16)")
    p.add_argument("--full", action="store_true", help="scale: also time the default suites at each N")
    args = p.parse_args()
    if args.what == "soak" and args.runs < 1:
        p.error("--runs must be at least 1")
    from benchmarks.scale import parse_nodes, scale
    from benchmarks.soak import soak

    try:
        counts = parse_nodes(args.nodes)
    except ValueError as exc:
        p.error(str(exc))
    out = Path(args.out or f"runs/{args.what}")

    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "lab": lambda: bench_lab(args.cold),
        "swarm": bench_swarm,
        "suites": bench_suites,
        "soak": lambda: soak(args.runs, args.suites, args.reuse, out),
        "scale": lambda: scale(counts, args.full, out),
    }
    result = runs[args.what]()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
