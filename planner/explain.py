"""When the model is infeasible: re-solve with penalised slack on the business rows (budgets, host
share, burden band, benefit floor; demand is already elastic through unmet demand) and report the
smallest relaxations that restore feasibility, in the workbook's terms and units."""

from __future__ import annotations

import dataclasses

import pyomo.environ as pyo

from .data import PlanData
from .definition import ModelDefinition
from .model import build_model
from .solve import solve_model

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
    fin = data.financing
    msgs = []

    def positive(name):
        var = getattr(m, f"v_relax_{name}", None)
        return [] if var is None else [(k, pyo.value(v)) for k, v in var.items() if (pyo.value(v) or 0) > RELAX_EPS]

    for (a, t), x in positive("budget"):
        b = fin.budgets[(a, t)]
        msgs.append(f"budgets: {a} budget {t} is {_m(b)} MUSD; the forced builds need it raised by {_m(x)} to "
                    f"{_m(b + x)} MUSD (budgets row {fin.budget_rows.get((a, t), '?')})")
    for (f, t), x in positive("host_share"):
        msgs.append(f"settings: host_min_share {fin.host_min_share:g} cannot be met for site '{f}' built in {t}: "
                    f"its host pays {_m(x)} MUSD short")
    for a, x in positive("burden_band_upper"):
        msgs.append(f"members: {a} must pay {_m(x)} MUSD (present value) more than burden_share "
                    f"{fin.burden_target.get(a, 0):.3g} + burden_tolerance {fin.burden_tolerance:g} allows")
    for a, x in positive("burden_band_lower"):
        msgs.append(f"members: {a} pays {_m(x)} MUSD (present value) less than burden_share "
                    f"{fin.burden_target.get(a, 0):.3g} - burden_tolerance {fin.burden_tolerance:g} requires")
    for a, x in positive("benefit_floor"):
        msgs.append(f"settings: min_benefit_ratio {fin.min_benefit_ratio:g} is exceeded for {a} by {_m(x)} MUSD "
                    "(present value)")
    return msgs


def iis_report(m: pyo.ConcreteModel) -> list[str]:
    """For modellers (`--explain-iis`): HiGHS's irreducible infeasible subset of the LP relaxation,
    mapped back to constraint names with their index values and to variable bounds."""
    from .solve import MS, compile_model, hand_over, new_highs

    lp = m.clone()
    pyo.TransformationFactory("core.relax_integer_vars").apply_to(lp)
    c = compile_model(lp)
    h = new_highs()
    hand_over(c, h)
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
    for i in iis.row_index_:
        con = c.rows[i].constraint
        out.append(f"constraint {con.name}: {con.lower if con.lower is not None else '-inf'} <= {con.body} <= "
                   f"{con.upper if con.upper is not None else 'inf'}"[:300])
    for j in iis.col_index_:
        v = c.columns[j]
        out.append(f"bounds of {v.name}: [{v.lb}, {v.ub}]")
    return out
