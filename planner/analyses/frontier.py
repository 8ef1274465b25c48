"""`plan frontier`: the cost-risk frontier by the epsilon-constraint method.

Cost is the expected present-value cost; risk is the CVaR of scenario cost at `cvar_alpha` (0.9
when blank), the same measure the objective uses when `cvar_weight` is set (which the frontier
ignores: it traces the trade-off instead of picking one weight). End points: the least expected
cost (its CVaR is R_max), and the least CVaR R_min with, among plans achieving it, the least
expected cost (lexicographic, so the end point is efficient). Between them, N - 2 points minimise
expected cost subject to CVaR <= epsilon, epsilon evenly spaced from R_max to R_min. Every point
goes through the same checks as `plan solve` (rounded builds, every constraint recomputed), and
its CVaR is recomputed from the plain tables.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import pyomo.core as pyo  # the modelling components only: no solver or transformation plugins

from planner.dataset.data import load_data
from planner.model.formulation import build_model, define_cvar_excess
from planner.results.solution import cvar, scenario_costs
from planner.results.risk import DEFAULT_CVAR_ALPHA
from planner.solver.solve import solve_model

CVAR_SLACK = 1e-7  # relative slack on the CVaR bound so that a point can reproduce its end point


def plan_cvar(data, sol, alpha: float) -> float:
    first, second = scenario_costs(data, sol)
    per_s = {s: sum(first.values()) + sum(second[s].values()) for s in data.SCENARIOS}
    prob = data.scenarios["probability"].astype(float).to_dict()
    return cvar(per_s, prob, alpha)


def _point(m, data, definition, options, objective, check_cost=True):
    """Solve with `objective` as the objective and run the plan checks; (outcome, solution, costs)."""
    from planner.solver.checked import check_plan
    m.total_cost.set_value(objective)
    out = solve_model(m, options)
    if not out.usable:
        return out, None, {}
    sol, costs, _, _ = check_plan(data, definition, options, out, check_cost=check_cost)
    return out, (sol if out.usable else None), costs


def _bound(m, eps: float | None):
    if hasattr(m, "frontier_cvar_cap"):
        m.del_component(m.frontier_cvar_cap)
    if eps is not None:
        m.frontier_cvar_cap = pyo.Constraint(expr=m.e_cvar <= eps + CVAR_SLACK * max(1.0, abs(eps)),
                                             doc="CVaR of scenario cost <= epsilon [MUSD]")


def frontier_tables(input_path: str | Path, points: int, model: str | None = None, time_limit=None,
                    mip_gap=None, progress=None) -> dict[str, pd.DataFrame]:
    from planner.model.definition import resolve_definition
    definition = resolve_definition(model, time_limit, mip_gap)
    options = definition.solver
    data = load_data(input_path, definition.overrides, standards=definition.standards)
    alpha = data.cvar_alpha if data.cvar_alpha is not None else DEFAULT_CVAR_ALPHA
    data = dataclasses.replace(data, cvar_weight=None, cvar_alpha=alpha)  # the objective is expected cost
    m = build_model(data, definition)
    define_cvar_excess(m, data, alpha)
    report = progress or (lambda msg: None)
    t0 = time.perf_counter()
    n = max(2, int(points))
    solves = n + 1  # the least-cost and least-risk plans, then the n - 1 points between

    def say(msg: str) -> None:
        report(f"[{time.perf_counter() - t0:,.0f} s] {msg}")

    rows, plans = [], []

    def record(label, eps, out, sol, costs):
        limit = ("stopped at a limit: not proven optimal, gap shown" if out.status == "best_found" else "")
        if sol is None:
            rows.append({"point": label, "epsilon_cvar_musd": eps if eps is not None else "", "status": out.status,
                         "expected_cost_musd": "", "cvar_musd": "", "sites_built": "", "mip_gap": out.mip_gap or "",
                         "note": limit or (out.message or "")})
            plans.append({})
            say(f"point {label}: no plan ({out.status})")
            return
        r = plan_cvar(data, sol, alpha)
        rows.append({"point": label, "epsilon_cvar_musd": eps if eps is not None else "", "status": out.status,
                     "expected_cost_musd": costs["expected_cost_musd"], "cvar_musd": r, "sites_built": len(sol.builds),
                     "stock_t": float(sol.stocks.groupby("period")["stock_t"].sum().max()) if len(sol.stocks) else 0.0,
                     "mip_gap": out.mip_gap if out.mip_gap is not None else "", "note": limit})
        plans.append(dict(zip(sol.builds["site"], sol.builds["build_period"])))
        say(f"point {label}: expected cost {costs['expected_cost_musd']:,.1f} MUSD, CVaR {r:,.1f} MUSD"
            + (f" ({limit})" if limit else ""))

    say(f"solve 1 of {solves}: the least-cost plan")
    out, sol_a, costs_a = _point(m, data, definition, options, m.e_expected_cost)
    if sol_a is None:
        raise RuntimeError(f"the least-cost plan could not be found: {out.message or out.status}")
    r_max = plan_cvar(data, sol_a, alpha)
    say(f"solve 2 of {solves}: the least-risk plan")
    out_b, sol_b, _ = _point(m, data, definition, options, m.e_cvar, check_cost=False)
    if sol_b is None:
        raise RuntimeError(f"the least-risk plan could not be found: {out_b.message or out_b.status}")
    r_min = plan_cvar(data, sol_b, alpha)
    record(1, None, out, sol_a, costs_a)
    for k in range(1, n):
        eps = r_max - k * (r_max - r_min) / (n - 1)
        say(f"solve {k + 2} of {solves}: point {k + 1}, CVaR at most {eps:,.1f} MUSD")
        _bound(m, eps)
        out_k, sol_k, costs_k = _point(m, data, definition, options, m.e_expected_cost)
        if sol_k is not None and plan_cvar(data, sol_k, alpha) > eps + 1e-6 * max(1.0, abs(eps)):
            out_k.status, sol_k = "error", None  # the bound did not hold in the plain tables
        record(k + 1, eps, out_k, sol_k, costs_k)
    _bound(m, None)
    table = pd.DataFrame(rows)
    sites = sorted(set().union(*[set(p) for p in plans]))
    matrix = pd.DataFrame([{"point": r["point"], **{f: p.get(f, "") for f in sites}} for r, p in zip(rows, plans)],
                          columns=["point", *sites])
    names = data.sites["name"].to_dict()
    site_info = pd.DataFrame([{"site": f, "name": names[f], "country": data.sites.loc[f, "country"],
                               "stage": data.sites.loc[f, "stage"], "mineral": data.sites.loc[f, "mineral"],
                               "points_built": sum(1 for p in plans if f in p)} for f in sites],
                             columns=["site", "name", "country", "stage", "mineral", "points_built"])
    summary = pd.DataFrame([("cvar_alpha", alpha, "CVaR level"), ("points", n, "count"),
                            ("least_expected_cost_musd", costs_a["expected_cost_musd"], "MUSD"),
                            ("cvar_at_least_cost_musd", r_max, "MUSD"), ("least_cvar_musd", r_min, "MUSD"),
                            ("input_sha256", data.content_sha256, ""), ("model_definition", definition.name, "")],
                           columns=["key", "value", "unit"])
    return {"summary": summary, "frontier": table, "frontier_builds": matrix, "frontier_sites": site_info}
