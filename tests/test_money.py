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
