"""The one place that talks to the solver and maps every outcome to a status and exit code.

Pyomo's HiGHS interface (pyomo.contrib.solver, backed by highspy) is called with
`load_solutions=False` and `raise_exception_on_nonoptimal_result=False`, so an infeasible or
time-limited solve returns here instead of raising; the termination condition is mapped
explicitly below. After the hand-over, HiGHS's own row and column counts are compared with what
the Pyomo model holds, so a block of rows silently rejected by HiGHS cannot pass as optimal.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import highspy
from dataclasses import dataclass, field

import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.repn import generate_standard_repn
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
WRITE_ERROR_EXIT = 9  # solved, but the workbook could not be written (the JSON copy was)

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


@dataclass
class ModelStats:
    rows: int
    cols: int
    nonzeros: int
    coef_min: float
    coef_max: float
    nonfinite: list[str]


def model_stats(m: pyo.ConcreteModel) -> ModelStats:
    """Rows, columns and nonzeros of the model as HiGHS should receive it, the range of the
    absolute constraint coefficients, and the names of rows or bounds with a non-finite number."""
    rows = nnz = 0
    cols: set[int] = set()
    lo, hi = math.inf, 0.0
    bad: list[str] = []
    for c in m.component_data_objects(pyo.Constraint, active=True):
        rows += 1
        r = generate_standard_repn(c.body, quadratic=False, compute_values=True)
        for v, a in zip(r.linear_vars, r.linear_coefs):  # fixed variables fold into the row bounds
            if not math.isfinite(a):
                bad.append(c.name)
            elif a != 0:
                nnz += 1
                lo, hi = min(lo, abs(a)), max(hi, abs(a))
        if not math.isfinite(r.constant):
            bad.append(c.name)
        # ... but stay columns in HiGHS (with equal bounds)
        cols.update(id(v) for v in pyo.expr.identify_variables(c.body, include_fixed=True))
        for bound in (c.lower, c.upper):
            if bound is not None and not math.isfinite(pyo.value(bound)):
                bad.append(c.name)
    for o in m.component_data_objects(pyo.Objective, active=True):
        r = generate_standard_repn(o.expr, quadratic=False, compute_values=True)
        if any(not math.isfinite(a) for a in r.linear_coefs):
            bad.append(o.name)
        cols.update(id(v) for v in pyo.expr.identify_variables(o.expr, include_fixed=True))
    return ModelStats(rows, len(cols), nnz, lo if lo < math.inf else 0.0, hi, sorted(set(bad)))


def _option(h, name):
    v = h.getOptionValue(name)
    return v[1] if isinstance(v, tuple) else v


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


@contextlib.contextmanager
def _interruptible_highs():
    """Let Ctrl-C stop HiGHS and keep its best plan.

    Pyomo's HiGHS interface sets `HandleKeyboardInterrupt` but then calls the raw `Highs.run()`,
    which holds the main thread inside C++ until the solve ends, so Ctrl-C would be seen only
    afterwards (and the plan lost). highspy's `Highs.solve()` runs the same `run()` in a worker
    thread and turns Ctrl-C into a clean interrupt (model status kInterrupt, incumbent kept). For
    the duration of our solve, `run` is routed to `solve`."""
    original = highspy.Highs.run
    highspy.Highs.run = highspy.Highs.solve
    log = logging.getLogger("pyomo.contrib.solver.solvers.highs")
    quiet = _DropInterruptWarning()
    log.addFilter(quiet)
    try:
        yield
    finally:
        highspy.Highs.run = original
        log.removeFilter(quiet)


class _DropInterruptWarning(logging.Filter):
    """Pyomo warns that kInterrupt is an unhandled status; this module handles it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kInterrupt" not in record.getMessage()


def resolve_with_fixed_builds(m: pyo.ConcreteModel, options: SolverOptions) -> SolveOutcome:
    """Round every build decision at 0.5, fix it, and solve the remaining flow LP.

    A binary at 1e-6 (inside HiGHS's integrality tolerance) times a large capacity can buy output
    for nothing; re-solving with the builds rounded shows whether the plan survives."""
    for v in m.v_build.values():
        v.fix(1.0 if (v.value or 0.0) > 0.5 else 0.0)
    # With the builds fixed, who pays is independent of the flows: the same solve also picks the
    # payment split closest to the members' target shares (the cost part is unchanged by it).
    split = getattr(m, "e_burden_deviation", None)
    if split is not None:
        m.total_cost.deactivate()
        m.split_objective = pyo.Objective(expr=m.total_cost.expr + split, sense=pyo.minimize)
    try:
        out = solve_model(m, options)
        if out.usable and split is not None:
            out.objective = pyo.value(m.total_cost.expr)
        return out
    finally:
        for v in m.v_build.values():
            v.unfix()
        if split is not None:
            m.del_component(m.split_objective)
            m.total_cost.activate()


def solve_model(m: pyo.ConcreteModel, options: SolverOptions, tee: bool = False) -> SolveOutcome:
    """Solve, load the solution into `m` when there is one, and report the outcome."""
    options.check()
    stats = model_stats(m)
    if stats.nonfinite:
        return SolveOutcome("error", "not_solved", None, None, None, 0.0, "",
                            message=f"non-finite coefficient or bound in {', '.join(stats.nonfinite[:5])}; "
                                    "the model was not handed to the solver")
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
        with _interruptible_highs():
            res = solver.solve(m, **kwargs)
    except KeyboardInterrupt:
        return SolveOutcome("interrupted", "interrupted", None, None, None, time.perf_counter() - start, "",
                            message=STATUSES["interrupted"][2])
    except Exception as exc:  # the solver interface raised: report it, never a traceback
        return SolveOutcome("error", "exception", None, None, None, time.perf_counter() - start, "",
                            message=f"{STATUSES['error'][2]}: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    tc = res.termination_condition
    h = getattr(solver, "_solver_model", None)
    # Pyomo maps HiGHS's kInterrupt (Ctrl-C) to "unknown"; it is an interrupt, with or without a plan.
    interrupted = h is not None and h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    if interrupted:
        tc = TerminationCondition.interrupted
    has_solution = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    status = map_outcome(tc, has_solution)
    version = ".".join(str(x) for x in res.solver_version) if res.solver_version else ""

    # What did HiGHS actually receive, and with which options?
    hand_over = {"model_rows": stats.rows, "model_cols": stats.cols, "model_nonzeros": stats.nonzeros,
                 "coef_abs_min": stats.coef_min, "coef_abs_max": stats.coef_max}
    message = STATUSES[status][2]
    if h is None:
        status, message = "error", "the solver interface exposed no HiGHS instance to check the hand-over"
    else:
        got = (int(h.getNumRow()), int(h.getNumCol()), int(h.getNumNz()))
        hand_over.update(highs_rows=got[0], highs_cols=got[1], highs_nonzeros=got[2])
        if got != (stats.rows, stats.cols, stats.nonzeros):
            status = "error"
            message = (f"HiGHS holds {got[0]} rows, {got[1]} columns and {got[2]} nonzeros but the model has "
                       f"{stats.rows}, {stats.cols} and {stats.nonzeros}: the hand-over lost part of the model")
        wanted = {"mip_rel_gap": float(options.mip_gap), "random_seed": int(options.seed)}
        if options.time_limit_s:
            wanted["time_limit"] = float(options.time_limit_s)
        if options.threads:
            wanted["threads"] = int(options.threads)
        for name, value in wanted.items():
            actual = _option(h, name)
            hand_over[f"highs_option_{name}"] = actual
            if actual != value:
                status = "error"
                message = f"HiGHS option {name} is {actual}, not the {value} requested: the option was lost"
    objective = bound = gap = None
    if has_solution and STATUSES[status][1]:
        res.solution_loader.load_vars()
        objective = float(res.incumbent_objective)
        bound = float(res.objective_bound) if res.objective_bound is not None else None
        gap = relative_gap(objective, bound)
    if interrupted:
        hand_over["interrupted_by_user"] = True
        if status == "best_found":
            message = "stopped by Ctrl-C: the best plan found so far (not proven optimal; gap shown)"
    return SolveOutcome(status, tc.name, objective, bound, gap, seconds, version, hand_over, message)
