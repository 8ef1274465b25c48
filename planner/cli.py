"""Command line: `plan solve INPUT [-o PATH] [--force] [--model NAME] [--time-limit S] [--mip-gap F] [--quiet]`.

Every error a user can cause ends in one message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from planner.model.definition import START_HEURISTICS, START_SHARE
from planner.model.registry import OPTIONAL
from planner.errors import DefinitionError, InputError, NothingWrittenError, OutputExistsError, OutputWriteError
from planner.status import INPUT_ERROR_EXIT, NOTHING_WRITTEN_EXIT, STATUSES, USAGE_ERROR_EXIT, WRITE_ERROR_EXIT


MAX_WARNINGS_SHOWN = 12


def _progress_line(elapsed, incumbent, bound, gap) -> None:
    """One line of live MIP progress on stderr (HiGHS's callbacks, every few seconds)."""
    inc = f"{incumbent:,.1f}" if incumbent is not None else "none yet"
    bnd = f"{bound:,.1f}" if bound is not None else "-"
    g = f"{gap:.4%}" if gap is not None else "-"
    click.echo(f"  {elapsed:7.1f} s   incumbent {inc} MUSD   bound {bnd} MUSD   gap {g}", err=True)


MAX_INPUT_CHANGES_SHOWN = 30
MAX_STRESS_SHOWN = 10


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner")
def cli() -> None:
    """Alliance critical-minerals co-investment planner."""


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="output workbook (default: a new file under outputs/)")
@click.option("--force", is_flag=True, help="replace an existing output file")
@click.option("--model", "model", default="baseline", show_default=True,
              help="model definition: a name in models/ or a path to a .toml file; its [constraints] may "
                   f"switch off {', '.join(OPTIONAL)}")
@click.option("--time-limit", type=float, default=None, help="solver time limit in seconds")
@click.option("--mip-gap", type=float, default=None, help="relative MIP gap to stop at (fraction)")
@click.option("--mip-abs-gap", type=float, default=None, metavar="MUSD",
              help="absolute MIP gap to stop at (MUSD); HiGHS stops at whichever gap it reaches first")
@click.option("--without", "without", multiple=True, metavar="MEMBER",
              help="solve as if MEMBER had left the alliance (repeatable)")
@click.option("--explain-iis", is_flag=True,
              help="when infeasible, print HiGHS's irreducible infeasible subset of the LP relaxation")
@click.option("--standards", type=click.Choice(["on", "off"]), default=None,
              help="apply the workbook's standards sheet (default: as the model definition says, on)")
@click.option("--threads", type=int, default=None, help="HiGHS threads (default: HiGHS's choice)")
@click.option("--presolve", type=click.Choice(["choose", "on", "off"]), default=None, help="HiGHS presolve")
@click.option("--heuristic-effort", type=float, default=None,
              help="HiGHS MIP heuristic effort, 0..1 (default 0.05)")
@click.option("--start-heuristic", type=click.Choice(START_HEURISTICS), default=None,
              help=f"our own first plan for HiGHS: greedy add/drop/swap of builds, or the builds of the "
                   f"expected-value problem (one average scenario); either within {START_SHARE:.0%} of the time "
                   "limit; auto: the expected-value start for large stochastic models, else none (default: as the "
                   "model definition says, auto)")
@click.option("--start-from", type=click.Path(dir_okay=False), default=None, metavar="PORTFOLIO.xlsx",
              help="start from the builds of a portfolio written earlier (say, before you edited the workbook): "
                   "HiGHS's first plan makes them, its flows re-solved for this workbook; replaces the start "
                   "heuristic; builds this workbook cannot make are left out with a warning")
@click.option("--write-mps", type=click.Path(dir_okay=False), default=None,
              help="also save the model exactly as HiGHS received it (MPS), e.g. to time HiGHS alone")
@click.option("--low-memory", is_flag=True, default=None,
              help="HiGHS's main search with one thread (unless --threads is given) and the root LP presolved "
                   "once: less memory, often more time (docs/solver-options.md)")
@click.option("--prove", is_flag=True,
              help="test every build decision the LP tests leave unproven with a MIP forced the other way "
                   "(sharing the time limit), and test decisions of models too large for the LP tests by default")
@click.option("--prices", "prices", type=click.Path(dir_okay=False), default=None, metavar="PRICES.xlsx",
              help="a plan prices output: the brief gives what its rules are worth")
@click.option("--tables", "tables", default=None, metavar="SHEET,SHEET,...",
              help="write only these sheets (the brief, summary and run_info always; default: every sheet)")
@click.option("--engine", type=click.Choice(["extensive", "ph"]), default="extensive", show_default=True,
              help="extensive: one MIP of every scenario; ph: progressive hedging with mpi-sppy under "
                   "`mpiexec -n 3 python -m mpi4py -m planner solve ...` (docs/solve.md)")
@click.option("--ph-iterations", type=click.IntRange(min=1), default=100, show_default=True,
              help="with --engine ph: the most PH iterations")
@click.option("--quiet", is_flag=True, help="print only the final status line")
def solve(input_path, output, force, model, time_limit, mip_gap, mip_abs_gap, without, explain_iis, standards, threads, presolve,
          heuristic_effort, start_heuristic, start_from, write_mps, low_memory, prove, prices, tables, engine,
          ph_iterations, quiet):
    """Solve INPUT and write the optimal co-investment portfolio workbook."""
    from planner.pipeline import solve_workbook

    fixed_plan = None
    if engine == "ph":
        fixed_plan = _progressive_hedging(input_path, output, force, model, time_limit, mip_gap, mip_abs_gap,
                                          without, standards, ph_iterations)
    try:
        res = solve_workbook(input_path, output=output, force=force, model=model, time_limit=time_limit,
                             mip_gap=mip_gap, without=tuple(without), explain_iis=explain_iis,
                             standards=None if standards is None else standards == "on",
                             progress=None if quiet else _progress_line, write_mps=write_mps,
                             solver_overrides={"mip_abs_gap": mip_abs_gap, "threads": threads, "presolve": presolve,
                                               "heuristic_effort": heuristic_effort,
                                               "start_heuristic": start_heuristic, "low_memory": low_memory},
                             start_from=start_from, prove=prove, prices=prices,
                             tables=tuple(t.strip() for t in tables.split(",") if t.strip()) if tables else None,
                             writing=None if quiet else (lambda message: click.echo(message, err=True)),
                             fixed_plan=fixed_plan)
    except InputError as exc:
        _fail(str(exc), INPUT_ERROR_EXIT)
    except (DefinitionError, OutputExistsError) as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    except OutputWriteError as exc:
        _fail(str(exc), WRITE_ERROR_EXIT)
    except NothingWrittenError as exc:
        _fail(str(exc), NOTHING_WRITTEN_EXIT)
    except KeyboardInterrupt:
        _fail("interrupted before the solver started; nothing written", STATUSES["interrupted"][0])
    out = res.outcome
    if not quiet:
        shown = res.data.warnings[:MAX_WARNINGS_SHOWN]
        for w in shown:
            click.echo(f"warning: {w}", err=True)
        if len(res.data.warnings) > len(shown):
            click.echo(f"warning: ... and {len(res.data.warnings) - len(shown)} more (all in run_info)", err=True)
    if not out.usable:
        for line in out.hand_over.get("iis", []):
            click.echo(f"iis: {line}", err=True)
        _fail(f"{out.message} [status {out.status}]", out.exit_code)
    gap = f"{out.mip_gap:.4%}" if out.mip_gap is not None else "n/a"
    if out.objective is not None and out.bound is not None:
        gap += f" ({abs(out.objective - out.bound):,.1f} MUSD)"
    if not quiet:
        c = res.costs
        label = "OPTIMAL" if out.status == "optimal" else "BEST FOUND (not proven optimal)"
        if out.hand_over.get("interrupted_by_user"):
            label += ", stopped by Ctrl-C"
        click.echo(f"status: {label}   MIP gap: {gap}   solve: {out.solve_seconds:.1f} s")
        dec = 1 if abs(c["total_cost_musd"]) >= 100 else 4
        click.echo(f"total cost (PV): {c['total_cost_musd']:,.{dec}f} MUSD = cash + valuation")
        from planner.results.solution import CASH, VALUATION, carbon_is_cash
        carbon_cash = carbon_is_cash(res.data)
        for label, key, parts in (
                ("cash: money paid by anyone", "cash_cost_musd", CASH + (("carbon_musd",) if carbon_cash else ())),
                ("valuation: charges nobody pays", "valuation_cost_musd",
                 (() if carbon_cash else ("carbon_musd",)) + VALUATION)):
            click.echo(f"  {label:<34}{c[key]:>16,.{dec}f}")
            for k in parts:
                if c[k] or k == "capex_musd":  # the decision's own figure, even at 0
                    click.echo(f"    {k:<32}{c[k]:>16,.{dec}f}")
        click.echo(f"public money (PV): {c['public_money_musd']:,.{dec}f} MUSD: the capex the members pay, "
                   "the alliance's own outlay")
        sol = res.solution
        click.echo(f"sites built: {len(sol.builds)}   largest constraint violation: {res.max_violation:.3g}")
        from planner.results.report import unmet_headline
        line = unmet_headline(res.data, sol)
        if line:
            click.echo(line)
        if res.proofs is not None:
            left = res.proofs.unproven
            line = f"build decisions: {res.proofs.summary()}"
            if left:
                line += ("; not proven (reversed, a plan might cost less): " + ", ".join(d.label for d in left[:3])
                         + (f" and {len(left) - 3} more (run_info)" if len(left) > 3 else ""))
            click.echo(line)
    click.echo(f"wrote {res.output}  [{out.status}, gap {gap}]")  # and its JSON copy beside it
    sys.exit(out.exit_code)


def _progressive_hedging(input_path, output, force, model, time_limit, mip_gap, mip_abs_gap, without, standards,
                         iterations) -> dict:
    """`--engine ph` on every MPI rank: the workbook checked, PH run (planner/analyses/ph.py); rank 0
    goes on with the plan found (fixed, solved and written by `solve_workbook`), the other ranks end
    here. A failure is said once, by rank 0."""
    from pathlib import Path

    from planner.analyses.ph import CYLINDERS, missing, solve_ph, world
    from planner.dataset.data import load_data
    from planner.model.definition import resolve_definition
    from planner.pipeline import check_outputs

    why = missing()
    if why:
        _fail(why, USAGE_ERROR_EXIT)
    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()

    def fail(message, code):
        if rank == 0:
            _fail(message, code)
        sys.exit(code)
    if size < CYLINDERS or size % CYLINDERS:
        fail(f"--engine ph runs a hub and two spokes on MPI ranks, a multiple of {CYLINDERS} (this run has {size}): "
             f"mpiexec -n {CYLINDERS} python -m mpi4py -m planner solve INPUT --engine ph", USAGE_ERROR_EXIT)
    try:
        definition = resolve_definition(model, time_limit, mip_gap, {"mip_abs_gap": mip_abs_gap}, None if standards
                                        is None else standards == "on")
        if output is not None:  # the checks plan solve makes, before the long part; every rank, so all stop
            check_outputs(Path(output), force, [Path(input_path), definition.source or None])
        data = load_data(input_path, definition.overrides, tuple(without), standards=definition.standards)
    except InputError as exc:
        fail(str(exc), INPUT_ERROR_EXIT)
    except (DefinitionError, OutputExistsError) as exc:
        fail(str(exc), USAGE_ERROR_EXIT)
    if data.cvar_weight:
        fail("--engine ph solves risk-neutral workbooks: settings.cvar_weight couples the scenarios through the CVaR "
             "threshold; solve this workbook with the extensive form", USAGE_ERROR_EXIT)
    found = solve_ph(data, definition, definition.solver.mip_gap, definition.solver.time_limit_s, iterations)
    if rank != 0:
        sys.exit(0)
    if found.inner_musd is None:  # no first stage tried in every scenario: nothing to fix and write
        _fail(f"progressive hedging found no plan within its limits ({found.report.get('ph_status', 'no xhat')}; "
              f"best bound {found.outer_musd if found.outer_musd is not None else 'none'} MUSD); nothing written: "
              "give it more time (--time-limit) or iterations (--ph-iterations)", STATUSES["no_solution"][0])
    return {"builds": found.builds, "stocks": found.stocks, "bound_musd": found.outer_musd,
            "by": "progressive hedging", "report": found.report}


@cli.command(name="export")
@click.argument("json_path", metavar="JSON", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="output workbook (default: the JSON's name with .xlsx)")
@click.option("--force", is_flag=True, help="replace an existing output file")
def export(json_path, output, force):
    """Rebuild a portfolio workbook from the JSON copy a run saved beside it."""
    from pathlib import Path

    from planner.io.writer import check_target, read_json, write_tables

    src = Path(json_path)
    target = Path(output) if output else src.with_suffix(".xlsx")
    try:
        tables = read_json(src)
    except FileNotFoundError:
        _fail(f"'{src}' does not exist", INPUT_ERROR_EXIT)
    except (ValueError, KeyError, TypeError) as exc:
        _fail(f"'{src}' is not a portfolio JSON written by plan solve ({exc})", INPUT_ERROR_EXIT)
    png = src.with_suffix(".png")
    try:
        check_target(target, force, inputs=[src, png])
        write_tables(tables, target, force=force, image=png if png.exists() else None)
    except OutputExistsError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("run", metavar="RUN", type=click.Path(dir_okay=False))
@click.option("--prices", "prices", type=click.Path(dir_okay=False), default=None, metavar="PRICES.xlsx",
              help="a plan prices output: the brief gives what its rules are worth")
def brief(run, prices):
    """Print the one-page brief of a saved run (its workbook or its JSON copy), older runs included."""
    from pathlib import Path

    from planner.io.writer import read_json, read_portfolio
    from planner.results.brief import brief_lines, read_prices

    p = Path(run)
    try:
        tables = read_json(p) if p.suffix.lower() == ".json" else read_portfolio(p)
    except FileNotFoundError:
        _fail(f"'{p}' does not exist", INPUT_ERROR_EXIT)
    except Exception as exc:  # not a workbook or JSON of a run, damaged, ...
        _fail(f"'{p}' is not a readable saved run ({type(exc).__name__}: {exc})", INPUT_ERROR_EXIT)
    if "summary" not in tables:
        _fail(f"'{p}' has no summary sheet: not a portfolio written by plan solve", INPUT_ERROR_EXIT)
    try:
        priced = read_prices(prices) if prices else None
    except InputError as exc:
        _fail(str(exc), INPUT_ERROR_EXIT)
    for line in brief_lines(tables, priced):
        click.echo(line)


def _run_options(fn):
    """The options the analyses share with `plan solve`."""
    for opt in reversed((
            click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                         help="output workbook (default: a new file under outputs/)"),
            click.option("--force", is_flag=True, help="replace an existing output file"),
            click.option("--model", "model", default="baseline", show_default=True, help="model definition"),
            click.option("--time-limit", type=float, default=None, help="solver time limit in seconds (each solve)"),
            click.option("--mip-gap", type=float, default=None, help="relative MIP gap to stop at (fraction)"))):
        fn = opt(fn)
    return fn


def _target(input_path, output, kind):
    from pathlib import Path

    from planner.pipeline import default_output
    return Path(output) if output else default_output(Path(input_path), kind, reserve=False)


def _batch_options(fn):
    """The options of the commands on the sweep engine (plan why, plan sweep)."""
    for opt in reversed((
            click.option("--mip-abs-gap", type=float, default=None, metavar="MUSD",
                         help="each solve stops at this absolute gap (default: the definition's, else 25 MUSD; "
                              "the relative gap is 0 unless --mip-gap is given)"),
            click.option("--workers", type=click.IntRange(min=1), default=None,
                         help="local worker processes (default: the cores, capped by memory)"),
            click.option("--scheduler", default=None, metavar="ADDRESS",
                         help="run the solves on a Dask distributed cluster (e.g. tcp://host:8786; pip install "
                              "-e '.[dask]')"),
            click.option("--resume", is_flag=True,
                         help="continue a batch from its journal OUT.sweep/: skip the solves it holds"),
            click.option("--quiet", is_flag=True, help="no progress lines"))):
        fn = opt(fn)
    return fn


def _progress_batch(done, total, elapsed, eta, case, result) -> None:
    """One line per finished solve of a batch on stderr: count, elapsed, time left."""
    obj = result.get("objective_musd")
    cost = f"{obj:,.1f} MUSD" if obj is not None else result.get("status", "")
    click.echo(f"  [{done:>{len(str(total))}}/{total}] {elapsed:6.0f} s elapsed, about {eta:,.0f} s left   "
               f"{case.label or case.key}: {result.get('status')} ({cost})", err=True)


def _run_batch(make, input_path, output=None, force=False, model=None, time_limit=None, mip_gap=None, mip_abs_gap=None,
               workers=None, scheduler=None, resume=False, quiet=False):
    """Make the analysis (`make(data)`, given the workbook's validated tables), run it on the sweep
    engine and write its workbook; every failure one message. (target, tables, analysis)."""
    from planner.analyses.cases import BaseUnsolved
    from planner.analyses.sweep import BatchInterrupted, SchedulerError, batch_definition, run_analysis
    from planner.dataset.data import load_data
    from planner.model.definition import resolve_definition

    try:
        analysis = make(load_data(input_path))
    except InputError as exc:
        _fail(str(exc), INPUT_ERROR_EXIT)
    except ValueError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)

    target = _target(input_path, output, analysis.command)
    try:
        definition = batch_definition(resolve_definition(model), mip_gap, mip_abs_gap, time_limit)
        tables = run_analysis(analysis, input_path, target, definition, force=force, resume=resume, workers=workers,
                              scheduler=scheduler, progress=None if quiet else _progress_batch)
    except (OutputExistsError, DefinitionError, SchedulerError) as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    except InputError as exc:
        _fail(str(exc), INPUT_ERROR_EXIT)
    except BaseUnsolved as exc:
        _fail(str(exc), STATUSES["infeasible"][0])
    except BatchInterrupted as exc:
        kept = f"what had finished is in '{exc.partial}'" if exc.partial else "no solve had finished"
        _fail(f"interrupted after {exc.solved} solve(s); {kept}; --resume continues from the journal "
              f"'{exc.journal}'", STATUSES["interrupted"][0])
    except KeyboardInterrupt:
        _fail("interrupted; nothing written", STATUSES["interrupted"][0])
    except RuntimeError as exc:  # an analysis that cannot be computed: one message, never a traceback
        _fail(f"{analysis.command}: {exc}", STATUSES["error"][0])
    return target, tables, analysis


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--countries", default=None, metavar="C1,C2,...",
              help="countries to stress (default: every country producing in the plan)")
@click.option("--no-vss", is_flag=True, help="skip the value of the stochastic solution (one more MIP)")
@_run_options
@_batch_options
def stress(input_path, countries, no_vss, **opts):
    """Solve INPUT, then stop each supplier country's exports in turn with the plan fixed."""
    from planner.analyses.stress import Stress

    chosen = [c.strip() for c in countries.split(",") if c.strip()] if countries else None
    target, tables, _ = _run_batch(lambda data: Stress(data, chosen, vss=not no_vss), input_path, **opts)
    s = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    costs = tables.get("stress_cost")
    if costs is not None:
        shown = costs.head(MAX_STRESS_SHOWN)
        click.echo(f"plan: {s['plan_total_cost_musd']:,.1f} MUSD; exports stopped, one country at a time "
                   f"(extra expected cost, MUSD; the {len(shown)} dearest of {len(costs)} stressed, all in the "
                   "workbook):")
        for _, r in shown.iterrows():
            kind = f" ({r['kind']})" if r.get("kind", "country") != "country" else ""
            click.echo(f"  {r['country']:<6}{_fmt(r['extra_cost_musd']):>16}   [{r['status']}]{kind}")
    if "vss_musd" in s:
        click.echo(f"value of the stochastic solution: {_fmt(s['vss_musd'])} MUSD (EEV {_fmt(s['vss_eev_musd'])} "
                   f"- RP {_fmt(s['vss_rp_musd'])})")
    elif "vss_status" in s:
        click.echo(f"value of the stochastic solution not computed: {s['vss_status']}")
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--points", type=click.IntRange(min=2), default=5, show_default=True, help="points on the frontier")
@_run_options
@_batch_options
def frontier(input_path, points, **opts):
    """Trace the frontier between expected cost and the CVaR of scenario cost (epsilon-constraint)."""
    from planner.analyses.frontier import Frontier

    target, tables, _ = _run_batch(lambda data: Frontier(data, points), input_path, **opts)
    if not opts.get("quiet"):
        for _, r in tables["frontier"].iterrows():
            shown = (f"expected cost {_fmt(r['expected_cost_musd'])} MUSD, CVaR {_fmt(r['cvar_musd'])} MUSD"
                     if r["expected_cost_musd"] != "" else r["status"])
            click.echo(f"  point {r['point']}: {shown}" + (f" ({r['note']})" if r["note"] else ""))
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--site", "sites", multiple=True, metavar="ID", help="only this candidate (repeatable; default: all)")
@_run_options
@_batch_options
def why(input_path, sites, **opts):
    """Why each candidate is in or out: its decision reversed in a solve of its own, what that costs."""
    from planner.analyses.why import Why

    target, tables, _ = _run_batch(lambda data: Why(data, list(sites)), input_path, **opts)
    t = tables["why"]
    tried = t[t["reversal"] != "not tried"].copy()
    import pandas as pd
    tried["_cost"] = pd.to_numeric(tried["reversal_cost_low_musd"], errors="coerce").fillna(float("inf"))
    click.echo(f"{len(t)} candidates: {int((t['built'] == 'yes').sum())} built, {len(tried)} reversed, "
               f"{len(t) - len(tried)} screened out (not tried). Cheapest reversals (MUSD, low to high):")
    for _, r in tried.sort_values("_cost").head(MAX_STRESS_SHOWN).iterrows():
        cost = (f"{_fmt(r['reversal_cost_low_musd'])} to {_fmt(r['reversal_cost_high_musd'])}"
                if r["status"] in ("optimal", "best_found") else r["status"])
        click.echo(f"  {r['site']:<10} {r['reversal']:<10} {cost}")
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--vary", "varies", multiple=True, required=True, metavar="NAME=v1,v2,...",
              help="a setting and its values (discount_rate=0.03,0.07; blank for none), or a column and its "
                   "factors (sites.capex_musd=0.8,1.2); repeatable")
@click.option("--grid", is_flag=True, help="solve every combination (default: one at a time around the base)")
@_run_options
@_batch_options
def sweep(input_path, varies, grid, **opts):
    """Solve INPUT with settings or columns varied: cost, public money and each site's decision."""
    from planner.analyses.vary import Sweep, parse_vary

    target, tables, _ = _run_batch(lambda data: Sweep(data, [parse_vary(v) for v in varies], grid), input_path, **opts)
    t = tables["sweep"]
    click.echo(f"{len(t) - 1} solve(s) besides the base; total cost change from the base (MUSD, interval):")
    for _, r in t.iloc[1:].iterrows():
        got = (f"{_fmt(r['total_difference_low_musd'])} to {_fmt(r['total_difference_high_musd'])}; public money "
               f"{_fmt(r['public_money_musd'])}" if r["status"] in ("optimal", "best_found") else r["status"])
        click.echo(f"  {r['case']:<40} {got}")
    d = tables["decisions"]
    click.echo(f"{int((d['never_changes'] == 'yes').sum())} of {len(d)} candidates never change their decision")
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@_run_options
@_batch_options
def prices(input_path, **opts):
    """What each rule of INPUT costs: every rule dropped, and relaxed by a stated step, in solves of their own."""
    from planner.analyses.prices import Prices
    from planner.io.reader import read_workbook

    target, tables, _ = _run_batch(lambda data: Prices(data, read_workbook(input_path)), input_path, **opts)
    t = tables["prices"]
    on = t[t["state"] == "on"].copy()
    import pandas as pd
    on["_worth"] = pd.to_numeric(on["drop_worth_low_musd"], errors="coerce").fillna(float("-inf"))
    click.echo(f"{len(on)} rules on, {len(t) - len(on)} off; what dropping each is worth (MUSD, interval), "
               "most first:")
    for _, r in on.sort_values("_worth", ascending=False).head(MAX_STRESS_SHOWN).iterrows():
        worth = (f"{_fmt(r['drop_worth_low_musd'])} to {_fmt(r['drop_worth_high_musd'])}"
                 if r["drop_status"] in ("optimal", "best_found") else (r["drop_status"] or "not dropped alone"))
        click.echo(f"  {r['rule']:<52} {worth}")
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--within", required=True, metavar="AMOUNT",
              help="how much dearer than the best an alternative may be: MUSD (500) or a share of the base plan's "
                   "public money (5%public)")
@click.option("--count", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="alternative portfolios to find")
@_run_options
@_batch_options
def alternatives(input_path, within, count, **opts):
    """Portfolios within AMOUNT of the best, as different as possible; every candidate must-have, never or swing."""
    from planner.analyses.alternatives import Alternatives, alternative_path
    from planner.pipeline import solve_workbook

    target, tables, analysis = _run_batch(lambda data: Alternatives(data, within, count), input_path, **opts)
    t = tables["alternatives"]
    click.echo(f"ceiling {analysis.ceiling:,.1f} MUSD (the base bound + {analysis.slack:,.1f} MUSD); "
               f"{len(t) - 1} alternative(s) of {count}" + (f" ({analysis.stopped})" if analysis.stopped else ""))
    for k in range(1, len(t)):
        path = alternative_path(target, k)
        try:  # each alternative as a full portfolio (its sites forced in, the others excluded)
            solve_workbook(input_path, output=path, force=True, model=opts["model"], mip_gap=0.0,
                           edits=analysis.decisions(k))
        except Exception as exc:  # the batch's result stands; the missing portfolio is named
            click.echo(f"warning: alternative {k}'s portfolio could not be written ({type(exc).__name__}: {exc})",
                       err=True)
            continue
        r = t.iloc[k]
        click.echo(f"  alternative {k}: {_fmt(r['total_cost_musd'])} MUSD, public money "
                   f"{_fmt(r['public_money_musd'])}; {r['sites_differing_from_base']} site(s) differ from the base "
                   f"-> {path}")
    c = tables["classes"]
    click.echo("candidates: " + ", ".join(f"{int((c['class'] == k).sum())} {k}"
                                          for k in ("must-have", "never", "swing", "unresolved")))
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@_run_options
@_batch_options
def fairness(input_path, **opts):
    """Who gains: every coalition of members solved; Shapley shares of the savings; the core."""
    from planner.analyses.fairness import Fairness

    target, tables, _ = _run_batch(Fairness, input_path, **opts)
    s = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    if "fairness" in tables:
        click.echo(f"the alliance saves {_fmt(s['grand_coalition_savings_musd'])} MUSD against its members going "
                   f"alone; the core is {s['core']}; Shapley split in the core: {s['shapley_in_core']}; the "
                   f"plan's allocation in the core: {s['plan_allocation_in_core']}")
        for _, r in tables["fairness"].iterrows():
            click.echo(f"  {r['member']:<6} alone {_fmt(r['cost_alone_musd']):>14}   Shapley saving "
                       f"{_fmt(r['shapley_savings_musd']):>12}   in the plan {_fmt(r['plan_cost_musd']):>14}")
    else:
        click.echo(f"not every coalition has a plan ({s.get('coalitions_solved')}): see the coalitions sheet")
    click.echo(f"wrote {target}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.argument("portfolios", metavar="PORTFOLIO...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--shortfall-t", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="a scenario is a shortfall when more than this many tonnes go unmet over the horizon")
@click.option("--wait-and-see", is_flag=True,
              help="also solve each scenario with its own builds (a MIP each): the value of perfect information")
@click.option("--per-scenario", is_flag=True,
              help="write a row per portfolio and scenario even with more than 50 scenarios")
@_run_options
@_batch_options
def evaluate(input_path, portfolios, shortfall_t, wait_and_see, per_scenario, **opts):
    """Judge saved portfolios on INPUT's scenarios: each plan fixed, every scenario's flows solved."""
    from pathlib import Path

    from planner.analyses.evaluate import Evaluate, read_plan

    def make(data):
        plans, names = {}, {}
        for path in portfolios:
            stem = Path(path).stem
            names[stem] = names.get(stem, 0) + 1
            name = stem if names[stem] == 1 else f"{stem}_{names[stem]}"
            plans[name] = read_plan(Path(path), data)
        analysis = Evaluate(data, plans, shortfall_t, wait_and_see, per_scenario)
        analysis.reads = [Path(p) for p in portfolios]
        return analysis

    target, tables, analysis = _run_batch(make, input_path, **opts)
    ev = tables["evaluation"]
    n = len(analysis.data.SCENARIOS)
    band = "95% interval" if analysis.sampled else "exact: the workbook's own scenarios"
    click.echo(f"{len(ev)} portfolio(s) on {n} scenarios ({band}); MUSD, tonnes over the horizon:")
    for _, r in ev.iterrows():
        if r.get("scenarios_solved", 0) == 0:
            click.echo(f"  {r['portfolio']}: no scenario solved")
            continue

        def shown(key, fmt=_fmt):
            lo, hi = r.get(f"{key}_low"), r.get(f"{key}_high")
            return fmt(r[key]) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and lo == lo else "")
        click.echo(f"  {r['portfolio']}: expected cost {shown('expected_cost_musd')}, CVaR {shown('cvar_musd')}, "
                   f"unmet {shown('expected_unmet_t', lambda x: f'{x:,.0f}')} t, "
                   f"P(shortfall) {shown('shortfall_probability', lambda x: f'{x:.3f}')}"
                   + ("" if r["scenarios_solved"] == n else f" ({r['scenarios_solved']} of {n} scenarios solved)"))
    for _, d in tables["differences"].iterrows():
        lo, hi = d.get("cost_difference_low_musd"), d.get("cost_difference_high_musd")
        band_ = f" [{_fmt(lo)}, {_fmt(hi)}]" if lo is not None and lo == lo else ""
        click.echo(f"  {d['portfolio']} - {d['against']}: {_fmt(d['cost_difference_musd'])}{band_} MUSD expected cost")
    s = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    for k, v in s.items():
        if k.startswith("evpi_upper_musd["):
            click.echo(f"  E[cost] - wait-and-see's bound, {k[len('evpi_upper_musd['):-1]}: {_fmt(v)} MUSD (an upper "
                       "bound of the value of perfect information)")
    click.echo(f"wrote {target}")


@cli.command("import-orlib")
@click.argument("source", metavar="CAP.txt", type=click.Path(dir_okay=False))
@click.argument("output", metavar="OUT.xlsx", type=click.Path(dir_okay=False))
@click.option("--capacity", type=float, default=None,
              help="warehouse capacity for capa/capb/capc (their files leave it open; capopt.txt lists the values)")
@click.option("--force", is_flag=True, help="replace an existing output file")
def import_orlib(source, output, capacity, force):
    """Write an OR-Library capacitated warehouse location instance as a planner workbook."""
    from planner.io.orlib import read_cap, write_cap_workbook

    try:
        inst = read_cap(source, capacity)
    except FileNotFoundError:
        _fail(f"'{source}' does not exist", INPUT_ERROR_EXIT)
    except (ValueError, IndexError) as exc:
        _fail(f"'{source}' is not an OR-Library cap file ({exc})", INPUT_ERROR_EXIT)
    try:
        write_cap_workbook(inst, output, force=force)
    except OutputExistsError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    click.echo(f"wrote {output}: {len(inst.capacity)} warehouses, {len(inst.demand)} customers")


@cli.command()
@click.argument("runs", metavar="A.xlsx B.xlsx [C.xlsx ...]", nargs=-1, required=True,
                type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write the comparison workbook here (default: only print)")
@click.option("--force", is_flag=True, help="replace an existing output file")
def compare(runs, output, force):
    """Compare saved portfolios (the first is the reference); never re-solves."""
    from pathlib import Path

    from planner.analyses.compare import compare_runs, has_differences, policy_rows, run_names
    from planner.io.writer import check_target, read_portfolio, write_comparison

    if len(runs) < 2:
        _fail("compare needs at least two saved portfolios", USAGE_ERROR_EXIT)
    paths = [Path(r) for r in runs]
    tables = []
    for p in paths:
        try:
            t = read_portfolio(p)
        except FileNotFoundError:
            _fail(f"'{p}' does not exist", INPUT_ERROR_EXIT)
        except Exception as exc:  # not a workbook, damaged, ...
            _fail(f"'{p}' is not a readable portfolio workbook ({type(exc).__name__}: {exc})", INPUT_ERROR_EXIT)
        if "summary" not in t:
            _fail(f"'{p}' has no summary sheet: not a portfolio written by plan solve", INPUT_ERROR_EXIT)
        tables.append(t)
    names = run_names(paths)
    cmp = compare_runs(tables, names)
    click.echo("same input content: " + ("yes" if cmp.same_input else "NO") + "   same model definition: "
               + ("yes" if cmp.same_model else "NO"))
    if cmp.inputs_missing:
        click.echo("  inputs not kept in " + ", ".join(cmp.inputs_missing) + " (saved by an older planner): "
                   "their input changes cannot be listed")
    elif len(cmp.inputs):
        click.echo(f"input changes ({len(cmp.inputs)} cell(s); sheet, row key, column: "
                   + " -> ".join(names) + "):")
        for r in cmp.inputs.head(MAX_INPUT_CHANGES_SHOWN).itertuples(index=False):
            values = " -> ".join(str(v) if v != "" else "(blank)" for v in r[3:])
            click.echo(f"  {r.sheet}, {r.key}, {r.column}: {values}")
        if len(cmp.inputs) > MAX_INPUT_CHANGES_SHOWN:
            click.echo(f"  ... and {len(cmp.inputs) - MAX_INPUT_CHANGES_SHOWN} more (sheet input_changes)")
    for k, vals in cmp.run_info_differences:
        if k == "input_sha256" and not cmp.inputs_missing:
            continue  # the input cells that differ are listed above
        click.echo(f"  differs: {k}: " + " | ".join(f"{n}={v}" for n, v in zip(names, vals)))
    for m in cmp.missing:
        click.echo(f"  note: {m} (saved by an older planner?); compared on what they share")
    for m in cmp.notes:
        click.echo(f"  note: {m}")
    ref = names[0]
    head = policy_rows(cmp.kpis, names)
    width = max([len(k) for k in head["key"]] + [10]) if len(head) else 10
    click.echo(f"{'':<{width}} {ref:>16}" + "".join(f" {n:>16} {'delta':>14} {'delta %':>9}" for n in names[1:]))
    for _, r in head.iterrows():
        line = f"{r['key']:<{width}} {_fmt(r[ref]):>16}"
        for n in names[1:]:
            pct = r[f"delta_pct_{n}"]
            line += f" {_fmt(r[n]):>16} {_fmt(r[f'delta_{n}']):>14} {(f'{pct:+.2%}' if pct != '' else ''):>9}"
            if r.get(f"note_{n}"):
                line += f"  ({r[f'note_{n}']})"
        click.echo(line)
    if len(cmp.kpis) > len(head):
        click.echo(f"({len(cmp.kpis) - len(head)} more figures in the comparison workbook's kpis sheet; solver "
                   "figures in its about sheet)")
    for n in names[1:]:
        col = f"status_{n}"
        if col in cmp.sites:
            changed = cmp.sites[cmp.sites[col] != "same"]
            for _, r in changed.iterrows():
                a, b = r[f"build_period_{ref}"] or "-", r[f"build_period_{n}"] or "-"
                what = {"capacity": f"capacity {_fmt(r[f'capacity_tpy_{ref}'])} -> {_fmt(r[f'capacity_tpy_{n}'])}",
                        "financing": f"financing {r[f'financing_{ref}']} -> {r[f'financing_{n}']}"}.get(
                    r[col], f"build {a} -> {b}")
                note = f"; {r[f'unproven_{n}']}" if r.get(f"unproven_{n}") else ""
                click.echo(f"  {n}: site {r['site']} {r[col]} ({what}{note})")
    if not has_differences(cmp):
        click.echo("no differences in the headline figures or the sites built")
    if output:
        try:
            check_target(Path(output), force, inputs=paths)
            write_comparison(cmp, Path(output), force=force)
        except OutputExistsError as exc:
            _fail(str(exc), USAGE_ERROR_EXIT)
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("path", metavar="PATH", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="replace an existing file")
def template(path, force):
    """Write a blank workbook with every sheet of the contract, a README sheet and drop-downs."""
    from pathlib import Path

    from planner.io.template import write_template

    try:
        write_template(Path(path), force=force)
    except OutputExistsError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    click.echo(f"wrote {path}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--annotate", "annotate_to", type=click.Path(dir_okay=False), default=None,
              help="write a copy of INPUT with every bad cell filled and commented")
@click.option("--force", is_flag=True, help="replace an existing annotated copy")
def validate(input_path, annotate_to, force):
    """List every problem in INPUT at once, each with its cell (exit 1 if there is any)."""
    from pathlib import Path

    from planner.dataset.data import validate_workbook
    from planner.io.template import annotate
    from planner.io.writer import check_target

    if annotate_to:
        try:  # refused at once, not only when there is something to mark
            check_target(Path(annotate_to), True, inputs=[Path(input_path)])
        except OutputExistsError as exc:
            _fail(str(exc), USAGE_ERROR_EXIT)
    problems = validate_workbook(Path(input_path))
    for p in problems:
        click.echo(f"{p}")
    if annotate_to and problems:
        if problems[0].code in ("E_FILE", "E_FILE_FORMAT", "E_ENCRYPTED", "E_OLD_XLS", "E_ZIP_BOMB",
                                "E_XML_UNSAFE", "E_FILE_TOO_LARGE"):
            _fail("the file cannot be opened, so it cannot be annotated", INPUT_ERROR_EXIT)
        try:
            check_target(Path(annotate_to), force, inputs=[Path(input_path)])
            annotate(Path(input_path), problems, Path(annotate_to), force=force)
        except OutputExistsError as exc:
            _fail(str(exc), USAGE_ERROR_EXIT)
        click.echo(f"wrote {annotate_to} ({len(problems)} problem(s) marked)")
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(INPUT_ERROR_EXIT)
    click.echo("no problems found")


@cli.command()
@click.argument("out", metavar="OUT.xlsx", type=click.Path(dir_okay=False))
@click.option("--sites", type=click.IntRange(1, 100_000), default=50, show_default=True, help="candidate sites")
@click.option("--minerals", type=click.IntRange(1, 50), default=4, show_default=True)
@click.option("--periods", type=click.IntRange(1, 10), default=3, show_default=True)
@click.option("--scenarios", type=click.IntRange(1, 5000), default=3, show_default=True)
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--supply-arcs", type=click.IntRange(1, None), default=None,
              help="write settings.supply_arcs_per_site (sparse mine -> refinery arcs); default: every pair")
@click.option("--force", is_flag=True, help="replace an existing file")
def generate(out, sites, minerals, periods, scenarios, seed, supply_arcs, force):
    """Write a synthetic workbook of the contract (for benchmarks)."""
    from pathlib import Path

    from planner.io.generate import generate as gen

    try:
        gen(Path(out), sites, minerals, periods, scenarios, seed, force=force, supply_arcs=supply_arcs)
    except OutputExistsError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--sample", "n", type=click.IntRange(1, 100_000), required=True,
              help="how many scenarios to draw from INPUT's risks and demand_swings sheets")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="the same seed gives the same scenarios")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="the workbook to write: INPUT with its scenarios replaced by the sample")
@click.option("--force", is_flag=True, help="replace an existing output file")
def scenarios(input_path, n, seed, output, force):
    """Write INPUT with N scenarios drawn from its risks (export stops) and demand swings, each of
    probability 1/N: its scenarios, disruptions and scenario_demand sheets replaced."""
    from pathlib import Path

    from planner.analyses.scenarios import write_sampled

    try:
        got = write_sampled(Path(input_path), Path(output), n, seed, force=force)
    except InputError as exc:
        _fail(str(exc), INPUT_ERROR_EXIT)
    except OutputExistsError as exc:
        _fail(str(exc), USAGE_ERROR_EXIT)
    click.echo(f"wrote {output}: {got['scenarios']:,} scenarios (seed {seed}), {got['with_stops']:,} with an export "
               f"stop, {got['disruption_rows']:,} disruption rows")


def _fmt(v) -> str:
    if v == "" or v is None:
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:,.4f}"


def main() -> None:
    # a failing Pyomo rule (out of memory, say) is reported by the planner in one message: Pyomo's
    # own log of it ("ERROR: Rule failed for Expression ...") would only repeat it
    logging.getLogger("pyomo.core").setLevel(logging.CRITICAL)
    try:
        cli(prog_name="plan")
    except MemoryError as exc:  # numpy's "Unable to allocate ..." too: one message, no traceback
        said = f" ({exc})" if str(exc) else ""
        _fail(f"the planner's own process ran out of memory{said}; nothing was written. Try --low-memory "
              "(plan solve), a smaller workbook, or a machine with more memory", STATUSES["error"][0])



def run() -> None:
    """The `plan` command: `main`, then the process ends at once, its outputs written and its
    streams flushed, without the interpreter's teardown of every object it made (about 0.1 s on the
    default workbook). A worker process started for a search and never used is ended first."""
    import os
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    worker = sys.modules.get("planner.solver.mip_worker")
    if worker is not None:
        worker._end_spare()
    if "mpi4py.MPI" in sys.modules:  # under mpiexec (--engine ph): every rank ends MPI before leaving
        from mpi4py import MPI
        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.Finalize()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
