"""`plan why`: why each candidate is in or out of the plan.

Every candidate's decision is reversed in a solve of its own: a built site is excluded
(`decision = exclude`), an unbuilt one forced in (`decision = force_build`); a candidate the
screens rule out is not tried (forcing it in would contradict its screen: the reason is given). The
cost of the reversal is an interval from the two solves' incumbents and bounds (`cases.difference`):
it holds the exact difference of the two optima. The builds the forced plan adds, drops or moves
say what the site displaces or needs.
"""

from __future__ import annotations

import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import Case, builds_changed, difference, usable
from planner.dataset.data import PlanData

WHY_COLUMNS = ["site", "name", "country", "stage", "mineral", "built", "build_period", "reversal", "status",
               "reversal_cost_low_musd", "reversal_cost_high_musd", "interval_width_musd", "incumbents_difference_musd",
               "public_money_difference_musd", "what_binds", "builds_added", "builds_dropped", "builds_moved"]


def candidates(data: PlanData, sites: list[str] | None = None) -> list[str]:
    """The candidates asked for (all by default), in sheet order; unknown ids or existing sites
    are refused by name."""
    if not sites:
        return list(data.CANDIDATES)
    unknown = [f for f in sites if f not in data.sites.index]
    if unknown:
        raise ValueError(f"--site names no site of the workbook: {', '.join(unknown)}")
    existing = [f for f in sites if f not in data.CANDIDATES]
    if existing:
        raise ValueError(f"--site names existing sites, which have no build decision: {', '.join(existing)}")
    return [f for f in data.CANDIDATES if f in set(sites)]


def screened(data: PlanData, site: str) -> str:
    """The screen that rules a candidate out ('' if none)."""
    if bool(data.sites.loc[site, "eligible"]):
        return ""
    return str(data.sites.loc[site, "screen_reason"] or "screened out")


def why_cases(data: PlanData, base: dict, sites: list[str]) -> list[Case]:
    """One case per candidate that can be reversed: built -> excluded, unbuilt -> forced in."""
    out = []
    for f in sites:
        if screened(data, f):
            continue
        if f in base["builds"]:
            out.append(Case(f"out:{f}", f"{f} excluded", (("cell", "sites", "site", f, "decision", "exclude"),),
                            {"site": f}))
        else:
            out.append(Case(f"in:{f}", f"{f} forced in", (("cell", "sites", "site", f, "decision", "force_build"),),
                            {"site": f, "explain": True}))
    return out


def _what_binds(data: PlanData, site: str, base: dict, result: dict | None) -> str:
    """What keeps the decision as it is, as far as the solves tell."""
    reason = screened(data, site)
    if reason:
        return f"screened out: {reason} (forcing it in is not tried)"
    notes = []
    built = site in base["builds"]
    group = str(data.sites.loc[site, "group"] or "")
    if group:
        others = [g for g in data.GROUPS.get(group, ()) if g != site]
        if not built and any(g in base["builds"] for g in others):
            notes.append(f"exclusive group {group}: {', '.join(g for g in others if g in base['builds'])} is built")
        elif built and result and any(g in result.get("builds", {}) for g in others):
            notes.append(f"exclusive group {group}: without it {', '.join(g for g in others if g in result['builds'])}"
                         " is built")
    first = min((t for g, t in data.BUILD_OPTIONS if g == site), default=None)
    lead = float(data.sites.loc[site, "lead_time_years"] or 0)
    if first is not None and first > data.PERIODS[0] and lead > 0:
        notes.append(f"lead time {lead:g} years: built from {first} at the earliest")
    if result is not None:
        if result.get("status") == "input_error":
            notes.append(result.get("message", ""))
        elif not usable(result):
            relax = result.get("relaxations") or []
            notes.append(f"no plan {'without' if built else 'with'} it ({result.get('status')})"
                         + (": it would take " + "; ".join(relax) if relax else ""))
        new = [b for b in result.get("binding", []) if b not in base.get("binding", [])]
        if new:
            notes.append("rules binding in the reversed plan and not in this one: " + ", ".join(new))
        if result.get("status") == "best_found":
            notes.append("the reversed solve stopped at a limit: its interval is wide")
    return "; ".join(n for n in notes if n)


def why_table(data: PlanData, base: dict, results: dict[str, dict], sites: list[str]) -> pd.DataFrame:
    """One row per candidate: built or not, the reversal tried and what it costs (an interval,
    MUSD), what binds the decision and the builds the reversed plan changes. Rows whose reversal
    has not been solved (an interrupted batch) say so."""
    rows = []
    for f in sites:
        s = data.sites.loc[f]
        built = f in base["builds"]
        key = f"{'out' if built else 'in'}:{f}"
        reason = screened(data, f)
        result = results.get(key)
        row = {"site": f, "name": s["name"], "country": s["country"], "stage": s["stage"], "mineral": s["mineral"],
               "built": "yes" if built else "no", "build_period": base["builds"].get(f, ""),
               "reversal": "not tried" if reason else ("excluded" if built else "forced in"),
               "status": "" if reason else (result["status"] if result else "not solved (interrupted)"),
               "what_binds": _what_binds(data, f, base, result)}
        interval = difference(result, base) if result else None
        if interval is not None:
            low, high = interval
            added, dropped, moved = builds_changed(result, base)
            row.update({"reversal_cost_low_musd": low, "reversal_cost_high_musd": high,
                        "interval_width_musd": high - low,
                        "incumbents_difference_musd": result["objective_musd"] - base["objective_musd"],
                        "public_money_difference_musd": result["public_money_musd"] - base["public_money_musd"],
                        "builds_added": ", ".join(a for a in added if a != f),
                        "builds_dropped": ", ".join(d for d in dropped if d != f), "builds_moved": ", ".join(moved)})
        rows.append(row)
    table = pd.DataFrame(rows, columns=WHY_COLUMNS)
    return table


def why_summary(table: pd.DataFrame) -> list[tuple]:
    """The counts and the intervals' widths, as summary rows."""
    tried = table[table["reversal"] != "not tried"]
    widths = pd.to_numeric(tried["interval_width_musd"], errors="coerce").dropna()
    return [("candidates", len(table), "count"), ("built", int((table["built"] == "yes").sum()), "count"),
            ("reversals_solved", int(tried["status"].isin(["optimal", "best_found", "infeasible"]).sum()), "count"),
            ("not_tried_screened", int((table["reversal"] == "not tried").sum()), "count"),
            ("interval_width_max_musd", float(widths.max()) if len(widths) else "", "MUSD"),
            ("interval_width_median_musd", float(widths.median()) if len(widths) else "", "MUSD")]


class Why(Analysis):
    """`plan why` on the sweep engine (planner/analyses/sweep.py `run_analysis`): the base plan,
    then every candidate's reversal, warm-started from the base plan."""

    command = "why"

    def __init__(self, data: PlanData, sites: list[str] | None = None):
        super().__init__(data)
        self.sites = candidates(data, sites)

    def run(self, engine, journal, definition, progress=None) -> None:
        start = self.solve_base(engine, journal, definition, progress)
        self.take(engine.run(why_cases(self.data, self.base, self.sites), definition, start, journal, progress))

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        table = why_table(self.data, self.base, self.results, self.sites)
        return {"why": table, "summary": self.summary(why_summary(table))}
