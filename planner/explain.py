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
