"""Cash, valuation and public money: the same total split by who pays.

Hand-solved on `wb.tiny()` (member AA needs 100 t/yr of X in one one-year period, base year 2030,
discount rate 0; the market M1 in C-land sells at 500 USD/t, C-land's risk score 0.9) and on the
teaching workbook `inputs/example_hedge.xlsx`, whose optimum its `sources` sheet works out.
"""

from pathlib import Path

import pytest

from planner.results.solution import CASH, COMPONENTS, VALUATION
from wb import tiny

ROOT = Path(__file__).resolve().parent.parent


def _carbon_and_risk(basis):
    # risk_weight 100 USD/t x risk score 0.9 = 90 USD/t; carbon 10 USD/tCO2e x 2 tCO2e/t = 20 USD/t.
    # AA buys its 100 t from M1: variable 100 x 500 = 50,000 USD = 0.05 MUSD, risk charge
    # 100 x 90 = 9,000 USD = 0.009 MUSD, carbon 100 x 20 = 2,000 USD = 0.002 MUSD; total 0.061 MUSD.
    sheets, settings = tiny(risk_weight_usd_per_t=100, carbon_price_usd_per_tco2e=10)
    sheets["sites"][0]["emissions_tco2e_per_t"] = 2
    if basis is not None:
        settings["carbon_price_basis"] = basis
    return sheets, settings


@pytest.mark.parametrize("basis", [None, "shadow"])
def test_a_shadow_carbon_price_is_valuation(solve_tiny, basis):
    # cash = variable 0.05; valuation = risk 0.009 + carbon 0.002 = 0.011; nothing built: no public money
    res = solve_tiny(*_carbon_and_risk(basis))
    c = res.costs
    assert c["total_cost_musd"] == pytest.approx(0.061, abs=1e-12)
    assert c["carbon_musd"] == pytest.approx(0.002, abs=1e-12)
    assert c["cash_cost_musd"] == pytest.approx(0.05, abs=1e-12)
    assert c["valuation_cost_musd"] == pytest.approx(0.011, abs=1e-12)
    assert c["public_money_musd"] == 0.0


def test_a_carbon_levy_is_cash(solve_tiny):
    # the same plan and total; the carbon 0.002 moves to cash: cash 0.052, valuation 0.009
    res = solve_tiny(*_carbon_and_risk("levy"))
    c = res.costs
    assert c["total_cost_musd"] == pytest.approx(0.061, abs=1e-12)
    assert c["cash_cost_musd"] == pytest.approx(0.052, abs=1e-12)
    assert c["valuation_cost_musd"] == pytest.approx(0.009, abs=1e-12)


def test_a_carbon_basis_that_is_neither_is_named(tiny_path):
    from planner.dataset.data import load_data
    from planner.errors import InputError
    with pytest.raises(InputError) as err:
        load_data(tiny_path(*_carbon_and_risk("tax")))
    assert err.value.code == "E_BAD_CHOICE" and "carbon_price_basis" in str(err.value)
    assert "'tax' is not one of: shadow | levy" in str(err.value)


def test_the_hedge_example_cash_valuation_and_public_money():
    # sources sheet of example_hedge: build R1 (0.1 MUSD) and refine 100 t at 100 USD/t (0.01 MUSD):
    # total 0.11 = cash 0.11 (capex 0.1 + variable 0.01) + valuation 0; the members pay the
    # capex: public money 0.1 MUSD.
    from planner.pipeline import solve_workbook
    res = solve_workbook(ROOT / "inputs" / "example_hedge.xlsx", write=False)
    c = res.costs
    assert res.outcome.status == "optimal"
    assert c["total_cost_musd"] == pytest.approx(0.11, abs=1e-9)
    assert c["cash_cost_musd"] == pytest.approx(0.11, abs=1e-9)
    assert c["valuation_cost_musd"] == pytest.approx(0.0, abs=1e-9)
    assert c["public_money_musd"] == pytest.approx(0.1, abs=1e-9)


def test_every_component_is_cash_or_valuation_once():
    assert set(CASH) | set(VALUATION) | {"carbon_musd"} == set(COMPONENTS)
    assert not set(CASH) & set(VALUATION) and "carbon_musd" not in set(CASH) | set(VALUATION)


def test_the_summary_sheet_and_the_printed_lines_split_the_total(tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.io.writer import read_json
    out = tmp_path / "hedge.xlsx"
    r = CliRunner().invoke(cli, ["solve", str(ROOT / "inputs" / "example_hedge.xlsx"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "total cost (PV): 0.1100 MUSD = cash + valuation" in r.output
    assert "cash: money paid by anyone" in r.output and "valuation: charges nobody pays" in r.output
    assert "public money (PV): 0.1000 MUSD" in r.output
    summary = read_json(tmp_path / "hedge.json")["summary"]
    kv = dict(zip(summary["key"], summary["value"]))
    assert kv["cash_cost_musd"] + kv["valuation_cost_musd"] == pytest.approx(kv["total_cost_musd"], abs=1e-12)
    assert kv["public_money_musd"] == pytest.approx(0.1, abs=1e-9)
    keys = list(summary["key"])
    assert keys[:4] == ["total_cost_musd", "cash_cost_musd", "valuation_cost_musd", "public_money_musd"]


def test_milestone_years_agree_on_every_row_of_the_default():
    # FID <= construction start <= first production <= full capacity, and the online period is the
    # first period whose first year is at least the first production year
    from planner.pipeline import solve_workbook
    from planner.results.report import MILESTONE_COLUMNS, milestones_table
    res = solve_workbook(ROOT / "inputs" / "alliance_2026.xlsx", write=False)
    ms = milestones_table(res.data, res.solution)
    assert list(ms.columns) == MILESTONE_COLUMNS and len(ms) == len(res.solution.builds) > 0
    periods = sorted(res.data.PERIODS)
    for r in ms.itertuples(index=False):
        assert r.final_investment_decision_year == r.build_period
        assert (r.final_investment_decision_year <= r.construction_start_year <= r.first_production_year
                <= r.full_capacity_year), r
        assert r.online_period == min(t for t in periods if t >= r.first_production_year), r


def test_construction_years_and_ramp_up_shape_the_milestones(solve_tiny):
    # Periods 2030 and 2035 (5 years each); AA needs 100 t/yr in both; the only supply is R1, a free
    # candidate refinery (capex 1 MUSD) of ore from the mine N1, with a 2.2-year lead: built in 2030
    # it produces from 2030 + ceil(2.2) = 2033 and is online in 2035 (2032.2 <= 2035; not in 2030).
    # Building saves 5 x 100 x 1e6 USD = 500,000 MUSD of unmet penalty in 2035: R1 is built in 2030.
    #   construction_years 1.5 -> construction starts at 2033 - ceil(1.5) = 2031 (after the decision)
    #   ramp_up_years 2        -> full capacity 2033 + 2 = 2035
    from planner.results.report import milestones_table
    from wb import site
    sheets, settings = tiny(unmet_penalty_usd_per_t=1e6)
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    sheets["sites"] = [site("N1", "AAA", "mine", "existing", 1000),
                       site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=1, lead_time_years=2.2,
                            construction_years=1.5, ramp_up_years=2, **{"yield": 1})]
    res = solve_tiny(sheets, settings)
    ms = milestones_table(res.data, res.solution)
    assert len(ms) == 1
    r = ms.iloc[0]
    assert (r["site"], r["final_investment_decision_year"], r["construction_start_year"], r["first_production_year"],
            r["full_capacity_year"], r["online_period"]) == ("R1", 2030, 2031, 2033, 2035, 2035)
    # without construction_years and ramp_up_years: construction from the decision, the default
    # one-year ramp-up (settings.ramp_up_years): full capacity 2034
    del sheets["sites"][1]["construction_years"], sheets["sites"][1]["ramp_up_years"]
    r = milestones_table(*(lambda x: (x.data, x.solution))(solve_tiny(sheets, settings))).iloc[0]
    assert (r["construction_start_year"], r["first_production_year"], r["full_capacity_year"]) == (2030, 2033, 2034)


def test_the_milestones_header_says_what_each_year_means(tmp_path):
    import openpyxl
    from click.testing import CliRunner

    from planner.cli import cli
    out = tmp_path / "hedge.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(ROOT / "inputs" / "example_hedge.xlsx"), "-o", str(out)]).exit_code == 0
    ws = openpyxl.load_workbook(out)["milestones"]
    header = {c.value: c for c in ws[1]}
    assert "counts no output before it" in header["online_period"].comment.text
    assert "lead time" in header["first_production_year"].comment.text
    assert ws.cell(2, 1).value == "R1"
