"""Hand-solved tiny instances: share caps under a demand multiplier, partial availability, freight
per great-circle kilometre and discounting over multi-year periods. The optimum of each is worked
out in the comments; the tests check the status, the objective and every cost component.

Every case starts from `wb.tiny()`: member AA (country AAA, at lat 0, lon 0) needs 100 t/yr of
mineral X in period 2030; the existing market source M1 in country CCC sells 1,000 t/yr at
500 USD/t. 1 USD = 1e-6 MUSD. Unless a test says otherwise the period is 1 year long, the base
year 2030 and the discount rate 0, so present value = plain sum.

How demand enters the rows (planner/model/formulation.py `demand_required`): D_{a,m,t} x mu_s, the demand
row times the scenario's `demand_multiplier`; the share caps are sigma x D x mu_s, i.e. shares of
the multiplied demand.
"""

import math

import pytest

from planner.results.solution import COMPONENTS
from wb import site, tiny

TOL = 1e-9


def check_costs(res, expected: dict, total: float):
    """Status optimal, objective = total, every component as expected (0 where not named)."""
    assert res.outcome.status == "optimal", res.outcome.message
    assert res.max_violation == pytest.approx(0.0, abs=1e-9)
    assert res.outcome.objective == pytest.approx(total, rel=1e-9, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(total, rel=1e-9, abs=TOL)
    unknown = set(expected) - set(COMPONENTS)
    assert not unknown, unknown
    for k in COMPONENTS:
        assert res.costs[k] == pytest.approx(expected.get(k, 0.0), rel=1e-9, abs=TOL), k
    assert sum(res.costs[k] for k in COMPONENTS) == pytest.approx(total, rel=1e-9, abs=TOL)


def flow(res, origin, destination, scenario=None, period=None):
    f = res.solution.flows
    m = (f["origin"] == origin) & (f["destination"] == destination)
    if scenario is not None:
        m &= f["scenario"] == scenario
    if period is not None:
        m &= f["period"] == period
    return float(f.loc[m, "flow_tpy"].sum())


def unmet(res, member, scenario):
    u = res.solution.unmet
    return float(u.loc[(u["member"] == member) & (u["scenario"] == scenario), "unmet_tpy"].sum())


def built(res):
    return dict(zip(res.solution.builds["site"], res.solution.builds["build_period"]))


def calm_and_surge(sheets):
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "surge", "probability": 0.5, "demand_multiplier": 2}]
    return sheets


def test_country_share_cap_binds_on_the_multiplied_demand(solve_tiny):
    # max_country_share 0.6; M1 (CCC) 500 USD/t, M2 (BBB) 800 USD/t, both 1,000 t/yr, AA's own country
    # AAA has no supply, so both are outside countries. Scenarios calm (x1) and surge (x2), p 0.5 each.
    #   calm : demand 100, M1 <= 0.6 x 100 = 60: M1 60 x 500 + M2 40 x 800 = 30,000 + 32,000 = 62,000 USD
    #   surge: demand 200, M1 <= 0.6 x 200 = 120: M1 120 x 500 + M2 80 x 800 = 60,000 + 64,000 = 124,000 USD
    # expected 0.5 x 62,000 + 0.5 x 124,000 = 93,000 USD = 0.093 MUSD, all variable cost.
    # (A cap on the plain demand, 60 t in the surge, would give 30,000 + 140 x 800 = 142,000 there:
    # 0.102 MUSD.)
    sheets, settings = tiny(max_country_share=0.6)
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800))
    res = solve_tiny(calm_and_surge(sheets), settings)
    check_costs(res, {"variable_cost_musd": 0.093}, 0.093)
    assert flow(res, "M1", "AA", "calm") == pytest.approx(60) and flow(res, "M2", "AA", "calm") == pytest.approx(40)
    assert flow(res, "M1", "AA", "surge") == pytest.approx(120) and flow(res, "M2", "AA", "surge") == pytest.approx(80)


def test_mining_share_cap_binds_on_the_multiplied_demand(solve_tiny):
    # R0 (AAA, existing refinery, yield 1, free) refines ore from N1 (BBB, 10 USD/t) and N2 (CCC,
    # 30 USD/t), both 1,000 t/yr; the market (500 USD/t) is far dearer. max_country_share_mining 0.6:
    # at most 0.6 x D x mu mined in any one outside country (BBB, CCC). Calm x1 / surge x2, p 0.5 each.
    #   calm : 100 t: N1 60 x 10 + N2 40 x 30 = 600 + 1,200 = 1,800 USD
    #   surge: 200 t: N1 120 x 10 + N2 80 x 30 = 1,200 + 2,400 = 3,600 USD
    # expected 2,700 USD = 0.0027 MUSD. (A cap of 60 t in the surge would leave 80 t to the market:
    # 600 + 1,800 + 40,000 there.)
    sheets, settings = tiny(max_country_share_mining=0.6)
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "existing", 1000, var_cost_usd_per_t=30)]
    res = solve_tiny(calm_and_surge(sheets), settings)
    check_costs(res, {"variable_cost_musd": 0.0027}, 0.0027)
    assert flow(res, "N1", "R0", "calm") == pytest.approx(60) and flow(res, "N2", "R0", "calm") == pytest.approx(40)
    assert flow(res, "N1", "R0", "surge") == pytest.approx(120) and flow(res, "N2", "R0", "surge") == pytest.approx(80)
    assert flow(res, "M1", "AA") == 0
    z = res.solution.trace
    bbb = z[(z["mine_country"] == "BBB") & (z["scenario"] == "surge")]["tonnes_per_yr"].astype(float).sum()
    assert bbb == pytest.approx(120)


def test_partial_availability_forces_the_split_and_the_shortfall(solve_tiny):
    # M1 has 200 t/yr; scenario `half` (p 0.5) leaves it 0.5 x 200 = 100 t/yr (disruptions row,
    # availability 0.5), `normal` (p 0.5) all of it. AA needs 60 t/yr, BB 80 t/yr; M1 -> BB costs
    # 100 USD/t of transport (override), M1 -> AA nothing; unmet demand costs 10,000 USD/t.
    #   normal: 140 t <= 200: AA 60, BB 80; variable 140 x 500 = 70,000, transport 80 x 100 = 8,000.
    #   half  : 100 t for 140 t of demand. A tonne to AA saves 10,000 - 500 = 9,500 USD, to BB
    #           10,000 - 600 = 9,400: AA gets its 60 t, BB the other 40 t, BB's 40 t are unmet.
    #           variable 100 x 500 = 50,000, transport 40 x 100 = 4,000, unmet 40 x 10,000 = 400,000.
    # expected (x 0.5 each): variable 60,000, transport 6,000, unmet 200,000 USD
    # = 0.06 + 0.006 + 0.2 = 0.266 MUSD. (Ignoring the availability: 0.078 MUSD.)
    from test_tampering import partial_availability  # the same workbook its tampering tests change
    res = solve_tiny(*partial_availability(*tiny()))
    check_costs(res, {"variable_cost_musd": 0.06, "transport_musd": 0.006, "unmet_penalty_musd": 0.2}, 0.266)
    assert flow(res, "M1", "AA", "normal") == pytest.approx(60) and flow(res, "M1", "BB", "normal") == pytest.approx(80)
    assert flow(res, "M1", "AA", "half") == pytest.approx(60) and flow(res, "M1", "BB", "half") == pytest.approx(40)
    assert unmet(res, "AA", "half") == pytest.approx(0, abs=1e-9) and unmet(res, "BB", "half") == pytest.approx(40)
    assert unmet(res, "BB", "normal") == pytest.approx(0, abs=1e-9)


def test_freight_per_great_circle_kilometre(solve_tiny):
    # freight_usd_per_t_km 0.01; no transport overrides. Haversine (planner/dataset/data.py haversine_km,
    # R = 6371 km): d = 2 R asin(sqrt(sin^2(dlat/2) + cos lat1 cos lat2 sin^2(dlon/2))).
    #   M1 stands in CCC, moved to (60N, 90E); AA is at (0, 0):
    #     sin^2(30 deg) + cos 0 x cos 60 x sin^2(45 deg) = 0.25 + 1 x 0.5 x 0.5 = 0.5,
    #     d = 2 x 6371 x asin(sqrt 0.5) = 2 x 6371 x pi/4 = 6371 pi/2 = 10,007.543 km,
    #     freight 100.07543 USD/t, so M1 delivers at 500 + 100.07543 = 600.07543 USD/t.
    #   M2 (600 USD/t) stands in BBB at (0, 10E): sin^2(5 deg) only, d = 6371 x 10 pi/180 = 1,111.949 km,
    #     freight 11.11949 USD/t: 611.11949 USD/t.
    # So M1 serves all 100 t: variable 100 x 500 = 50,000 USD = 0.05 MUSD, transport
    # 100 x 100.07543 = 10,007.543 USD = 0.010007543 MUSD; total 0.060007543 MUSD.
    sheets, settings = tiny(freight_usd_per_t_km=0.01)
    sheets["countries"][2]["lat"], sheets["countries"][2]["lon"] = 60, 90
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=600))
    res = solve_tiny(sheets, settings)
    km = 6371 * math.pi / 2
    assert km == pytest.approx(10_007.543, abs=1e-3)
    transport = 100 * 0.01 * km * 1e-6
    assert transport == pytest.approx(0.010007543, abs=1e-9)
    check_costs(res, {"variable_cost_musd": 0.05, "transport_musd": transport}, 0.05 + transport)
    assert flow(res, "M1", "AA") == pytest.approx(100) and flow(res, "M2", "AA") == 0
    arcs = res.data.arcs.set_index(["origin", "destination"])["cost_usd_per_t"]
    assert float(arcs[("M1", "AA")]) == pytest.approx(0.01 * km, rel=1e-12)
    assert float(arcs[("M2", "AA")]) == pytest.approx(0.01 * 6371 * math.radians(10), rel=1e-12)


def test_discounting_over_multi_year_periods(solve_tiny):
    # planner/dataset/data.py: discount delta_t = (1 + r)^-(y_t - y_0), every year of a period discounted at
    # its first year; weight W_t = L_t x delta_t (annual flows and fixed opex); capex at delta of the
    # build period. Periods 2030 and 2035, 5 years each, base year 2030, r = 5%:
    #   delta_2030 = 1, W_2030 = 5;  delta_2035 = 1.05^-5 = 0.7835261665, W_2035 = 3.9176308323.
    # AA needs 100 t/yr in both periods. Candidate refinery R1 (AAA, yield 1, capex 0.01 MUSD, fixed
    # opex 0.001 MUSD/yr, 100 USD/t, lead 0) is fed by the free mine N1, which is shut in 2030
    # (disruptions: availability 0 in period 2030). So in 2030 only the market serves AA.
    #   never build : market 100 x 500 x (5 + 3.9176308) x 1e-6 = 0.4458815 MUSD
    #   build 2030  : market 2030 0.25 + capex 0.01 + opex 0.001 x 8.9176308 + R1 2035 0.01 x 3.9176308
    #                 = 0.25 + 0.01 + 0.0089176 + 0.0391763 = 0.3080939 MUSD
    #   build 2035  : market 2030 100 x 500 x 5 x 1e-6 = 0.25
    #                 capex 0.01 x 0.7835261665 = 0.0078352617
    #                 fixed opex 0.001 x 3.9176308323 = 0.0039176308
    #                 R1 variable 100 x 100 x 3.9176308323 x 1e-6 = 0.0391763083
    #                 total 0.3009292008 MUSD  <- optimal
    sheets, settings = tiny(discount_rate=0.05)
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01,
                             fixed_opex_musd_per_yr=0.001, var_cost_usd_per_t=100, **{"yield": 1})]
    sheets["disruptions"] = [{"scenario": None, "country": None, "site": "N1", "mineral": None, "period": 2030,
                              "availability": 0}]
    res = solve_tiny(sheets, settings)
    d35 = 1.05 ** -5
    assert d35 == pytest.approx(0.7835261665, abs=1e-10)
    w30, w35 = 5.0, 5 * d35
    assert res.data.periods["discount"].astype(float).tolist() == pytest.approx([1.0, d35], rel=1e-12)
    assert res.data.periods["weight"].astype(float).tolist() == pytest.approx([w30, w35], rel=1e-12)
    capex, opex = 0.01 * d35, 0.001 * w35
    variable = 100 * 500 * w30 * 1e-6 + 100 * 100 * w35 * 1e-6
    assert (capex, opex, variable) == pytest.approx((0.0078352617, 0.0039176308, 0.2891763083), abs=1e-10)
    check_costs(res, {"capex_musd": capex, "fixed_opex_musd": opex, "variable_cost_musd": variable},
                capex + opex + variable)
    assert capex + opex + variable == pytest.approx(0.3009292008, abs=1e-10)
    assert built(res) == {"R1": 2035}
    assert flow(res, "M1", "AA", period=2030) == pytest.approx(100)
    assert flow(res, "R1", "AA", period=2035) == pytest.approx(100)
