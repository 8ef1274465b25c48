"""`plan evaluate` (planner/analyses/evaluate.py): saved portfolios judged scenario by scenario with
their first stage fixed; the value of perfect information from the wait-and-see solves; intervals
where the scenarios are a sample. Worked by hand on the teaching workbook inputs/example_hedge.xlsx."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.analyses.evaluate import bootstrap_cvar, cvar_equal, mean_interval, wilson
from planner.cli import cli
from planner.io.writer import read_portfolio
from wb import site, tiny, write_workbook

ROOT = Path(__file__).resolve().parent.parent
HEDGE = ROOT / "inputs" / "example_hedge.xlsx"


def _run(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def _summary(path):
    s = read_portfolio(path)["summary"]
    return dict(zip(s["key"], s["value"]))


@pytest.fixture(scope="module")
def hedge_runs(tmp_path_factory):
    """The hedge workbook's optimum (R1 built) and the plan that builds nothing (R1 excluded), saved."""
    d = tmp_path_factory.mktemp("hedge")
    _run("solve", HEDGE, "-o", d / "build.xlsx", "--quiet")
    sheets = {k: v for k, v in pd.read_excel(HEDGE, sheet_name=None, engine="calamine").items()}
    nothing = d / "nothing_wb.xlsx"
    shutil.copy(HEDGE, nothing)
    from openpyxl import load_workbook
    wb = load_workbook(nothing)
    ws = wb["sites"]
    header = [c.value for c in ws[1]]
    if "decision" not in header:
        ws.cell(row=1, column=len(header) + 1, value="decision")
        header.append("decision")
    row = [r[0].row for r in ws.iter_rows(min_row=2) if r[0].value == "R1"][0]
    ws.cell(row=row, column=header.index("decision") + 1, value="exclude")
    wb.save(nothing)
    _run("solve", nothing, "-o", d / "nothing.xlsx", "--quiet")
    assert len(sheets["sites"]) == 3
    return d


def test_two_portfolios_and_the_value_of_perfect_information_by_hand(hedge_runs, tmp_path):
    # The hedge workbook: AA needs 100 t of X; a market in C-land at 500 USD/t; R1 (capex 0.1 MUSD,
    # 100 USD/t); embargo (p 0.5) stops C-land, an unmet tonne costs 5,000 USD.
    # `build` (R1): 0.1 + 100 x 100 = 0.11 MUSD in both scenarios -> expected 0.11 (= RP, the optimum).
    # `nothing`: calm 100 x 500 = 0.05, embargo 100 x 5,000 = 0.5 -> expected 0.275; it is the
    # expected-value problem's plan (C-land at half its capacity still sells 100 t), so
    # 0.275 - 0.11 = 0.165 is the value of the stochastic solution.
    # Wait-and-see: calm alone builds nothing (0.05), embargo alone builds R1 (0.11): WS = 0.08, and
    # EVPI = RP - WS = 0.03; E[nothing] - WS = 0.195 bounds it from above.
    # CVaR at 0.9 (the worst 10%, all in the embargo): 0.11 and 0.5.
    out = tmp_path / "eval.xlsx"
    res = _run("evaluate", HEDGE, hedge_runs / "build.xlsx", hedge_runs / "nothing.xlsx", "--wait-and-see",
               "-o", out, "--quiet", "--mip-abs-gap", 0)  # the wait-and-see MIPs proven: their bounds are exact
    assert "exact: the workbook's own scenarios" in res.output
    got = read_portfolio(out)
    ev = got["evaluation"].set_index("portfolio")
    assert ev.loc["build", "expected_cost_musd"] == pytest.approx(0.11, abs=1e-9)
    assert ev.loc["nothing", "expected_cost_musd"] == pytest.approx(0.275, abs=1e-9)
    assert ev.loc["build", "cvar_musd"] == pytest.approx(0.11, abs=1e-9)
    assert ev.loc["nothing", "cvar_musd"] == pytest.approx(0.5, abs=1e-9)
    assert ev.loc["nothing", "expected_unmet_t"] == pytest.approx(50.0)  # 0.5 x 100 t
    assert ev.loc["nothing", "shortfall_probability"] == pytest.approx(0.5)
    assert ev.loc["build", "shortfall_probability"] == pytest.approx(0.0)
    assert ev.loc["nothing", "worst_cost_musd"] == pytest.approx(0.5, abs=1e-9)
    assert ev["expected_cost_musd_low"].isna().all() or (ev["expected_cost_musd_low"] == "").all()  # no sample
    diff = got["differences"].iloc[0]
    assert (diff["portfolio"], diff["against"]) == ("nothing", "build")
    assert diff["cost_difference_musd"] == pytest.approx(0.165, abs=1e-9)
    assert diff["cvar_difference_musd"] == pytest.approx(0.39, abs=1e-9)
    s = _summary(out)
    assert s["wait_and_see_musd"] == pytest.approx(0.08, abs=1e-9)
    assert s["wait_and_see_bound_musd"] == pytest.approx(0.08, abs=1e-9)
    assert s["evpi_upper_musd[build]"] == pytest.approx(0.03, abs=1e-9)
    assert s["evpi_upper_musd[nothing]"] == pytest.approx(0.195, abs=1e-9)
    assert s["evpi_upper_incumbents_musd[build]"] == pytest.approx(0.03, abs=1e-9)
    ws = got["wait_and_see"].set_index("scenario")
    assert ws.loc["calm", "sites_built"] == 0 and ws.loc["embargo", "sites_built"] == 1
    um = got["unmet_by_member_mineral"].set_index("portfolio")
    assert (um.loc["nothing", "expected_unmet_t"], um.loc["nothing", "worst_unmet_t"]) == pytest.approx((50.0, 100.0))
    assert (um.loc["build", "expected_unmet_t"], um.loc["build", "worst_unmet_t"]) == pytest.approx((0.0, 0.0))
    per = got["scenario_results"]
    assert len(per) == 4 and set(per["status"]) == {"optimal"}
    # and plan stress's VSS on the same workbook is the difference above
    stress = tmp_path / "stress.xlsx"
    _run("stress", HEDGE, "-o", stress, "--quiet")
    assert _summary(stress)["vss_musd"] == pytest.approx(0.165, abs=1e-9)


def test_each_scenario_cost_is_the_portfolios_own_scenario_cost(tmp_path):
    # A risk-neutral generated workbook with 4 scenarios: the plan's cost in each scenario, solved on
    # its own with the plan fixed, is the scenario_costs row the solve wrote (to 1e-6 relative).
    wb = tmp_path / "g.xlsx"
    _run("generate", wb, "--sites", 12, "--minerals", 2, "--periods", 2, "--scenarios", 4, "--seed", 3)
    run = tmp_path / "run.xlsx"
    _run("solve", wb, "-o", run, "--quiet")
    out = tmp_path / "eval.xlsx"
    _run("evaluate", wb, run, "-o", out, "--quiet", "--workers", 1)
    own = read_portfolio(run)["scenario_costs"].set_index("scenario")["cost_musd"]
    per = read_portfolio(out)["scenario_results"].set_index("scenario")["cost_musd"]
    assert len(per) == 4
    for s, c in own.items():
        assert per[s] == pytest.approx(c, rel=1e-6)
    ev = read_portfolio(out)["evaluation"].iloc[0]
    total = dict(zip(read_portfolio(run)["summary"]["key"], read_portfolio(run)["summary"]["value"]))
    assert ev["expected_cost_musd"] == pytest.approx(float(total["total_cost_musd"]), rel=1e-6)


def test_intervals_by_hand():
    # values 1, 2, 3, 4: mean 2.5, sd 1.291, half-width 1.96 x 1.291 / 2 = 1.2652
    lo, hi = mean_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (lo, hi) == pytest.approx((2.5 - 1.959964 * math.sqrt(5 / 3) / 2, 2.5 + 1.959964 * math.sqrt(5 / 3) / 2))
    # Wilson, 0 of 10: [0, z^2 / (n + z^2)] = [0, 3.8415 / 13.8415] = [0, 0.2775]
    assert wilson(0, 10) == pytest.approx((0.0, 3.841459 / 13.841459), abs=1e-6)
    # CVaR at 0.9 of ten equally likely values 1..10: the worst 10% is the 10
    x = np.arange(1.0, 11.0)
    assert cvar_equal(x, 0.9) == pytest.approx(10.0)
    lo, hi = bootstrap_cvar(x, 0.9)
    assert 1.0 <= lo <= 10.0 and hi == pytest.approx(10.0)
    assert bootstrap_cvar(x, 0.9) == (lo, hi)  # the resamples come from a fixed seed
    lo, hi = bootstrap_cvar(x, 0.9, paired=x)  # a portfolio against itself differs by nothing
    assert (lo, hi) == (0.0, 0.0)


def _risky(tmp_path):
    """tiny() with M1 in CCC (100 t at 500 USD/t), M2 in BBB (1,000 t at 800), a candidate home
    refinery R1 (100 t, capex 0.02 MUSD) fed by a free mine; CCC stops with yearly probability 0.2."""
    sheets, settings = tiny(unmet_penalty_usd_per_t=5000)
    sheets["periods"] = [{"period": 2030, "years": 5}]
    sheets["sites"][0]["capacity_tpy"] = 100
    sheets["sites"] += [site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800),
                        site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.02, var_cost_usd_per_t=300,
                             **{"yield": 1})]
    sheets["risks"] = [{"country": "CCC", "mineral": None, "yearly_probability": 0.2, "duration": "exponential",
                        "duration_years": 2, "availability": 0.0}]
    sheets["demand_swings"] = [{"mineral": "X", "low_multiplier": 0.8, "high_multiplier": 1.3,
                                "mode_multiplier": 1.0}]
    return write_workbook(tmp_path / "risky.xlsx", sheets, settings)


def test_a_sample_gets_intervals_and_paired_differences(tmp_path):
    src = _risky(tmp_path)
    sampled = tmp_path / "s40.xlsx"
    _run("scenarios", src, "--sample", 40, "--seed", 3, "-o", sampled)
    _run("solve", sampled, "-o", tmp_path / "opt.xlsx", "--quiet")
    _run("solve", src, "-o", tmp_path / "one.xlsx", "--quiet")  # the plan of the base scenario alone
    out = tmp_path / "eval.xlsx"
    res = _run("evaluate", sampled, tmp_path / "opt.xlsx", tmp_path / "one.xlsx", "-o", out, "--quiet")
    assert "(95% interval)" in res.output
    got = read_portfolio(out)
    ev = got["evaluation"].set_index("portfolio")
    for name in ("opt", "one"):
        r = ev.loc[name]
        assert r["scenarios_solved"] == 40
        assert r["expected_cost_musd_low"] <= r["expected_cost_musd"] <= r["expected_cost_musd_high"]
        assert r["cvar_musd_low"] <= r["cvar_musd"] + 1e-9 and r["cvar_musd"] <= r["cvar_musd_high"] + 1e-9
        assert 0 <= r["shortfall_probability_low"] <= r["shortfall_probability"] <= r["shortfall_probability_high"] <= 1
    # the sample's own optimum is no dearer on it than any other plan
    assert ev.loc["opt", "expected_cost_musd"] <= ev.loc["one", "expected_cost_musd"] + 1e-9
    per = got["scenario_results"]
    a = per[per["portfolio"] == "one"].set_index("scenario")["cost_musd"]
    b = per[per["portfolio"] == "opt"].set_index("scenario")["cost_musd"]
    d = got["differences"].iloc[0]
    lo, hi = mean_interval((a - b.reindex(a.index)).to_numpy())
    assert (d["cost_difference_low_musd"], d["cost_difference_high_musd"]) == pytest.approx((lo, hi))
    assert d["cost_difference_musd"] == pytest.approx(float((a - b.reindex(a.index)).mean()))


def test_a_plan_the_workbook_cannot_make_and_an_output_over_a_portfolio_are_refused(hedge_runs, tmp_path):
    sheets, settings = tiny()
    other = write_workbook(tmp_path / "other.xlsx", sheets, settings)  # no candidate R1
    res = CliRunner().invoke(cli, ["evaluate", str(other), str(hedge_runs / "build.xlsx"), "-o",
                                   str(tmp_path / "e.xlsx")])
    assert res.exit_code == 1 and "portfolio!" in res.output and "R1" in res.output
    assert not (tmp_path / "e.xlsx").exists()
    res = CliRunner().invoke(cli, ["evaluate", str(HEDGE), str(hedge_runs / "build.xlsx"), "-o",
                                   str(hedge_runs / "build.xlsx"), "--force"])
    assert res.exit_code == 2 and "reads" in res.output


def test_a_portfolio_without_its_stock_levels_is_refused_where_the_workbook_has_stocks(tmp_path):
    from planner.analyses.evaluate import read_plan
    from planner.dataset.data import load_data
    from planner.errors import InputError
    sheets, settings = tiny()
    sheets["stockpiles"] = [{"mineral": "X", "member": None, "max_t": 10, "holding_cost_usd_per_t_yr": 1,
                             "acquisition_cost_usd_per_t": 500}]
    wb = write_workbook(tmp_path / "stocks.xlsx", sheets, settings)
    run = tmp_path / "run.xlsx"
    _run("solve", wb, "-o", run, "--quiet", "--tables", "portfolio")  # no stockpiles sheet written
    with pytest.raises(InputError) as e:
        read_plan(run, load_data(wb))
    assert e.value.code == "E_NOT_PORTFOLIO" and "stockpiles" in str(e.value)
