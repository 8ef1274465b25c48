"""Check `plan prices` against independent plain solves: for a few rules, the workbook is solved at a
gap of 0 (the plan solve road, not the sweep engine) as it is and with the rule dropped; the exact
worth (base optimum - dropped optimum) must lie in the interval `plan prices` reported. Not a test:
it prints a markdown table and exits non-zero if an interval misses.

    python bench/prices_check.py PRICES.xlsx [--input inputs/alliance_2026.xlsx] [--rules K1,K2,K3]
        [--time-limit S]

PRICES.xlsx is the output of `plan prices INPUT`. A rule is named by its sheet, row and column as in
the `prices` sheet (`settings:12:max_country_share_refining`); by default the first three rules on
that were dropped with a plan.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.analyses.prices import rules  # noqa: E402
from planner.io.reader import read_workbook  # noqa: E402
from planner.pipeline import solve_workbook  # noqa: E402


def rule_key(sheet, row, column) -> str:
    row = "" if row in ("", None) or row != row else int(row)
    return f"{sheet}:{row}:{column}"


def exact(input_path: Path, edits: tuple, time_limit: float) -> tuple[float, str, float]:
    t0 = time.perf_counter()
    r = solve_workbook(input_path, write=False, mip_gap=0.0, time_limit=time_limit,
                       solver_overrides={"mip_abs_gap": 0.0}, edits=edits)
    return r.outcome.objective, r.outcome.status, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prices")
    ap.add_argument("--input", default=str(ROOT / "inputs" / "alliance_2026.xlsx"))
    ap.add_argument("--rules", default="")
    ap.add_argument("--time-limit", type=float, default=600.0)
    a = ap.parse_args()
    table = pd.read_excel(a.prices, sheet_name="prices", engine="calamine", keep_default_na=False)
    table["key"] = [rule_key(s, r, c) for s, r, c in zip(table["sheet"], table["row"], table["column"])]
    if a.rules:
        chosen = a.rules.split(",")
    else:
        solved = table[table["drop_status"].isin(["optimal", "best_found"])]
        chosen = solved["key"].head(3).tolist()
    by_key = {rule_key(r.sheet, r.row, r.column): r for r in rules(read_workbook(a.input))}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d')}, commit {commit}, input {Path(a.input).name}, prices {Path(a.prices).name}")
    base, status, secs = exact(Path(a.input), (), a.time_limit)
    print(f"base at gap 0: {base:,.3f} MUSD ({status}, {secs:.0f} s)")
    print("| rule | worth interval MUSD | exact worth MUSD | inside | dropped solve |")
    print("|---|---|---|---|---|")
    missed = 0
    for key in chosen:
        row = table[table["key"] == key].iloc[0]
        dropped, status, secs = exact(Path(a.input), by_key[key].drop, a.time_limit)
        worth = base - dropped
        low, high = float(row["drop_worth_low_musd"]), float(row["drop_worth_high_musd"])
        inside = low - 1e-6 <= worth <= high + 1e-6
        missed += not inside
        print(f"| {row['rule']} | [{low:,.2f}, {high:,.2f}] | {worth:,.2f} | {'yes' if inside else 'NO'} | "
              f"{status}, {secs:.0f} s |", flush=True)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
