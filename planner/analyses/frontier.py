"""`plan frontier` on the sweep engine: the cost-risk frontier by the epsilon-constraint method.

Cost is the expected present-value cost; risk is the CVaR of scenario cost at `cvar_alpha` (0.9
when blank), the same measure the objective uses when `cvar_weight` is set (which the frontier
ignores: it traces the trade-off instead of picking one weight). End points: the least expected
cost (its CVaR is R_max) and the least CVaR R_min, solved side by side. Then N - 1 points, side by
side, minimise expected cost subject to CVaR <= epsilon, epsilon evenly spaced from R_max down to
R_min; the last (epsilon = R_min) is the least-risk plan of least expected cost, so both ends of the
frontier are efficient. Every point goes through the same checks as `plan solve` (rounded builds,
every constraint recomputed), its CVaR is recomputed from the plain tables and a point whose CVaR
exceeds its epsilon there is refused. A point a limit stopped says so.
"""

from __future__ import annotations

import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import Case, usable
from planner.dataset.data import PlanData
from planner.results.risk import DEFAULT_CVAR_ALPHA

LIMIT_NOTE = "stopped at a limit: not proven optimal, gap shown"


def epsilons(r_max: float, r_min: float, n: int) -> list[float]:
    """The CVaR bounds of points 2..n: evenly spaced from R_max (excluded) down to R_min."""
    return [r_max - k * (r_max - r_min) / (n - 1) for k in range(1, n)]


class Frontier(Analysis):
    """`plan frontier` on the sweep engine: both end points, then the points between."""

    command = "frontier"

    def __init__(self, data: PlanData, points: int):
        super().__init__(data)
        self.n = max(2, int(points))
        self.alpha = data.cvar_alpha if data.cvar_alpha is not None else DEFAULT_CVAR_ALPHA
        # the objective is the expected cost: no CVaR weight
        self.edits = (("setting", "cvar_weight", None), ("setting", "cvar_alpha", self.alpha))
        self.eps: dict[int, float] = {}

    def run(self, engine, journal, definition, progress=None) -> None:
        least_cost = Case("base", "point 1: the least-cost plan", self.edits, meta={"report": ["cvar"]})
        least_risk = Case("least_risk", "the least-risk plan", self.edits, model=(("minimise_cvar", self.alpha),),
                          meta={"report": ["cvar"]})
        start = self.solve_base(engine, journal, definition, progress, least_cost, [least_risk])
        risk = self.results.get("least_risk")
        if not usable(risk):
            raise RuntimeError(f"the least-risk plan could not be found: {(risk or {}).get('message') or 'no plan'}")
        self.eps = dict(enumerate(epsilons(self.base["cvar_musd"], risk["cvar_musd"], self.n), start=2))
        cases = [Case(f"point:{k}", f"point {k}: CVaR at most {eps:,.1f} MUSD", self.edits,
                      model=(("cvar_cap", self.alpha, eps),), meta={"report": ["cvar"]}) for k, eps in self.eps.items()]
        self.take(engine.run(cases, definition, start, journal, progress))

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        points = [(1, None, self.base)] + [(k, eps, self.results.get(f"point:{k}")) for k, eps in self.eps.items()]
        rows, plans = [], []
        for k, eps, r in points:
            row = {"point": k, "epsilon_cvar_musd": eps if eps is not None else "",
                   "status": r["status"] if r else "not solved (interrupted)", "expected_cost_musd": "",
                   "cvar_musd": "", "sites_built": "", "stock_t": "", "gap_musd": "", "note": ""}
            builds = {}
            if usable(r) and eps is not None and r["cvar_musd"] > eps + 1e-6 * max(1.0, abs(eps)):
                row.update(status="error", note=f"CVaR {r['cvar_musd']:,.6g} MUSD in the plain tables is above the "
                           "bound")  # the bound did not hold in the plain tables: refused
            elif usable(r):
                builds = r["builds"]
                row.update({"expected_cost_musd": r["expected_cost_musd"], "cvar_musd": r["cvar_musd"],
                            "sites_built": len(builds), "stock_t": r["stock_t"],
                            "gap_musd": r["objective_musd"] - r["bound_musd"],
                            "note": LIMIT_NOTE if r["status"] == "best_found" else ""})
            elif r:
                row["note"] = r.get("message", "")
            rows.append(row)
            plans.append(builds)
        table = pd.DataFrame(rows)
        sites = [f for f in self.data.sites.index if any(f in p for p in plans)]
        matrix = pd.DataFrame([{"point": r["point"], **{f: p.get(f, "") for f in sites}} for r, p in zip(rows, plans)],
                              columns=["point", *sites])
        s = self.data.sites
        site_info = pd.DataFrame([{"site": f, "name": s.loc[f, "name"], "country": s.loc[f, "country"],
                                   "stage": s.loc[f, "stage"], "mineral": s.loc[f, "mineral"],
                                   "points_built": sum(1 for p in plans if f in p)} for f in sites],
                                 columns=["site", "name", "country", "stage", "mineral", "points_built"])
        risk = self.results.get("least_risk")
        summary = self.summary([("cvar_alpha", self.alpha, "CVaR level"), ("points", self.n, "count"),
                                ("least_expected_cost_musd", self.base["expected_cost_musd"], "MUSD"),
                                ("cvar_at_least_cost_musd", self.base["cvar_musd"], "MUSD"),
                                ("least_cvar_musd", risk["cvar_musd"] if usable(risk) else "", "MUSD")])
        return {"summary": summary, "frontier": table, "frontier_builds": matrix, "frontier_sites": site_info}
