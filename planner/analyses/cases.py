"""One solve of a batch: the workbook with a few changes (a case), solved and summed up in plain
values that travel between processes and machines and into the sweep's journal.

A case is a tuple of edits applied to the workbook as read (`RawWorkbook`) and to the model
definition, then the workbook is checked again and derived (`build_data`) exactly as `plan solve`
would, so a change can never reach a plan that the same edit typed into the workbook would not:

    ("setting", name, value)                    a settings row (None: blank)
    ("cell", sheet, key_column, key, column, value)   one cell of the row whose key_column is key
    ("scale", sheet, column, factor)            every number of a column times factor
    ("without", member)                         the member treated as having left (--without)
    ("family", name, on)                        an optional constraint family on or off
    ("standards", on)                           the standards sheet applied or not

The summary of a solve (`solve_case`) gives its incumbent's cost figures and the search's dual
bound, so that the difference of two solves can be told as an interval (`difference`): the true
optimum of each lies between its bound and its incumbent.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field

import pandas as pd

from planner.dataset.data import PlanData, build_data
from planner.errors import InputError
from planner.io.reader import RawWorkbook, parse_value
from planner.io.schema import SETTINGS, SHEETS
from planner.model.definition import ModelDefinition
from planner.model.formulation import build_model
from planner.results.solution import paid_pv_by_member
from planner.solver.checked import check_plan
from planner.solver.solve import SolveOutcome, compile_model, prepare, run_prepared

EDIT_KINDS = ("setting", "cell", "scale", "without", "family", "standards")


@dataclass(frozen=True)
class Case:
    """A solve of a batch: its key (unique in the batch, used by the journal), a label for people,
    its edits, and `meta`, what the analysis needs to read the result (not used by the solve)."""

    key: str
    label: str = ""
    edits: tuple = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def spec(self) -> list:
        """The case as JSON-ready values (the journal compares it on --resume)."""
        return [self.key, [list(e) for e in self.edits]]


def apply_edits(raw: RawWorkbook, definition: ModelDefinition, edits: tuple) -> tuple[RawWorkbook, ModelDefinition,
                                                                                         tuple[str, ...]]:
    """A copy of `raw` and `definition` with `edits` made, and the members left out."""
    tables = {name: df.copy() for name, df in raw.tables.items()}
    settings = dict(raw.settings)
    overrides = dict(definition.overrides)
    families = dict(definition.families)
    standards = definition.standards
    without: list[str] = []
    for edit in edits:
        kind = edit[0]
        if kind == "setting":
            _, name, value = edit
            if name not in SETTINGS:
                raise InputError("E_SWEEP_EDIT", f"there is no setting {name!r}; settings: {', '.join(SETTINGS)}")
            value = parse_value(SETTINGS[name], value, "settings", raw.settings_rows.get(name), None)
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
        elif kind == "scale":
            _, sheet, column, factor = edit
            df = tables[sheet]
            spec = _column(sheet, column)
            if spec.kind not in ("int", "float"):
                raise InputError("E_SWEEP_EDIT", f"{sheet}.{column} holds no numbers to scale")
            df[column] = [_checked(spec, v * factor, sheet, df, r) if isinstance(v, (int, float)) and not pd.isna(v) else v
                          for r, v in zip(df.index, df[column])]
        elif kind == "without":
            without.append(edit[1])
        elif kind == "family":
            families[edit[1]] = bool(edit[2])
        elif kind == "standards":
            standards = bool(edit[1])
        else:
            raise ValueError(f"unknown edit {edit!r}; kinds: {', '.join(EDIT_KINDS)}")
    raw = dataclasses.replace(raw, tables=tables, settings=settings, warnings=list(raw.warnings))
    definition = dataclasses.replace(definition, overrides=overrides, families=families, standards=standards)
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


def expected_unmet_total_t(data: PlanData, sol) -> float:
    """Tonnes of demand left unmet over the horizon, expected over the scenarios."""
    years = data.periods["years"].astype(float).to_dict()
    prob = data.scenarios["probability"].astype(float).to_dict()
    u = sol.unmet
    return float(sum(prob[s] * years[t] * x for s, t, x in zip(u["scenario"], u["period"], u["unmet_tpy"])))


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        data = build_data(raw_c, definition_c.overrides, without, definition_c.standards)
    except InputError as exc:
        out.update(status="input_error", message=f"{case.label or case.key}: {exc}", seconds=time.perf_counter() - t0)
        return out
    options = definition_c.solver
    c = compile_model(build_model(data, definition_c))
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
    if outcome.usable:
        sol, costs, _, _ = check_plan(data, definition_c, options, outcome)
    out["status"], out["message"] = outcome.status, outcome.message
    if outcome.hand_over.get("interrupted_by_user") or outcome.status == "interrupted":
        out["status"] = "interrupted"  # Ctrl-C: not a finished solve (the journal does not keep it)
    out["binding"] = sorted(k[len("rule_value_"):] for k in outcome.hand_over if k.startswith("rule_value_"))
    if outcome.status == "infeasible" and case.meta.get("explain"):
        from planner.analyses.explain import smallest_relaxations
        out["relaxations"] = smallest_relaxations(data, definition_c)
    if outcome.usable and sol is not None:
        bound = outcome.bound if outcome.bound is not None else outcome.objective
        out.update({"objective_musd": float(outcome.objective), "bound_musd": float(min(bound, outcome.objective)),
                    "cash_cost_musd": costs["cash_cost_musd"], "valuation_cost_musd": costs["valuation_cost_musd"],
                    "public_money_musd": costs["public_money_musd"],
                    "public_money_by_member_musd": {a: float(v) for a, v in paid_pv_by_member(data, sol).items()},
                    "expected_unmet_t": expected_unmet_total_t(data, sol),
                    "builds": {str(f): int(t) for f, t in zip(sol.builds["site"], sol.builds["build_period"])}})
    out["seconds"] = time.perf_counter() - t0
    return out


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
