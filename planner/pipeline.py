"""workbook -> validated tables -> model -> solve -> verified plain tables -> Excel."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd


from planner.analyses.cases import add_to_model, apply_edits
from planner.dataset.data import PlanData, build_data, expected_value_data, load_data
from planner.io.reader import read_workbook
from planner.dataset.diagnostics import unreachable_demand
from planner.analyses.explain import iis_report, smallest_relaxations
from planner.model.definition import resolve_definition, AUTO_EV_FLOWS, BUILD_APART_FLOWS, EV_START_GAP, START_SHARE, ModelDefinition, SolverOptions
from planner.errors import DefinitionError, NothingWrittenError, OutputExistsError, OutputWriteError
from planner.model.formulation import build_model
from planner.solver.previous import previous_builds
from planner.results.brief import brief_table, read_prices
from planner.analyses.compare import KEYS
from planner.results.report import (PER_SCENARIO_KEPT, SCENARIO_DETAIL_MAX, TABLE_NAMES, RunRecord,
                                    expected_over_scenarios, output_tables, run_info_table)
from planner.results.solution import Solution
from planner.solver.checked import check_plan
from planner.solver.mip_worker import collect_follow_on, prestart
from planner.solver.proofs import Proofs, prove_decisions
from planner.solver.solve import (Compiled, Prepared, SolveOutcome, compile_apart, compile_model, give_back_memory, prepare, relative_gap, resolve_with_fixed_builds, run_prepared, set_time_limit)
from planner.results.mapping import MapAside
from planner.io.writer import check_target, json_path, write_json, write_tables

def default_output(input_path: Path, model: str, out_dir: Path = Path("outputs"), without: tuple[str, ...] = (),
                   reserve: bool = True) -> Path:
    """A new name `outputs/<input>_<model>[_without-<members>]_<time>.xlsx` (with -2, -3 ... where
    that name, its JSON or its map exists), claimed by creating its reservation file exclusively, so
    that two runs started in the same second never pick the same name (`release_name` removes the
    reservation once the run's files are written)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    left = f"_without-{'-'.join(sorted(without))}" if without else ""
    base = out_dir / f"{input_path.stem}_{model}{left}_{stamp}.xlsx"
    out_dir.mkdir(parents=True, exist_ok=True)
    path, k = base, 2
    while True:
        if not any(path.with_suffix(x).exists() for x in (".xlsx", ".json", ".png")):
            if not reserve:
                return path
            try:
                os.close(os.open(_reservation(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return path
            except FileExistsError:
                pass  # another run claimed it a moment ago
        path = base.with_name(f"{base.stem}-{k}{base.suffix}")
        k += 1


def _reservation(path: Path) -> Path:
    return path.with_name(f".{path.stem}.reserved")


def release_name(path: Path | None) -> None:
    """Remove the reservation `default_output` made for `path` (if any)."""
    if path is not None:
        try:
            os.unlink(_reservation(Path(path)))
        except FileNotFoundError:
            pass


@dataclass
class RunResult:
    outcome: SolveOutcome
    data: PlanData
    definition: ModelDefinition
    solution: Solution | None = None
    costs: dict = field(default_factory=dict)
    output: Path | None = None
    json: Path | None = None
    map: Path | None = None
    max_violation: float = 0.0
    timings: dict = field(default_factory=dict)
    compiled: Compiled | None = None  # the model as HiGHS received it (for diagnostics), never written out
    proofs: Proofs | None = None  # each build decision tested with its reversal (None: not tested)


def chosen_start(data: PlanData, options: SolverOptions) -> str:
    """The start heuristic to use: the definition's, or for "auto" the expected-value start when the
    model has two scenarios or more and at least AUTO_EV_FLOWS flow variables, else none."""
    if options.start_heuristic != "auto":
        return options.start_heuristic
    flows = len(data.arcs) * len(data.PERIODS) * len(data.SCENARIOS)
    return "expected_value" if len(data.SCENARIOS) > 1 and flows >= AUTO_EV_FLOWS else "none"


class MainModel:
    """The model a run solves: built, compiled and handed to HiGHS once (`prepare`), in the
    foreground when first needed, or by `work` in a thread while the expected-value start's search
    runs in its own process (the planner would otherwise only wait). The Pyomo model is let go as
    soon as it is compiled: no Pyomo model is held during any search, and the plan is read by the
    compiled columns' keys."""

    def __init__(self, data: PlanData, definition: ModelDefinition, write_mps: str | Path | None = None,
                 prove: bool = False, additions: tuple = ()):
        self.data, self.definition, self.write_mps, self.prove = data, definition, write_mps, prove
        self.additions = additions  # additions to the model (`cases.add_to_model`): a plan fixed
        self.prepared: Prepared | SolveOutcome | None = None
        self.build_s = 0.0
        self.during_start_s: float | None = None  # how long `work` took, if it did the work

    def work(self) -> None:
        """`prepare`, for `solve_in_child`'s `during` (which keeps what this raises instead of
        printing it). A step that fails leaves nothing of itself behind: the foreground does it
        again, where the failure is reported as any other."""
        t0 = time.perf_counter()
        self.prepare()
        self.during_start_s = time.perf_counter() - t0

    def prepare(self) -> Prepared | SolveOutcome:
        """The model built, compiled and handed to HiGHS (with the definition's options), now if
        `work` has not done it."""
        if self.prepared is None:
            c, report, self.build_s = build_and_compile(self.data, self.definition, self.additions)
            self.prepared = prepare(c, self.definition.solver, write_mps=self.write_mps, report=report)
            if isinstance(self.prepared, Prepared) and tests_decisions(c, self.prove) and not self.additions:
                self.prepared.proof_budget_s = proof_budget(self.definition.solver)
        return self.prepared


def build_and_compile(data: PlanData, definition: ModelDefinition, additions: tuple = ()
                      ) -> tuple[Compiled, dict, float]:
    """The model built (with `additions`, `cases.add_to_model`) and compiled, and the Pyomo model let
    go: in a short-lived process of its own where `builds_apart`, else here (then collected). (The
    compiled model, what was done for run_info, the build's seconds.)"""
    t0 = time.perf_counter()

    def build():
        m = build_model(data, definition)
        if additions:
            add_to_model(m, data, additions)
        return m
    if builds_apart(data, definition.solver):
        c = compile_apart(build)
        seconds = time.perf_counter() - t0
        return c, {"built_apart": True, "build_compile_s": round(seconds, 3)}, seconds
    m = build()
    t1 = time.perf_counter()
    c = compile_model(m)
    t2 = time.perf_counter()
    del m
    give_back_memory()  # the Pyomo model is full of reference cycles: collected now, not at the collector's leisure
    return c, {"compile_s": round(t2 - t1, 3)}, t1 - t0


PROOF_AUTO_COLUMNS = 50_000  # plan solve tests its decisions by LP up to this many columns (else with --prove)
PROOF_BUDGET_S = 5.0  # seconds at most for the LP tests (or 10% of the time limit, whichever is more)


def tests_decisions(c: Compiled, prove: bool) -> bool:
    """Whether a run tests its build decisions: a model with integers, of at most PROOF_AUTO_COLUMNS
    columns unless `prove`."""
    return bool(len(c.integer)) and (prove or c.n_cols <= PROOF_AUTO_COLUMNS)


def proof_budget(options: SolverOptions) -> float:
    limit = options.time_limit_s
    return max(PROOF_BUDGET_S, 0.1 * limit) if limit else PROOF_BUDGET_S


def end_proofs(outcome: SolveOutcome) -> None:
    """End the search's child if it is still testing decisions nobody will read."""
    if outcome.proof_run is not None:
        collect_follow_on(outcome.proof_run, 0.0)
        outcome.proof_run = None


def test_decisions(data: PlanData, definition: ModelDefinition, outcome: SolveOutcome, prove: bool,
                   timings: dict) -> Proofs | None:
    """Each build decision of the reported plan tested with its reversal (planner/solver/proofs.py):
    by LP for models of at most PROOF_AUTO_COLUMNS columns, and for any model with `prove`, which
    adds forced MIPs for what the LPs leave open (sharing the run's time limit). What was found goes
    to run_info and, where a decision is not proven, a warning that names it."""
    c = outcome.compiled
    if outcome.hand_over.get("plan_fixed_by"):  # every decision fixed: a reversal would prove nothing
        end_proofs(outcome)
        outcome.hand_over["decisions_tested"] = (f"no: the plan was fixed ({outcome.hand_over['plan_fixed_by']}); its "
                                                 "gap is against that engine's bound")
        return None
    if c is None or outcome.x is None or not tests_decisions(c, prove):
        end_proofs(outcome)
        if c is not None and len(c.integer) and outcome.x is not None:
            outcome.hand_over["decisions_tested"] = (f"no: {c.n_cols:,} columns (decisions are tested by LP up "
                                                     f"to {PROOF_AUTO_COLUMNS:,}); plan solve --prove tests them")
        return None
    limit = definition.solver.time_limit_s
    budget = proof_budget(definition.solver)
    t0 = time.perf_counter()
    # the LP tests the search's child ran after its search, beside the planner's own work (if it did)
    found = None
    if outcome.proof_run is not None:
        found = collect_follow_on(outcome.proof_run, budget + 10.0)
        outcome.proof_run = None
    proofs = prove_decisions(c, outcome.x, outcome.objective, budget, mip=prove,
                             mip_limit_s=limit if limit else 60.0, seed=definition.solver.seed, found=found)
    outcome.hand_over["decisions_tested_in"] = "the search's process" if found is not None else "the planner"
    timings["proofs_s"] = time.perf_counter() - t0
    left = proofs.unproven
    outcome.hand_over.update({"decisions_tested": len(proofs.decisions),
                              "decisions_proven": len(proofs.decisions) - len(left),
                              "decisions_proof_seconds": round(proofs.seconds, 3),
                              "decisions_proofs_out_of_time": proofs.out_of_time})
    for i, d in enumerate(left, start=1):
        bound = "not tested" if d.bound_musd is None else f"bound {d.bound_musd:,.1f} MUSD"
        cheaper = "" if d.cheaper_musd is None else f"; a reversed plan costs {d.cheaper_musd:,.1f} MUSD"
        outcome.hand_over[f"decision_unproven_{i}"] = f"{d.label} ({bound}{cheaper})"
    if left:
        names = ", ".join(d.label for d in left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        data.warnings.append(
            f"{len(left)} of {len(proofs.decisions)} build decisions are not proven at this gap: reversed, a plan "
            f"might cost less than this one ({proofs.plan_cost_musd:,.1f} MUSD): {names} (run_info "
            "decision_unproven_*; plan solve --prove tests them with forced MIPs)")
    return proofs


def security_without_builds(data: PlanData, options: SolverOptions, compiled: Compiled) -> pd.DataFrame:
    """Summary rows: the demand left unmet with no new site built (every build option of the
    `compiled` model fixed at 0, the flows solved as an LP), expected over the scenarios and in the
    worst one, in tonnes over the horizon, beside the portfolio's own (`unmet_demand_t`). It needs
    no plan: a run that writes its portfolio solves it while HiGHS's search runs."""
    cols = ["key", "value", "unit"]
    compiled = stocks_free(data, compiled)
    none = resolve_with_fixed_builds(SolveOutcome("", "", None, None, None, 0.0, "", compiled=compiled), options,
                                     none_built=True)
    if none.status != "optimal" or none.x is None:
        return pd.DataFrame([("unmet_demand_t_without_builds", "", f"no plan without new builds ({none.status}: "
                              "forced builds or financing rules need some)")], columns=cols)
    years = data.periods["years"].astype(float).to_dict()
    prob = data.scenarios["probability"].astype(float).to_dict()
    by = dict.fromkeys(data.SCENARIOS, 0.0)
    index, x = none.values("v_unmet")
    for (_, _, t, sc), u in zip(index, x.tolist()):
        by[sc] += years[t] * max(u, 0.0)
    worst = max(by, key=by.get)
    return pd.DataFrame([
        ("unmet_demand_t_without_builds", sum(prob[sc] * u for sc, u in by.items()),
         "t over the horizon (expected) with no new site built: every build option fixed at 0, flows re-solved"),
        ("worst_scenario_without_builds", worst, "the scenario with the most unmet demand without new builds"),
        ("worst_unmet_demand_t_without_builds", by[worst], "t over the horizon in that scenario")], columns=cols)


def check_outputs(target: Path, force: bool, reads: list) -> None:
    """Refuse, before any solve, a portfolio target that is not a workbook, is one of the files the
    run reads (`reads`), or whose workbook, JSON copy or map exists without `force` (a JSON copy
    alone: an earlier run whose workbook was never written, which `plan export` rebuilds)."""
    if target.suffix.lower() in (".json", ".png"):
        raise OutputExistsError(f"-o '{target}': the portfolio is an Excel workbook (-o NAME.xlsx); its JSON "
                                "copy and its map are written beside it under the same name")
    check_target(target, force, inputs=reads)
    lone = json_path(target)
    if not force and lone.exists() and not target.exists():
        raise OutputExistsError(f"'{lone}' is the JSON copy of an earlier run whose workbook '{target}' was "
                                f"not written: `plan export {lone}` rebuilds that workbook; --force replaces "
                                "the copy with this run's, -o chooses another name")
    for path in (lone, target.with_suffix(".png")):
        check_target(path, force, inputs=reads)


def stocks_free(data: PlanData, c: Compiled) -> Compiled:
    """The compiled model with its stock levels free again (0 to the stock's maximum; tonnes added from
    0 up), as the model states them: a plan fixed by bounds (`--engine ph`) fixes them too."""
    stock, stock_cols = c.columns_of("v_stock"), c.columns_of("v_stock_added")
    if not len(stock[0]) and not len(stock_cols[0]):
        return c
    most = data.stockpiles["max_t"].astype(float).to_dict()
    lower, upper = c.col_lower.copy(), c.col_upper.copy()
    for j, (p, _) in zip(*stock):
        lower[j], upper[j] = 0.0, most[p]
    for j, _ in zip(*stock_cols):
        lower[j], upper[j] = 0.0, np.inf
    return dataclasses.replace(c, col_lower=lower, col_upper=upper)


def builds_apart(data: PlanData, options: SolverOptions) -> bool:
    """Whether the model is built and compiled in a short-lived process of its own
    (`solve.compile_apart`): with --low-memory, or from BUILD_APART_FLOWS flow variables; smaller
    models are built here, where a fork would cost more than it returns."""
    return options.low_memory or len(data.arcs) * len(data.PERIODS) * len(data.SCENARIOS) >= BUILD_APART_FLOWS


def expected_value_start(data: PlanData, definition: ModelDefinition, options: SolverOptions,
                         progress=None, during=None) -> tuple[frozenset | None, dict]:
    """The expected-value start: the builds of the expected-value problem (one scenario with the
    probability-weighted demand and availabilities, `data.expected_value_data`), solved to
    EV_START_GAP within START_SHARE of the time limit, whatever the run's gap (a start plan close to
    the optimum lets the main search reach a loose gap at its root: large at --mip-gap 0.02 stopped
    after the root LP at 1.45% from the start solved to 0.1%, but from one solved to 2% it went on
    into the cut rounds at 2.20%: bench/results.md). Returns the
    (candidate, build period) pairs it builds (None if it found no plan, or if the workbook has one
    scenario: the problem would be solved twice) and what it did, for run_info. Progress shows the
    elapsed time only: its costs are not the plan's. `during` is done while its search runs
    (`solve.run_prepared`)."""
    if len(data.SCENARIOS) < 2:
        return None, {"start_ev_status": "one_scenario"}
    t0 = time.perf_counter()
    ev_data = expected_value_data(data)
    limit = START_SHARE * options.time_limit_s if options.time_limit_s else None
    ev_options = dataclasses.replace(options, time_limit_s=limit, mip_gap=EV_START_GAP,
                                     start_heuristic="none")
    shown = None if progress is None else (lambda t, *_: progress(t, None, None, None))
    out = solve_expected_value(ev_data, definition, ev_options, shown, during)
    report = {"start_ev_status": out.status, "start_ev_objective": out.objective, "start_ev_gap": out.mip_gap,
              "start_ev_s": round(time.perf_counter() - t0, 3)}
    if out.hand_over.get("interrupted_by_user") or out.status == "interrupted":
        report["start_ev_interrupted"] = True  # Ctrl-C: the run stops after handing over what it has
    if not out.usable:
        return None, report
    index, x = out.values("v_build")
    return frozenset(k for k, v in zip(index, x) if v > 0.5), report


def solve_expected_value(ev_data: PlanData, definition: ModelDefinition, options: SolverOptions, progress=None,
                         during=None) -> SolveOutcome:
    """The expected-value problem built, compiled (`build_and_compile`) and solved; its builds are
    read by the columns' keys."""
    c, report, _ = build_and_compile(ev_data, definition)
    p = prepare(c, options, report=report)
    return p if isinstance(p, SolveOutcome) else run_prepared(p, options, progress, during=during)


def solve_with_start(main: MainModel, data: PlanData, definition: ModelDefinition, progress=None,
                     start_from: frozenset | None = None, beside: Callable[[Compiled], None] | None = None
                     ) -> SolveOutcome:
    """Solve the main model (`main`) with the definition's solver options, after the expected-value
    start where the start heuristic (`chosen_start`) calls for it: the main model is then built and
    compiled while the start's search runs; the time limit is the whole solve's, so the MIP gets
    what the start left, and progress counts from the start's beginning. `start_from` (the builds of
    an earlier portfolio, planner/solver/previous.py) replaces the start heuristic. What the start did goes
    into the outcome's `hand_over` (run_info). `beside(compiled)`: work of the caller's that needs the
    compiled model but no plan, done while the main search runs (not with --low-memory, where the
    planner holds as little as it can during the search)."""
    solver = definition.solver
    t0 = time.perf_counter()
    start_plans, started = None, {}
    if start_from is not None:
        options = dataclasses.replace(solver, start_heuristic="none")
        start_plans, started["start_heuristic_chosen"] = (start_from,), "start_from"
    else:
        options = dataclasses.replace(solver, start_heuristic=chosen_start(data, solver))
        if solver.start_heuristic == "auto":
            started["start_heuristic_chosen"] = options.start_heuristic
    if options.start_heuristic == "expected_value":
        # the main model is built while the start searches, except with --low-memory (the two together
        # are what the machine would need at once)
        builds, ev = expected_value_start(data, definition, solver, progress,
                                          during=None if solver.low_memory else main.work)
        start_plans = None if builds is None else (builds,)
        started.update(ev)
        spent = time.perf_counter() - t0
        if solver.time_limit_s:
            options = dataclasses.replace(options, time_limit_s=max(solver.time_limit_s - spent, 1.0))
        if progress is not None:
            progress = (lambda report, offset: lambda t, *a: report(t + offset, *a))(progress, spent)
    if main.during_start_s is not None:
        started["main_model_prepared_during_start_s"] = round(main.during_start_s, 3)
    p = main.prepare()
    if isinstance(p, SolveOutcome):
        outcome = p
    else:
        set_time_limit(p, options)
        during = None if beside is None or solver.low_memory else (lambda: beside(p.c))
        outcome = run_prepared(p, options, progress, start_plans, stopped=bool(started.get("start_ev_interrupted")),
                               during=during, lean=True)
    outcome.hand_over.update(started)
    return outcome


def solve_workbook(input_path: str | Path, output: str | Path | None = None, force: bool = False,
                   model: str | None = None, time_limit: float | None = None, mip_gap: float | None = None,
                   write: bool = True, out_dir: Path = Path("outputs"), without: tuple[str, ...] = (),
                   explain_iis: bool = False, standards: bool | None = None, progress=None,
                   write_mps: str | Path | None = None, solver_overrides: dict | None = None,
                   start_from: str | Path | None = None, prove: bool = False, edits: tuple = (),
                   prices: str | Path | None = None, tables: tuple[str, ...] | None = None,
                   writing=None, fixed_plan: dict | None = None) -> RunResult:
    """Solve the workbook at `input_path` (with `edits` made to its cells as read, as a batch's case
    makes them: planner/analyses/cases.py) and, with `write`, write the portfolio; `prices`: a
    `plan prices` output whose rules' worth the brief gives; `tables`: the sheets to write (the brief,
    summary, run_info and the kept input cells always are; None: all); `writing(message)`: told which
    sheet has been written, for a large portfolio. `fixed_plan`: a first stage found elsewhere
    (progressive hedging, planner/analyses/ph.py): {"builds", "stocks", "bound_musd", "by", "report"};
    the plan is fixed in the whole model, solved, checked and written like any other, and its gap is
    against `bound_musd`."""
    input_path = Path(input_path)
    prestart()  # HiGHS's process starts while the workbook is read and the model built
    definition = resolve_definition(model, time_limit, mip_gap, solver_overrides, standards)
    if write and output is not None:  # fail before a long solve, not after
        check_outputs(Path(output), force, [input_path, start_from, definition.source or None, prices])
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    extras = {"prices": read_prices(prices) if prices is not None else None, "tables": chosen_tables(tables),
              "writing": writing, "fixed_plan": fixed_plan}
    if fixed_plan is not None:  # nothing left for a start to choose
        definition = dataclasses.replace(definition, solver=dataclasses.replace(definition.solver,
                                                                                 start_heuristic="none"))
    if edits:
        raw, definition, more = apply_edits(read_workbook(input_path), definition, edits)
        data = build_data(raw, definition.overrides, tuple(without) + more, standards=definition.standards)
    else:
        data = load_data(input_path, definition.overrides, without, standards=definition.standards)
    data.warnings.extend(unreachable_demand(data))
    start_plan = None
    if start_from is not None:
        start_plan, left_out = previous_builds(start_from, data)
        data.warnings.extend(left_out)
    timings["read_validate_s"] = time.perf_counter() - t0
    aside = MapAside(data) if write else None  # the map's process starts now (matplotlib loads meanwhile)
    try:
        return _solve_read(data, definition, input_path, output, force, write, out_dir, without, explain_iis,
                           progress, write_mps, start_from, start_plan, timings, aside, prove, extras)
    finally:
        if aside is not None:
            aside.close()


def _solve_read(data: PlanData, definition: ModelDefinition, input_path: Path, output, force: bool, write: bool,
                out_dir: Path, without: tuple[str, ...], explain_iis: bool, progress, write_mps, start_from,
                start_plan, timings: dict, aside, prove: bool = False, extras: dict | None = None) -> RunResult:
    """`solve_workbook` once the workbook is read: solve, check, write."""
    solver = definition.solver
    fixed = (extras or {}).get("fixed_plan")
    additions = (("fix_plan", tuple(fixed["builds"]), tuple(fixed["stocks"])),) if fixed else ()
    main = MainModel(data, definition, write_mps, prove, additions)
    if chosen_start(data, solver) != "expected_value" or start_plan is not None:
        main.prepare()  # now (with the expected-value start, while the start searches)
    t0 = time.perf_counter()
    beside = None
    if write and extras is not None:  # the portfolio's no-build security rows need no plan: solved while HiGHS searches
        def beside(compiled: Compiled) -> None:
            extras["security"] = security_without_builds(data, solver, compiled)
    outcome = solve_with_start(main, data, definition, progress, start_plan, beside)
    timings["build_s"] = main.build_s
    late = outcome.hand_over.get("time_limit_enforced_s")
    if late is not None:
        data.warnings.append(f"HiGHS did not stop at the time limit of its search "
                             f"({outcome.hand_over['highs_option_time_limit']:,.0f} s): the planner stopped it "
                             f"{late:,.0f} s past it and kept the best plan HiGHS had reported (README: Solver options)")
    if outcome.termination in ("solver_process_died", "kMemoryLimit") and outcome.usable:
        data.warnings.append(outcome.message)
    if start_plan is not None and outcome.hand_over.get("start_heuristic_stopped_by") == "no_feasible_start":
        data.warnings.append(f"the plan in '{Path(start_from).name}' is not feasible for this workbook; "
                             "solved without a start")
    timings["solve_s"] = time.perf_counter() - t0
    result = RunResult(outcome=outcome, data=data, definition=definition, timings=timings)
    if outcome.status in ("infeasible", "infeasible_or_unbounded"):
        if explain_iis and outcome.compiled is not None:
            outcome.hand_over["iis"] = iis_report(outcome.compiled)
        relax = smallest_relaxations(data, definition)
        if relax:
            outcome.status = "infeasible"
            outcome.message = ("no plan satisfies the financing rules; the smallest relaxations that would:\n  "
                               + "\n  ".join(relax))
    if not outcome.usable:
        end_proofs(outcome)
        return result
    if fixed:
        outcome.hand_over.update({"plan_fixed_by": fixed["by"], **fixed.get("report", {})})
    sol, costs, max_v, where = check_plan(data, definition, solver, outcome, timings)
    result.solution, result.costs, result.max_violation = sol, costs, max_v
    if fixed and outcome.usable:
        against_bound(outcome, fixed.get("bound_musd"), solver)
    result.compiled = outcome.compiled
    if not outcome.usable:
        end_proofs(outcome)
        return result
    if not write:
        result.proofs = test_decisions(data, definition, outcome, prove, timings)
    else:
        target = Path(output) if output is not None else default_output(input_path, definition.name, out_dir,
                                                                         tuple(data.INACTIVE))
        run = RunRecord(input_file=str(input_path), input_sha256=data.content_sha256, definition=definition,
                        options={"time_limit_s": solver.time_limit_s, "mip_gap": solver.mip_gap,
                                 "mip_abs_gap": solver.mip_abs_gap,
                                 "threads": solver.threads, "seed": solver.seed, "presolve": solver.presolve,
                                 "heuristic_effort": solver.heuristic_effort,
                                 "start_heuristic": solver.start_heuristic,
                                 "start_from": "" if start_from is None else str(start_from),
                                 "low_memory": solver.low_memory,
                                 "without": ",".join(without)},
                        outcome=outcome, max_violation=max_v, max_violation_where=where, warnings=data.warnings)
        try:
            _write_run(data, definition, outcome, sol, run, target, force, prove, timings, result, aside,
                       extras or {})
        finally:
            if output is None:
                release_name(target)
    return result


def against_bound(outcome: SolveOutcome, bound: float | None, solver: SolverOptions) -> None:
    """A fixed plan's outcome measured against a bound found elsewhere: its gap, and optimal only
    when that gap is within the run's relative or absolute gap."""
    if bound is None:
        outcome.bound = outcome.mip_gap = None
        outcome.status, outcome.message = "best_found", "no bound was found: the plan is not proven"
        return
    outcome.bound = float(bound)
    outcome.mip_gap = relative_gap(outcome.objective, outcome.bound)
    slack = outcome.objective - outcome.bound
    within = (outcome.mip_gap is not None and outcome.mip_gap <= float(solver.mip_gap or 0.0) + 1e-12) or \
        (solver.mip_abs_gap is not None and slack <= float(solver.mip_abs_gap))
    outcome.status = "optimal" if within else "best_found"
    outcome.message = (f"optimal within the MIP gap against the bound of {outcome.hand_over.get('plan_fixed_by')}"
                       if within else f"{outcome.hand_over.get('plan_fixed_by')} stopped with a gap above the one asked "
                       "for: the plan is the best it found")


ALWAYS_WRITTEN = ("summary", "run_info", "inputs")  # with the brief: what compare and brief need
LARGE_OUTPUT_ROWS = 1_000_000
WRITE_PROGRESS_ROWS = 100_000  # a portfolio of more table rows says which sheet it has written


def chosen_tables(names: tuple[str, ...] | None) -> frozenset | None:
    """The sheets `--tables` names, checked against the portfolio's (None: every sheet)."""
    if not names:
        return None
    known = set(TABLE_NAMES)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DefinitionError(f"--tables names no sheet of the portfolio: {', '.join(unknown)}; the sheets: "
                              f"{', '.join(TABLE_NAMES)}")
    return frozenset(names)


def _write_run(data: PlanData, definition: ModelDefinition, outcome: SolveOutcome, sol: Solution, run: RunRecord,
               target: Path, force: bool, prove: bool, timings: dict, result: RunResult, aside,
               extras: dict) -> None:
    """The run's tables, its decisions' tests and the brief; then the JSON copy and the workbook."""
    t0 = time.perf_counter()
    # the map is drawn in a process of its own while the tables, the JSON copy and the workbook
    # are written; the workbook takes the picture when it is done (a map is a picture: its
    # failure never costs the portfolio, and is a warning)
    aside.draw(sol, target.with_suffix(".png"), force)

    def picture():
        png, failed = aside.done()
        if failed:
            data.warnings.append(f"the map could not be drawn ({failed})")
        result.map = png
        return png

    tables = output_tables(data, sol, run)
    security = extras.get("security")  # solved while HiGHS searched, or now
    if security is None:
        security = security_without_builds(data, definition.solver, outcome.compiled)
    tables["summary"] = pd.concat([tables["summary"], security], ignore_index=True)
    wanted = extras.get("tables")
    if wanted is not None:  # --tables: the sheets asked for (the brief reads summary, portfolio, financing...)
        brief_source = dict(tables)
        tables = {k: v for k, v in tables.items() if k in wanted or k in ALWAYS_WRITTEN}
    else:
        brief_source = dict(tables)
    if len(data.SCENARIOS) > SCENARIO_DETAIL_MAX:  # a row per scenario only where --tables asks for it
        prob = data.scenarios["probability"].astype(float).to_dict()
        summed = [k for k, v in tables.items() if "scenario" in v.columns and k not in PER_SCENARIO_KEPT
                  and not (wanted and k in wanted)]
        tables.update({k: expected_over_scenarios(tables[k], prob, KEYS.get(k)) for k in summed})
        if summed:
            data.warnings.append(f"{len(data.SCENARIOS)} scenarios: the sheets {', '.join(summed)} give expectations "
                                 f"over the scenarios (more than {SCENARIO_DETAIL_MAX}); --tables NAME writes a "
                                 "sheet with a row per scenario")
    rows = sum(len(df) for df in tables.values())
    say = extras.get("writing") or (lambda message: None)
    if rows > LARGE_OUTPUT_ROWS:
        message = (f"the portfolio has {rows:,} table rows (about {rows * 120 / 2**20:,.0f} MB of Excel and JSON): "
                   "writing takes a while; --tables writes only the sheets you name")
        data.warnings.append(message)
        say(f"warning: {message}")
    shown = rows > WRITE_PROGRESS_ROWS
    t_write = time.perf_counter()

    def wrote(name: str, n_rows: int, k: int, of: int) -> None:
        if shown:
            say(f"  wrote sheet {k} of {of}: {name} ({n_rows:,} rows), {time.perf_counter() - t_write:,.0f} s")
    done: dict = {}

    def finish() -> dict:
        """The decisions' tests (run by the search's process beside the work above) into run_info, the
        brief, and the JSON copy -- written before the workbook is saved, so that a failure of the
        workbook's writer loses no solve. Once, whoever asks first."""
        if not done:
            result.proofs = test_decisions(data, definition, outcome, prove, timings)
            tables["run_info"] = brief_source["run_info"] = run_info_table(run)
            done.update({"brief": brief_table(brief_source, extras.get("prices")), **tables})
            try:
                result.json = write_json(done, json_path(target), force=force)
            except OutputExistsError:
                raise
            except Exception as exc:  # a read-only folder, a full disk, a file-size limit: nothing is kept
                raise NothingWrittenError(f"writing '{json_path(target)}' failed ({type(exc).__name__}: {exc}): "
                                          "nothing was written and this solve's result is lost; free space or "
                                          "choose a folder you can write to (-o), and solve again") from exc
        return done

    # the brief (the first sheet) and run_info are filled in last, in their places: the decisions'
    # tests finish while the other sheets are written
    sheets = {"brief": None, **tables, "run_info": None}
    try:
        result.output = write_tables(sheets, target, force=force, image=picture, late=finish, progress=wrote)
    except (NothingWrittenError, OutputExistsError):
        raise
    except Exception as exc:  # disk full, permissions, a bug in the writer: the solve is kept
        finish()  # the JSON copy, if the writer failed before it was made
        raise OutputWriteError(f"writing '{target}' failed ({type(exc).__name__}: {exc}); the solution is "
                               f"saved in '{result.json}': `plan export {result.json}` rebuilds the "
                               "workbook") from exc
    timings["write_s"] = time.perf_counter() - t0
