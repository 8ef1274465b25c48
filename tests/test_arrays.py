"""The model built as arrays (planner/arrays.py) is the Pyomo model: the same rows, columns, bounds
and coefficients, family by family; a difference is found and named; a run whose arrays differ
reports no plan; a model with a family not written as arrays is built with Pyomo as before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyomo.environ as pyo
import pytest

from planner.arrays import ModelMismatch, build_arrays, match
from planner.data import load_data
from planner.definition import load_definition
from planner.generate import generate
from planner.model import build_model
from planner.solve import compile_model
from wb import site, tiny, write_workbook
from test_default_workbook import DEFAULT
from test_families import _two_markets, with_refinery_chain


def _matched(path, model=None):
    """(arrays, Pyomo model, its compiled form, match's columns and rows)."""
    definition = load_definition(model)
    data = load_data(path)
    am = build_arrays(data, definition)
    m = build_model(data, definition)
    pc = compile_model(m)
    return am, m, pc, match(am, m, pc)


def _rows(m, family: str) -> int:
    c = getattr(m, family, None)
    return 0 if c is None else len(c)


def _scrap(sheets, settings):
    sheets["sites"].append(site("Y1", "AAA", "recycling", "existing", 1000, var_cost_usd_per_t=100, **{"yield": 0.8}))
    sheets["scrap"] = [{"member": "AA", "mineral": "X", "period": 2030, "scrap_tpy": 40}]
    return "scrap_limit"


def _share(sheets, settings):
    settings["max_country_share"] = 0.6
    _two_markets(sheets)
    return "country_share_cap"


def _group(sheets, settings):
    with_refinery_chain(sheets, capex=0.001, capacity=60, group="G")
    sheets["sites"].append(site("R2", "AAA", "refinery", "candidate", 60, capex_musd=0.002, var_cost_usd_per_t=100,
                                group="G", **{"yield": 1}))
    return "exclusive_group"


def _emissions(sheets, settings):
    sheets["limits"] = [{"period": 2030, "emissions_cap_tco2e_per_yr": 550}]
    _two_markets(sheets, 10, 1)
    return "emissions_cap"


def _water(sheets, settings):
    sheets["limits"] = [{"period": 2030, "water_cap_m3_per_yr": 5000}]
    sheets["sites"][0]["water_m3_per_t"] = 80
    return "water_cap"


def _candidate_chain(sheets, settings):
    # a candidate refinery and an existing one fed by a mine: capacity if online with builds,
    # refinery input, financing balance for the candidate
    with_refinery_chain(sheets, capex=0.001, capacity=60)
    sheets["sites"].append(site("R0", "AAA", "refinery", "existing", 30, var_cost_usd_per_t=50, **{"yield": 0.5}))
    return "refinery_input"


def _forced(sheets, settings):
    with_refinery_chain(sheets, capex=0.001, capacity=60, decision="force_build")
    return "build_once"


def _allied(sheets, settings):
    from test_standards_trace import chain
    chain(sheets, refinery_country="AAA")
    sheets["minerals"][0]["min_allied_share"] = 0.5
    return "allied_share"


def _traced(sheets, settings):
    _allied(sheets, settings)
    return "traced_input"


def _mining(sheets, settings):
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "candidate", 1000, var_cost_usd_per_t=30, capex_musd=0.001)]
    settings["max_country_share_mining"] = 0.6
    return "mining_share_cap"


def _cvar(sheets, settings):
    from test_risk import cvar_case
    s2, set2 = cvar_case(0.5)
    sheets.clear()
    sheets.update(s2)
    settings.clear()
    settings.update(set2)
    return "cvar_excess"


@pytest.mark.parametrize("case", [_scrap, _share, _group, _emissions, _water, _candidate_chain, _forced, _allied,
                                  _traced, _mining, _cvar])
def test_each_family_as_arrays_is_the_pyomo_model(tmp_path, case):
    sheets, settings = tiny()
    family = case(sheets, settings)
    am, m, pc, (columns, rows) = _matched(write_workbook(tmp_path / "w.xlsx", sheets, settings))
    assert _rows(m, family) > 0  # the family has rows here: the match says something about it
    assert len(columns) == len(pc.columns) and len(rows) == len(pc.rows)
    # and in Pyomo's own order: HiGHS is handed the same model, row for row, column for column
    assert all(a is b for a, b in zip(columns, pc.columns))
    assert all(a is b for a, b in zip(rows, pc.rows))


@pytest.mark.parametrize("seed,scenarios", [(1, 1), (2, 3), (7, 4)])
def test_generated_workbooks_as_arrays_are_the_pyomo_model(tmp_path, seed, scenarios):
    path = tmp_path / "g.xlsx"
    generate(path, sites=40, minerals=3, periods=3, scenarios=scenarios, seed=seed)
    am, m, pc, (columns, rows) = _matched(path)
    for family in ("capacity_if_online", "refinery_input", "demand_coverage", "financing_balance"):
        assert _rows(m, family) > 0
    assert am.A.nnz == pc.A.nnz and len(am.integer) == len(pc.integer) > 0
    assert all(a is b for a, b in zip(columns, pc.columns))


def test_the_default_workbook_as_arrays_is_the_pyomo_model():
    # stockpiles (build up, release, releases in demand coverage, their costs), budgets and the
    # burden band, with everything else the default workbook has, row for row and column for column
    am, m, pc, (columns, rows) = _matched(DEFAULT)
    for family in ("stock_build_up", "stock_release", "budget", "burden_band_upper", "burden_band_lower",
                   "scrap_limit", "country_share_cap"):
        assert _rows(m, family) > 0
    assert all(a is b for a, b in zip(columns, pc.columns)) and all(a is b for a, b in zip(rows, pc.rows))


def _two_members(**settings):
    from test_financing import two_members
    sheets, sets = two_members(**settings)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.2, 0.8
    return sheets, sets


def _host(sheets, sets):
    sets["host_min_share"] = 0.6
    return "host_share"


def _cap(sheets, sets):
    sheets["financing_rules"] = [{"member": "BB", "country": "AAA", "site": None, "max_share": 0.1}]
    return "financing_cap"


def _floor(sheets, sets):
    sets["min_benefit_ratio"] = 1
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    return "benefit_floor"


def _band(sheets, sets):
    sets["burden_tolerance"] = 0.1
    return "burden_band_upper"


@pytest.mark.parametrize("case", [_host, _cap, _floor, _band])
def test_each_financing_rule_as_arrays_is_the_pyomo_model(tmp_path, case):
    sheets, sets = _two_members()
    family = case(sheets, sets)
    am, m, pc, (columns, rows) = _matched(write_workbook(tmp_path / "w.xlsx", sheets, sets))
    assert _rows(m, family) > 0
    assert all(a is b for a, b in zip(columns, pc.columns)) and all(a is b for a, b in zip(rows, pc.rows))


def _small(tmp_path):
    sheets, settings = tiny()
    _candidate_chain(sheets, settings)
    _share(sheets, settings)
    return write_workbook(tmp_path / "w.xlsx", sheets, settings)


def test_a_difference_is_found_and_named(tmp_path):
    path = _small(tmp_path)
    definition = load_definition(None)
    data = load_data(path)
    m = build_model(data, definition)
    pc = compile_model(m)
    am = build_arrays(data, definition)
    # a coefficient
    bad = dataclasses.replace(am, A=dataclasses.replace(am.A, data=am.A.data.copy()))
    bad.A.data[0] *= 1.001
    with pytest.raises(ModelMismatch, match=r"coefficient"):
        match(bad, m, pc)
    # a flow's upper bound
    j = next(j for j in range(len(am.col_upper)) if am.col_keys[j][0] == "v_flow")
    upper = am.col_upper.copy()
    upper[j] += 1.0
    with pytest.raises(ModelMismatch, match=r"v_flow\[.*upper bound"):
        match(dataclasses.replace(am, col_upper=upper), m, pc)
    # a row's bound
    lower = am.row_lower.copy()
    i = next(i for i in range(len(lower)) if am.row_keys[i][0] == "demand_coverage")
    lower[i] += 1.0
    with pytest.raises(ModelMismatch, match=r"demand_coverage\[AA,X,2030,.*lower bound"):
        match(dataclasses.replace(am, row_lower=lower), m, pc)
    # a row the model has and the arrays lack
    m.extra = pyo.Constraint(expr=m.v_unmet["AA", "X", 2030, next(iter(data.SCENARIOS))] <= 5)
    with pytest.raises(ModelMismatch, match=r"row extra of the model is not in the arrays"):
        match(am, m, compile_model(m))


def test_a_run_with_arrays_matches_the_pyomo_model_while_it_searches(solve_tiny):
    sheets, settings = tiny()
    _candidate_chain(sheets, settings)
    res = solve_tiny(sheets, settings)
    h = res.outcome.hand_over
    # R0 refines 30 t at 50 USD/t (60 t of free ore), R1 (capex 1,000 USD) 60 t at 100, the market the
    # other 10 t at 500: 1,500 + 1,000 + 6,000 + 5,000 = 13,500 USD (without R1: 36,500)
    assert res.outcome.status == "optimal" and res.costs["total_cost_musd"] == pytest.approx(0.0135, abs=1e-9)
    assert "model_built_as_arrays_s" in h and "pyomo_model_matched_s" in h
    assert "pyomo_model_matched_during_search_s" in h  # a MIP: matched beside HiGHS's search
    assert "compile_s" not in h  # nothing compiled before HiGHS had the model


def test_a_run_whose_arrays_differ_reports_no_plan(solve_tiny, monkeypatch, tmp_path):
    import planner.arrays as arrays_module

    def skewed(data, definition):
        am = build_arrays(data, definition)
        return dataclasses.replace(am, cost=am.cost * 1.01)  # every cost 1% off the model's

    monkeypatch.setattr(arrays_module, "build_arrays", skewed)
    sheets, settings = tiny()
    _candidate_chain(sheets, settings)
    res = solve_tiny(sheets, settings)
    assert res.outcome.status == "error"
    assert "is not the model's definition" in res.outcome.message and "cost" in res.outcome.message
    assert res.solution is None and res.output is None


def test_a_model_not_written_as_arrays_is_built_with_pyomo_and_says_why(solve_tiny):
    # A host share of a project without capex: Pyomo writes that row the other way round (phi >= 0),
    # so the arrays decline it and the run builds the Pyomo model first, as before.
    sheets, sets = _two_members(host_min_share=0.6)
    next(x for x in sheets["sites"] if x["site"] == "R1")["capex_musd"] = 0
    res = solve_tiny(sheets, sets)
    assert res.outcome.usable and res.outcome.status == "optimal"
    assert res.outcome.hand_over["model_not_built_as_arrays"] == "a host share of a zero capex"
    assert "model_built_as_arrays_s" not in res.outcome.hand_over and "compile_s" in res.outcome.hand_over


def test_a_flow_in_no_row_and_at_no_cost_is_no_column(tmp_path):
    # Pyomo's compile drops a variable that is in no row and not in the objective; so do the
    # arrays. The market costs nothing and there is no freight, so no flow is in the objective; the
    # member has no demand in 2035, so its delivery flow there is in no row (its bound is 0 and
    # capacity if online skips the market in 2035). The columns come in another order than
    # Pyomo's here (no flow costs: the penalised unmet demand is met first), the same model.
    sheets, settings = tiny()
    sheets["periods"].append({"period": 2035, "years": 5})
    sheets["sites"][0]["var_cost_usd_per_t"] = 0
    am, m, pc, (columns, rows) = _matched(write_workbook(tmp_path / "w.xlsx", sheets, settings))
    assert len(m.v_flow) == 2 and len(columns) == len(m.v_flow) - 1 + len(m.v_unmet) + 3  # + paid total, burden o+ o-
    assert id(m.v_flow[0, 2035, next(iter(m.SCENARIOS))]) not in {id(v) for v in columns}
    assert np.array_equal(am.col_upper, np.array([v.ub if v.ub is not None else np.inf for v in columns]))


@pytest.mark.parametrize("error, message", [
    (MemoryError("stand-in"), "building the Pyomo model to read the plan ran out of memory; no plan reported "
                              "(try --low-memory)"),
    (RuntimeError("stand-in"), "building the Pyomo model to read the plan failed (RuntimeError: stand-in); "
                               "no plan reported")])
def test_a_failure_building_the_pyomo_model_after_the_search_reports_no_plan(solve_tiny, monkeypatch, error,
                                                                              message):
    # The arrays were searched; the Pyomo model, built to read the plan, cannot be (here: a stand-in
    # error, in the thread beside the search and again in the foreground): the run says what failed,
    # with no plan and no traceback.
    import planner.pipeline as pipeline

    def fails(data, definition):
        raise error

    monkeypatch.setattr(pipeline, "build_model", fails)
    sheets, settings = tiny()
    _candidate_chain(sheets, settings)
    res = solve_tiny(sheets, settings)
    assert res.outcome.status == "error" and res.solution is None
    assert res.outcome.message == message
