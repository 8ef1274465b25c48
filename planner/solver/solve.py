"""The one place that talks to the solver and maps every outcome to a status and exit code.

The Pyomo model is compiled once to standard form (arrays and a sparse matrix by rows:
`planner.solver.standard_form`, with Pyomo's `LinearStandardFormCompiler` as the fallback) and handed to
HiGHS with highspy's array calls (`addVars`, `addRows`, `changeColsIntegrality`). That is faster
than Pyomo's own HiGHS interfaces, and it lets the planner check that every coefficient is finite
before the hand-over and that HiGHS holds exactly the rows, columns and nonzeros sent. HiGHS's
model status is mapped explicitly below; an infeasible or time-limited solve returns here, never
raises. An LP is solved here, in highspy's worker thread (Ctrl-C stops it cleanly); a MIP's search
runs in a child process (planner/solver/mip_worker.py) that reports live progress and every improving plan,
and is stopped by force when HiGHS runs past its time limit or does not heed Ctrl-C, keeping the
last plan it reported.
"""

from __future__ import annotations

import dataclasses
import io
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import highspy
import numpy as np
import pyomo.core as pyo  # the modelling components only: no solver or transformation plugins
from pyomo.common.tee import capture_output
from planner.model.definition import SolverOptions
from planner.status import STATUSES
from planner.solver.mip_worker import MipRun, load_arrays, malloc_trim, option_value, solve_in_child
from planner.solver.keys import Keys
from planner.solver.standard_form import Csr, NotSupported, Row, StandardForm, compile_linear

MS = highspy.HighsModelStatus
INF = highspy.kHighsInf
PROGRESS_EVERY_S = 2.0  # seconds between two progress lines (and before the first)


_LIMITS = {MS.kTimeLimit, MS.kIterationLimit, MS.kSolutionLimit, MS.kObjectiveBound, MS.kObjectiveTarget,
           MS.kMemoryLimit}


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
    # what later steps reuse, as data (no live solver): the compiled model (arrays and keys), the
    # solution by its columns (read by their keys: `values`), and the LP basis of the start
    # heuristic if there was one (HiGHS's HighsBasis, a value object); never written out
    compiled: Compiled | None = field(default=None, repr=False, compare=False)
    x: object = field(default=None, repr=False, compare=False)
    basis: object = field(default=None, repr=False, compare=False)
    # the search's child still testing the plan's build decisions (`mip_worker.collect_follow_on`)
    proof_run: object = field(default=None, repr=False, compare=False)

    def values(self, name: str) -> tuple[list, np.ndarray]:
        """(indices, values) of variable `name` in the solution (`Compiled.columns_of`)."""
        cols, index = self.compiled.columns_of(name)
        return index, np.asarray(self.x, dtype=float)[cols]

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
class Compiled:
    """A model in HiGHS's terms, with no Pyomo object in it: columns and rows as keys (variable or
    constraint name, index), column bounds, rows' lower and upper bounds, the sparse matrix by rows,
    the objective, and the names of anything non-finite. The plan is read by the columns' keys."""

    columns: Keys  # (variable name, index) per column
    rows: Keys  # (constraint name, index) per row
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # indices of integer columns
    cost: np.ndarray
    offset: float
    row_lower: np.ndarray
    row_upper: np.ndarray
    A: Csr  # rows of the matrix (indptr, indices, data)
    nonfinite: list[str] = field(default_factory=list)

    def key(self, j: int) -> tuple[str, object]:
        """Column j's (variable name, index)."""
        return self.columns[j]

    def columns_of(self, name: str) -> tuple[np.ndarray, object]:
        """(columns, indices) of variable `name`, in column order (a variable in no row and at no
        cost has no column: its value is 0)."""
        return self.columns.of(name)

    def column_map(self, name: str) -> dict:
        """index -> column, for variable `name`."""
        cols, idx = self.columns.of(name)
        return dict(zip(idx, cols.tolist()))

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    @property
    def n_cols(self) -> int:
        return len(self.columns)

    @property
    def nnz(self) -> int:
        return int(self.A.nnz)

    def coef_range(self) -> tuple[float, float]:
        d = np.abs(self.A.data[np.isfinite(self.A.data) & (self.A.data != 0)])
        return (float(d.min()), float(d.max())) if d.size else (0.0, 0.0)


def _bound(x, default: float) -> float:
    return default if x is None else float(x)


def _key(component_data) -> tuple[str, object]:
    return component_data.parent_component().local_name, component_data.index()


def compile_model(m: pyo.ConcreteModel, with_pyomo: bool = False) -> Compiled:
    """Standard form of `m` (fixed variables folded into the row bounds) with columns and rows as
    keys, and the names of any row, objective or variable bound holding a non-finite number. Compiled
    by `planner.solver.standard_form`; an expression that walker does not know goes through Pyomo's own
    compiler instead (always with `with_pyomo`). The result holds no Pyomo object: the model can be
    let go once it is compiled."""
    from pyomo.common.gc_manager import PauseGC
    with PauseGC():  # the keys and bounds are many small objects: no collector passes over the model meanwhile
        return _compile_model(m, with_pyomo)


def _compile_model(m: pyo.ConcreteModel, with_pyomo: bool) -> Compiled:
    try:
        if with_pyomo:
            raise NotSupported("Pyomo's compiler asked for")
        f = compile_linear(m)
    except NotSupported:
        f = compile_with_pyomo(m)
    A, cols = f.A, f.columns
    bad: list[str] = []
    if not np.isfinite(A.data).all():
        row_of = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        bad += [f.rows[i].constraint.name for i in np.unique(row_of[~np.isfinite(A.data)])]
    kind = np.array([r.bound_type for r in f.rows], dtype=int)
    given_lower, given_upper = np.isin(kind, (0, -1, 2)), np.isin(kind, (1, 2))  # the bounds the row states
    bad += [f.rows[i].constraint.name for i in np.flatnonzero((given_lower & ~np.isfinite(f.row_lower))
                                                              | (given_upper & ~np.isfinite(f.row_upper)))]
    if not np.isfinite(f.cost).all() or not math.isfinite(f.offset):
        bad += [f.objective.name]
    bounds = [v.bounds for v in cols]
    lo = np.array([_bound(b[0], -INF) for b in bounds], dtype=float)
    hi = np.array([_bound(b[1], INF) for b in bounds], dtype=float)
    bad += [cols[j].name for j in np.flatnonzero(np.isnan(lo) | np.isnan(hi) | (lo >= INF) | (hi <= -INF))]
    integer = np.array([j for j, v in enumerate(cols) if v.is_integer()], dtype=np.int32)
    col_keys = f.column_keys if f.column_keys is not None else [_key(v) for v in cols]
    row_keys = f.row_keys if f.row_keys is not None else [_key(r.constraint) for r in f.rows]
    return Compiled(Keys(col_keys), Keys(row_keys), lo, hi, integer,
                    f.cost, f.offset, f.row_lower, f.row_upper, A, sorted(set(bad)))


def compile_apart(build: Callable[[], pyo.ConcreteModel]) -> Compiled:
    """`compile_model(build())` in a forked process, the compiled model sent back: the Pyomo model
    and everything its build leaves behind stay in that process, which ends, so the planner's own
    memory holds only the arrays and the coded keys (large: ~2 GiB of Pyomo objects never enter the
    planner). Where processes cannot be forked, in this process. A failure in the build is raised
    here; a build killed (by the system, out of memory) is a MemoryError."""
    import gc
    import multiprocessing as mp
    import os
    import pickle
    if "fork" not in mp.get_all_start_methods():
        return compile_model(build())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the building process: sends its result and leaves without the parent's exit handlers
        try:
            # the collector leaves alone what the process inherited: passing over it would copy the
            # planner's pages into this process for nothing
            gc.freeze()
            os.close(read)
            try:
                payload = pickle.dumps(("ok", compile_model(build())), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - raised again in the planner
                try:
                    payload = pickle.dumps(("error", exc))
                except Exception:  # noqa: BLE001 - an exception that cannot be pickled: its words
                    payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
            with os.fdopen(write, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        payload = f.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        raise MemoryError(f"the process building the model ended without a result (wait status {status}): "
                          "most likely out of memory")
    kind, result = pickle.loads(payload)
    del payload
    if kind == "error":
        raise result
    return result


def compiled_digests(c: Compiled) -> dict:
    """`digest.model_digests` of a compiled model: rows and columns named by their keys."""
    from planner.solver.digest import key_name, model_digests
    return model_digests([key_name(*k) for k in c.columns], [key_name(*k) for k in c.rows], c.col_lower,
                         c.col_upper, c.integer, c.cost, c.offset, c.row_lower, c.row_upper, c.A)


def compile_with_pyomo(m: pyo.ConcreteModel) -> StandardForm:
    """The same arrays from Pyomo's `LinearStandardFormCompiler` (the fallback, and the reference the
    tests compare `compile_linear` with). Imports scipy, which Pyomo's compiler needs."""
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
    info = LinearStandardFormCompiler().write(m, mixed_form=True)
    A = info.A.tocsr()
    rhs = np.asarray(info.rhs, dtype=float)
    kind = np.array([r.bound_type for r in info.rows], dtype=int)
    cols = list(info.columns)
    cost = info.c.toarray()[0] if info.c.shape[0] else np.zeros(len(cols))
    offset = float(info.c_offset[0]) if len(info.c_offset) else 0.0
    rows = [Row(r.constraint, r.bound_type) for r in info.rows]
    return StandardForm(cols, rows, np.where(kind == 1, -INF, rhs), np.where(kind == -1, INF, rhs),
                        Csr(A.indptr, A.indices, A.data, A.shape), cost, offset,
                        info.objectives[0] if info.objectives else None)


def new_highs(tee: bool = False) -> highspy.Highs:
    """A HiGHS instance, its start-up banner swallowed unless `tee`."""
    if tee:
        return highspy.Highs()
    with capture_output(io.StringIO(), capture_fd=True):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


def model_arrays(c: Compiled) -> dict:
    """The compiled model as the arrays HiGHS's array calls take (`mip_worker.load_arrays`); an array
    already of the type HiGHS takes is passed as it is, not copied."""
    A = c.A
    return {"col_lower": c.col_lower, "col_upper": c.col_upper, "cost": c.cost, "offset": c.offset,
            "integer": c.integer, "row_lower": c.row_lower, "row_upper": c.row_upper,
            "A": (A.indptr[:-1].astype(np.int32, copy=False), A.indices.astype(np.int32, copy=False),
                  A.data.astype(float, copy=False))}


def hand_over(c: Compiled, h: highspy.Highs) -> None:
    """Pass the compiled model to HiGHS with the array calls."""
    load_arrays(h, model_arrays(c))


def map_outcome(status, has_solution: bool) -> str:
    """HiGHS model status (and whether a feasible plan exists) -> planner status."""
    if status in (MS.kOptimal, MS.kModelEmpty):
        return "optimal" if has_solution else "error"
    if status in _LIMITS:
        return "best_found" if has_solution else "no_solution"
    if status in (MS.kInterrupt, MS.kHighsInterrupt):
        return "best_found" if has_solution else "interrupted"
    if status == MS.kInfeasible:
        return "infeasible"
    if status == MS.kUnbounded:
        return "unbounded"
    if status == MS.kUnboundedOrInfeasible:
        return "infeasible_or_unbounded"
    return "error"


class Progress:
    """The MIP search's state -> `report(elapsed_s, incumbent, bound, gap)`, at most every
    PROGRESS_EVERY_S seconds and only once the solve is that old."""

    def __init__(self, report: Callable[[float, float | None, float | None, float | None], None]):
        self.report = report
        self.next_at = PROGRESS_EVERY_S
        self.offset = 0.0  # seconds spent before the MIP's own clock started (the start heuristic)

    def __call__(self, running_s: float, incumbent: float | None, bound: float | None) -> None:
        t = self.offset + float(running_s)
        if t < self.next_at:
            return
        self.next_at = t + PROGRESS_EVERY_S
        self.report(t, incumbent, bound, relative_gap(incumbent, bound))


def resolve_with_fixed_builds(previous: SolveOutcome, options: SolverOptions, none_built: bool = False,
                              rule_values: tuple[str, ...] = (), row_detail: bool = False) -> SolveOutcome:
    """Round every build decision at 0.5, fix it, and solve the remaining flow LP: the `previous`
    solve's compiled model handed to a new HiGHS instance as an LP (no second compile).

    A binary at 1e-6 (inside HiGHS's integrality tolerance) times a large capacity can buy output
    for nothing; re-solving with the builds rounded shows whether the plan survives. Build columns
    are fixed at their rounded values by their bounds, the syndicates' places likewise, and
    integrality is dropped (an LP; who pays is chosen afterwards, `split.benefit_split`). It starts from the start heuristic's LP basis
    when there was one (`SolveOutcome.basis`).

    `none_built`: every build option fixed at 0 instead (what supply looks like without the
    portfolio). `rule_values`: constraint families whose rows' duals are reported in
    `hand_over["rule_values"]`: per family, (rows binding, the largest |dual|: MUSD per unit of the
    row, t/yr for most), what relaxing the rule by one unit is worth with the builds fixed.
    `row_detail`: also, per family, every binding row's key, |dual| and the range of its right-hand
    side over which that dual holds (HiGHS's ranging), in `hand_over["rule_rows"]`."""
    c = previous.compiled
    idx = c.columns_of("v_build")[0]
    # with `none_built` no plan is read (the LP can be solved before the search has one)
    val = np.zeros(len(idx)) if none_built else (np.asarray(previous.x, dtype=float)[idx] > 0.5).astype(float)
    lower, upper = c.col_lower.copy(), c.col_upper.copy()
    lower[idx] = upper[idx] = val
    # the syndicates' places held at the search's whole values too: the payments the LP keeps then
    # satisfy the syndicate rules as the search's did (the split may choose other places after)
    places = c.columns_of("v_syndicate")[0]
    if len(places):
        held = 0.0 if none_built else np.round(np.asarray(previous.x, dtype=float)[places])
        lower[places] = upper[places] = held
    lp = dataclasses.replace(c, col_lower=lower, col_upper=upper, integer=np.empty(0, dtype=np.int32))
    h = new_highs()
    for name, value in (("random_seed", int(options.seed)), ("threads", options.threads),
                        ("presolve", None if options.presolve == "choose" else options.presolve)):
        if value is not None:
            h.setOptionValue(name, value)
    if options.threads:
        h.resetGlobalScheduler(True)  # a thread count other than the process's first must reset it
    hand_over(lp, h)
    basis = previous.basis  # the start's LP: the same rows, the same builds if the MIP kept its plan
    from_basis = basis is not None and h.setBasis(basis) == highspy.HighsStatus.kOk
    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    ms = h.getModelStatus()
    info = h.getInfo()
    has_solution = int(info.primal_solution_status) == 2
    status = map_outcome(ms, has_solution)
    objective = x = None
    report = {"from_start_basis": from_basis}
    if has_solution and STATUSES[status][1]:
        solution = h.getSolution()
        x = np.asarray(solution.col_value)
        x[idx] = val  # exactly whole, as the report reads them
        objective = float(c.cost @ x) + c.offset
        if rule_values and solution.dual_valid:
            dual = np.abs(np.asarray(solution.row_dual))
            values = {}
            for name in rule_values:
                rows = c.rows.of(name)[0]
                if len(rows):
                    d = dual[rows]
                    values[name] = (int((d > 1e-9).sum()), float(d.max()))
            report["rule_values"] = values
            if row_detail:
                report["rule_rows"] = _binding_rows(h, c, dual, rule_values)
    return SolveOutcome(status, ms.name, objective, objective, 0.0 if objective is not None else None, seconds,
                        previous.solver_version, report,
                        lp_message(ms, status, options.low_memory), compiled=c, x=x)


def _binding_rows(h: highspy.Highs, c: Compiled, dual: np.ndarray, families: tuple[str, ...]) -> dict:
    """family -> [(row key, |dual|, lowest rhs, highest rhs)] for its binding rows: the dual holds
    while the row's right-hand side stays in that range (HiGHS's ranging of the row bounds)."""
    status, ranging = h.getRanging()
    ok = status == highspy.HighsStatus.kOk and ranging.valid
    lo = np.asarray(ranging.row_bound_dn.value_) if ok else None
    hi = np.asarray(ranging.row_bound_up.value_) if ok else None
    out = {}
    for name in families:
        rows, keys = c.rows.of(name)
        out[name] = [(k, float(dual[r]), float(lo[r]) if ok else None, float(hi[r]) if ok else None)
                     for r, k in zip(rows, keys) if dual[r] > 1e-9]
    return out


def lp_message(ms, status: str, low_memory: bool) -> str:
    """What an LP's outcome says: the status's meaning, or that HiGHS ran out of memory."""
    if ms == MS.kMemoryLimit:
        return "HiGHS ran out of memory" + ("" if low_memory else "; try --low-memory")
    return STATUSES[status][2]


@dataclass
class Prepared:
    """A model compiled and handed to HiGHS, its options set: solve it once or several times
    (`run_prepared`), changing column bounds in between."""

    h: highspy.Highs
    c: Compiled
    wanted: dict
    report: dict
    tee: bool = False  # HiGHS's log shown (the child's on stderr)
    # the basis of the last LP solved in `h` before a MIP's search (the start heuristic's), kept when
    # `h` is let go for the MIP's search: the rounded re-solve starts from it
    basis: highspy.HighsBasis | None = None
    # seconds for the build decisions' LP tests that HiGHS's child runs right after a MIP's search
    # (planner/solver/proofs.py); None: not asked for
    proof_budget_s: float | None = None


def solve_model(m: pyo.ConcreteModel, options: SolverOptions, tee: bool = False,
                progress: Callable | None = None, write_mps: str | Path | None = None,
                start_plans: tuple[frozenset, ...] | None = None, stopped: bool = False,
                during: Callable | None = None) -> SolveOutcome:
    """Compile `m`, hand it over, solve, report the outcome (the solution by column, read by the
    columns' keys: `SolveOutcome.values`). `progress(elapsed_s, incumbent, bound, gap)` is called
    during a MIP solve (throttled); `write_mps` saves exactly what HiGHS received; `start_plans`,
    `stopped` and `during` as in `run_prepared`."""
    t0 = time.perf_counter()
    c = compile_model(m)
    p = prepare(c, options, tee, write_mps, {"compile_s": round(time.perf_counter() - t0, 3)})
    return p if isinstance(p, SolveOutcome) else run_prepared(p, options, progress, start_plans, stopped, during)


def set_time_limit(p: Prepared, options: SolverOptions) -> None:
    """The time limit of `options` for a model prepared with another (`prepare` set it)."""
    if options.time_limit_s:
        p.wanted["time_limit"] = float(options.time_limit_s)
        p.h.setOptionValue("time_limit", p.wanted["time_limit"])


def prepare(c: Compiled, options: SolverOptions, tee: bool = False, write_mps: str | Path | None = None,
            report: dict | None = None) -> Prepared | SolveOutcome:
    """Hand the compiled model to a new HiGHS instance with the options set (an error outcome if a
    coefficient or bound is not finite)."""
    options.check()
    if c.nonfinite:
        return SolveOutcome("error", "not_solved", None, None, None, 0.0, "",
                            message=f"non-finite coefficient or bound in {', '.join(c.nonfinite[:5])}; "
                                    "the model was not handed to the solver")
    h = new_highs(tee)
    wanted = {"mip_rel_gap": float(options.mip_gap), "random_seed": int(options.seed)}
    if options.mip_abs_gap is not None:
        wanted["mip_abs_gap"] = float(options.mip_abs_gap)
    if options.time_limit_s:
        wanted["time_limit"] = float(options.time_limit_s)
    if options.threads:
        wanted["threads"] = int(options.threads)
    if options.presolve != "choose":
        wanted["presolve"] = options.presolve
    if options.heuristic_effort is not None:
        wanted["mip_heuristic_effort"] = float(options.heuristic_effort)
    for name, value in wanted.items():
        h.setOptionValue(name, value)
    t0 = time.perf_counter()
    hand_over(c, h)
    hand_over_s = time.perf_counter() - t0
    if write_mps is not None:
        h.writeModel(str(write_mps))
    return Prepared(h, c, wanted, {**(report or {}), "hand_over_s": round(hand_over_s, 3)}, tee)


def _start_heuristic(p: Prepared, options: SolverOptions, progress: Callable | None, start: float,
                     start_plans: tuple[frozenset, ...] | None, stopped: bool = False):
    """Our own first plan (planner/solver/heuristic.py): if `start_plans` are given (each a set of
    (candidate, build period) pairs), the cheapest feasible plan opening one of them, else the greedy
    search within START_SHARE of the time limit; the build columns are the integer ones, grouped by
    candidate (the first index of `v_build`); no start where another variable is integer. `stopped`:
    Ctrl-C came while the plans were being chosen; the start (if any) is still handed over and
    reported as interrupted, so HiGHS only takes it."""
    from planner.model.definition import START_SHARE
    from planner.solver.heuristic import StartResult, greedy_start, plan_start
    c = p.c
    report = None if progress is None else (lambda cost: progress(time.perf_counter() - start, cost, None, None))
    keys = [c.key(j) for j in c.integer]
    if any(name != "v_build" for name, _ in keys):
        # the heuristics open and close build options; another integer variable they cannot set
        return StartResult(None, 0, 0, 0.0, "other_integer_variables")
    keys = [k for _, k in keys]
    if start_plans is not None:
        res = plan_start(p.h, c, [np.array([k in plan for k in keys], dtype=bool) for plan in start_plans], report)
        return dataclasses.replace(res, stopped_by="interrupted") if stopped else res
    if stopped:
        return StartResult(None, 0, 0, 0.0, "interrupted")
    group = np.array([str(k[0]) for k in keys])
    budget = START_SHARE * float(options.time_limit_s) if options.time_limit_s else None
    if budget is not None:  # the heuristic's LPs stop at its budget (an LP's limit is on the instance's clock)
        p.h.setOptionValue("time_limit", p.h.getRunTime() + budget)
    return greedy_start(p.h, c, group, budget, report)


def run_prepared(p: Prepared, options: SolverOptions, progress: Callable | None = None,
                 start_plans: tuple[frozenset, ...] | None = None, stopped: bool = False,
                 during: Callable | None = None, lean: bool = False) -> SolveOutcome:
    """Solve a prepared model (again, after bound changes: HiGHS starts from its last basis) and
    report the outcome, with the solution by column. An LP is solved in `p.h` (`_solve_lp`); a
    MIP's search runs in a child process (`_search_mip`, planner/solver/mip_worker.py) given the
    compiled model `p.c` (bound changes made on `p.h` apply to LPs only), so that its time limit
    and Ctrl-C are kept even where HiGHS does not look at them. Either way the end is read into one
    record and mapped to a status (`_outcome`). `start_plans` (each a set of (candidate, build
    period) pairs): the cheapest feasible plan opening one of them is HiGHS's start
    (`heuristic.plan_start`); `stopped`: Ctrl-C came while they were chosen, so HiGHS only takes
    that start (the run is reported as interrupted). `during`: the caller's work, done in a thread
    while a MIP's search runs in its child (`mip_worker.solve_in_child`); not done here for an LP
    (the caller does it after). `lean`: the run's main search, which with `options.low_memory` gets
    `low_memory_search`'s options. While the child searches, the planner holds no HiGHS instance
    (`p.h` is let go); the outcome keeps the compiled model, the solution and the start's basis as
    data."""
    wanted = dict(p.wanted)
    mip = bool(len(p.c.integer))
    start = time.perf_counter()
    started = None
    try:
        if mip:
            ended, sent, started = _search_mip(p, options, wanted, progress, start_plans, stopped, during, lean,
                                               start)
        else:
            ended, sent = _solve_lp(p, options, wanted), wanted
    except KeyboardInterrupt:  # outside highspy's own handling: no plan to keep
        return SolveOutcome("interrupted", "interrupted", None, None, None, time.perf_counter() - start, "",
                            message=STATUSES["interrupted"][2])
    except Exception as exc:  # the solver raised: report it, never a traceback
        return SolveOutcome("error", "exception", None, None, None, time.perf_counter() - start, "",
                            message=f"{STATUSES['error'][2]}: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    if ended.error:
        return SolveOutcome("error", "exception", None, None, None, seconds, ended.version,
                            message=f"{STATUSES['error'][2]}: {ended.error}")
    return _outcome(p, options, ended, sent, started, seconds, in_child=mip)


def _solve_lp(p: Prepared, options: SolverOptions, wanted: dict) -> MipRun:
    """Solve the LP in the planner's HiGHS instance; what it ended with, as a search's record.
    HiGHS (1.16) counts an LP's time limit on the instance's clock, which runs on across solves, so
    the limit is moved on by the time already used."""
    h, c = p.h, p.c
    if "time_limit" in wanted and h.getRunTime() > 0:
        wanted["time_limit"] = h.getRunTime() + float(options.time_limit_s)
        h.setOptionValue("time_limit", wanted["time_limit"])
    h.HandleKeyboardInterrupt = True
    if options.threads:
        h.resetGlobalScheduler(True)  # HiGHS keeps one scheduler per process, sized by the first solve
    t0 = time.perf_counter()
    h.solve()
    ms, info = h.getModelStatus(), h.getInfo()
    has_solution = int(info.primal_solution_status) == 2 or ms == MS.kModelEmpty
    x = np.asarray(h.getSolution().col_value) if has_solution and c.n_cols else None
    objective = float(info.objective_function_value) if c.n_cols else c.offset
    return MipRun(int(ms), has_solution, x, objective, objective, time.perf_counter() - t0,
                  dims=(int(h.getNumRow()), int(h.getNumCol()), int(h.getNumNz())),
                  options={name: option_value(h, name) for name in wanted},
                  version=f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}", final=True)


def _search_mip(p: Prepared, options: SolverOptions, wanted: dict, progress, start_plans, stopped: bool,
                during, lean: bool, start: float):
    """The start heuristic (in the planner's HiGHS instance, if asked for), then HiGHS's search in
    its child process: (the search's record, the options sent, the start heuristic's result). A
    MIP's time limit counts from the start of its own run; the search gets what the start left."""
    h = p.h
    tracker = Progress(progress) if progress is not None else None
    h.HandleKeyboardInterrupt = True
    if options.threads:
        h.resetGlobalScheduler(True)  # HiGHS keeps one scheduler per process, sized by the first solve
    started = None
    sent = wanted  # the options the search runs with
    if start_plans is not None or stopped or options.start_heuristic == "greedy":
        started = _start_heuristic(p, options, progress, start, start_plans, stopped)
        if "time_limit" in wanted:  # the MIP gets what the heuristic left of the limit
            wanted["time_limit"] = max(float(options.time_limit_s) - started.seconds, 0.0)
        if tracker is not None:  # the MIP's clock starts at 0: progress shows time since the start
            tracker.offset = started.seconds
    if started is not None and started.stopped_by == "interrupted":
        # Ctrl-C during the start heuristic: HiGHS only takes the start plan as its incumbent
        sent = {**wanted, "time_limit": 0.0}
    if lean:  # the main search with low memory: HiGHS lean
        sent = {**sent, **low_memory_search(options)}
    job = _mip_job(p, sent, started)
    if started is not None:
        p.basis = _valid_basis(h)
    # the planner's HiGHS instance is not needed past this point (the rounded re-solve hands the
    # compiled model to a new one): let go of it while the child searches -- unless the caller's
    # `during` work runs meanwhile, which may use HiGHS in another thread: HiGHS's task scheduler is
    # shared by the process, so no instance is destroyed beside it (its solver data is dropped)
    if during is None:
        # what was let go (the heuristic's objects hold reference cycles) is collected and the freed
        # memory returned: before the search with low memory, else beside it (on the core the
        # search leaves free)
        h = p.h = None
        if lean:
            give_back_memory()
        else:
            during = give_back_memory
    else:
        h.clearSolver()
        malloc_trim()
    run = solve_in_child(job, sent.get("time_limit"), tracker, during=during)
    p.h = None
    return run, sent, started


def _outcome(p: Prepared, options: SolverOptions, run: MipRun, sent: dict, started, seconds: float,
             in_child: bool) -> SolveOutcome:
    """How the solve ended (`run`) as the planner's outcome: HiGHS's model status mapped to a status
    (a search stopped by force, interrupted or whose process died has none of its own), the checks
    that HiGHS holds the whole model and the options sent, the plan kept and its cost, and what
    happened for run_info."""
    c = p.c
    ms = (MS(run.model_status) if run.model_status is not None
          else MS.kTimeLimit if run.killed == "time_limit" else MS.kNotset if run.died else MS.kInterrupt)
    if started is not None and started.stopped_by == "interrupted":
        ms = MS.kInterrupt  # HiGHS stopped at its 0 s limit: the user's Ctrl-C stopped the run
    status = map_outcome(ms, run.has_solution)
    if run.died:  # the search's process ended without a last word: its last reported plan, if any
        status = "best_found" if run.has_solution else "error"
    lo, hi = c.coef_range()
    report = {"model_rows": c.n_rows, "model_cols": c.n_cols, "model_nonzeros": c.nnz,
              "coef_abs_min": lo, "coef_abs_max": hi, **p.report, "highs_s": round(seconds, 3)}
    message = STATUSES[status][2]
    if run.died:
        message = search_lost_message(f"HiGHS's process {run.died}", seconds, run.has_solution, options.low_memory,
                                      memory="likely" if run.exit_code == -signal.SIGKILL else "")
    elif ms == MS.kMemoryLimit and in_child:
        message = search_lost_message("HiGHS ran out of memory", seconds, run.has_solution, options.low_memory,
                                      memory="said")
    elif ms == MS.kMemoryLimit:  # an LP in the planner's process
        message = lp_message(ms, status, options.low_memory)
    got = run.dims
    report.update(highs_rows=got[0], highs_cols=got[1], highs_nonzeros=got[2])
    if got != (c.n_rows, c.n_cols, c.nnz):
        status = "error"
        message = (f"HiGHS holds {got[0]} rows, {got[1]} columns and {got[2]} nonzeros but the model has "
                   f"{c.n_rows}, {c.n_cols} and {c.nnz}: the hand-over lost part of the model")
    for name, value in sent.items():
        actual = run.options.get(name)
        report[f"highs_option_{name}"] = actual
        if actual != value:
            status = "error"
            message = f"HiGHS option {name} is {actual}, not the {value} requested: the option was lost"
    objective = bound = gap = x = None
    if run.has_solution and STATUSES[status][1]:
        x = run.x
        # not HiGHS's final plan (a search stopped by force or ended without one): the plan's cost
        # from the compiled objective (the start plan's or HiGHS's last report otherwise)
        objective = run.objective if run.final else float(c.cost @ run.x) + c.offset
        bound = run.bound
        gap = relative_gap(objective, bound)
    if started is not None:
        report.update(started.report())
    if run.searched_again:
        report["searched_again_without_start"] = True
    if run.planner_mib is not None:
        report["planner_in_search_mib"] = round(run.planner_mib, 1)
    if run.killed == "time_limit":
        report["time_limit_enforced_s"] = round(run.seconds - float(sent["time_limit"]), 1)
    if run.died:
        report["solver_process_died"] = f"{run.died} {seconds:,.0f} s into its search"
    if ms in (MS.kInterrupt, MS.kHighsInterrupt):
        report["interrupted_by_user"] = True
        if status == "best_found":
            message = "stopped by Ctrl-C: the best plan found so far (not proven optimal; gap shown)"
    return SolveOutcome(status, "solver_process_died" if run.died else ms.name, objective, bound, gap, seconds,
                        run.version, report, message, compiled=c, x=x, basis=p.basis,
                        proof_run=run if run.follow_on is not None else None)


def search_lost_message(what: str, seconds: float, has_plan: bool, low_memory: bool, memory: str = "") -> str:
    """What the run says when HiGHS's search ended `seconds` in without its final plan (`what`: that
    HiGHS ran out of memory, or how its process ended), and what is kept. `memory`: "said" (HiGHS
    said it ran out), "likely" (killed by SIGKILL: on Linux most likely by the system's out-of-memory
    killer) or "" (another end): either of the first two suggests --low-memory where it was off."""
    hint = " -- most likely the machine ran out of memory" if memory == "likely" else ""
    if memory and not low_memory:
        hint += "; try --low-memory"
    kept = ("the best plan it had reported is kept (not proven optimal; gap shown)" if has_plan
            else "it had reported no plan")
    return f"{what} {seconds:,.0f} s into its search{hint}: {kept}"


def give_back_memory() -> None:
    """Collect what was let go (a Pyomo model is full of reference cycles) and hand the freed memory
    back to the system (glibc; elsewhere nothing more)."""
    import gc
    gc.collect()
    malloc_trim()


def _valid_basis(h: highspy.Highs) -> highspy.HighsBasis | None:
    b = h.getBasis()
    return b if b.valid else None


def low_memory_search(options: SolverOptions) -> dict:
    """The HiGHS options a MIP search adds with `low_memory`: one thread, unless `threads` was
    chosen (HiGHS 1.16 searches with one worker per thread, each with its own copy of the LP
    relaxation, and computes the root's analytic centre, an interior-point solve on a copy of the
    whole model, on a second thread beside the root LP), and the root LP not presolved a second
    time (`mip_root_presolve_only`: its postsolve peaked ~0.1 GB above the rest of the root on
    large). For the main search only (the expected-value start's MIP is far smaller, and there
    `mip_root_presolve_only` led HiGHS to a start plan 0.05% dearer on large), in the child only
    (the planner's own LPs keep HiGHS's defaults). On large, one thread and root presolve only
    took HiGHS alone from 4,217 to 3,275 MiB at its peak (bench/results.md)."""
    if not options.low_memory:
        return {}
    return {"mip_root_presolve_only": True, **({} if options.threads else {"threads": 1})}


def _mip_job(p: Prepared, options: dict, started) -> dict:
    """The MIP for the child process (planner/solver/mip_worker.py): the compiled model (column bounds
    changed on `p.h` apply to the LPs solved in it, not here), the HiGHS options, the start plan."""
    job = {**model_arrays(p.c), "options": options, "tee": p.tee,
           "start": None if started is None else started.x,
           "start_objective": None if started is None else started.objective}
    if p.proof_budget_s is not None:
        job["follow_on"] = {"columns": p.c.columns_of("v_build")[0], "budget_s": p.proof_budget_s}
    return job
