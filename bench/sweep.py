"""Batches on the sweep engine, timed with one worker and with more: `plan why` (every candidate of
the workbook reversed), `plan prices` (every rule dropped and relaxed), `plan fairness` (every
coalition of members), `plan alternatives` (three portfolios within 5% of the public money, every
candidate classed), `plan sweep` (a few settings and columns varied), `plan stress` (every producing
country's exports stopped, and the VSS) and `plan frontier` (four points), each run as the command
a user types, in its own process. Prints one markdown row per run and the speed-up of the
most workers over one. Not a test: nothing here asserts a time.

    python bench/sweep.py [--only why,prices,fairness,alternatives,sweep,stress,frontier] [--workers 1,2]
                          [--input inputs/alliance_2026.xlsx] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "why": [],
    "prices": [],
    "fairness": [],
    "alternatives": ["--within", "5%public", "--count", "3"],
    "sweep": ["--vary", "discount_rate=0.03,0.07", "--vary", "sites.capex_musd=0.8,1.2",
              "--vary", "unmet_penalty_usd_per_t=50000,200000"],
    "stress": [],
    "frontier": ["--points", "4"],
}


def run(command: str, workbook: Path, workers: int, folder: Path) -> dict:
    out = folder / f"{command}_{workers}.xlsx"
    plan = Path(sys.executable).with_name("plan")
    cmd = [str(plan), command, str(workbook), "-o", str(out), "--workers", str(workers), "--quiet", "--force",
           *COMMANDS[command]]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    summary = pd.read_excel(out, sheet_name="summary", engine="calamine")
    s = dict(zip(summary["key"], summary["value"]))
    widths = pd.Series(dtype=float)
    for sheet, col in (("coalitions", "gap_musd"), ("why", "interval_width_musd"), ("sweep", "interval_width_musd"),
                       ("prices", "drop_width_musd"), ("prices", "relax_width_musd"), ("frontier", "gap_musd")):
        if sheet == command or (command, sheet) == ("fairness", "coalitions"):
            table = pd.read_excel(out, sheet_name=sheet, engine="calamine")
            widths = pd.concat([widths, pd.to_numeric(table[col], errors="coerce").dropna()])
    solves = len((out.with_name(f"{out.stem}.sweep") / "done.jsonl").read_text().splitlines())
    return {"command": command, "workers": workers, "wall_s": wall, "solves": solves,
            "widest_interval_musd": float(widths.max()) if len(widths) else float("nan"),
            "abs_gap_musd": s.get("mip_abs_gap_musd")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="why,sweep")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--input", default=str(ROOT / "inputs" / "alliance_2026.xlsx"))
    ap.add_argument("--keep", default=None, metavar="DIR", help="write the outputs to DIR and keep them")
    a = ap.parse_args()
    workers = [int(w) for w in a.workers.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d')}, commit {commit}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, input {Path(a.input).name}")
    print("| command | workers | solves | wall s | widest interval MUSD | abs gap MUSD |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        folder = a.keep or scratch
        Path(folder).mkdir(parents=True, exist_ok=True)
        for command in a.only.split(","):
            rows = []
            for w in workers:
                r = run(command, Path(a.input), w, Path(folder))
                rows.append(r)
                print(f"| plan {command} | {w} | {r['solves']} | {r['wall_s']:.1f} | {r['widest_interval_musd']:.1f} "
                      f"| {r['abs_gap_musd']} |", flush=True)
            if len(rows) > 1:
                print(f"speed-up of plan {command}, {rows[-1]['workers']} workers over {rows[0]['workers']}: "
                      f"{rows[0]['wall_s'] / rows[-1]['wall_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
