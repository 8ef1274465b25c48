"""Check that who pays does not move with an edit away from the sites paid for: the workbook is
solved as it is and with the capex of one unbuilt candidate raised by 1%, for a few candidates; where
the two plans have the same builds and the same flows, the `financing` sheets must be identical
(models/formulation.md, "Benefit split"). Not a test: it prints a markdown table and exits non-zero
if a financing sheet changed while builds and flows did not.

    python bench/split_stability.py [--input inputs/alliance_2026.xlsx] [--sites 3] [--mip-gap 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.pipeline import solve_workbook  # noqa: E402
from planner.results.report import financing_table  # noqa: E402


def solve(path: Path, gap: float | None, edits: tuple = ()):
    t0 = time.perf_counter()
    r = solve_workbook(path, write=False, mip_gap=gap, edits=edits,
                       solver_overrides={"mip_abs_gap": 0.0} if gap == 0 else None)
    if not r.outcome.usable:
        raise SystemExit(f"{edits or 'the workbook'}: {r.outcome.status} {r.outcome.message}")
    return r, time.perf_counter() - t0


def flows_of(r) -> pd.DataFrame:
    return r.solution.flows[["arc", "period", "scenario", "flow_tpy"]].sort_values(
        ["arc", "period", "scenario"]).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=ROOT / "inputs" / "alliance_2026.xlsx")
    ap.add_argument("--sites", type=int, default=3)
    ap.add_argument("--mip-gap", type=float, default=0.0)
    a = ap.parse_args()
    base, seconds = solve(a.input, a.mip_gap)
    fin0 = financing_table(base.data, base.solution)
    built = set(base.solution.builds["site"])
    sites = base.data.sites
    unbuilt = [f for f in base.data.CANDIDATES if f not in built and bool(sites.loc[f, "eligible"])][:a.sites]
    print(f"base: {base.outcome.objective:,.1f} MUSD, {len(built)} sites built, {len(fin0)} financing rows, "
          f"split_l1_distance {base.outcome.hand_over.get('split_l1_distance', float('nan')):.6f}, {seconds:.1f} s")
    print("| candidate raised 1% | capex MUSD | same builds | same flows | same financing | solve s |")
    print("|---|---|---|---|---|---|")
    failed = False
    for f in unbuilt:
        capex = float(sites.loc[f, "capex_musd"])
        r, s = solve(a.input, a.mip_gap, (("cell", "sites", "site", f, "capex_musd", capex * 1.01),))
        same_builds = base.solution.builds.sort_values("site").reset_index(drop=True).equals(
            r.solution.builds.sort_values("site").reset_index(drop=True))
        fl0, fl1 = flows_of(base), flows_of(r)
        same_flows = len(fl0) == len(fl1) and (fl0[["arc", "period", "scenario"]].equals(fl1[["arc", "period", "scenario"]])
                                                and (fl0["flow_tpy"] - fl1["flow_tpy"]).abs().max() <= 1e-6)
        fin1 = financing_table(r.data, r.solution)
        try:
            pd.testing.assert_frame_equal(fin0, fin1, check_exact=False, rtol=1e-9, atol=1e-9)
            same_fin = True
        except AssertionError:
            same_fin = False
        failed |= same_builds and same_flows and not same_fin
        print(f"| {f} | {capex:,.1f} -> {capex * 1.01:,.1f} | {'yes' if same_builds else 'no'} | "
              f"{'yes' if same_flows else 'no'} | {'yes' if same_fin else 'NO'} | {s:.1f} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
