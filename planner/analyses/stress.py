"""`plan stress`: a solved plan under each supplier country's exports stopping, and the value of the
stochastic solution (VSS).

Both fix the plan's first stage (builds, stock levels) and re-solve only the flows, so they ask
"how does this portfolio hold up", not "what would we build instead". The matrix is expected over
the workbook's scenarios. A country's exports stop: every arc from a site in the country to a
refinery outside it or to a member that does not own it carries nothing (its own member still gets
domestic supply).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.dataset.data import PlanData, expected_value_data
from planner.model.definition import ModelDefinition
from planner.model.formulation import build_model
from planner.results.solution import Solution, cost_components, extract_solution
from planner.solver.solve import Compiled, SolveOutcome, prepare, run_prepared, solve_model


def fixed_first_stage(c: Compiled, sol: Solution) -> Compiled:
    """`c` as an LP with its first stage fixed by column bounds to that of `sol`: builds at 0 or 1,
    stock levels and purchases at the plan's values."""
    lower, upper = c.col_lower.copy(), c.col_upper.copy()
    built = set(zip(sol.builds["site"], sol.builds["build_period"]))
    fixed = {"v_build": {k: 1.0 for k in built}}
    fixed["v_stock"] = {(p, t): x for p, t, x, _ in sol.stocks.itertuples(index=False)}
    fixed["v_stock_added"] = {(p, t): a for p, t, _, a in sol.stocks.itertuples(index=False)}
    for name, value in fixed.items():
        cols, index = c.columns_of(name)
        x = np.array([value.get(k, 0.0) for k in index], dtype=float)
        lower[cols] = upper[cols] = x
    return dataclasses.replace(c, col_lower=lower, col_upper=upper, integer=np.empty(0, dtype=np.int32))


def export_arcs(data: PlanData, country: str) -> tuple[int, ...]:
    """Arcs that carry `country`'s exports: from its sites to refineries elsewhere or to members that
    do not own it."""
    country_of, owner = data.sites["country"].to_dict(), data.countries["member"].to_dict()
    out = []
    for a, (o, d, kind) in enumerate(zip(data.arcs["origin"], data.arcs["destination"], data.arcs["kind"])):
        if country_of[o] != country:
            continue
        if (kind == "supply" and country_of[d] != country) or (kind == "delivery" and owner.get(country) != d):
            out.append(a)
    return tuple(out)


@dataclass
class Evaluation:
    outcome: SolveOutcome
    solution: Solution | None = None
    costs: dict = field(default_factory=dict)


def evaluate(c: Compiled, data: PlanData, plan: Solution, options, blocked: tuple[int, ...] = ()) -> Evaluation:
    """The plan's first stage fixed, the arcs in `blocked` closed: re-solve the flows (an LP)."""
    return evaluate_each(c, data, plan, options, [blocked])[0]


def evaluate_each(c: Compiled, data: PlanData, plan: Solution, options,
                  blocked: list[tuple[int, ...]]) -> list[Evaluation]:
    """`evaluate` for each set of closed arcs in turn, on the compiled model `c` in one HiGHS
    instance: the first stage is fixed once, each set's flows get upper bound 0, the LP is re-solved
    from the previous basis, and the bounds are put back."""
    p = prepare(fixed_first_stage(c, plan), options)
    if isinstance(p, SolveOutcome):
        return [Evaluation(p) for _ in blocked]
    pos = p.c.column_map("v_flow")
    out = []
    for arcs in blocked:
        # a flow in no row and at no cost is not a column (it stays 0): nothing to close
        cols = (pos.get((a, t, s)) for a in arcs for t in data.PERIODS for s in data.SCENARIOS)
        idx = np.array(sorted(j for j in cols if j is not None), dtype=np.int32)
        zero = np.zeros(len(idx))
        if len(idx):
            p.h.changeColsBounds(len(idx), idx, zero, zero)
        res = run_prepared(p, options)
        if res.usable:
            sol = extract_solution(res, data)
            out.append(Evaluation(res, sol, cost_components(data, sol)))
        else:
            out.append(Evaluation(res))
        if len(idx):
            p.h.changeColsBounds(len(idx), idx, p.c.col_lower[idx], p.c.col_upper[idx])
    return out


def expected_unmet_t(data: PlanData, sol: Solution) -> pd.Series:
    """(member, mineral) -> expected tonnes unmet over the horizon."""
    years = data.periods["years"].to_dict()
    prob = data.scenarios["probability"].astype(float).to_dict()
    u = sol.unmet.assign(t=[prob[s] * years[t] * x for s, t, x in zip(sol.unmet["scenario"], sol.unmet["period"],
                                                                        sol.unmet["unmet_tpy"])])
    return u.groupby(["member", "mineral"])["t"].sum()


def producing_countries(data: PlanData, sol: Solution) -> list[str]:
    """Countries whose sites produce something in the plan (any scenario), sorted."""
    return sorted({data.sites.loc[o, "country"] for o in sol.flows["origin"]}) if len(sol.flows) else []


def stress_matrix(c: Compiled, data: PlanData, plan: Solution, options, countries: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-country cost table, country x member x mineral unmet table) for each country's exports stopping."""
    base, *evals = evaluate_each(c, data, plan, options, [()] + [export_arcs(data, c) for c in countries])
    if not base.outcome.usable:
        raise RuntimeError(f"the plan cannot be re-evaluated: {base.outcome.message}")
    u0 = expected_unmet_t(data, base.solution)
    cost_rows, rows = [], []
    for c, ev in zip(countries, evals):
        if not ev.outcome.usable:
            cost_rows.append((c, ev.outcome.status, "", ""))
            continue
        total = ev.costs["total_cost_musd"]
        cost_rows.append((c, ev.outcome.status, total, total - base.costs["total_cost_musd"]))
        u = expected_unmet_t(data, ev.solution)
        for (a, mi) in sorted(set(u.index) | set(u0.index)):
            x, x0 = float(u.get((a, mi), 0.0)), float(u0.get((a, mi), 0.0))
            if x > 1e-6 or x0 > 1e-6:
                rows.append((c, a, mi, x, x - x0))
    costs = pd.DataFrame(cost_rows, columns=["country", "status", "total_cost_musd", "extra_cost_musd"])
    # an aggregate (countries.aggregate = yes, say the rest of the world) stops as one block: said so
    aggregate = data.countries["aggregate"].to_dict() if "aggregate" in data.countries else {}
    costs.insert(1, "kind", ["aggregate: all its sites at once" if aggregate.get(c) == "yes" else "country"
                             for c in costs["country"]])
    matrix = pd.DataFrame(rows, columns=["country", "member", "mineral", "unmet_t", "extra_unmet_t"])
    costs.attrs["base_total_cost_musd"] = base.costs["total_cost_musd"]
    return costs.sort_values("extra_cost_musd", key=lambda x: pd.to_numeric(x, errors="coerce"),
                             ascending=False).reset_index(drop=True), matrix


def stress_pivot(matrix: pd.DataFrame) -> pd.DataFrame:
    """Countries as rows, 'member mineral' as columns, extra expected tonnes unmet as values."""
    if matrix.empty:
        return pd.DataFrame(columns=["country"])
    t = matrix.assign(col=matrix["member"] + " " + matrix["mineral"]).pivot_table(
        index="country", columns="col", values="extra_unmet_t", aggfunc="sum", fill_value=0.0)
    return t.reset_index()


def value_of_stochastic_solution(c: Compiled, data: PlanData, definition: ModelDefinition, options, rp_objective: float,
                                 rp_bound: float | None) -> dict:
    """Solve the expected-value problem, evaluate its first stage under every scenario (EEV) and
    compare with the stochastic plan's objective (RP): VSS = EEV - RP. With a MIP gap on RP the true
    VSS lies in [EEV - RP, EEV - bound]."""
    from planner.solver.checked import check_plan
    ev_data = expected_value_data(data)
    out = solve_model(build_model(ev_data, definition), options)
    if not out.usable:
        return {"status": f"expected-value problem {out.status}"}
    ev_sol, _, _, _ = check_plan(ev_data, definition, options, out)
    if ev_sol is None or not out.usable:
        return {"status": f"expected-value plan refused: {out.message}"}
    eev = evaluate(c, data, ev_sol, options)
    if not eev.outcome.usable:
        return {"status": f"the expected-value plan cannot be evaluated: {eev.outcome.status}"}
    res = {"status": "ok", "rp_musd": rp_objective, "ev_musd": out.objective, "eev_musd": eev.costs["total_cost_musd"],
           "vss_musd": eev.costs["total_cost_musd"] - rp_objective,
           "vss_upper_musd": eev.costs["total_cost_musd"] - rp_bound if rp_bound is not None else "",
           "ev_sites_built": len(ev_sol.builds)}
    res["ev_plan"] = ev_sol
    return res


def stress_tables(res, countries: list[str] | None = None, vss: bool = True) -> dict[str, pd.DataFrame]:
    """The stress workbook's sheets for a solved run (`pipeline.RunResult` with its model)."""
    from planner.results.report import portfolio_table
    data, plan, c = res.data, res.solution, res.compiled
    options = res.definition.solver
    chosen = countries if countries else producing_countries(data, plan)
    unknown = [c for c in chosen if c not in data.countries.index]
    if unknown:
        raise ValueError(f"unknown country {', '.join(unknown)}")
    costs, matrix = stress_matrix(c, data, plan, options, chosen)
    rows = [("plan_total_cost_musd", res.costs["total_cost_musd"], "MUSD: the stochastic plan's objective (RP)"),
            ("plan_status", res.outcome.status, ""), ("plan_mip_gap", res.outcome.mip_gap, "fraction"),
            ("countries_stressed", len(chosen), "each country's exports stopped in turn, the plan's builds and "
             "stocks fixed, flows re-solved; expected over the scenarios")]
    tables = {}
    if vss:
        v = value_of_stochastic_solution(c, data, res.definition, options, res.outcome.objective, res.outcome.bound)
        ev_plan = v.pop("ev_plan", None)
        notes = {"rp_musd": "MUSD: objective of the stochastic plan (recourse problem)",
                 "ev_musd": "MUSD: objective of the expected-value problem (one average scenario)",
                 "eev_musd": "MUSD: the expected-value plan's first stage evaluated under every scenario",
                 "vss_musd": "MUSD: value of the stochastic solution, EEV - RP (>= 0 up to the MIP gap)",
                 "vss_upper_musd": "MUSD: EEV - the best bound on RP (the true VSS lies between the two)",
                 "ev_sites_built": "count", "status": ""}
        rows += [(f"vss_{k}" if not k.startswith("vss") else k, x, notes.get(k, "")) for k, x in v.items()]
        if ev_plan is not None:
            tables["ev_portfolio"] = portfolio_table(data, ev_plan)
    summary = pd.DataFrame(rows, columns=["key", "value", "unit"])
    return {"summary": summary, "stress_cost": costs, "stress_matrix": matrix, "stress_pivot": stress_pivot(matrix),
            "portfolio": portfolio_table(data, plan), **tables}
