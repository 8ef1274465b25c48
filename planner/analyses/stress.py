"""`plan stress` on the sweep engine: a solved plan under each supplier country's exports stopping,
and the value of the stochastic solution (VSS).

Both fix the plan's first stage (builds, stock levels) and re-solve only the flows, so they ask
"how does this portfolio hold up", not "what would we build instead". The matrix is expected over
the workbook's scenarios. A country's exports stop: every arc from a site in the country to a
refinery outside it or to a member that does not own it carries nothing (its own member still gets
domestic supply). An aggregate (`countries.aggregate = yes`, the rest of the world) stops as one
block, and its row says so.

The solves: the plan and the expected-value problem (one average scenario) side by side; then the
plan with its flows re-solved, once as it is and once per country stopped, and the expected-value
plan's first stage under every scenario (EEV), all side by side. VSS = EEV - RP, RP the plan's
cost; with a gap on RP the true VSS lies in [EEV - RP, EEV - RP's bound].
"""

from __future__ import annotations

import pandas as pd

from planner.analyses.batch import Analysis, builds_table
from planner.analyses.cases import Case, usable
from planner.dataset.data import PlanData


def plan_fixed(result: dict) -> tuple:
    """The model addition that fixes a solved case's first stage (its builds and stock levels)."""
    return ("fix_plan", tuple(sorted(result["builds"].items())), tuple(tuple(x) for x in result.get("stocks", ())))


def stress_cost(data: PlanData, countries: list[str], plan: dict, results: dict[str, dict]) -> pd.DataFrame:
    """One row per country stopped: its status, the plan's expected cost with its exports stopped and
    the extra over the plan with its flows re-solved (MUSD), dearest first."""
    aggregate = data.countries["aggregate"].to_dict() if "aggregate" in data.countries else {}
    rows = []
    for c in countries:
        r = results.get(f"stop:{c}")
        kind = "aggregate: all its sites at once" if aggregate.get(c) == "yes" else "country"
        if not r:
            rows.append((c, kind, "not solved (interrupted)", "", ""))
        elif not usable(r):
            rows.append((c, kind, r["status"], "", ""))
        else:
            rows.append((c, kind, r["status"], r["objective_musd"], r["objective_musd"] - plan["objective_musd"]))
    costs = pd.DataFrame(rows, columns=["country", "kind", "status", "total_cost_musd", "extra_cost_musd"])
    return costs.sort_values("extra_cost_musd", key=lambda x: pd.to_numeric(x, errors="coerce"),
                             ascending=False, kind="stable").reset_index(drop=True)


def stress_matrix(countries: list[str], plan: dict, results: dict[str, dict]) -> pd.DataFrame:
    """Country x member x mineral: expected tonnes unmet over the horizon with the country's exports
    stopped, and the extra over the plan (pairs with nothing unmet either way left out)."""
    def unmet(r):
        return {(a, mi): x for a, mi, x in r.get("unmet_by_member_mineral_t", [])}

    u0, rows = unmet(plan), []
    for c in countries:
        r = results.get(f"stop:{c}")
        if not usable(r):
            continue
        u = unmet(r)
        for a, mi in sorted(set(u) | set(u0)):
            x, x0 = u.get((a, mi), 0.0), u0.get((a, mi), 0.0)
            if x > 1e-6 or x0 > 1e-6:
                rows.append((c, a, mi, x, x - x0))
    return pd.DataFrame(rows, columns=["country", "member", "mineral", "unmet_t", "extra_unmet_t"])


def stress_pivot(matrix: pd.DataFrame) -> pd.DataFrame:
    """Countries as rows, 'member mineral' as columns, extra expected tonnes unmet as values."""
    if matrix.empty:
        return pd.DataFrame(columns=["country"])
    t = matrix.assign(col=matrix["member"] + " " + matrix["mineral"]).pivot_table(
        index="country", columns="col", values="extra_unmet_t", aggfunc="sum", fill_value=0.0)
    return t.reset_index()


VSS_NOTES = {"vss_rp_musd": "MUSD: objective of the stochastic plan (recourse problem)",
             "vss_ev_musd": "MUSD: objective of the expected-value problem (one average scenario)",
             "vss_eev_musd": "MUSD: the expected-value plan's first stage evaluated under every scenario",
             "vss_musd": "MUSD: value of the stochastic solution, EEV - RP (>= 0 up to the gaps)",
             "vss_upper_musd": "MUSD: EEV - the best bound on RP (the true VSS lies between the two)",
             "vss_ev_sites_built": "count", "vss_status": ""}


def vss_rows(base: dict, ev: dict | None, eev: dict | None) -> list[tuple]:
    """The summary rows of the value of the stochastic solution."""
    if not usable(ev):
        status = f"expected-value problem {ev['status']}" if ev else "not solved (interrupted)"
        return [("vss_status", status, "")]
    if not usable(eev):
        status = f"the expected-value plan cannot be evaluated: {eev['status']}" if eev else "not solved (interrupted)"
        return [("vss_status", status, "")]
    values = {"vss_status": "ok", "vss_rp_musd": base["objective_musd"], "vss_ev_musd": ev["objective_musd"],
              "vss_eev_musd": eev["objective_musd"], "vss_musd": eev["objective_musd"] - base["objective_musd"],
              "vss_upper_musd": eev["objective_musd"] - base["bound_musd"], "vss_ev_sites_built": len(ev["builds"])}
    return [(k, v, VSS_NOTES[k]) for k, v in values.items()]


class Stress(Analysis):
    """`plan stress` on the sweep engine: the plan (and the expected-value plan), then the plan's
    flows re-solved with each country's exports stopped (and the expected-value plan's evaluated)."""

    command = "stress"

    def __init__(self, data: PlanData, countries: list[str] | None = None, vss: bool = True):
        super().__init__(data)
        unknown = [c for c in countries or () if c not in data.countries.index]
        if unknown:
            raise ValueError(f"unknown country {', '.join(unknown)}")
        self.asked, self.vss = list(countries or ()), vss
        self.countries: list[str] = list(self.asked)

    def run(self, engine, journal, definition, progress=None) -> None:
        base = Case("base", "the plan", meta={"report": ["stocks", "producers"]})
        also = [Case("ev", "the expected-value problem", model=(("expected_value",),), meta={"report": ["stocks"]})]
        self.solve_base(engine, journal, definition, progress, base, also if self.vss else ())
        self.countries = self.asked or list(self.base["producing_countries"])
        fixed = plan_fixed(self.base)
        cases = [Case("plan", "the plan, its flows re-solved", model=(fixed,), meta={"report": ["unmet"]})]
        cases += [Case(f"stop:{c}", f"{c}'s exports stopped", model=(fixed, ("close_exports", c)),
                       meta={"report": ["unmet"]}) for c in self.countries]
        if usable(self.results.get("ev")):
            cases.append(Case("eev", "the expected-value plan under every scenario",
                              model=(plan_fixed(self.results["ev"]),)))
        self.take(engine.run(cases, definition, None, journal, progress))
        if not usable(self.results.get("plan")):
            raise RuntimeError(f"the plan cannot be re-evaluated: {self.results['plan'].get('message')}")

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        plan = self.results.get("plan")
        tables = {"portfolio": builds_table(self.data, self.base["builds"])}
        rows = [("plan_status", self.base["status"], ""),
                ("countries_stressed", len(self.countries), "each country's exports stopped in turn, the plan's "
                 "builds and stocks fixed, flows re-solved; expected over the scenarios")]
        if usable(plan):
            costs = stress_cost(self.data, self.countries, plan, self.results)
            matrix = stress_matrix(self.countries, plan, self.results)
            tables = {"stress_cost": costs, "stress_matrix": matrix, "stress_pivot": stress_pivot(matrix), **tables}
            rows.insert(0, ("plan_total_cost_musd", plan["objective_musd"], "MUSD: the plan's expected cost, flows "
                            "re-solved"))
        if self.vss:
            rows += vss_rows(self.base, self.results.get("ev"), self.results.get("eev"))
            if usable(self.results.get("ev")):
                tables["ev_portfolio"] = builds_table(self.data, self.results["ev"]["builds"])
        return {"summary": self.summary(rows), **tables}
