"""When the model is infeasible: re-solve with penalised slack on the business rows (budgets, host
share, burden band, benefit floor; demand is already elastic through unmet demand) and report the
smallest relaxations that restore feasibility, in the workbook's terms and units."""

from __future__ import annotations

import dataclasses

import numpy as np

from planner.dataset.data import PlanData
from planner.model.registry import FAMILIES
from planner.model.definition import ModelDefinition
from planner.model.formulation import build_model
from planner.solver.solve import solve_model

RELAX_EPS = 1e-6  # MUSD


def _m(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:,.4g}"


def smallest_relaxations(data: PlanData, definition: ModelDefinition) -> list[str]:
    """Messages naming each relaxation the elastic model needed (empty if it found none)."""
    elastic = dataclasses.replace(definition, elastic=True)
    m = build_model(data, elastic)
    out = solve_model(m, elastic.solver)
    if not out.usable:
        return []
    msgs = []
    for family in FAMILIES:
        for name in family.relax:
            index, x = out.values(f"v_relax_{name}")
            msgs += [MESSAGES[name](data, k, float(v)) for k, v in zip(index, x) if v > RELAX_EPS]
    return msgs


def _budget(data: PlanData, k, x: float) -> str:
    (a, t), fin = k, data.financing
    b = fin.budgets[(a, t)]
    return (f"budgets: {a} budget {t} is {_m(b)} MUSD; the forced builds need it raised by {_m(x)} to "
            f"{_m(b + x)} MUSD (budgets row {fin.budget_rows.get((a, t), '?')})")


def _host_share(data: PlanData, k, x: float) -> str:
    f, t = k
    return (f"settings: host_min_share {data.financing.host_min_share:g} cannot be met for site '{f}' built in "
            f"{t}: its host pays {_m(x)} MUSD short")


def _burden_upper(data: PlanData, a, x: float) -> str:
    fin = data.financing
    return (f"members: {a} must pay {_m(x)} MUSD (present value) more than burden_share "
            f"{fin.burden_target.get(a, 0):.3g} + burden_tolerance {fin.burden_tolerance:g} allows")


def _burden_lower(data: PlanData, a, x: float) -> str:
    fin = data.financing
    return (f"members: {a} pays {_m(x)} MUSD (present value) less than burden_share "
            f"{fin.burden_target.get(a, 0):.3g} - burden_tolerance {fin.burden_tolerance:g} requires")


def _benefit_floor(data: PlanData, a, x: float) -> str:
    return (f"settings: min_benefit_ratio {data.financing.min_benefit_ratio:g} is exceeded for {a} by {_m(x)} MUSD "
            "(present value)")


# the message for each relaxation the registry's families declare (planner/model/registry.py `relax`)
MESSAGES = {"budget": _budget, "host_share": _host_share, "burden_band_upper": _burden_upper,
            "burden_band_lower": _burden_lower, "benefit_floor": _benefit_floor}


def iis_report(c) -> list[str]:
    """For modellers (`--explain-iis`): HiGHS's irreducible infeasible subset of the LP relaxation of
    the compiled model `c` (`solve.Compiled`), mapped back to constraint names with their index
    values, terms and bounds, and to variable bounds."""
    from planner.solver.digest import key_name, number
    from planner.solver.solve import MS, hand_over, new_highs

    lp = dataclasses.replace(c, integer=np.empty(0, dtype=np.int32))
    h = new_highs()
    hand_over(lp, h)
    h.run()
    if h.getModelStatus() not in (MS.kInfeasible, MS.kUnboundedOrInfeasible):
        return ["the LP relaxation is feasible: the infeasibility comes from the whole-number build decisions "
                "(forced builds, exclusive groups), which an IIS of the relaxation cannot show"]
    iis = None
    for strategy in (4, 2):  # 4 gave the smallest subsets in our tests; 2 is HiGHS's general method
        h.setOptionValue("iis_strategy", strategy)
        status, iis = h.getIis()
        if iis.valid_ and (len(iis.row_index_) or len(iis.col_index_)):
            break
    if iis is None or not iis.valid_:
        return ["HiGHS could not compute an irreducible infeasible subset for this model"]
    out = []
    A = c.A
    for i in iis.row_index_:
        lo, hi = A.indptr[i], A.indptr[i + 1]
        body = " + ".join(f"{number(a)} {key_name(*c.columns[j])}" for j, a in zip(A.indices[lo:hi], A.data[lo:hi]))
        out.append(f"constraint {key_name(*c.rows[i])}: {number(c.row_lower[i])} <= {body} <= "
                   f"{number(c.row_upper[i])}"[:300])
    for j in iis.col_index_:
        out.append(f"bounds of {key_name(*c.columns[j])}: [{number(c.col_lower[j])}, {number(c.col_upper[j])}]")
    return out
