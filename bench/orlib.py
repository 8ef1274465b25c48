"""OR-Library capacitated warehouse location instances through `plan solve` end to end:
each file is written as a workbook (`plan import-orlib`), solved with the baseline definition and a
time limit, and the planner's cost compared with the published optimum (capopt.txt).

    python bench/orlib.py [--dir ../shared/benchmarks/orlib-cap] [--only cap41,capa] [--time-limit 120]
                          [--start-heuristic greedy] [--out FILE]

Writes bench/orlib_results.md. Not a test: nothing here asserts a time."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "benchmarks" / "orlib-cap"
SMALL = ["cap41", "cap51", "cap61", "cap71", "cap81", "cap91", "cap101", "cap111", "cap121", "cap131", "cap134"]
LARGE = {"capa": 8000, "capb": 5000, "capc": 5000}  # the first capacity capopt.txt lists for each

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from planner.pipeline import solve_workbook
r = solve_workbook(sys.argv[1], write=False, time_limit=float(sys.argv[2]),
                   solver_overrides={"start_heuristic": sys.argv[3]})
print(json.dumps({"status": r.outcome.status, "objective_musd": r.outcome.objective, "gap": r.outcome.mip_gap,
                  "bound_musd": r.outcome.bound, **r.timings,
                  "start_musd": r.outcome.hand_over.get("start_heuristic_objective"),
                  "start_s": r.outcome.hand_over.get("start_heuristic_s"), "wall_s": time.perf_counter() - t0,
                  # the planner's peak plus its MIP process's (they run together: an upper bound)
                  "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                              + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))
"""


def run(name: str, folder: Path, time_limit: float, tmp: Path, start: str = "none") -> dict:
    from planner.io.orlib import published_optimum, read_cap, write_cap_workbook
    cap = LARGE.get(name)
    inst = read_cap(folder / f"{name}.txt", cap)
    src = write_cap_workbook(inst, tmp / f"{name}.xlsx", force=True)
    opt = published_optimum(folder / "capopt.txt", name, cap)
    p = subprocess.run([sys.executable, "-c", CHILD, str(src), str(time_limit), start], capture_output=True, text=True)
    if p.returncode != 0:
        return {"name": name, "error": (p.stderr or p.stdout)[-300:]}
    d = json.loads(p.stdout.strip().splitlines()[-1])
    d.update(name=name, capacity=cap or "", published_optimum=opt)
    if d.get("objective_musd") is not None and opt:
        d["above_optimum"] = d["objective_musd"] * 1e6 / opt - 1
    return d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--only", default=",".join(SMALL + list(LARGE)))
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--start-heuristic", choices=["auto", "none", "greedy", "expected_value"], default="none")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "orlib_results.md")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from run import run_all, write_results  # bench/run.py, beside this script
    cols = ["name", "capacity", "status", "objective_musd", "published_optimum", "above_optimum", "gap",
            "start_musd", "start_s", "read_validate_s", "build_s", "solve_s", "wall_s", "peak_mb"]
    results = run_all(a.only.split(","), lambda n, d: run(n, a.dir, a.time_limit, d, a.start_heuristic))
    write_results(a.out, "OR-Library capacitated warehouse location through `plan solve`",
                  f"Time limit {a.time_limit:g} s, start heuristic {a.start_heuristic}, baseline definition (relative gap 1e-4). `above_optimum` = "
                  "planner cost / published optimum - 1 (objective in MUSD = cost / 1e6).", results, cols, digits=4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
