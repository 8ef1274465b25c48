"""Benchmark ladder (issue 8): prints, per instance, model size, phase times, peak memory, status,
gap and the overhead ratio (everything but the solve / the solve), and writes bench/results.md.

    python bench/run.py [--only default,small] [--time-limit S] [--large]

Each instance runs in its own process so that peak memory (ru_maxrss) is its own. Not a test:
nothing here asserts a time."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LADDER = {  # name: generate arguments (None = the shipped default workbook)
    "default": None,
    "small": dict(sites=50, minerals=4, periods=3, scenarios=3, seed=1),
    "medium": dict(sites=300, minerals=8, periods=4, scenarios=10, seed=2),
    "large": dict(sites=1500, minerals=10, periods=5, scenarios=20, seed=3),
}

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from planner.pipeline import solve_workbook
imp = time.perf_counter() - t0
r = solve_workbook(sys.argv[1], output=sys.argv[2], force=True, time_limit=float(sys.argv[3]))
h = r.outcome.hand_over
print(json.dumps({"status": r.outcome.status, "gap": r.outcome.mip_gap, "objective": r.outcome.objective,
                  "rows": h.get("highs_rows"), "cols": h.get("highs_cols"), "nonzeros": h.get("highs_nonzeros"),
                  "binaries": len(r.data.BUILD_OPTIONS), "candidates": len(r.data.CANDIDATES),
                  "import_s": imp, **r.timings, "solver_s": r.outcome.solve_seconds,
                  "wall_s": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(name: str, args, time_limit: float, tmp: Path) -> dict:
    if args is None:
        src = ROOT / "inputs" / "alliance_2026.xlsx"
    else:
        src = tmp / f"{name}.xlsx"
        subprocess.run([sys.executable, "-m", "planner", "generate", str(src), "--force"]
                       + [f"--{k}={v}" for k, v in args.items()], check=True, capture_output=True)
    p = subprocess.run([sys.executable, "-c", CHILD, str(src), str(tmp / f"{name}_out.xlsx"), str(time_limit)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return {"name": name, "error": (p.stderr or p.stdout)[-400:]}
    d = json.loads(p.stdout.strip().splitlines()[-1])
    d["name"] = name
    other = d["wall_s"] - d["solve_s"]
    d["overhead_ratio"] = other / d["solve_s"] if d["solve_s"] else None
    return d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="default,small,medium")
    ap.add_argument("--large", action="store_true", help="add the large instance (needs many minutes)")
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    a = ap.parse_args()
    names = a.only.split(",") + (["large"] if a.large else [])
    cols = ["name", "candidates", "binaries", "rows", "cols", "nonzeros", "read_validate_s", "build_s", "solve_s",
            "resolve_fixed_s", "write_s", "wall_s", "peak_mb", "status", "gap", "overhead_ratio"]
    results = []
    with tempfile.TemporaryDirectory() as d:
        for n in names:
            r = run(n, LADDER[n], a.time_limit, Path(d))
            results.append(r)
            print(json.dumps(r))
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{platform.platform()}")
    lines = [f"# Benchmark results\n\nMachine: {machine}. Time limit {a.time_limit:g} s. `solve_s` includes "
             "the hand-over to HiGHS and its check; `overhead_ratio` = (wall - solve) / solve.\n",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        def f(k):
            v = r.get(k, "")
            return f"{v:.3g}" if isinstance(v, float) else str(v)
        lines.append("| " + " | ".join(f(k) if "error" not in r or k == "name" else "error" for k in cols) + " |")
    a.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
