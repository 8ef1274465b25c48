"""Who pays: the payments of a fixed plan chosen again so that they follow benefits
(models/formulation.md, "Benefit split").

Every column but the payments' is fixed at the plan's value, so the problem is restricted to the
payment columns and the rows they are in (the fixed columns' part moved into the rows' bounds): a
small LP, or a small MIP when syndicates are set. It minimises the L1 distance D of paid shares from
output shares, ties going to the members whose ids come first (a term a million times smaller); with
syndicates the membership is then fixed at its whole values and the payments solved once more (an
LP), so that a member outside a syndicate pays exactly nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.solver.mip_worker import load_arrays
from planner.solver.solve import Compiled, new_highs

# the columns the split chooses: payments, syndicate places, the distance and the rows defined by them
PAYMENT_COLUMNS = ("v_finance", "v_syndicate", "v_split_over", "v_split_under", "v_burden_over", "v_burden_under",
                   "v_paid_total")
# the tie-break's weight: D + TIE_WEIGHT / |members| x sum_a r_a (share paid): moving a share from one
# payer to another costs D twice the share, the tie-break gains at most TIE_WEIGHT times it, so the
# tie-break never buys a larger distance by such a move
TIE_WEIGHT = 1e-6
# tighter than HiGHS's defaults (1e-7, 1e-6) on a problem of a few thousand columns
TOLERANCES = (("primal_feasibility_tolerance", 1e-10), ("dual_feasibility_tolerance", 1e-10),
              ("mip_feasibility_tolerance", 1e-9))


@dataclass
class Split:
    x: np.ndarray  # the plan's columns with the payments chosen again
    status: str  # "optimal", or why the plan's own payments were kept


def restrict(c: Compiled, free: np.ndarray, x: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray) -> dict:
    """The model with every column outside `free` (a mask) fixed at x: the free columns, the rows
    they are in, and those rows' bounds less the fixed columns' part, as the arrays `load_arrays`
    takes (plus `cols`, the free columns' positions)."""
    indptr, indices, data = c.A.indptr, c.A.indices, c.A.data
    n_rows = len(indptr) - 1
    row_of = np.repeat(np.arange(n_rows), np.diff(indptr))
    is_free = free[indices]
    rest = np.bincount(row_of, weights=np.where(is_free, 0.0, data * x[indices]), minlength=n_rows)
    rows = np.flatnonzero(np.bincount(row_of[is_free], minlength=n_rows) > 0)
    cols = np.flatnonzero(free)
    new_col = np.cumsum(free) - 1  # a free column's position among the free columns
    new_row = np.full(n_rows, -1)
    new_row[rows] = np.arange(len(rows))
    keep = is_free & (new_row[row_of] >= 0)
    starts = np.concatenate([[0], np.cumsum(np.bincount(new_row[row_of[keep]], minlength=len(rows)))])
    integer = np.flatnonzero(np.isin(cols, c.integer)).astype(np.int32)
    return {"col_lower": c.col_lower[cols].astype(float), "col_upper": c.col_upper[cols].astype(float),
            "cost": np.zeros(len(cols)), "offset": 0.0, "integer": integer,
            "row_lower": row_lower[rows] - rest[rows], "row_upper": row_upper[rows] - rest[rows],
            "A": (starts[:-1].astype(np.int32), new_col[indices[keep]].astype(np.int32), data[keep].astype(float)),
            "cols": cols}


def _positions(c: Compiled, cols: np.ndarray, name: str) -> tuple[np.ndarray, list]:
    """(positions among `cols`, keys) of variable `name`'s columns."""
    at = {int(j): i for i, j in enumerate(cols)}
    js, keys = c.columns_of(name)
    return np.array([at[int(j)] for j in js], dtype=np.int32), list(keys)


def benefit_split(c: Compiled, x: np.ndarray, target: dict[tuple[str, str], float], public_capex: dict[str, float],
                  rank: dict[str, int], time_limit_s: float | None = None) -> Split:
    """The payments of the plan `x` chosen again: `target[(site, member)]` the member's output share
    times the built site's public capex (MUSD), `public_capex[site]` K_f, `rank[member]` its position
    in the order of member ids."""
    x = np.asarray(x, dtype=float)
    free = np.zeros(c.n_cols, dtype=bool)
    for name in PAYMENT_COLUMNS:
        free[c.columns_of(name)[0]] = True
    split_rows, split_keys = c.rows.of("benefit_split")
    if not len(split_rows):
        return Split(x, "no payments to choose")
    lower, upper = c.row_lower.copy(), c.row_upper.copy()
    rhs = np.array([target.get(tuple(k), 0.0) for k in split_keys])
    lower[split_rows] = upper[split_rows] = rhs
    sub = restrict(c, free, x, lower, upper)
    cols = sub["cols"]
    d_pos, d_keys = [], []
    for name in ("v_split_over", "v_split_under"):
        p, k = _positions(c, cols, name)
        d_pos.append(p)
        d_keys += k
    d_pos = np.concatenate(d_pos)
    weight = np.array([1.0 / public_capex[f] if public_capex.get(f) else 0.0 for f, _ in d_keys])
    f_pos, f_keys = _positions(c, cols, "v_finance")
    tie = np.array([rank[a] / public_capex[f] if public_capex.get(f) else 0.0 for f, a, _ in f_keys])
    sub["cost"][d_pos] = weight
    sub["cost"][f_pos] = TIE_WEIGHT / max(1, len(rank)) * tie
    h = new_highs()
    for option, value in (("mip_rel_gap", 0.0), ("mip_abs_gap", 1e-12), ("threads", 1),
                          ("time_limit", float(time_limit_s) if time_limit_s else None), *TOLERANCES):
        if value is not None:
            h.setOptionValue(option, value)
    h.resetGlobalScheduler(True)
    load_arrays(h, sub)
    status = _run(h)
    if not status and len(sub["integer"]):  # the syndicates' places fixed at whole values, payments again
        y = np.round(np.asarray(h.getSolution().col_value)[sub["integer"]])
        h.changeColsBounds(len(y), sub["integer"], y, y)
        status = _run(h)
    if status:
        return Split(x, f"the payments could not be chosen again ({status}); the rounded re-solve's kept")
    out = x.copy()
    out[cols] = np.asarray(h.getSolution().col_value)
    if len(sub["integer"]):
        out[cols[sub["integer"]]] = np.round(out[cols[sub["integer"]]])
    return Split(out, "optimal")


def _run(h) -> str:
    """Run HiGHS; '' when it ended optimal, else its status."""
    import highspy
    h.run()
    ms = h.getModelStatus()
    return "" if ms == highspy.HighsModelStatus.kOptimal else h.modelStatusToString(ms)
