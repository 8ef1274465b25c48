"""Hand-solved: stockpiles, CVaR, concentration (and, in test_stress, the stress test,
the value of the stochastic solution and the frontier).

From `wb.tiny()`: member AA needs 100 t/yr of X in one 1-year period (discount 0, so PV = plain
sum); the market M1 (CCC) sells at 500 USD/t. Here the unmet penalty is 10,000 USD/t and a
scenario `shock` stops M1 entirely (availability 0) with probability p; `base` has 1 - p.
"""

import pytest

from planner.results.report import output_tables
from planner.results.risk import concentration_table, scenario_cost_table, unmet_risk_table
from planner.results.solution import cvar
from wb import site, tiny

TOL = 1e-7


def shock_case(p, **settings):
    sheets, s = tiny(unmet_penalty_usd_per_t=10_000, **settings)
    sheets["scenarios"] = [{"scenario": "base", "probability": 1 - p, "demand_multiplier": 1, "shock_years": None},
                           {"scenario": "shock", "probability": p, "demand_multiplier": 1, "shock_years": 1}]
    sheets["disruptions"] = [{"scenario": "shock", "country": "CCC", "site": None, "mineral": None, "period": None,
                              "availability": 0}]
    return sheets, s


def with_stockpile(sheets):
    sheets["stockpiles"] = [{"mineral": "X", "member": None, "max_t": 100, "holding_cost_usd_per_t_yr": 100,
                             "acquisition_cost_usd_per_t": 1000}]
    return sheets


def stock(res):
    s = res.solution.stocks
    return float(s["stock_t"].sum())


@pytest.mark.parametrize("p,expected_stock,expected_cost", [
    # No stock: (1-p) x 100 x 500 + p x 100 x 10,000 = 50,000 (1-p) + 1,000,000 p.
    # Full stock of 100 t: buy 100 x 1,000 + hold 100 x 100 = 110,000 up front; base as before;
    # in the shock release 100 t (shock lasts 1 year: rate <= 100 / 1) and buy it back, p x 100,000:
    # 110,000 + 50,000 (1-p) + 100,000 p. The stock pays when 1,000,000 p > 110,000 + 100,000 p,
    # i.e. p > 0.1222.
    (0.10, 0.0, 45_000 + 100_000),            # 145,000 USD without a stock (with one: 165,000)
    (0.20, 100.0, 110_000 + 40_000 + 20_000),  # 170,000 USD with it (without: 240,000)
])
def test_stockpile_pays_only_when_the_shock_is_likely_enough(solve_tiny, p, expected_stock, expected_cost):
    sheets, settings = shock_case(p)
    res = solve_tiny(with_stockpile(sheets), settings)
    assert stock(res) == pytest.approx(expected_stock, abs=1e-6)
    assert res.costs["total_cost_musd"] == pytest.approx(expected_cost * 1e-6, abs=TOL)
    if expected_stock:
        r = res.solution.releases
        assert list(r["scenario"]) == ["shock"] and float(r["release_tpy"].iloc[0]) == pytest.approx(100)
        assert res.costs["stock_musd"] == pytest.approx(0.11, abs=TOL)
        assert res.costs["stock_replenish_musd"] == pytest.approx(p * 0.1, abs=TOL)


def test_shock_length_limits_the_release_rate(solve_tiny):
    # The period is now 2 years long and the shock lasts both: the 100 t stock sustains only
    # 100 / 2 = 50 t/yr. p = 0.5: no stock 2 x [0.5 x 50,000 + 0.5 x 1,000,000] = 1,050,000 USD;
    # stock 100 t: 100,000 + 2 x 100 x 100 = 120,000; base 0.5 x 100,000; shock: 50 t/yr released,
    # 50 t/yr unmet x 10,000 x 2 years = 1,000,000, buy back 100 t = 100,000, x 0.5 = 550,000.
    # Total 120,000 + 50,000 + 550,000 = 720,000 USD.
    sheets, settings = shock_case(0.5)
    sheets["periods"] = [{"period": 2030, "years": 2}]
    sheets["scenarios"][1]["shock_years"] = 5  # longer than the period: capped at its 2 years
    res = solve_tiny(with_stockpile(sheets), settings)
    assert stock(res) == pytest.approx(100)
    assert float(res.solution.releases["release_tpy"].iloc[0]) == pytest.approx(50)
    assert res.costs["total_cost_musd"] == pytest.approx(0.72, abs=TOL)


def cvar_case(weight):
    """Shock with p = 0.1; a safe candidate refinery R1 in AAA (capex 0.2 MUSD, free ore from N1)."""
    sheets, settings = shock_case(0.1, cvar_alpha=0.9, cvar_weight=weight)
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.2, **{"yield": 1})]
    return sheets, settings


@pytest.mark.parametrize("weight,builds,objective", [
    # Without R1: scenario costs 50,000 (base) and 1,000,000 (shock): expected 145,000, CVaR_0.9
    # (the worst 10 %, i.e. the shock) 1,000,000. With R1: 200,000 in both: expected and CVaR 200,000.
    # Objective E + w CVaR: without R1 145,000 + 1,000,000 w; with R1 200,000 (1 + w); R1 wins when
    # w > 55,000 / 800,000 = 0.06875.
    (0.05, False, 145_000 + 50_000),
    (0.10, True, 200_000 + 20_000),
])
def test_cvar_switches_to_the_safer_supplier(solve_tiny, weight, builds, objective):
    sheets, settings = cvar_case(weight)
    res = solve_tiny(sheets, settings)
    assert (len(res.solution.builds) == 1) is builds
    assert res.costs["total_cost_musd"] == pytest.approx(objective * 1e-6, abs=TOL)
    assert res.costs["expected_cost_musd"] == pytest.approx((200_000 if builds else 145_000) * 1e-6, abs=TOL)
    costs = scenario_cost_table(res.data, res.solution)
    if not builds:  # with R1 both scenarios cost the same
        assert list(costs["scenario"]) == ["shock", "base"]  # worst first
    tables = output_tables(res.data, res.solution, _run(res))
    summ = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    assert summ["cvar_musd"] == pytest.approx((200_000 if builds else 1_000_000) * 1e-6, abs=TOL)
    assert summ["worst_scenario_cost_musd"] == pytest.approx((200_000 if builds else 1_000_000) * 1e-6, abs=TOL)


def _run(res):
    from planner.results.report import RunRecord
    return RunRecord(input_file="x", input_sha256="x", definition=res.definition, options={}, outcome=res.outcome,
                     max_violation=0.0, max_violation_where="")


def test_cvar_of_a_discrete_distribution():
    # worst 25 % of {10 (p .5), 20 (p .3), 40 (p .2)}: 0.2 x 40 + 0.05 x 20 = 9, / 0.25 = 36
    assert cvar({"a": 10, "b": 20, "c": 40}, {"a": .5, "b": .3, "c": .2}, 0.75) == pytest.approx(36)
    # alpha 0: the mean
    assert cvar({"a": 10, "b": 20, "c": 40}, {"a": .5, "b": .3, "c": .2}, 0.0) == pytest.approx(19)


def test_unmet_risk_and_concentration(solve_tiny):
    # p = 0.1 without stock or R1: 100 t unmet in the shock only: expected 10 t, worst 100 t (shock).
    # In base AA gets all 100 t from CCC: HHI 1, largest share 1 (CCC), alliance share 0.
    sheets, settings = shock_case(0.1)
    res = solve_tiny(sheets, settings)
    u = unmet_risk_table(res.data, res.solution).iloc[0]
    assert (u["expected_unmet_t"], u["worst_unmet_t"], u["worst_scenario"]) == (pytest.approx(10), pytest.approx(100),
                                                                              "shock")
    tables = output_tables(res.data, res.solution, _run(res))
    c = concentration_table(res.data, tables["supply_mix"]).set_index("scenario").loc["base"]
    assert (c["hhi"], c["largest_country"], c["largest_share"], c["alliance_share"]) == (1.0, "CCC", 1.0, 0.0)


def test_concentration_of_a_split_supply(solve_tiny):
    # Refinery R0 in AAA capped at 40 t/yr (free ore) and M1 (CCC) for the other 60: shares .4/.6,
    # HHI = .16 + .36 = .52, largest CCC .6, alliance share .4.
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R0", "AAA", "refinery", "existing", 40, **{"yield": 1})]
    res = solve_tiny(sheets, settings)
    tables = output_tables(res.data, res.solution, _run(res))
    c = tables["concentration"].iloc[0]
    assert c["hhi"] == pytest.approx(0.52) and c["largest_country"] == "CCC"
    assert c["largest_share"] == pytest.approx(0.6) and c["alliance_share"] == pytest.approx(0.4)


def test_share_cap_per_mineral_overrides_the_setting(solve_tiny):
    # Setting 0.3 would force 70 t unmet-or-domestic; the mineral's own cap 0.9 lets 90 t come from CCC:
    # 90 x 500 + 10 t unmet x 1,000,000 = 45,000 + 10,000,000 USD = 10.045 MUSD.
    sheets, settings = tiny(max_country_share=0.3)
    sheets["minerals"][0]["max_country_share"] = 0.9
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(10.045, abs=TOL)
