"""Whether each build decision of a reported plan is proven: forced the other way, can any plan
cost less than the reported one?

A MIP search stops at a gap: every plan it did not rule out costs at least its bound, so a decision
whose reversal could save less than the gap is not settled by the search. Each build option (a
candidate and a build period) is tested with its decision reversed (built -> not built in that
period, not built -> built in it): the decision is proven when a lower bound of the reversed
problem exceeds the reported plan's cost.

Three bounds, cheapest first:
- the root LP's reduced cost: with the LP relaxation solved once, a variable at a bound whose
  reduced cost is d costs at least z_LP + d x (new - old) when moved (the LP's duals stay feasible);
- the LP relaxation with the option fixed, re-solved from the root's basis (dual simplex, a few
  iterations each);
- with `mip=True` (`plan solve --prove`), for what is still open: the whole MIP with the option
  fixed, each in HiGHS's child process within its share of the time given; a reversed plan cheaper
  than the reported one is named with its cost.

Everything here works on the compiled model (planner/solver/solve.py `Compiled`); nothing is
rebuilt. The LP tests need only numpy and highspy: `plan solve` runs them in HiGHS's child process
right after its search (planner/solver/mip_worker.py), on the instance that searched, while the
planner re-solves, checks and tabulates the plan; `prove_decisions` runs them here.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

MS = highspy.HighsModelStatus
REL_TOL = 1e-9  # a bound counts as above the plan's cost beyond this share of it (solver accuracy)


@dataclass
class Decision:
    """One build option of the plan and what its reversal was shown to cost at least."""

    site: str
    period: int
    built: bool  # the plan's decision for this option
    bound_musd: float | None = None  # the best lower bound found for the reversed problem (inf: infeasible)
    proven: bool = False
    method: str = ""  # "reduced cost" | "LP" | "MIP" | "" (not proven, or not tested: the time ran out)
    cheaper_musd: float | None = None  # a reversed plan found that costs this much (less than the plan)

    @property
    def label(self) -> str:
        return f"{self.site} {'built' if self.built else 'not built'} in {self.period}"


@dataclass
class Proofs:
    plan_cost_musd: float
    decisions: list[Decision] = field(default_factory=list)
    seconds: float = 0.0
    out_of_time: bool = False

    @property
    def unproven(self) -> list[Decision]:
        return [d for d in self.decisions if not d.proven]

    def summary(self) -> str:
        n, left = len(self.decisions), self.unproven
        text = f"{n - len(left)} of {n} proven"
        if self.out_of_time:
            text += " (the time for proofs ran out)"
        return text


def new_proofs(c, x: np.ndarray, objective: float) -> Proofs:
    """Every build option of plan `x` of the compiled model `c`, none tested yet."""
    idx, keys = c.columns_of("v_build")
    built = np.asarray(x, dtype=float)[idx] > 0.5
    return Proofs(float(objective), [Decision(str(k[0]), int(k[1]), bool(b)) for k, b in zip(keys, built)])


def threshold(objective: float) -> float:
    """A bound above this is above the plan's cost `objective` (MUSD) beyond the solver's accuracy."""
    return float(objective) + REL_TOL * max(1.0, abs(float(objective)))


def take(proofs: Proofs, found: list[tuple[float | None, str]], out_of_time: bool) -> None:
    """Record `reversal_bounds`' (bound, method) per decision in `proofs` (a method names a proof)."""
    for d, (bound, method) in zip(proofs.decisions, found):
        d.bound_musd, d.method, d.proven = bound, method, bool(method)
    proofs.out_of_time = out_of_time


def prove_decisions(c, x: np.ndarray, objective: float, budget_s: float, mip: bool = False,
                    mip_limit_s: float | None = None, seed: int = 0, found=None) -> Proofs:
    """Test every build option of the plan `x` (cost `objective`, MUSD) of the compiled model `c`
    with its decision reversed: `found` (`reversal_bounds`' result, where the MIP's child computed
    it), else the LP tests here within `budget_s` seconds (in a HiGHS instance of their own, let go
    when done); with `mip`, the options still open get forced MIPs sharing `mip_limit_s` seconds."""
    t0 = time.perf_counter()
    idx = c.columns_of("v_build")[0]
    proofs = new_proofs(c, x, objective)
    if found is not None:
        take(proofs, *found)
    elif len(idx):
        from planner.solver.solve import hand_over, new_highs
        h = new_highs()
        h.setOptionValue("random_seed", int(seed))
        hand_over(dataclasses.replace(c, integer=np.empty(0, dtype=np.int32)), h)
        take(proofs, *reversal_bounds(h, idx, np.asarray(x, dtype=float)[idx] > 0.5, threshold(objective),
                                      budget_s))
        del h
    if mip:
        _mip_tests(c, idx, proofs, threshold(objective), mip_limit_s if mip_limit_s is not None else 60.0, seed)
    proofs.seconds = time.perf_counter() - t0
    return proofs


def reversal_bounds(h, idx, built, above: float, budget_s: float) -> tuple[list[tuple[float | None, str]], bool]:
    """For each build column `idx[k]` of the model in `h` (solved as an LP: its integrality is
    dropped here), the best lower bound found of the problem with the decision `built[k]` reversed,
    and the method that proved it above `above` ("" where none did): (per column (bound, method),
    whether the time ran out). Only numpy and highspy: the MIP's child process runs it too."""
    deadline = time.perf_counter() + budget_s
    n = h.getNumCol()
    if n:
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.zeros(n, dtype=np.uint8))
    found: list[tuple[float | None, str]] = [(None, "")] * len(idx)
    h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
    h.run()
    if h.getModelStatus() != MS.kOptimal:
        return found, h.getModelStatus() == MS.kTimeLimit
    z_lp = float(h.getInfo().objective_function_value)
    sol = h.getSolution()
    value, reduced = np.asarray(sol.col_value), np.asarray(sol.col_dual)
    lp = h.getLp()
    col_lower, col_upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    root = h.getBasis()
    for k, j in enumerate(np.asarray(idx).tolist()):
        new = 0.0 if built[k] else 1.0
        old = value[j]
        bound = None
        if abs(old - (1.0 - new)) <= 1e-9:  # at the bound it would leave: the reduced-cost bound holds
            bound = z_lp + max(0.0, reduced[j] * (new - old))
            if bound > above:
                found[k] = (bound, "reduced cost")
                continue
        left = deadline - time.perf_counter()
        if left <= 0:
            return found, True
        h.changeColBounds(j, new, new)
        h.setBasis(root)
        h.setOptionValue("time_limit", left)
        h.run()
        ms = h.getModelStatus()
        forced = float(h.getInfo().objective_function_value)  # read before the bounds change: that clears it
        h.changeColBounds(j, col_lower[j], col_upper[j])
        if ms in (MS.kInfeasible, MS.kUnboundedOrInfeasible):
            found[k] = (float("inf"), "LP")
        elif ms == MS.kOptimal:
            found[k] = (forced, "LP" if forced > above else "")
        elif ms == MS.kTimeLimit:
            return found, True
        else:
            found[k] = (bound, "")
    return found, False


def _mip_tests(c, idx: np.ndarray, proofs: Proofs, above: float, limit_s: float, seed: int) -> None:
    """Forced MIPs, each in HiGHS's child process, for the decisions still open."""
    from planner.solver.mip_worker import solve_in_child
    from planner.solver.solve import model_arrays
    open_ = [(d, j) for d, j in zip(proofs.decisions, np.asarray(idx).tolist()) if not d.proven]
    if not open_:
        return
    each = max(1.0, limit_s / len(open_))
    arrays = model_arrays(c)
    for d, j in open_:
        lower, upper = c.col_lower.copy(), c.col_upper.copy()
        lower[j] = upper[j] = 0.0 if d.built else 1.0
        job = {**arrays, "col_lower": lower, "col_upper": upper, "tee": False, "start": None,
               "start_objective": None,
               "options": {"time_limit": each, "mip_rel_gap": 0.0, "random_seed": int(seed)}}
        run = solve_in_child(job, each)
        if run.model_status is not None and MS(run.model_status) in (MS.kInfeasible, MS.kUnboundedOrInfeasible):
            d.bound_musd, d.proven, d.method = float("inf"), True, "MIP"
            continue
        if run.bound is not None and (d.bound_musd is None or run.bound > d.bound_musd):
            d.bound_musd = float(run.bound)
        if d.bound_musd is not None and d.bound_musd > above:
            d.proven, d.method = True, "MIP"
        elif run.has_solution and run.objective is not None and run.objective < proofs.plan_cost_musd:
            d.cheaper_musd = float(run.objective)
