"""`plan sweep`: the plan as settings and columns vary.

`--vary NAME=v1,v2,...` names a setting (its values as typed in the settings sheet; `blank` for
none) or a column of numbers scaled (`sites.capex_musd=0.8,1.2`: every number of the column times
each factor; `*1.2` and `x1.2` read the same). By default each value is solved with the others at
the workbook's own (one at a time, around the base: a tornado of cash, public money and total);
`--grid` solves every combination. Each solve's decisions are kept per site, so the sites whose
decision never changes stand out.
"""

from __future__ import annotations

import itertools

import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import BASE, Case, builds_changed, difference, usable
from planner.dataset.data import PlanData
from planner.errors import InputError
from planner.io.reader import parse_value
from planner.io.schema import SETTINGS, SHEETS

MAX_GRID = 2_000  # solves in one --grid; more is a mistake, not a plan


def parse_vary(text: str) -> tuple[str, list]:
    """'NAME=v1,v2,...' -> (NAME, values): a setting's values as typed, or a column's factors."""
    name, sep, values = text.partition("=")
    name = name.strip()
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
        raise ValueError(f"--vary {text!r}: write NAME=v1,v2,... (a setting, or sheet.column=factor,...)")
    if "." in name:
        sheet, column = name.split(".", 1)
        if sheet not in SHEETS:
            raise ValueError(f"--vary {name}: there is no sheet {sheet!r}")
        try:
            spec = SHEETS[sheet].column(column)
        except KeyError:
            raise ValueError(f"--vary {name}: sheet {sheet} has no column {column!r}") from None
        if spec.kind not in ("int", "float"):
            raise ValueError(f"--vary {name}: the column holds no numbers to scale")
        factors = []
        for v in items:
            try:
                factors.append(float(v.lstrip("*x")))
            except ValueError:
                raise ValueError(f"--vary {name}: {v!r} is not a factor (write e.g. 0.8 or *1.2)") from None
        return name, factors
    if name not in SETTINGS:
        raise ValueError(f"--vary {name}: no such setting and not sheet.column; settings: {', '.join(SETTINGS)}")
    values = [None if v.lower() == "blank" else v for v in items]
    for v in values:  # each value checked as if typed in the settings sheet, before any solve
        try:
            parse_value(SETTINGS[name], v, "settings", None, None)
        except InputError as exc:
            raise ValueError(f"--vary {name}={v}: {exc.message}") from None
    return name, values


# a column whose numbers the workbook may also give per period or per mineral on another sheet:
# scaled together, so that varying a capacity or a demand multiplier varies all of it
COMPANIONS = {("sites", "capacity_tpy"): (("capacity_by_period", "capacity_tpy"), ("market_tranches", "capacity_tpy")),
              ("scenarios", "demand_multiplier"): (("scenario_demand", "demand_multiplier"),)}


def _edits(name: str, value) -> tuple:
    if "." in name:
        sheet, column = name.split(".", 1)
        return tuple(("scale", s, c, float(value)) for s, c in ((sheet, column), *COMPANIONS.get((sheet, column), ())))
    return (("setting", name, value),)


def _label(name: str, value) -> str:
    if "." in name:
        return f"{name}*{value:g}"
    return f"{name}={'blank' if value is None else value}"


def vary_cases(varies: list[tuple[str, list]], grid: bool = False) -> list[Case]:
    """One case per value (one at a time), or per combination (`grid`)."""
    if grid:
        combos = list(itertools.product(*[[(n, v) for v in vals] for n, vals in varies]))
        if len(combos) > MAX_GRID:
            raise ValueError(f"--grid would solve {len(combos):,} combinations (at most {MAX_GRID:,})")
    else:
        combos = [((n, v),) for n, vals in varies for v in vals]
    out, seen = [], set()
    for combo in combos:
        label = " & ".join(_label(n, v) for n, v in combo)
        if label in seen:
            continue
        seen.add(label)
        out.append(Case(label, label, tuple(e for n, v in combo for e in _edits(n, v)), {"params": dict(combo)}))
    return out


def sweep_table(base: dict, cases: list[Case], results: dict[str, dict], names: list[str]) -> pd.DataFrame:
    """One row per solve, the base first: the values, the status, the total's difference from the
    base as an interval, and the incumbent's figures."""
    rows = []
    for case in [BASE, *cases]:
        r = base if case.key == "base" else results.get(case.key)
        params = case.meta.get("params", {})
        row = {"case": case.key, **{n: ("" if n not in params else "blank" if params[n] is None else params[n])
                                    for n in names}}
        row["status"] = r["status"] if r else "not solved (interrupted)"
        if r and usable(r):
            low, high = difference(r, base)
            added, dropped, moved = builds_changed(r, base)
            row.update({"total_difference_low_musd": low, "total_difference_high_musd": high,
                        "interval_width_musd": high - low, "total_cost_musd": r["objective_musd"],
                        "cash_cost_musd": r["cash_cost_musd"], "valuation_cost_musd": r["valuation_cost_musd"],
                        "public_money_musd": r["public_money_musd"], "expected_unmet_t": r["expected_unmet_t"],
                        "sites_built": len(r["builds"]), "builds_added": ", ".join(added),
                        "builds_dropped": ", ".join(dropped), "builds_moved": ", ".join(moved)})
        elif r:
            row["note"] = r.get("message", "")
        rows.append(row)
    cols = ["case", *names, "status", "total_difference_low_musd", "total_difference_high_musd", "interval_width_musd",
            "total_cost_musd", "cash_cost_musd", "valuation_cost_musd", "public_money_musd", "expected_unmet_t",
            "sites_built", "builds_added", "builds_dropped", "builds_moved", "note"]
    return pd.DataFrame(rows, columns=cols)


def tornado_table(base: dict, cases: list[Case], results: dict[str, dict]) -> pd.DataFrame:
    """Per varied name (one at a time), the least and the most of each figure's change from the
    base over its values (the incumbents' figures), widest total swing first."""
    by_name: dict[str, list[tuple[object, dict]]] = {}
    for c in cases:
        r = results.get(c.key)
        if len(c.meta["params"]) == 1 and r and usable(r):
            (name, value), = c.meta["params"].items()
            by_name.setdefault(name, []).append((value, r))
    rows = []
    for name, got in by_name.items():
        row = {"name": name}
        for fig, key in (("total", "objective_musd"), ("cash", "cash_cost_musd"), ("public_money", "public_money_musd")):
            deltas = [(r[key] - base[key], v) for v, r in got]
            lo, hi = min(deltas, key=lambda d: d[0]), max(deltas, key=lambda d: d[0])
            row.update({f"{fig}_change_min_musd": lo[0], f"{fig}_change_max_musd": hi[0]})
            if fig == "total":
                row.update({"value_at_min": "blank" if lo[1] is None else lo[1],
                            "value_at_max": "blank" if hi[1] is None else hi[1]})
        row["total_swing_musd"] = row["total_change_max_musd"] - row["total_change_min_musd"]
        rows.append(row)
    cols = ["name", "value_at_min", "value_at_max", "total_change_min_musd", "total_change_max_musd", "total_swing_musd",
            "cash_change_min_musd", "cash_change_max_musd", "public_money_change_min_musd",
            "public_money_change_max_musd"]
    t = pd.DataFrame(rows, columns=cols)
    return t.sort_values("total_swing_musd", ascending=False, kind="stable").reset_index(drop=True)


def decisions_table(data: PlanData, base: dict, cases: list[Case], results: dict[str, dict]) -> pd.DataFrame:
    """Each candidate's build period in the base and in every solve ('' not built), how many solves
    change it, and whether it never changes."""
    solved = [c for c in cases if usable(results.get(c.key))]
    rows = []
    for f in data.CANDIDATES:
        b = base["builds"].get(f, "")
        got = [results[c.key]["builds"].get(f, "") for c in solved]
        changes = sum(1 for g in got if g != b)
        rows.append({"site": f, "name": data.sites.loc[f, "name"], "base": b,
                     **{c.key: g for c, g in zip(solved, got)}, "solves_changed": changes,
                     "never_changes": "yes" if changes == 0 else "no"})
    return pd.DataFrame(rows, columns=["site", "name", "base", *[c.key for c in solved], "solves_changed",
                                       "never_changes"])


class Sweep(Analysis):
    """`plan sweep` on the sweep engine (planner/analyses/sweep.py `run_analysis`)."""

    command = "sweep"

    def __init__(self, data: PlanData, varies: list[tuple[str, list]], grid: bool = False):
        super().__init__(data)
        self.grid = grid
        self.names = [n for n, _ in varies]
        self.cases = vary_cases(varies, grid)

    def run(self, engine, journal, definition, progress=None) -> None:
        start = self.solve_base(engine, journal, definition, progress)
        self.options["grid"] = "yes" if self.grid else "no (one at a time)"
        self.take(engine.run(self.cases, definition, start, journal, progress))

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        table = sweep_table(self.base, self.cases, self.results, self.names)
        decisions = decisions_table(self.data, self.base, self.cases, self.results)
        tables = {"sweep": table}
        if not self.grid:
            tables["tornado"] = tornado_table(self.base, self.cases, self.results)
        tables["decisions"] = decisions
        solved = int(table["status"].isin(["optimal", "best_found"]).sum()) - 1
        tables["summary"] = self.summary([
            ("solves", len(self.cases), "count, besides the base"), ("solved_with_a_plan", solved, "count"),
            ("candidates_never_changing", int((decisions["never_changes"] == "yes").sum()), "count"),
            ("candidates", len(decisions), "count")])
        return tables
