"""One hand-solved tiny instance per constraint family (Calliope's habit).

Every case starts from `wb.tiny()`: member AA (country AAA) needs 100 t/yr of mineral X in one
1-year period 2030; base year 2030 and discount rate 0, so present value = plain sum; costs are
in MUSD (1 USD/t x 1 t = 1e-6 MUSD). An existing market source M1 in country CCC sells at
500 USD/t, so the do-nothing plan costs 100 x 500 = 50,000 USD = 0.05 MUSD.
"""

import pytest

from wb import site, tiny

TOL = 1e-7


def built(res):
    return dict(zip(res.solution.builds["site"], res.solution.builds["build_period"]))


def flow(res, origin, destination, period=None, scenario=None):
    f = res.solution.flows
    m = (f["origin"] == origin) & (f["destination"] == destination)
    if period is not None:
        m &= f["period"] == period
    if scenario is not None:
        m &= f["scenario"] == scenario
    return float(f.loc[m, "flow_tpy"].sum())


def with_refinery_chain(sheets, capex, var_cost=100, capacity=100, **kw):
    """Existing free mine N1 in AAA feeding candidate refinery R1 in AAA (yield 1)."""
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", capacity, capex_musd=capex,
                             var_cost_usd_per_t=var_cost, **{"yield": 1}, **kw)]
    return sheets


def test_do_nothing_baseline(solve_tiny):
    # Only the market: 100 t x 500 USD/t = 50,000 USD = 0.05 MUSD, nothing built.
    sheets, settings = tiny()
    res = solve_tiny(sheets, settings)
    assert res.outcome.status == "optimal"
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    assert res.costs["variable_cost_musd"] == pytest.approx(0.05, abs=TOL)
    assert built(res) == {}


def test_build_pays_off(solve_tiny):
    # R1: capex 0.01 + 100 t x 100 USD/t = 0.01 + 0.01 = 0.02 MUSD < 0.05 via the market -> build R1.
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings)
    assert built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.02, abs=TOL)
    assert res.costs["capex_musd"] == pytest.approx(0.01, abs=TOL)
    assert flow(res, "N1", "R1") == pytest.approx(100)
    assert flow(res, "R1", "AA") == pytest.approx(100)


def test_build_does_not_pay_off(solve_tiny):
    # capex 0.05 + 0.01 = 0.06 > 0.05 via the market -> build nothing.
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.05), settings)
    assert built(res) == {}
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)


def test_lead_time_delays_supply(solve_tiny):
    # Periods 2030 and 2035, 5 years each, r = 0. R1 (lead 5 y) built in 2030 is online from 2035.
    # 2030: market 100 t x 500 x 5 y = 0.25; 2035: R1 100 x 100 x 5 = 0.05; capex 0.01 -> 0.31 MUSD
    # (never building costs 0.5; building in 2035 would come online in 2040, outside the horizon).
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01, lead_time_years=5), settings)
    assert built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.31, abs=TOL)
    assert flow(res, "R1", "AA", period=2030) == 0
    assert flow(res, "M1", "AA", period=2030) == pytest.approx(100)
    assert flow(res, "R1", "AA", period=2035) == pytest.approx(100)
    portfolio_online = res.solution.builds.iloc[0]["build_period"] + 5
    assert portfolio_online == 2035


def test_exclusive_group(solve_tiny):
    # R1 and R2 (60 t/yr each, 100 USD/t) share group G. Both together would cost
    # 0.001 + 0.002 + 0.01 = 0.013; the group allows one: R1 (cheaper capex 0.001) gives 60 t,
    # the market 40 t: 0.001 + 60 x 100e-6 + 40 x 500e-6 = 0.001 + 0.006 + 0.02 = 0.027 MUSD.
    sheets, settings = tiny()
    with_refinery_chain(sheets, capex=0.001, capacity=60, group="G")
    sheets["sites"].append(site("R2", "AAA", "refinery", "candidate", 60, capex_musd=0.002,
                                var_cost_usd_per_t=100, group="G", **{"yield": 1}))
    res = solve_tiny(sheets, settings)
    assert built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.027, abs=TOL)
    # and without the group both are built:
    for s in sheets["sites"]:
        s["group"] = None
    res2 = solve_tiny(sheets, settings)
    assert built(res2) == {"R1": 2030, "R2": 2030}
    assert res2.costs["total_cost_musd"] == pytest.approx(0.013, abs=TOL)


def test_yield_losses(solve_tiny):
    # Existing refinery R0 (yield 0.5, free) fed by mine N1 at 200 USD/t of ore.
    # 100 t refined needs 200 t ore: 200 x 200 = 40,000 USD = 0.04 < 0.05 via the market.
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000, var_cost_usd_per_t=200),
                        site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 0.5})]
    res = solve_tiny(sheets, settings)
    assert flow(res, "N1", "R0") == pytest.approx(200)
    assert flow(res, "R0", "AA") == pytest.approx(100)
    assert res.costs["total_cost_musd"] == pytest.approx(0.04, abs=TOL)
    # With only 150 t of ore: 75 t refined, 25 t from the market: 150 x 200 + 25 x 500 = 42,500 USD.
    sheets["sites"][1]["capacity_tpy"] = 150
    res = solve_tiny(sheets, settings)
    assert flow(res, "R0", "AA") == pytest.approx(75)
    assert res.costs["total_cost_musd"] == pytest.approx(0.0425, abs=TOL)


def test_scrap_limit(solve_tiny):
    # Recycler Y1 in AAA (yield 0.8, 100 USD/t) with 40 t/yr of scrap makes at most 32 t;
    # the market gives the other 68 t: 32 x 100 + 68 x 500 = 37,200 USD = 0.0372 MUSD.
    sheets, settings = tiny()
    sheets["sites"].append(site("Y1", "AAA", "recycling", "existing", 1000, var_cost_usd_per_t=100,
                                **{"yield": 0.8}))
    sheets["scrap"] = [{"member": "AA", "mineral": "X", "period": 2030, "scrap_tpy": 40}]
    res = solve_tiny(sheets, settings)
    assert flow(res, "Y1", "AA") == pytest.approx(32)
    assert res.costs["total_cost_musd"] == pytest.approx(0.0372, abs=TOL)
    # No scrap row means no scrap: the recycler cannot run.
    del sheets["scrap"]
    res = solve_tiny(sheets, settings)
    assert flow(res, "Y1", "AA") == 0
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)


def _two_markets(sheets, emissions_m1=0.0, emissions_m2=0.0):
    sheets["sites"][0]["emissions_tco2e_per_t"] = emissions_m1
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800,
                                emissions_tco2e_per_t=emissions_m2))
    return sheets


def test_country_share_cap_forces_costlier_supplier(solve_tiny):
    # M1 (CCC, 500 USD/t) may supply at most 60% of 100 t; M2 (BBB, 800) the rest:
    # 60 x 500 + 40 x 800 = 62,000 USD = 0.062 MUSD (0.05 without the cap).
    sheets, settings = tiny(max_country_share=0.6)
    res = solve_tiny(_two_markets(sheets), settings)
    assert flow(res, "M1", "AA") == pytest.approx(60)
    assert flow(res, "M2", "AA") == pytest.approx(40)
    assert res.costs["total_cost_musd"] == pytest.approx(0.062, abs=TOL)
    res = solve_tiny(sheets, settings, model="no_share_cap")
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)


def test_share_cap_ignores_members_own_countries(solve_tiny):
    # A member's own country is not "outside": an existing refinery chain in AAA may supply 100%.
    sheets, settings = tiny(max_country_share=0.3)
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R0", "AAA", "refinery", "existing", 1000, var_cost_usd_per_t=10, **{"yield": 1})]
    res = solve_tiny(sheets, settings)
    assert flow(res, "R0", "AA") == pytest.approx(100)
    assert res.costs["total_cost_musd"] == pytest.approx(0.001, abs=TOL)


def test_emissions_cap(solve_tiny):
    # M1 emits 10 t/t, M2 1 t/t; cap 550 t/yr: 10a + b <= 550 with a + b = 100 -> a <= 50.
    # 50 x 500 + 50 x 800 = 65,000 USD = 0.065 MUSD.
    sheets, settings = tiny()
    sheets["limits"] = [{"period": 2030, "emissions_cap_tco2e_per_yr": 550}]
    res = solve_tiny(_two_markets(sheets, 10, 1), settings)
    assert flow(res, "M1", "AA") == pytest.approx(50)
    assert res.costs["total_cost_musd"] == pytest.approx(0.065, abs=TOL)
    # the summary's expected emissions over the (1-year) horizon: 50 x 10 + 50 x 1 = 550 tCO2e
    from planner.results.report import summary_table, RunRecord
    from planner.model.definition import ModelDefinition
    run = RunRecord("x", "h", ModelDefinition(), {}, res.outcome, 0.0, "")
    summ = dict(zip(*summary_table(res.data, res.solution, run)[["key", "value"]].T.values))
    assert summ["emissions_tco2e"] == pytest.approx(550)


@pytest.mark.parametrize("cap", ["emissions_cap_tco2e_per_yr", "water_cap_m3_per_yr"])
def test_a_cap_on_sites_that_neither_emit_nor_use_water_holds_and_is_no_row(solve_tiny, cap):
    # M1 (CCC) emits nothing and uses no water: a cap of 0 on CCC holds whatever M1 supplies, so AA
    # buys its 100 t there at 500 USD/t = 0.05 MUSD, and the model has no row for the cap.
    sheets, settings = tiny()
    sheets["sites"][0]["water_m3_per_t"] = 0
    sheets["limits"] = [{"period": 2030, "country": "CCC", cap: 0}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    assert {name for name, _ in res.compiled.rows} == {"demand_coverage", "paid_total", "burden_target"}


def test_disruption_scenario_changes_the_hedge(solve_tiny):
    # R1 costs capex 0.1 + 100 t x 100 USD/t = 0.11 MUSD; the market 0.05 -> no build in a calm world.
    sheets, settings = tiny(unmet_penalty_usd_per_t=5000)
    with_refinery_chain(sheets, capex=0.1)
    res = solve_tiny(sheets, settings)
    assert built(res) == {}
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    # With a 50% chance that CCC stops exporting (availability 0), not building costs
    # 0.5 x 0.05 + 0.5 x 100 t x 5000 USD/t = 0.025 + 0.25 = 0.275 > 0.11 -> build R1.
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "embargo", "probability": 0.5, "demand_multiplier": 1}]
    sheets["disruptions"] = [{"scenario": "embargo", "country": "CCC", "site": None, "mineral": None,
                              "period": None, "availability": 0}]
    res = solve_tiny(sheets, settings)
    assert built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.11, abs=TOL)
    assert flow(res, "M1", "AA", scenario="embargo") == 0


def test_demand_multiplier_and_unmet_penalty(solve_tiny):
    # Demand x 1.5 = 150 t; market capacity 120 -> 30 t unmet at 1,000 USD/t:
    # 120 x 500 + 30 x 1000 = 90,000 USD = 0.09 MUSD.
    sheets, settings = tiny(unmet_penalty_usd_per_t=1000)
    sheets["sites"][0]["capacity_tpy"] = 120
    sheets["scenarios"] = [{"scenario": "surge", "probability": 1, "demand_multiplier": 1.5}]
    res = solve_tiny(sheets, settings)
    assert res.costs["unmet_penalty_musd"] == pytest.approx(0.03, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(0.09, abs=TOL)


def test_a_scenario_demand_multiplier_for_one_mineral(solve_tiny):
    # Two minerals. X: demand 100 t, market M1 (120 t at 500 USD/t); Y: demand 50 t, market M3 (1,000 t
    # at 200). Scenarios calm and surge (p 0.5 each, both with demand_multiplier 1); scenario_demand
    # sets surge's multiplier for X alone to 1.5: X needs 150 t there, 120 bought, 30 unmet at 1,000.
    # calm: 100 x 500 + 50 x 200 = 60,000; surge: 120 x 500 + 30 x 1,000 + 50 x 200 = 100,000 (Y at
    # its own 50 t: the scenario's multiplier 1). Expected 80,000 USD = 0.08 MUSD; penalty 0.015.
    from wb import site
    sheets, settings = tiny(unmet_penalty_usd_per_t=1000)
    sheets["sites"][0]["capacity_tpy"] = 120
    sheets["minerals"].append({"mineral": "Y", "name": "Mineral Y"})
    sheets["sites"].append(site("M3", "BBB", "market", "existing", 1000, var_cost_usd_per_t=200, mineral="Y"))
    sheets["demand"].append({"member": "AA", "mineral": "Y", "period": 2030, "demand_tpy": 50})
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "surge", "probability": 0.5, "demand_multiplier": 1}]
    sheets["scenario_demand"] = [{"scenario": "surge", "mineral": "X", "demand_multiplier": 1.5}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.08, abs=TOL)
    assert res.costs["unmet_penalty_musd"] == pytest.approx(0.015, abs=TOL)
    u = res.solution.unmet
    assert float(u[(u["mineral"] == "X") & (u["scenario"] == "surge")]["unmet_tpy"].sum()) == pytest.approx(30)
    assert float(u[u["mineral"] == "Y"]["unmet_tpy"].sum()) == pytest.approx(0)
    assert flow(res, "M3", "AA", scenario="surge") == pytest.approx(50)
    # the expected-value problem's one scenario: X's multiplier 0.5 x 1 + 0.5 x 1.5 = 1.25, Y's 1
    from planner.dataset.data import EV_SCENARIO, expected_value_data
    ev = expected_value_data(res.data)
    assert ev.demand_multiplier(EV_SCENARIO, "X") == pytest.approx(1.25)
    assert ev.demand_multiplier(EV_SCENARIO, "Y") == pytest.approx(1.0)


def test_a_scenario_demand_row_naming_an_unknown_scenario_is_refused(tiny_path):
    from planner.dataset.data import load_data
    from planner.errors import InputError
    sheets, settings = tiny()
    sheets["scenario_demand"] = [{"scenario": "surge", "mineral": "X", "demand_multiplier": 1.5}]
    with pytest.raises(InputError) as e:
        load_data(tiny_path(sheets, settings), {}, ())
    assert e.value.code == "E_UNKNOWN_REF" and "scenario_demand" in str(e.value) and "surge" in str(e.value)


def test_a_minerals_own_value_of_lost_supply(solve_tiny):
    # X: demand 100 t, market M1 60 t at 500 USD/t, its own value of lost supply 3,000 USD/t;
    # Y: demand 50 t, market M3 20 t at 200, no value of its own: the setting's 1,000.
    # X: 60 x 500 + 40 x 3,000 = 150,000; Y: 20 x 200 + 30 x 1,000 = 34,000: 0.184 MUSD, of which
    # 0.15 the penalty (0.12 for X at its own price, 0.03 for Y at the setting's).
    from wb import site
    sheets, settings = tiny(unmet_penalty_usd_per_t=1000)
    sheets["sites"][0]["capacity_tpy"] = 60
    sheets["minerals"] = [{"mineral": "X", "name": "Mineral X", "unmet_penalty_usd_per_t": 3000},
                          {"mineral": "Y", "name": "Mineral Y", "unmet_penalty_usd_per_t": None}]
    sheets["sites"].append(site("M3", "BBB", "market", "existing", 20, var_cost_usd_per_t=200, mineral="Y"))
    sheets["demand"].append({"member": "AA", "mineral": "Y", "period": 2030, "demand_tpy": 50})
    res = solve_tiny(sheets, settings)
    assert res.costs["unmet_penalty_musd"] == pytest.approx(0.15, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(0.184, abs=TOL)
    assert res.data.unmet_penalty == {"X": 3000.0, "Y": 1000.0}
    # a value of lost supply below the mineral's market price is a likely slip: said with its cell
    sheets["minerals"][0]["unmet_penalty_usd_per_t"] = 300
    res = solve_tiny(sheets, settings)
    assert any(w.startswith("minerals!") and "below its market price" in w for w in res.data.warnings)
    # the mineral's own price, where given, is the one judged against: 3,000 is below a price of 4,000
    # (its market site sells at 500 in this workbook)
    sheets["minerals"][0].update(unmet_penalty_usd_per_t=3000, price_usd_per_t=4000)
    res = solve_tiny(sheets, settings)
    assert any("unmet_penalty_usd_per_t of X" in w and "4,000" in w for w in res.data.warnings)
    sheets["minerals"][0]["price_usd_per_t"] = None
    res = solve_tiny(sheets, settings)
    assert not any("unmet_penalty_usd_per_t of X" in w for w in res.data.warnings)
    # a mineral's own value of 0 while it is asked for: said, with its cell
    sheets["minerals"][0]["unmet_penalty_usd_per_t"] = 0
    res = solve_tiny(sheets, settings)
    assert any(w.startswith("minerals!") and "of X is 0" in w for w in res.data.warnings)


def test_capacity_by_period_replaces_a_sites_capacity_in_that_period(solve_tiny, tiny_path):
    # Two 1-year periods, 100 t asked in each. M1 (CCC, 500 USD/t) has 1,000 t, but only 40 t in 2035
    # (capacity_by_period); M2 (BBB, 800 USD/t) has 1,000 t. 2030: 100 x 500 = 50,000; 2035: 40 x 500
    # + 60 x 800 = 68,000: 0.118 MUSD.
    from wb import site
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 1}, {"period": 2035, "years": 1}]
    sheets["demand"].append({"member": "AA", "mineral": "X", "period": 2035, "demand_tpy": 100})
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800))
    sheets["capacity_by_period"] = [{"site": "M1", "period": 2035, "capacity_tpy": 40}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.118, abs=TOL)
    assert flow(res, "M1", "AA", period=2030) == pytest.approx(100)
    assert flow(res, "M1", "AA", period=2035) == pytest.approx(40)
    assert flow(res, "M2", "AA", period=2035) == pytest.approx(60)
    # a row naming a period the workbook does not have is refused with its cell
    from planner.dataset.data import load_data
    from planner.errors import InputError
    sheets["capacity_by_period"].append({"site": "M2", "period": 2040, "capacity_tpy": 10})
    with pytest.raises(InputError) as e:
        load_data(tiny_path(sheets, settings, name="bad.xlsx"))
    assert e.value.code == "E_UNKNOWN_REF" and "capacity_by_period!B3" in str(e.value)


def test_scale_rows_scales_one_sites_rows_only():
    # fairness scales the world's supply: a site's capacity_by_period rows with it, no other site's
    import pandas as pd
    from planner.analyses.cases import apply_edits
    from planner.io.reader import RawWorkbook
    from planner.model.definition import resolve_definition
    table = pd.DataFrame({"site": ["M1", "M1", "M2"], "period": [2030, 2035, 2030], "capacity_tpy": [100.0, 40.0, 7.0],
                          "_row": [2, 3, 4]})
    raw = RawWorkbook(path=None, tables={"capacity_by_period": table}, settings={}, settings_rows={})
    out, _, _ = apply_edits(raw, resolve_definition(None), (("scale_rows", "capacity_by_period", "site", "M1",
                                                             "capacity_tpy", 0.25),))
    assert out.tables["capacity_by_period"]["capacity_tpy"].tolist() == [25.0, 10.0, 7.0]
    assert table["capacity_tpy"].tolist() == [100.0, 40.0, 7.0]  # the workbook as read is untouched


def test_a_market_tranche_is_a_supply_curve(solve_tiny):
    # Demand 130 t; market M1 (CCC) 100 t at 500 USD/t; its tranche T2 (market_tranches) 50 t more at
    # a premium of 300 (800 USD/t); an unmet tonne costs 5,000. 100 x 500 + 30 x 800 = 74,000 USD
    # (without the tranche: 100 x 500 + 30 x 5,000 = 200,000). In `shock` (p 0.5) M1 is stopped by
    # site: its tranche with it, all 130 t unmet, 650,000. Expected 0.5 x 74,000 + 0.5 x 650,000 =
    # 362,000 USD.
    sheets, settings = tiny(unmet_penalty_usd_per_t=5000)
    sheets["sites"][0]["capacity_tpy"] = 100
    sheets["demand"][0]["demand_tpy"] = 130
    sheets["market_tranches"] = [{"site": "M1", "tranche": "T2", "period": None, "capacity_tpy": 50,
                                  "premium_usd_per_t": 300, "note": "beyond the pipeline"}]
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "shock", "probability": 0.5, "demand_multiplier": 1}]
    sheets["disruptions"] = [{"scenario": "shock", "country": None, "site": "M1", "mineral": None, "period": None,
                              "availability": 0}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.362, abs=TOL)
    assert flow(res, "M1/T2", "AA", scenario="calm") == pytest.approx(30)
    assert flow(res, "M1", "AA", scenario="calm") == pytest.approx(100)
    assert flow(res, "M1/T2", "AA", scenario="shock") == pytest.approx(0)
    assert res.data.sites.loc["M1/T2", "var_cost_usd_per_t"] == pytest.approx(800)
    # a tranche of a site that is not a market is refused with its cell
    from planner.errors import InputError
    sheets["market_tranches"][0]["site"] = "NOPE"
    with pytest.raises(InputError) as e:
        solve_tiny(sheets, settings)
    assert e.value.code == "E_UNKNOWN_REF" and "market_tranches!A2" in str(e.value)


def test_a_tranche_open_in_one_period_only(solve_tiny):
    # Two 1-year periods, 130 t asked in each; M1 100 t at 500; tranche T2 (50 t at +300) open in 2035
    # only. 2030: 100 x 500 + 30 unmet x 5,000 = 200,000; 2035: 100 x 500 + 30 x 800 = 74,000:
    # 0.274 MUSD.
    sheets, settings = tiny(unmet_penalty_usd_per_t=5000)
    sheets["periods"] = [{"period": 2030, "years": 1}, {"period": 2035, "years": 1}]
    sheets["sites"][0]["capacity_tpy"] = 100
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": t, "demand_tpy": 130} for t in (2030, 2035)]
    sheets["market_tranches"] = [{"site": "M1", "tranche": "T2", "period": 2035, "capacity_tpy": 50,
                                  "premium_usd_per_t": 300}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.274, abs=TOL)
    assert flow(res, "M1/T2", "AA", period=2030) == pytest.approx(0)
    assert flow(res, "M1/T2", "AA", period=2035) == pytest.approx(30)
    # a tranche given both for every period and for one period is refused
    from planner.errors import InputError
    sheets["market_tranches"].append({"site": "M1", "tranche": "T2", "period": None, "capacity_tpy": 10,
                                      "premium_usd_per_t": 300})
    with pytest.raises(InputError) as e:
        solve_tiny(sheets, settings)
    assert e.value.code == "E_CONTRADICTION" and "market_tranches!C3" in str(e.value)


def test_risk_weight_and_transport_in_objective(solve_tiny):
    # Risk weight 1000 USD/t at score 1: M1 (CCC, risk 0.9) 500 + 900 = 1400; M2 (BBB, 0.5) 800 + 500
    # = 1300 -> M2: variable 0.08 + risk 0.05 = 0.13 MUSD.
    sheets, settings = tiny(risk_weight_usd_per_t=1000)
    res = solve_tiny(_two_markets(sheets), settings)
    assert flow(res, "M2", "AA") == pytest.approx(100)
    assert res.costs["risk_charge_musd"] == pytest.approx(0.05, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(0.13, abs=TOL)
    # Without risk weight but with a transport override of 400 USD/t on M1 -> AA: 900 > 800 -> M2.
    sheets, settings = tiny()
    _two_markets(sheets)
    sheets["transport"] = [{"origin": "M1", "destination": "AA", "cost_usd_per_t": 400}]
    res = solve_tiny(sheets, settings)
    assert flow(res, "M2", "AA") == pytest.approx(100)
    assert res.costs["total_cost_musd"] == pytest.approx(0.08, abs=TOL)


def test_discounting_and_fixed_opex(solve_tiny):
    # Base year 2030, r = 10%, periods 2030 (1 y) and 2031 (1 y): delta = 1 and 1/1.1.
    # R1 (capex 0.01, fixed opex 0.001 MUSD/yr, 100 USD/t) built in 2030, online both periods:
    # capex 0.01 + opex 0.001 x (1 + 1/1.1) + variable 0.01 x (1 + 1/1.1).
    sheets, settings = tiny(discount_rate=0.1)
    sheets["periods"] = [{"period": 2030, "years": 1}, {"period": 2031, "years": 1}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2031)]
    with_refinery_chain(sheets, capex=0.01, fixed_opex_musd_per_yr=0.001)
    res = solve_tiny(sheets, settings)
    d = 1 + 1 / 1.1
    assert built(res) == {"R1": 2030}
    assert res.costs["fixed_opex_musd"] == pytest.approx(0.001 * d, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(0.01 + 0.001 * d + 0.01 * d, abs=TOL)


def test_screening_lists_every_candidate_with_its_reason(solve_tiny):
    # R1 passes; R2 fails the ESG screen (40 < 50); R3 is excluded by decision; R1 is built.
    from planner.results.report import screening_table
    sheets, settings = tiny(min_esg_score=50)
    with_refinery_chain(sheets, capex=0.01, esg_score=80)
    sheets["sites"] += [site("R2", "AAA", "refinery", "candidate", 100, esg_score=40, **{"yield": 1}),
                        site("R3", "AAA", "refinery", "candidate", 100, esg_score=90, decision="exclude",
                             **{"yield": 1})]
    res = solve_tiny(sheets, settings)
    t = screening_table(res.data, res.solution).set_index("site")
    assert t.loc["R1", "eligible"] == "yes" and t.loc["R1", "built_period"] == 2030
    assert t.loc["R2", "eligible"] == "no" and "esg_score below min_esg_score 50" in t.loc["R2", "reason_excluded"]
    assert t.loc["R3", "reason_excluded"] == "excluded by decision"


def test_varying_a_capacity_scales_its_period_rows_and_tranches():
    # plan sweep --vary sites.capacity_tpy=0.5: the capacities given per period and the tranches too
    import pandas as pd
    from planner.analyses.cases import apply_edits
    from planner.analyses.vary import vary_cases
    from planner.io.reader import RawWorkbook
    from planner.model.definition import resolve_definition
    case = vary_cases([("sites.capacity_tpy", [0.5])])[0]
    assert {e[1] for e in case.edits} == {"sites", "capacity_by_period", "market_tranches"}
    tables = {"sites": pd.DataFrame({"site": ["M1"], "capacity_tpy": [100.0], "_row": [2]}),
              "capacity_by_period": pd.DataFrame({"site": ["M1"], "period": [2035], "capacity_tpy": [40.0],
                                                  "_row": [2]})}
    raw = RawWorkbook(path=None, tables=tables, settings={}, settings_rows={})
    out, _, _ = apply_edits(raw, resolve_definition(None), case.edits)  # no market_tranches sheet: nothing to scale
    assert out.tables["sites"]["capacity_tpy"].tolist() == [50.0]
    assert out.tables["capacity_by_period"]["capacity_tpy"].tolist() == [20.0]
