"""The one place that talks to the solver and maps every outcome to a status and exit code.

Pyomo's HiGHS interface (pyomo.contrib.solver, backed by highspy) is called with
`load_solutions=False` and `raise_exception_on_nonoptimal_result=False`, so an infeasible or
time-limited solve returns here instead of raising; the termination condition is mapped
explicitly below. After the hand-over, HiGHS's own row and column counts are compared with what
the Pyomo model holds, so a block of rows silently rejected by HiGHS cannot pass as optimal.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

from .definition import SolverOptions

# status -> (exit code, usable result?, message)
STATUSES: dict[str, tuple[int, bool, str]] = {
    "optimal": (0, True, "optimal within the MIP gap tolerance"),
    "best_found": (3, True, "best plan found when a limit was reached (not proven optimal; gap shown)"),
    "no_solution": (4, False, "a limit was reached before any feasible plan was found"),
    "infeasible": (5, False, "the model is infeasible: no plan satisfies every constraint"),
    "unbounded": (6, False, "the model is unbounded (a cost can fall without limit)"),
    "infeasible_or_unbounded": (6, False, "the solver proved the model infeasible or unbounded "
                                          "without telling which"),
    "error": (7, False, "the solver failed"),
    "interrupted": (8, False, "interrupted before any feasible plan was found"),
}
INPUT_ERROR_EXIT = 1
USAGE_ERROR_EXIT = 2

_LIMITS = {TerminationCondition.maxTimeLimit, TerminationCondition.iterationLimit,
           TerminationCondition.objectiveLimit, TerminationCondition.minStepLength}


@dataclass
class SolveOutcome:
    status: str
    termination: str
    objective: float | None
    bound: float | None
    mip_gap: float | None
    solve_seconds: float
    solver_version: str
    hand_over: dict = field(default_factory=dict)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return STATUSES[self.status][0]

    @property
    def usable(self) -> bool:
        return STATUSES[self.status][1]


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|primal - dual| / max(|primal|, 1e-9), HiGHS's own definition (0 when both are 0)."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    diff = abs(objective - bound)
    return 0.0 if diff <= 1e-12 else diff / max(abs(objective), 1e-9)


def _model_counts(m: pyo.ConcreteModel) -> tuple[int, int]:
    rows = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    cols = len({id(v) for c in m.component_data_objects(pyo.Constraint, active=True)
                for v in pyo.expr.identify_variables(c.body)} |
               {id(v) for o in m.component_data_objects(pyo.Objective, active=True)
                for v in pyo.expr.identify_variables(o.expr)})
    return rows, cols


def map_outcome(tc: TerminationCondition, has_solution: bool) -> str:
    if tc == TerminationCondition.convergenceCriteriaSatisfied:
        return "optimal" if has_solution else "error"
    if tc in _LIMITS:
        return "best_found" if has_solution else "no_solution"
    if tc == TerminationCondition.interrupted:
        return "best_found" if has_solution else "interrupted"
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.locallyInfeasible):
        return "infeasible"
    if tc == TerminationCondition.unbounded:
        return "unbounded"
    if tc == TerminationCondition.infeasibleOrUnbounded:
        return "infeasible_or_unbounded"
    return "error"


def solve_model(m: pyo.ConcreteModel, options: SolverOptions, tee: bool = False) -> SolveOutcome:
    """Solve, load the solution into `m` when there is one, and report the outcome."""
    options.check()
    solver = SolverFactory("highs")
    solver_options = {"random_seed": int(options.seed), "output_flag": bool(tee)}
    if options.threads:
        solver_options["threads"] = int(options.threads)
    kwargs = dict(load_solutions=False, raise_exception_on_nonoptimal_result=False, tee=tee,
                  rel_gap=float(options.mip_gap), solver_options=solver_options)
    if options.time_limit_s:
        kwargs["time_limit"] = float(options.time_limit_s)
    start = time.perf_counter()
    try:
        res = solver.solve(m, **kwargs)
    except KeyboardInterrupt:
        return SolveOutcome("interrupted", "interrupted", None, None, None, time.perf_counter() - start, "",
                            message=STATUSES["interrupted"][2])
    except Exception as exc:  # the solver interface raised: report it, never a traceback
        return SolveOutcome("error", "exception", None, None, None, time.perf_counter() - start, "",
                            message=f"{STATUSES['error'][2]}: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    tc = res.termination_condition
    has_solution = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    status = map_outcome(tc, has_solution)
    version = ".".join(str(x) for x in res.solver_version) if res.solver_version else ""

    # What did HiGHS actually receive?
    hand_over = {}
    h = getattr(solver, "_solver_model", None)
    rows, cols = _model_counts(m)
    hand_over = {"model_rows": rows, "model_cols": cols}
    if h is not None:
        hand_over.update(highs_rows=int(h.getNumRow()), highs_cols=int(h.getNumCol()),
                         highs_nonzeros=int(h.getNumNz()))
        if hand_over["highs_rows"] != rows or hand_over["highs_cols"] != cols:
            status = "error"
    message = STATUSES[status][2]
    if status == "error" and h is not None and (hand_over["highs_rows"] != rows or hand_over["highs_cols"] != cols):
        message = (f"HiGHS holds {hand_over['highs_rows']} rows and {hand_over['highs_cols']} columns but the "
                   f"model has {rows} rows and {cols} columns: the hand-over lost part of the model")
    objective = bound = gap = None
    if has_solution and STATUSES[status][1]:
        res.solution_loader.load_vars()
        objective = float(res.incumbent_objective)
        bound = float(res.objective_bound) if res.objective_bound is not None else None
        gap = relative_gap(objective, bound)
    return SolveOutcome(status, tc.name, objective, bound, gap, seconds, version, hand_over, message)
