"""A solved plan made reportable: the builds rounded and fixed, the flows re-solved (the plan must
stand on whole builds), read into the plain tables by the compiled columns' keys, and checked
against the plain tables (planner/results/verify.py) and its cost recomputed from them."""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from planner.dataset.data import PlanData
from planner.model.definition import ModelDefinition
from planner.model.registry import BY_NAME, OPTIONAL
from planner.results.benefit import output_shares
from planner.results.solution import cost_components, extract_solution, financing_of
from planner.results.verify import verify_solution
from planner.solver.solve import SolveOutcome, relative_gap, resolve_with_fixed_builds
from planner.solver.split import benefit_split

COST_REL_TOL = 1e-6


def violation_tolerance(data: PlanData, family: str = "") -> float:
    """Largest acceptable violation of a row: 1e-6 of the largest number of its family's scale
    (planner/model/registry.py) in the input: capacity or demand (t/yr) for physical rows, capex or budget
    (MUSD) for financing rows, the largest cap for emissions and water rows."""
    scale = BY_NAME[family].scale if family in BY_NAME else "tonnes"
    if scale == "money":
        numbers = [float(x) for x in data.sites["capex_musd"]] + list(data.financing.budgets.values())
    elif scale == "count":  # a site built twice, a group over its one: any whole violation counts
        numbers = []
    elif scale in ("emissions", "water"):
        col = "emissions_cap_tco2e_per_yr" if scale == "emissions" else "water_cap_m3_per_yr"
        numbers = [float(x) for x in data.limits[col] if x is not None and not pd.isna(x)]
    else:
        numbers = [float(x) for x in data.sites["capacity_tpy"]] + [float(x) for x in data.demand["demand_tpy"]]
    return 1e-6 * max([1.0] + numbers)


def check_plan(data: PlanData, definition: ModelDefinition, solver, outcome: SolveOutcome,
               timings: dict | None = None, check_cost: bool = True, row_detail: bool = False):
    """After a usable MIP solve: round the builds, fix them and re-solve the rest (the reported plan
    must stand on whole builds), read the plain tables, recompute every constraint and the cost.
    Sets `outcome.status = "error"` with the reason when any check fails. Returns (solution, cost
    components, largest violation, where) -- the solution is None when the plan is refused.
    `row_detail`: the binding rows of the optional families with their duals and ranges, with the
    builds fixed, in `outcome.hand_over["rule_rows"]` (`resolve_with_fixed_builds`)."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    fixed = resolve_with_fixed_builds(outcome, solver, rule_values=OPTIONAL, row_detail=row_detail)
    if row_detail:
        outcome.hand_over["rule_rows"] = fixed.hand_over.get("rule_rows", {})
    timings["resolve_fixed_s"] = time.perf_counter() - t0
    for name, (binding, largest) in fixed.hand_over.get("rule_values", {}).items():
        if binding:  # what the run knows of a rule's cost: its rows' duals with the builds fixed
            outcome.hand_over[f"rule_value_{name}"] = (f"{binding} row(s) binding; relaxing one by a unit "
                                                       f"({_row_unit(name)}) is worth up to {largest:,.4g} MUSD")
    outcome.hand_over["rounded_resolve_status"] = fixed.status
    outcome.hand_over["rounded_resolve_objective"] = fixed.objective
    outcome.hand_over["rounded_resolve_from_start_basis"] = bool(fixed.hand_over.get("from_start_basis"))
    if fixed.status != "optimal":
        outcome.status = "error"
        outcome.message = (f"with the build decisions rounded to whole builds the flow problem is {fixed.status} "
                           f"({fixed.message}); the solver's plan is not reported")
        return None, {}, 0.0, ""
    tol = COST_REL_TOL * max(1.0, abs(outcome.objective))
    if fixed.objective > outcome.objective + tol:
        outcome.status = "error"
        outcome.message = (f"the plan relied on fractional build decisions: with builds rounded its cost rises "
                           f"from {outcome.objective:.6f} to {fixed.objective:.6f} MUSD; not reported")
        return None, {}, 0.0, ""
    outcome.objective = fixed.objective
    outcome.mip_gap = relative_gap(outcome.objective, outcome.bound)
    outcome.x = fixed.x
    sol = extract_solution(outcome, data)
    t0 = time.perf_counter()
    sol = follow_benefits(data, outcome, sol, solver)
    timings["split_s"] = time.perf_counter() - t0
    violations = verify_solution(data, definition, sol)
    costs = cost_components(data, sol)
    max_v, where = (violations[0][2], f"{violations[0][0]}[{violations[0][1]}]") if violations else (0.0, "")
    for family, index, amount in violations:
        if amount > violation_tolerance(data, family):
            outcome.status = "error"
            outcome.message = (f"the solver's plan violates {family}[{index}] by {amount:.6g} (tolerance "
                               f"{violation_tolerance(data, family):.3g}); not reported")
            return sol, costs, max_v, where
    if check_cost and abs(costs["total_cost_musd"] - outcome.objective) > COST_REL_TOL * max(1.0, abs(outcome.objective)):
        outcome.status = "error"
        outcome.message = (f"recomputed cost {costs['total_cost_musd']:.6f} MUSD disagrees with the solver's "
                           f"objective {outcome.objective:.6f} MUSD; not reported")
    return sol, costs, max_v, where


def follow_benefits(data: PlanData, outcome: SolveOutcome, sol, solver):
    """The plan's payments chosen again so that each member's share of a built site's public capex
    is as close as the financing rules allow to its share of the site's output (`solver.split`):
    `outcome.x` and the solution's financing table are replaced; `hand_over` gets the distance the
    split minimised (`split_l1_distance`) and, when the split could not be chosen, why."""
    if sol.builds.empty:
        return sol
    shares = output_shares(data, sol.flows)
    capex = data.sites["public_capex_musd"].astype(float).to_dict()
    target = {(f, a): shares[f].get(a, 0.0) * capex[f] for f in sol.builds["site"] for a in data.MEMBERS}
    rank = {a: i for i, a in enumerate(data.MEMBERS)}
    split = benefit_split(outcome.compiled, outcome.x, target, capex, rank, solver.time_limit_s)
    outcome.hand_over["split_status"] = split.status
    if split.status != "optimal":
        return sol
    outcome.x = split.x
    sol = dataclasses.replace(sol, financing=financing_of(outcome, zip(sol.builds["site"], sol.builds["build_period"])))
    # the distance over every member, recomputed from the plain tables (a member that may not pay a
    # site counts with its output share: a constant of the split, so the minimiser is the same)
    paid = sol.financing.groupby(["site", "member"])["paid_musd"].sum().to_dict() if len(sol.financing) else {}
    outcome.hand_over["split_l1_distance"] = sum(abs(paid.get((f, a), 0.0) / capex[f] - shares[f].get(a, 0.0))
                                                 for f in sol.builds["site"] if capex[f] > 0 for a in data.MEMBERS)
    return sol


def _row_unit(family: str) -> str:
    """The unit of a family's rows, as its tolerance scale says."""
    return {"tonnes": "t/yr", "money": "MUSD", "count": "build", "emissions": "tCO2e/yr",
            "water": "m3/yr"}.get(BY_NAME[family].scale, BY_NAME[family].scale)
