"""When the model is infeasible: re-solve with penalised slack on the business rows (budgets, host
share, burden band, benefit floor; demand is already elastic through unmet demand) and report the
smallest relaxations that restore feasibility, in the workbook's terms and units."""

from __future__ import annotations

import dataclasses

import numpy as np

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
        index, x = out.values(f"v_relax_{name}")
        return [(k, float(v)) for k, v in zip(index, x) if v > RELAX_EPS]

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


def iis_report(c) -> list[str]:
    """For modellers (`--explain-iis`): HiGHS's irreducible infeasible subset of the LP relaxation of
    the compiled model `c` (`solve.Compiled`), mapped back to constraint names with their index
    values, terms and bounds, and to variable bounds."""
    from .digest import key_name, number
    from .solve import MS, hand_over, new_highs

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
