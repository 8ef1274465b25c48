"""Benchmark ladder: prints, per instance, model size, phase times, peak memory, status, gap and
the overhead ratio (everything but HiGHS's own solve / that solve), and writes a markdown table.
Each run also writes the model's MPS (`plan solve --write-mps`) and runs plain HiGHS on that file
with the same options in a separate process, so the planner is measured side by side with HiGHS
alone: `vs_alone_process` is the planner's whole process (start, read, build, solve, write) against
HiGHS alone's whole process (start, read the MPS, solve).

    python bench/run.py [--only default,small] [--time-limit S] [--large] [--no-alone] [--low-memory]
                        [--mip-gap G] [--repeat N] [--out PATH]

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LADDER = {  # name: generate arguments (None = the shipped default workbook)
    "default": None,
    "small": dict(sites=50, minerals=4, periods=3, scenarios=3, seed=1),
    "medium": dict(sites=300, minerals=8, periods=4, scenarios=10, seed=2),
    # the same medium with sparse mine -> refinery arcs (settings.supply_arcs_per_site = 5)
    "medium_sparse": dict(sites=300, minerals=8, periods=4, scenarios=10, seed=2, supply_arcs=5),
    "large": dict(sites=1500, minerals=10, periods=5, scenarios=20, seed=3, supply_arcs=5),
}

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from planner.pipeline import solve_workbook
imp = time.perf_counter() - t0
r = solve_workbook(sys.argv[1], output=sys.argv[2], force=True, time_limit=float(sys.argv[3]), write_mps=sys.argv[4] or None,
                   mip_gap=float(sys.argv[7]) if sys.argv[7] else None,
                   solver_overrides={"start_heuristic": sys.argv[5] or None, "low_memory": sys.argv[6] == "1" or None})
h = r.outcome.hand_over
print(json.dumps({"status": r.outcome.status, "gap": r.outcome.mip_gap, "objective": r.outcome.objective,
                  "rows": h.get("highs_rows"), "cols": h.get("highs_cols"), "nonzeros": h.get("highs_nonzeros"),
                  "binaries": len(r.data.BUILD_OPTIONS), "candidates": len(r.data.CANDIDATES),
                  "import_s": imp, **r.timings, "compile_s": h.get("compile_s"), "hand_over_s": h.get("hand_over_s"),
                  "build_hand_over_s": r.timings.get("build_s", 0) + (h.get("compile_s") or 0) + (h.get("hand_over_s") or 0),
                  "highs_s": h.get("highs_s"), "start_ev_s": h.get("start_ev_s"),
                  "mip_rel_gap": h.get("highs_option_mip_rel_gap"), "planner_in_search_mb": h.get("planner_in_search_mib"),
                  "start_objective": h.get("start_heuristic_objective"), "enforced_s": h.get("time_limit_enforced_s"),
                  "wall_s": time.perf_counter() - t0,
                  "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                              + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024,
                  "mip_proc_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

# The model exactly as the planner hands it to HiGHS, written as MPS (built, compiled and handed over,
# not solved): a separate process, so that the measured run writes no MPS.
MPS = r"""
import sys
from planner.model.definition import resolve_definition
from planner.dataset.data import load_data
from planner.pipeline import MainModel
d = resolve_definition(None, float(sys.argv[3]), float(sys.argv[4]) if sys.argv[4] else None,
                       {"low_memory": sys.argv[5] == "1" or None})
MainModel(load_data(sys.argv[1], d.overrides), d, sys.argv[2]).prepare()
"""

# Plain HiGHS on the MPS the planner handed over: same gap, seed and time limit, nothing else.
ALONE = r"""
import io, json, resource, sys, time
import highspy
from pyomo.common.tee import capture_output
with capture_output(io.StringIO(), capture_fd=True):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
t0 = time.perf_counter()
h.readModel(sys.argv[1])
read = time.perf_counter() - t0
h.setOptionValue("mip_rel_gap", float(sys.argv[3]))
h.setOptionValue("random_seed", 0)
h.setOptionValue("time_limit", float(sys.argv[2]))
t1 = time.perf_counter()
h.run()
i = h.getInfo()
print(json.dumps({"alone_read_s": read, "alone_solve_s": time.perf_counter() - t1,
                  "alone_status": h.getModelStatus().name, "alone_objective": i.objective_function_value,
                  "alone_gap": i.mip_gap, "alone_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


SAMPLE_EVERY_S = 0.5


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _family(pid: int) -> list[int]:
    """pid and all its descendants (Linux's /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def run_sampled(cmd: list[str], tmp: Path) -> tuple[int, str, str, dict]:
    """Run `cmd`; (exit code, stdout, stderr, measures): `process_wall_s` (the process from start to
    exit) and `sampled_peak_mb` (the largest sum of the resident memory of it and its descendants,
    sampled every SAMPLE_EVERY_S, in MiB; None where /proc is not there)."""
    out, err = tmp / "child.out", tmp / "child.err"
    t0 = time.perf_counter()
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, sum(_rss_kb(p) for p in _family(proc.pid)))
            try:
                proc.wait(timeout=SAMPLE_EVERY_S)  # returns as soon as the process ends
            except subprocess.TimeoutExpired:
                pass
    wall = time.perf_counter() - t0
    proc_fs = Path("/proc/self/status").exists()
    return proc.returncode, out.read_text(), err.read_text(), {
        "process_wall_s": wall, "sampled_peak_mb": peak / 1024 if proc_fs else None}


def run(name: str, args, time_limit: float, tmp: Path, alone: bool = True, start: str = "",
        low_memory: bool = False, mip_gap: float | None = None, cli: bool = False) -> dict:
    if args is None:
        src = ROOT / "inputs" / "alliance_2026.xlsx"
    else:
        src = tmp / f"{name}.xlsx"
        subprocess.run([sys.executable, "-m", "planner", "generate", str(src), "--force"]
                       + [f"--{k.replace('_', '-')}={v}" for k, v in args.items()], check=True, capture_output=True)
    mps = tmp / f"{name}.mps"
    if alone:
        subprocess.run([sys.executable, "-c", MPS, str(src), str(mps), str(time_limit),
                        "" if mip_gap is None else str(mip_gap), "1" if low_memory else ""], check=True,
                       capture_output=True)
    code, stdout, stderr, measured = run_sampled([sys.executable, "-c", CHILD, str(src), str(tmp / f"{name}_out.xlsx"),
                                                 str(time_limit), "", start, "1" if low_memory else "",
                                                 "" if mip_gap is None else str(mip_gap)], tmp)
    if code not in (0, 3):
        return {"name": name, "error": (stderr or stdout)[-400:]}
    d = json.loads(stdout.strip().splitlines()[-1])
    d["name"] = name
    d.update(measured)
    d["supply_arcs"] = (args or {}).get("supply_arcs", "all")
    t0 = time.perf_counter()
    q = (subprocess.run([sys.executable, "-c", ALONE, str(mps), str(time_limit), str(d["mip_rel_gap"])],
                        capture_output=True, text=True)
         if alone else None)
    if q is not None and q.returncode == 0:
        d.update(json.loads(q.stdout.strip().splitlines()[-1]))
        d["alone_process_wall_s"] = time.perf_counter() - t0
        d["vs_alone_process"] = d["process_wall_s"] / d["alone_process_wall_s"]
    if cli:  # the `plan solve` command itself, timed from its start to its exit
        cmd = [sys.executable, "-m", "planner", "solve", str(src), "-o", str(tmp / f"{name}_cli.xlsx"), "--force",
               "--quiet", "--time-limit", str(time_limit)]
        cmd += (["--start-heuristic", start] if start else []) + (["--low-memory"] if low_memory else [])
        cmd += ["--mip-gap", str(mip_gap)] if mip_gap is not None else []
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        d["cli_wall_s"] = time.perf_counter() - t0 if done.returncode in (0, 3) else None
        if d.get("alone_process_wall_s") and d["cli_wall_s"]:
            d["vs_alone_cli"] = d["cli_wall_s"] / d["alone_process_wall_s"]
    # the solve: HiGHS's MIP (with our start heuristic's LPs, inside it) and the expected-value start's MIP
    solve = (d.get("highs_s") or d["solve_s"]) + (d.get("start_ev_s") or 0.0)
    d["overhead_ratio"] = (d["wall_s"] - solve) / solve if solve else None
    if d.get("alone_solve_s"):
        d["vs_highs_alone"] = d["wall_s"] / d["alone_solve_s"]
    return d


def markdown_table(results: list[dict], cols: list[str], digits: int = 3) -> list[str]:
    """Markdown table lines of the results (a failed instance shows `error` after its name)."""
    def cell(r, k):
        if "error" in r and k != "name":
            return "error"
        v = r.get(k, "")
        if v is None:
            return ""
        if k in ("objective", "start_objective") and isinstance(v, float):
            return f"{v:,.1f}"
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)
    return (["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(cell(r, k) for k in cols) + " |" for r in results])


def run_all(names: list[str], one, repeat: int = 1) -> list[dict]:
    """`one(name, folder)` for each name, `repeat` times, in one temporary folder; each result
    printed as JSON; with repeat > 1 a row "NAME median" follows each instance's runs (the median of
    every number over its runs)."""
    import statistics
    results = []
    with tempfile.TemporaryDirectory() as d:
        for n in names:
            runs = []
            for _ in range(repeat):
                runs.append(one(n, Path(d)))
                print(json.dumps(runs[-1]))
            results += runs
            ok = [r for r in runs if "error" not in r]
            if repeat > 1 and ok:
                med = {k: statistics.median(r[k] for r in ok) for k, v in ok[0].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and all(
                           isinstance(r.get(k), (int, float)) for r in ok)}
                results.append({**ok[0], **med, "name": f"{n} median of {len(ok)}"})
    return results


def write_results(out: Path, title: str, preamble: str, results: list[dict], cols: list[str], digits: int = 3) -> None:
    """`out`: a title, the machine, `preamble`, then the results as a markdown table."""
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{platform.platform()}")
    out.write_text("\n".join([f"# {title}\n\nMachine: {machine}. {preamble}\n",
                               *markdown_table(results, cols, digits)]) + "\n")
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="default,small,medium,medium_sparse")
    ap.add_argument("--large", action="store_true", help="add the large instance (needs many minutes)")
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--no-alone", action="store_true", help="skip plain HiGHS on the MPS (saves a solve)")
    ap.add_argument("--out", type=Path, default=None,
                    help="markdown file to write (default: bench/runs/<date-time>.md; bench/results.md keeps the dated "
                         "summary tables)")
    ap.add_argument("--start-heuristic", default="", help="none, greedy or expected_value (default: the definition's)")
    ap.add_argument("--low-memory", action="store_true", help="solve with plan solve --low-memory")
    ap.add_argument("--mip-gap", type=float, default=None, help="the relative gap to stop at (default: the definition's)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per instance (with a median row)")
    ap.add_argument("--cli", action="store_true",
                    help="also time the `plan solve` command itself (cli_wall_s, vs_alone_cli)")
    a = ap.parse_args()
    # the planner's modules byte-compiled, as an installed package's are (`make install` does the
    # same): an environment with PYTHONDONTWRITEBYTECODE would otherwise compile them at every start
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "planner")], check=True)
    names = a.only.split(",") + (["large"] if a.large else [])
    if a.out is None:
        a.out = ROOT / "bench" / "runs" / f"{time.strftime('%Y-%m-%d-%H%M%S')}.md"
        a.out.parent.mkdir(exist_ok=True)
    cols = ["name", "mip_rel_gap", "supply_arcs", "candidates", "binaries", "rows", "cols", "nonzeros", "import_s", "read_validate_s", "build_s",
            "compile_s", "hand_over_s", "build_hand_over_s", "start_ev_s", "highs_s", "resolve_fixed_s", "write_s", "wall_s", "process_wall_s", "peak_mb", "mip_proc_mb",
            "sampled_peak_mb", "planner_in_search_mb", "status", "objective", "start_objective",
            "gap", "enforced_s", "overhead_ratio", "alone_solve_s", "alone_status", "alone_gap", "alone_peak_mb", "vs_highs_alone",
            "alone_process_wall_s", "vs_alone_process", "cli_wall_s", "vs_alone_cli"]
    results = run_all(names, lambda n, d: run(n, LADDER[n], a.time_limit, d, alone=not a.no_alone,
                                                  start=a.start_heuristic, low_memory=a.low_memory, mip_gap=a.mip_gap,
                                                  cli=a.cli),
                      a.repeat)
    write_results(a.out, "Benchmark results",
                  f"Time limit {a.time_limit:g} s. Command: `python bench/run.py {' '.join(sys.argv[1:])}`. "
                  "`build_s`: the Pyomo model's build; `compile_s`: Pyomo model to standard-form "
                  "arrays; `hand_over_s`: "
                  "arrays into HiGHS; `build_hand_over_s` = build_s + compile_s + hand_over_s; "
                  "`start_ev_s`: the expected-value start (its one-scenario MIP); `highs_s`: HiGHS's MIP solve "
                  "(with the start plan's LP); `start_objective`: the start plan's cost; `overhead_ratio` = "
                  "(wall - solve) / solve, solve = start_ev_s + highs_s; `peak_mb`: the planner's peak plus the "
                  "largest peak of its MIP processes (they run together: an upper bound of the two at once), "
                  "`mip_proc_mb` that MIP process's alone; `sampled_peak_mb`: the largest sum of the resident memory of the "
                  "planner and its processes, sampled every 0.5 s (what they held together at one moment); "
                  "`planner_in_search_mb`: the planner's own process while its MIP search runs (sampled by the "
                  "planner, run_info `hand_over_planner_in_search_mib`); the MPS for HiGHS alone is written by a "
                  "separate process, so the measured run writes none; "
                  "`process_wall_s`: the planner's whole process, start to exit; `enforced_s`: how far past its time limit the planner "
                  "stopped a MIP search HiGHS did not end itself (blank: HiGHS stopped); "
                  "`alone_solve_s`: plain HiGHS on the MPS the planner handed over (same gap, seed and limit, "
                  "separate process), its gap at the stop and its peak memory; `vs_highs_alone` = wall / alone_solve_s; "
                  "`alone_process_wall_s`: HiGHS alone's whole process (start, read the MPS, solve); "
                  "`vs_alone_process` = process_wall_s / alone_process_wall_s; with --cli, `cli_wall_s`: the "
                  "`plan solve` command itself (start to exit) and `vs_alone_cli` = cli_wall_s / alone_process_wall_s.",
                  results, cols)
    return 0


if __name__ == "__main__":
    sys.exit(main())
