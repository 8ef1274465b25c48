"""One solve of a batch: the workbook with a few changes (a case), solved and summed up in plain
values that travel between processes and machines and into the sweep's journal.

A case is a tuple of edits applied to the workbook as read (`RawWorkbook`) and to the model
definition, then the workbook is checked again and derived (`build_data`) exactly as `plan solve`
would, so a change can never reach a plan that the same edit typed into the workbook would not:

    ("setting", name, value)                    a settings row (None: blank)
    ("cell", sheet, key_column, key, column, value)   one cell of the row(s) whose key_column is key
                                                (key_column `_row`: the row at that sheet row number)
    ("drop_row", sheet, row)                    the row at sheet row number `row` deleted
    ("scale", sheet, column, factor)            every number of a column times factor
    ("scale_rows", sheet, key_column, key, column, factor)   the numbers of that column in the rows
                                                whose key_column is key, times factor
    ("without", member)                         the member treated as having left (--without)

The summary of a solve (`solve_case`) gives its incumbent's cost figures and the search's dual
bound, so that the difference of two solves can be told as an interval (`difference`): the true
optimum of each lies between its bound and its incumbent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass, field

import pandas as pd

from planner.dataset.data import PlanData, build_data, expected_value_data, scenario_data
from planner.errors import InputError
from planner.io.reader import RawWorkbook, parse_value
from planner.io.schema import SETTINGS, SHEETS
from planner.model.definition import ModelDefinition
from planner.model.formulation import build_model
from planner.results.risk import risk_summary, scenario_cost_table, unmet_risk_table
from planner.results.solution import FLOW_EPS, paid_pv_by_member
from planner.solver.checked import check_plan
from planner.solver.solve import SolveOutcome, compile_model, prepare, run_prepared

EDIT_KINDS = ("setting", "cell", "drop_row", "scale", "scale_rows", "without")


@dataclass(frozen=True)
class Case:
    """A solve of a batch: its key (unique in the batch, used by the journal), a label for people,
    its edits, and `meta`, what the analysis needs to read the result (not used by the solve)."""

    key: str
    label: str = ""
    edits: tuple = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    # additions to the model itself (`add_to_model`): a cost ceiling, another objective, no-good cuts
    model: tuple = ()

    def spec(self) -> list:
        """The case as JSON-ready values (the journal compares it on --resume)."""
        spec = [self.key, [list(e) for e in self.edits]]
        if self.model:
            spec.append(json.loads(json.dumps(self.model)))
        return spec


def apply_edits(raw: RawWorkbook, definition: ModelDefinition, edits: tuple) -> tuple[RawWorkbook, ModelDefinition,
                                                                                         tuple[str, ...]]:
    """A copy of `raw` and `definition` with `edits` made, and the members left out."""
    tables = {name: df.copy() for name, df in raw.tables.items()}
    settings = dict(raw.settings)
    overrides = dict(definition.overrides)
    without: list[str] = []
    for edit in edits:
        kind = edit[0]
        if kind == "setting":
            _, name, value = edit
            if name not in SETTINGS:
                raise InputError("E_SWEEP_EDIT", f"there is no setting {name!r}; settings: {', '.join(SETTINGS)}")
            value = parse_value(SETTINGS[name], value, "settings", raw.settings_rows.get(name), 2)  # column B
            settings[name] = value
            if name in overrides:
                overrides[name] = value
        elif kind == "cell":
            _, sheet, key_col, key, column, value = edit
            df = tables[sheet]
            rows = df.index[df[key_col].astype(str) == str(key)]
            if not len(rows):
                raise InputError("E_SWEEP_EDIT", f"{sheet}: no row with {key_col} = {key!r} to change")
            spec = _column(sheet, column)
            df[column] = df[column].astype(object)
            for r in rows:
                df.at[r, column] = _checked(spec, value, sheet, df, r)
        elif kind == "drop_row":  # the row at a sheet row number deleted
            _, sheet, row = edit
            tables[sheet] = tables[sheet][tables[sheet]["_row"] != row]
        elif kind == "scale":
            _, sheet, column, factor = edit
            if sheet not in tables:
                continue  # an optional sheet the workbook does not have: nothing to scale
            df = tables[sheet]
            spec = _column(sheet, column)
            if spec.kind not in ("int", "float"):
                raise InputError("E_SWEEP_EDIT", f"{sheet}.{column} holds no numbers to scale")
            df[column] = [_checked(spec, v * factor, sheet, df, r) if isinstance(v, (int, float)) and not pd.isna(v) else v
                          for r, v in zip(df.index, df[column])]
        elif kind == "scale_rows":
            _, sheet, key_col, key, column, factor = edit
            if sheet not in tables:
                continue  # an optional sheet the workbook does not have: nothing to scale
            df = tables[sheet]
            spec = _column(sheet, column)
            df[column] = df[column].astype(object)
            for r in df.index[df[key_col].astype(str) == str(key)]:
                v = df.at[r, column]
                if isinstance(v, (int, float)) and not pd.isna(v):
                    df.at[r, column] = _checked(spec, v * factor, sheet, df, r)
        elif kind == "without":
            without.append(edit[1])
        else:
            raise ValueError(f"unknown edit {edit!r}; kinds: {', '.join(EDIT_KINDS)}")
    raw = dataclasses.replace(raw, tables=tables, settings=settings, warnings=list(raw.warnings))
    definition = dataclasses.replace(definition, overrides=overrides)
    return raw, definition, tuple(without)


def _column(sheet: str, column: str):
    """The contract's column `sheet.column`, or an error naming what exists."""
    if sheet not in SHEETS:
        raise InputError("E_SWEEP_EDIT", f"there is no sheet {sheet!r}; sheets: {', '.join(SHEETS)}")
    try:
        return SHEETS[sheet].column(column)
    except KeyError:
        names = ", ".join(c.name for c in SHEETS[sheet].columns)
        raise InputError("E_SWEEP_EDIT", f"sheet {sheet} has no column {column!r}; its columns: {names}") from None


def _checked(spec, value, sheet: str, df: pd.DataFrame, r):
    """A changed cell checked as if typed there (its range, its type): an InputError names the cell."""
    col = df.attrs.get("positions", {}).get(spec.name)
    return parse_value(spec, value, sheet, int(df.at[r, "_row"]), col)


# a case with its own objective (a count of builds, a build period) is solved to this absolute gap:
# its objective is a whole number of builds or of years, so a gap below 1 proves it
OBJECTIVE_ABS_GAP = 0.5


def add_to_model(m, data: PlanData, additions: tuple) -> None:
    """A case's additions to the model built by `build_model` (the model itself is not written
    again): ("ceiling", C) the objective's cost at most C MUSD; ("objective", ((site, period or
    None, weight), ...)) minimise the weighted sum of those build variables instead of the cost
    (None: every build period of the site; the cost stays bounded by a ceiling); ("nogood", sites,
    candidates) the plan must differ from the plan building exactly `sites` among `candidates` in
    at least one site; ("fix_plan", ((site, period), ...), ((stockpile, period, stock_t, added_t),
    ...)) the first stage fixed by bounds to that plan (the flows alone are solved); ("close_exports",
    country) the country's exports carry nothing (`export_arcs`); ("cvar_cap", alpha, eps) the
    CVaR of scenario cost at level alpha at most eps MUSD; ("minimise_cvar", alpha) that CVaR is
    the objective; ("expected_value",) marks a solve of the expected-value problem and ("scenario",
    s) one of the workbook restricted to scenario s at probability 1 (both made by `solve_case`
    before the model is built)."""
    import pyomo.core as pyo  # the modelling components only
    from planner.model.formulation import define_cvar_excess
    periods: dict[str, list[int]] = {}
    for f, t in data.BUILD_OPTIONS:
        periods.setdefault(f, []).append(t)

    def built(f):
        return sum(m.v_build[f, t] for t in periods.get(f, ()))

    for n, a in sorted(enumerate(additions), key=lambda na: na[1][0] != "ceiling"):  # the ceiling on the cost first
        if a[0] == "ceiling":
            m.add_component(f"case_ceiling_{n}", pyo.Constraint(expr=m.total_cost.expr <= float(a[1])))
        elif a[0] == "nogood":
            inside, among = set(a[1]), [f for f in a[2] if f in periods]
            expr = sum(1 - built(f) if f in inside else built(f) for f in among)
            m.add_component(f"case_nogood_{n}", pyo.Constraint(expr=expr >= 1))
        elif a[0] == "objective":
            terms = [w * m.v_build[f, t] for f, t_, w in a[1] for t in periods.get(f, ()) if t_ is None or t == t_]
            m.total_cost.set_value(sum(terms) if terms else 0.0)
        elif a[0] == "fix_plan":
            builds = {f: int(t) for f, t in a[1]}
            for f, t in data.BUILD_OPTIONS:
                _fix(m.v_build[f, t], 1.0 if builds.get(f) == t else 0.0)
            stock = {(p, int(t)): (x, add) for p, t, x, add in a[2]}
            for p in data.STOCKPILES:
                for t in data.PERIODS:
                    x, add = stock.get((p, t), (0.0, 0.0))
                    _fix(m.v_stock[p, t], x)
                    _fix(m.v_stock_added[p, t], add)
        elif a[0] == "close_exports":
            for arc in export_arcs(data, a[1]):
                for t in data.PERIODS:
                    for s in data.SCENARIOS:
                        if (arc, t, s) in m.v_flow:
                            m.v_flow[arc, t, s].setub(0.0)
        elif a[0] in ("cvar_cap", "minimise_cvar"):
            if not hasattr(m, "e_cvar"):
                define_cvar_excess(m, data, float(a[1]))
            if a[0] == "minimise_cvar":
                m.total_cost.set_value(m.e_cvar)
            else:  # a relative slack of 1e-7 lets a point reproduce the end point its epsilon came from
                eps = float(a[2])
                m.add_component(f"case_cvar_cap_{n}", pyo.Constraint(expr=m.e_cvar <= eps + 1e-7 * max(1.0, abs(eps))))
        elif a[0] in ("expected_value", "scenario"):
            pass
        else:
            raise ValueError(f"unknown model addition {a!r}")


def export_arcs(data: PlanData, country: str) -> tuple[int, ...]:
    """Arcs that carry `country`'s exports: from its sites to refineries elsewhere or to members that
    do not own it (its own member still gets domestic supply)."""
    country_of, owner = data.sites["country"].to_dict(), data.countries["member"].to_dict()
    out = []
    for a, (o, d, kind) in enumerate(zip(data.arcs["origin"], data.arcs["destination"], data.arcs["kind"])):
        if country_of[o] != country:
            continue
        if (kind == "supply" and country_of[d] != country) or (kind == "delivery" and owner.get(country) != d):
            out.append(a)
    return tuple(out)


def _fix(var, value: float) -> None:
    """A variable held at `value` by its bounds (it stays a column, so the plan reads it back)."""
    var.setlb(value)
    var.setub(value)


def member_security(data: PlanData, sol) -> dict:
    """Per member, in tonnes over the horizon: unmet demand expected over the scenarios and in the
    worst scenario for it, and the expected tonnes delivered to it from sites the plan builds."""
    years = data.periods["years"].astype(float).to_dict()
    prob = data.scenarios["probability"].astype(float).to_dict()
    by = {a: dict.fromkeys(data.SCENARIOS, 0.0) for a in data.MEMBERS}
    u = sol.unmet
    for a, t, sc, x in zip(u["member"], u["period"], u["scenario"], u["unmet_tpy"]):
        by[a][sc] += years[t] * x
    built = set(sol.builds["site"])
    secured = dict.fromkeys(data.MEMBERS, 0.0)
    f = sol.flows
    for o, d, kind, t, sc, x in zip(f["origin"], f["destination"], f["kind"], f["period"], f["scenario"], f["flow_tpy"]):
        if kind == "delivery" and o in built and d in secured:
            secured[d] += prob[sc] * years[t] * x
    return {"unmet_expected_by_member_t": {a: sum(prob[sc] * v for sc, v in s.items()) for a, s in by.items()},
            "unmet_worst_by_member_t": {a: max(s.values()) if s else 0.0 for a, s in by.items()},
            "secured_by_member_t": secured}


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_DERIVED: dict = {}  # the workbook as it is, derived once per process (a worker solves many cases of it)


def _derived(raw: RawWorkbook, raw_c: RawWorkbook, definition: ModelDefinition, without: tuple, edited: bool) -> PlanData:
    """`build_data` of the case's workbook; a case without edits takes the worker's copy of the
    workbook as it is (derived once: 1.6 s for 200 scenarios of the default), with its own list of
    warnings."""
    if edited:
        return build_data(raw_c, definition.overrides, without, definition.standards)
    key = (tuple(sorted(definition.overrides.items())), definition.standards)
    if _DERIVED.get("raw") is not raw or _DERIVED.get("key") != key:  # the workbook itself held: no id reused
        _DERIVED.update(raw=raw, key=key, data=build_data(raw_c, definition.overrides, without, definition.standards))
    data = _DERIVED["data"]
    return dataclasses.replace(data, warnings=list(data.warnings))


def solve_case(raw: RawWorkbook, definition: ModelDefinition, case: Case,
               start: frozenset | None = None) -> dict:
    """Solve `case` (its edits made to `raw` and `definition`) with the definition's solver options,
    starting from `start` (the (site, build period) pairs of a plan, e.g. the base plan's: HiGHS
    begins with the cheapest feasible plan that opens them), and check the plan as `plan solve`
    does. Returns plain values: status, message, objective and bound (MUSD), the incumbent's cash,
    valuation and public money, public money per member, expected unmet tonnes, the builds
    {site: build period}, seconds, and where it ran."""
    t0 = time.perf_counter()
    out: dict = {"key": case.key, "status": "", "message": "", "objective_musd": None, "bound_musd": None,
                 "builds": {}, "where": _where()}
    try:
        raw_c, definition_c, without = apply_edits(raw, definition, case.edits)
        data = _derived(raw, raw_c, definition_c, without, bool(case.edits))
    except InputError as exc:
        out.update(status="input_error", message=f"{case.label or case.key}: {exc}", seconds=time.perf_counter() - t0)
        return out
    if any(a[0] == "expected_value" for a in case.model):
        data = expected_value_data(data)
    for a in case.model:
        if a[0] == "scenario":
            if a[1] not in data.SCENARIOS:
                out.update(status="input_error", message=f"{case.label or case.key}: the workbook has no scenario "
                           f"{a[1]!r}", seconds=time.perf_counter() - t0)
                return out
            data = scenario_data(data, a[1])
    options = definition_c.solver
    own_objective = any(a[0] == "objective" for a in case.model)
    other_cost = any(a[0] == "minimise_cvar" for a in case.model)  # money, but not the cost the plan checks
    if own_objective:
        options = dataclasses.replace(options, mip_abs_gap=OBJECTIVE_ABS_GAP, mip_gap=0.0)
    m = build_model(data, definition_c)
    add_to_model(m, data, case.model)
    c = compile_model(m)
    del m
    p = prepare(c, options)
    starts = None
    if start is not None:  # the start's sites this case can build, and a forced site at its first option
        options_ = set(data.BUILD_OPTIONS)
        plan = frozenset(k for k in start if (k[0], k[1]) in options_)
        first = {}
        for f, t in data.BUILD_OPTIONS:
            first.setdefault(f, t)
        extra = frozenset((f, first[f]) for f in data.FORCED if f in first and not any(k[0] == f for k in plan))
        starts = (plan | extra, plan) if extra else (plan,)
    outcome = p if isinstance(p, SolveOutcome) else run_prepared(p, options, None, starts)
    sol = None
    if outcome.usable:  # with its own objective the plan is checked, its cost is not (it is not minimised)
        sol, costs, _, _ = check_plan(data, definition_c, options, outcome,
                                      check_cost=not (own_objective or other_cost),
                                      row_detail=bool(case.meta.get("duals")))
    out["status"], out["message"] = outcome.status, outcome.message
    if outcome.hand_over.get("interrupted_by_user") or outcome.status == "interrupted":
        out["status"] = "interrupted"  # Ctrl-C: not a finished solve (the journal does not keep it)
    out["binding"] = sorted(k[len("rule_value_"):] for k in outcome.hand_over if k.startswith("rule_value_"))
    if "rule_rows" in outcome.hand_over:  # JSON-ready: keys as lists
        out["rule_rows"] = {f: [[list(k) if isinstance(k, tuple) else [k], d, _finite(lo), _finite(hi)]
                                for k, d, lo, hi in rows]
                            for f, rows in outcome.hand_over.pop("rule_rows").items()}
    if outcome.status == "infeasible" and case.meta.get("explain"):
        from planner.analyses.explain import smallest_relaxations
        out["relaxations"] = smallest_relaxations(data, definition_c)
    if outcome.usable and sol is not None:
        bound = float(min(outcome.bound if outcome.bound is not None else outcome.objective, outcome.objective))
        out["builds"] = {str(f): int(t) for f, t in zip(sol.builds["site"], sol.builds["build_period"])}
        if own_objective:  # what was minimised: builds, not money
            out.update({"objective_value": float(outcome.objective), "objective_bound": bound})
        else:
            security = member_security(data, sol)
            out.update({"objective_musd": float(outcome.objective), "bound_musd": bound,
                        "cash_cost_musd": costs["cash_cost_musd"], "valuation_cost_musd": costs["valuation_cost_musd"],
                        "public_money_musd": costs["public_money_musd"],
                        "public_money_by_member_musd": {a: float(v) for a, v in paid_pv_by_member(data, sol).items()},
                        "expected_unmet_t": sum(security["unmet_expected_by_member_t"].values()), **security})
        out.update(report_extras(data, sol, costs, case.meta.get("report", ())))
    out["seconds"] = time.perf_counter() - t0
    return out


def report_extras(data: PlanData, sol, costs: dict, wanted) -> dict:
    """What an analysis asks of a plan beyond the summary (`case.meta["report"]`): "stocks" (the
    first stage's stock levels, for a later `fix_plan`), "unmet" (expected tonnes unmet over the
    horizon by member and mineral), "producers" (countries whose sites produce more than FLOW_EPS
    t/yr in the plan, any scenario),
    "cvar" (the expected cost and the CVaR of scenario cost recomputed from the plain tables, at
    the workbook's `cvar_alpha`, 0.9 when blank)."""
    out: dict = {}
    if "stocks" in wanted:
        out["stocks"] = [[str(p), int(t), float(x), float(a)] for p, t, x, a in sol.stocks.itertuples(index=False)]
    if "unmet" in wanted:
        u = unmet_risk_table(data, sol)
        out["unmet_by_member_mineral_t"] = [[a, mi, float(x)] for a, mi, x in
                                            zip(u["member"], u["mineral"], u["expected_unmet_t"])]
    if "producers" in wanted:
        f = sol.flows[sol.flows["flow_tpy"] > FLOW_EPS]
        out["producing_countries"] = sorted({data.sites.loc[o, "country"] for o in f["origin"]})
    if "cvar" in wanted:  # at the workbook's cvar_alpha, else 0.9: the summary's CVaR
        risk = {k: v for k, v, _ in risk_summary(data, scenario_cost_table(data, sol))}
        out.update({"cvar_musd": risk["cvar_musd"], "expected_cost_musd": costs["expected_cost_musd"],
                    "stock_t": float(sol.stocks.groupby("period")["stock_t"].sum().max()) if len(sol.stocks) else 0.0})
    return out


def _finite(v):
    """A number for JSON: None for no number, infinity or HiGHS's infinity (1e30 and beyond)."""
    return None if v is None or not abs(v) < 1e30 else float(v)


def usable(result: dict | None) -> bool:
    return bool(result) and result.get("objective_musd") is not None


def difference(result: dict, base: dict) -> tuple[float, float] | None:
    """The interval holding (this case's optimum - the base's optimum), MUSD, from the two solves'
    incumbents and bounds: [bound - base incumbent, incumbent - base bound]. None when either has
    no plan."""
    if not (usable(result) and usable(base)):
        return None
    return (result["bound_musd"] - base["objective_musd"], result["objective_musd"] - base["bound_musd"])


def builds_changed(result: dict, base: dict) -> tuple[list[str], list[str], list[str]]:
    """(added, dropped, moved) sites of `result`'s plan against `base`'s, moved as 'SITE 2030->2035'."""
    a, b = result.get("builds", {}), base.get("builds", {})
    added = sorted(set(a) - set(b))
    dropped = sorted(set(b) - set(a))
    moved = sorted(f"{f} {b[f]}->{a[f]}" for f in set(a) & set(b) if a[f] != b[f])
    return added, dropped, moved


BASE = Case("base", "the workbook as it is")


class BaseUnsolved(RuntimeError):
    """The workbook as it is has no plan: a batch of changes to it has nothing to compare with."""


def base_start(base: dict) -> frozenset:
    """The base plan's builds as the start of every other solve of the batch, after checking it
    has a plan."""
    if not usable(base):
        raise BaseUnsolved(f"the workbook as it is has no plan ({base.get('status')}: {base.get('message')}); "
                           "plan solve says why")
    return frozenset(base["builds"].items())
