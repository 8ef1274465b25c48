"""Tampering tests of the plain-table check (`verify_solution`), one per constraint family.

Each test solves a tiny hand-checked workbook whose plan exercises the family (status optimal, no
violation), then edits copies of the solved plain tables so that one row of one family is broken
by a known amount, and checks that `verify_solution` names that family, the row's index and the
amount. Where one edit necessarily breaks two rows (a tag moved between origins breaks both
origins' balance), the test says so and expects both.

Every case starts from `wb.tiny()`: member AA (country AAA) needs 100 t/yr of mineral X in one
1-year period 2030, discount rate 0 (present value = plain sum); the existing market source M1 in
country CCC sells at 500 USD/t. Violations are in the row's own unit: t/yr for the physical rows,
tCO2e/yr or m3/yr for the caps, MUSD for the financing rows, a count for the build rows.
"""

import math

import pandas as pd
import pytest

from planner.results.solution import Solution, cost_components
from planner.results.verify import verify_solution
from wb import site, tiny


NOISE = 1e-12  # far below any violation a test makes and below every tolerance of the pipeline


# --- helpers ----------------------------------------------------------------------------------

def solved(solve_tiny, sheets, settings, **kw):
    """Solve and check the untampered plan is optimal and passes every check."""
    res = solve_tiny(sheets, settings, **kw)
    assert res.outcome.status == "optimal", res.outcome.message
    assert res.max_violation == pytest.approx(0.0, abs=1e-9)
    # a rule met exactly may be off by rounding (1e-18): nothing above NOISE
    assert [v for v in verify_solution(res.data, res.definition, res.solution) if v[2] > NOISE] == []
    return res


def copy_of(sol: Solution) -> Solution:
    """A deep copy of every plain table (the solved tables are never edited in place)."""
    return Solution(builds=sol.builds.copy(), flows=sol.flows.copy(), unmet=sol.unmet.copy(),
                    financing=sol.financing.copy(), trace=sol.trace.copy(), stocks=sol.stocks.copy(),
                    releases=sol.releases.copy())


def rows(df: pd.DataFrame, **match) -> pd.Series:
    """Boolean mask of the rows matching every column=value."""
    m = pd.Series(True, index=df.index)
    for col, value in match.items():
        m &= df[col] == value
    return m


def get(df: pd.DataFrame, column: str, **match) -> float:
    m = rows(df, **match)
    assert m.sum() == 1, f"{m.sum()} rows match {match}"
    return float(df.loc[m, column].iloc[0])


def put(df: pd.DataFrame, column: str, value, **match) -> None:
    m = rows(df, **match)
    assert m.sum() == 1, f"{m.sum()} rows match {match}"
    df.loc[m, column] = value


def flow(sol, origin, destination, **kw) -> float:
    return get(sol.flows, "flow_tpy", origin=origin, destination=destination, **kw)


def set_flow(sol, origin, destination, value, **kw) -> None:
    put(sol.flows, "flow_tpy", float(value), origin=origin, destination=destination, **kw)


def append(df: pd.DataFrame, **row) -> pd.DataFrame:
    return pd.concat([df, pd.DataFrame([row], columns=df.columns)], ignore_index=True)


def check(res, sol, expected):
    """verify_solution reports exactly the `expected` (family, index, amount) rows (rows off by
    rounding only, below NOISE, are not counted: 0.018 + 0.002 is not exactly 0.02 in floating point)."""
    got = sorted((r for r in verify_solution(res.data, res.definition, sol) if r[2] > NOISE),
                 key=lambda r: (r[0], r[1]))
    want = sorted(expected, key=lambda r: (r[0], r[1]))
    assert [(f, i) for f, i, _ in got] == [(f, i) for f, i, _ in want], got
    for (_, _, x), (_, _, y) in zip(got, want):
        assert x == pytest.approx(y, rel=1e-9, abs=1e-12)


def refinery_chain(sheets, capex=0.01, capacity=100, **kw):
    """Existing free mine N1 in AAA feeding candidate refinery R1 in AAA (yield 1, 100 USD/t)."""
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", capacity, capex_musd=capex,
                             var_cost_usd_per_t=100, **{"yield": 1}, **kw)]
    return sheets


def two_markets(sheets, emissions_m1=0.0, emissions_m2=0.0):
    """M1 (CCC, 500 USD/t) and M2 (BBB, 800 USD/t), both 1,000 t/yr."""
    sheets["sites"][0]["emissions_tco2e_per_t"] = emissions_m1
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800,
                                emissions_tco2e_per_t=emissions_m2))
    return sheets


def calm_and_surge(sheets):
    """Two equally likely scenarios: demand x 1 (calm) and x 2 (surge)."""
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "surge", "probability": 0.5, "demand_multiplier": 2}]
    return sheets


# --- build once, exclusive group -----------------------------------------------------------------

def test_build_once_twice_built(solve_tiny):
    # R1 (capex 0.01 + 100 t x 100 USD = 0.02 MUSD < 0.05 via the market) is built once in 2030.
    # A second build row of R1: sum_t b = 2 > 1, violation 2 - 1 = 1. The financing balance sums the
    # payments per (site, period) against each build row: 0.01 paid = 0.01 capex, no other row.
    sheets, settings = tiny()
    res = solved(solve_tiny, refinery_chain(sheets), settings)
    assert res.solution.builds.values.tolist() == [["R1", 2030]]
    sol = copy_of(res.solution)
    sol.builds = append(sol.builds, site="R1", build_period=2030)
    check(res, sol, [("build_once", "R1", 1.0)])


@pytest.mark.parametrize("which", ["existing", "excluded"])
def test_build_once_not_an_eligible_candidate(solve_tiny, which):
    # A build row for a site that is no eligible candidate: the existing market M1, or R3 excluded by
    # decision. Both have capex 0 (nothing to finance) and no output from the build, so only
    # build_once reports it, with 1 (count).
    sheets, settings = tiny()
    refinery_chain(sheets)
    sheets["sites"].append(site("R3", "AAA", "refinery", "candidate", 100, decision="exclude", **{"yield": 1}))
    res = solved(solve_tiny, sheets, settings)
    f = "M1" if which == "existing" else "R3"
    sol = copy_of(res.solution)
    sol.builds = append(sol.builds, site=f, build_period=2030)
    check(res, sol, [("build_once", f"{f} is not an eligible candidate", 1.0)])


def test_build_once_forced_site_missing(solve_tiny):
    # R2 is force_build (capex 0, 10,000 USD/t: built but never used); R1 is built because it pays.
    # Dropping R2's build row leaves the forced candidate built 0 times instead of 1: violation 1.
    # R2 has no output and no payment (capex 0), so nothing else is touched.
    sheets, settings = tiny()
    refinery_chain(sheets)
    sheets["sites"].append(site("R2", "AAA", "refinery", "candidate", 100, var_cost_usd_per_t=10_000,
                                decision="force_build", **{"yield": 1}))
    res = solved(solve_tiny, sheets, settings)
    assert sorted(res.solution.builds["site"]) == ["R1", "R2"]
    sol = copy_of(res.solution)
    sol.builds = sol.builds[sol.builds["site"] != "R2"].reset_index(drop=True)
    check(res, sol, [("build_once", "R2 forced", 1.0)])


def test_exclusive_group(solve_tiny):
    # R1 and R2 (60 t/yr, capex 0.001 and 0.002 MUSD) share group G: R1 is built (0.027 MUSD, see
    # test_families). Adding a build of R2 (paid in full by AA, 0.002 MUSD, so the financing balance
    # holds) gives two builds in G: violation 2 - 1 = 1.
    sheets, settings = tiny()
    refinery_chain(sheets, capex=0.001, capacity=60, group="G")
    sheets["sites"].append(site("R2", "AAA", "refinery", "candidate", 60, capex_musd=0.002,
                                var_cost_usd_per_t=100, group="G", **{"yield": 1}))
    res = solved(solve_tiny, sheets, settings)
    assert res.solution.builds["site"].tolist() == ["R1"]
    sol = copy_of(res.solution)
    sol.builds = append(sol.builds, site="R2", build_period=2030)
    sol.financing = append(sol.financing, site="R2", member="AA", build_period=2030, paid_musd=0.002)
    check(res, sol, [("exclusive_group", "G", 1.0)])


# --- physical rows -----------------------------------------------------------------------------

def test_capacity_if_online(solve_tiny):
    # R1 (100 t/yr) refines 100 t: N1 -> R1 -> AA. Raising both flows to 130 t keeps the refinery's
    # input balance (130 = 130 / 1) and only overloads R1: 130 - 100 = 30 t/yr.
    sheets, settings = tiny()
    res = solved(solve_tiny, refinery_chain(sheets), settings)
    sol = copy_of(res.solution)
    assert flow(sol, "R1", "AA") == pytest.approx(100)
    set_flow(sol, "N1", "R1", 130)
    set_flow(sol, "R1", "AA", 130)
    check(res, sol, [("capacity_if_online", "R1,2030,base", 30.0)])


def test_capacity_if_online_before_the_lead_time(solve_tiny):
    # Periods 2030 and 2035 (5 years each, r = 0); R1 with a 5-year lead is built in 2030 and online
    # from 2035 only (test_families.test_lead_time_delays_supply). 10 t/yr through R1 in 2030 (same
    # arcs, period 2030) is output of a site that is not online: capacity 0, violation 10 t/yr.
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    res = solved(solve_tiny, refinery_chain(sheets, lead_time_years=5), settings)
    assert res.solution.builds.values.tolist() == [["R1", 2030]]
    sol = copy_of(res.solution)
    f = sol.flows
    early = f[f["origin"].isin(["N1", "R1"]) & (f["period"] == 2035)].copy()
    early["period"], early["flow_tpy"] = 2030, 10.0
    sol.flows = pd.concat([f, early], ignore_index=True)
    check(res, sol, [("capacity_if_online", "R1,2030,base", 10.0)])


def partial_availability(sheets, settings):
    """M1 has 200 t/yr; in scenario `half` (p 0.5) only half of it (availability 0.5). AA needs 60 t/yr,
    BB 80 t/yr; M1 -> BB costs 100 USD/t of transport, so in `half` AA is served first."""
    sheets["sites"][0]["capacity_tpy"] = 200
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": 2030, "demand_tpy": 60},
                        {"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 80}]
    sheets["scenarios"] = [{"scenario": "normal", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "half", "probability": 0.5, "demand_multiplier": 1}]
    sheets["disruptions"] = [{"scenario": "half", "country": None, "site": "M1", "mineral": None, "period": None,
                              "availability": 0.5}]
    sheets["transport"] = [{"origin": "M1", "destination": "BB", "cost_usd_per_t": 100}]
    settings["unmet_penalty_usd_per_t"] = 10_000
    return sheets, settings


def test_capacity_if_online_counts_availability(solve_tiny):
    # In `half` M1 can give 0.5 x 200 = 100 t/yr: AA 60, BB 40 (BB 40 unmet). 10 t/yr more to BB
    # makes 110 > 100: violation 10 t/yr (BB gets 50 + 40 unmet >= 80, so its demand row still holds).
    # Against the full capacity (200) it would pass: the check must use the availability.
    sheets, settings = partial_availability(*tiny())
    res = solved(solve_tiny, sheets, settings)
    sol = copy_of(res.solution)
    assert flow(sol, "M1", "AA", scenario="half") == pytest.approx(60)
    assert flow(sol, "M1", "BB", scenario="half") == pytest.approx(40)
    set_flow(sol, "M1", "BB", 50, scenario="half")
    check(res, sol, [("capacity_if_online", "M1,2030,half", 10.0)])


def test_refinery_input(solve_tiny):
    # R0 (existing, yield 0.5) refines 100 t from 200 t of ore mined by N1 (200 USD/t, cheaper than
    # the market: test_families.test_yield_losses). With 190 t of ore the input row is off by
    # |190 - 100 / 0.5| = 10 t/yr.
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000, var_cost_usd_per_t=200),
                        site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 0.5})]
    res = solved(solve_tiny, sheets, settings)
    sol = copy_of(res.solution)
    assert flow(sol, "N1", "R0") == pytest.approx(200)
    set_flow(sol, "N1", "R0", 190)
    check(res, sol, [("refinery_input", "R0,2030,base", 10.0)])


def test_scrap_limit(solve_tiny):
    # Recycler Y1 (yield 0.8) with 40 t/yr of scrap makes 32 t, the market 68 t. Moving 4 t from the
    # market to Y1 (36 + 64 = 100 still delivered) uses 36 / 0.8 = 45 t of scrap: 45 - 40 = 5 t/yr.
    sheets, settings = tiny()
    sheets["sites"].append(site("Y1", "AAA", "recycling", "existing", 1000, var_cost_usd_per_t=100,
                                **{"yield": 0.8}))
    sheets["scrap"] = [{"member": "AA", "mineral": "X", "period": 2030, "scrap_tpy": 40}]
    res = solved(solve_tiny, sheets, settings)
    sol = copy_of(res.solution)
    assert flow(sol, "Y1", "AA") == pytest.approx(32)
    set_flow(sol, "Y1", "AA", 36)
    set_flow(sol, "M1", "AA", 64)
    check(res, sol, [("scrap_limit", "AA,X,2030,base", 5.0)])


def stock_case(sheets, settings):
    """test_risk: a shock (p 0.2, 1 year) stops M1; an alliance stock of up to 100 t pays: 100 t are
    bought and held, and released at 100 t/yr in the shock."""
    settings["unmet_penalty_usd_per_t"] = 10_000
    sheets["scenarios"] = [{"scenario": "base", "probability": 0.8, "demand_multiplier": 1, "shock_years": None},
                           {"scenario": "shock", "probability": 0.2, "demand_multiplier": 1, "shock_years": 1}]
    sheets["disruptions"] = [{"scenario": "shock", "country": "CCC", "site": None, "mineral": None, "period": None,
                              "availability": 0}]
    sheets["stockpiles"] = [{"mineral": "X", "member": None, "max_t": 100, "holding_cost_usd_per_t_yr": 100,
                             "acquisition_cost_usd_per_t": 1000}]
    return sheets, settings


def test_stock_build_up(solve_tiny):
    # Stock X:alliance holds 100 t in 2030, bought then (added 100 t). Claiming only 90 t added:
    # rise 100 - 0 = 100 > 90 added, violation 10 t.
    res = solved(solve_tiny, *stock_case(*tiny()))
    sol = copy_of(res.solution)
    assert get(sol.stocks, "stock_t", stockpile="X:alliance", period=2030) == pytest.approx(100)
    put(sol.stocks, "added_t", 90.0, stockpile="X:alliance", period=2030)
    check(res, sol, [("stock_build_up", "X:alliance,2030", 10.0)])


def test_stock_release(solve_tiny):
    # In the shock the stock releases 100 t/yr over a 1-year shock: 1 x 100 <= 100 t held. Releasing
    # 110 t/yr asks 1 x 110 = 110 t of a 100 t stock: violation 10 t (AA then gets 110 >= 100).
    res = solved(solve_tiny, *stock_case(*tiny()))
    sol = copy_of(res.solution)
    assert get(sol.releases, "release_tpy", stockpile="X:alliance", scenario="shock") == pytest.approx(100)
    put(sol.releases, "release_tpy", 110.0, stockpile="X:alliance", scenario="shock")
    check(res, sol, [("stock_release", "X:alliance,2030,shock", 10.0)])


def test_stock_above_its_largest_size(solve_tiny):
    # 120 t held (and added) against max_t 100: reported under stock_release with 20 t.
    res = solved(solve_tiny, *stock_case(*tiny()))
    sol = copy_of(res.solution)
    put(sol.stocks, "stock_t", 120.0, stockpile="X:alliance", period=2030)
    put(sol.stocks, "added_t", 120.0, stockpile="X:alliance", period=2030)
    check(res, sol, [("stock_release", "X:alliance,2030 above max_t", 20.0)])


def test_demand_coverage_under_a_multiplier(solve_tiny):
    # Demand x 1.5 = 150 t; M1 (120 t/yr) gives 120, 30 t unmet (test_families). Reporting 20 t unmet
    # leaves 150 - 120 - 20 = 10 t/yr uncovered; against the plain demand (100 t) it would pass.
    sheets, settings = tiny(unmet_penalty_usd_per_t=1000)
    sheets["sites"][0]["capacity_tpy"] = 120
    sheets["scenarios"] = [{"scenario": "surge", "probability": 1, "demand_multiplier": 1.5}]
    res = solved(solve_tiny, sheets, settings)
    sol = copy_of(res.solution)
    assert get(sol.unmet, "unmet_tpy", member="AA", scenario="surge") == pytest.approx(30)
    put(sol.unmet, "unmet_tpy", 20.0, member="AA", scenario="surge")
    check(res, sol, [("demand_coverage", "AA,X,2030,surge", 10.0)])


def test_country_share_cap_under_a_multiplier(solve_tiny):
    # max_country_share 0.6; demand 100 (calm) and 200 (surge). In the surge M1 (CCC) may give
    # 0.6 x 200 = 120 t, M2 (BBB) the other 80. Moving 10 t from M2 to M1: 130 - 120 = 10 t/yr.
    sheets, settings = tiny(max_country_share=0.6)
    res = solved(solve_tiny, calm_and_surge(two_markets(sheets)), settings)
    sol = copy_of(res.solution)
    assert flow(sol, "M1", "AA", scenario="surge") == pytest.approx(120)
    set_flow(sol, "M1", "AA", 130, scenario="surge")
    set_flow(sol, "M2", "AA", 70, scenario="surge")
    check(res, sol, [("country_share_cap", "AA,X,CCC,2030,surge", 10.0)])


def test_emissions_cap(solve_tiny):
    # M1 emits 10 t/t, M2 1 t/t; the cap of 550 tCO2e/yr (limits row 2, the first data row) allows
    # M1 50 + M2 50. M1 51 + M2 49 emits 510 + 49 = 559: violation 9 tCO2e/yr.
    sheets, settings = tiny()
    sheets["limits"] = [{"period": 2030, "emissions_cap_tco2e_per_yr": 550}]
    res = solved(solve_tiny, two_markets(sheets, 10, 1), settings)
    sol = copy_of(res.solution)
    assert flow(sol, "M1", "AA") == pytest.approx(50)
    set_flow(sol, "M1", "AA", 51)
    set_flow(sol, "M2", "AA", 49)
    check(res, sol, [("emissions_cap", "limits row 2,base", 9.0)])


def test_water_cap(solve_tiny):
    # Refinery R0 (AAA) takes ore from N1 (BBB, 100 USD/t, 10 m3/t) and N2 (CCC, 200 USD/t, no water);
    # BBB's cap of 600 m3/yr allows N1 60 t (test_standards_trace). N1 61 + N2 39 uses 610 m3:
    # violation 10 m3/yr (R0 still gets 100 t of ore for its 100 t).
    from test_standards_trace import water_case
    res = solved(solve_tiny, *water_case())
    sol = copy_of(res.solution)
    assert flow(sol, "N1", "R0") == pytest.approx(60)
    set_flow(sol, "N1", "R0", 61)
    set_flow(sol, "N2", "R0", 39)
    check(res, sol, [("water_cap", "limits row 2,base", 10.0)])


# --- traced families ------------------------------------------------------------------------------

def mining_case(sheets, settings):
    """R0 (AAA, yield 1, free) refines ore from N1 (BBB, 10 USD/t) and N2 (CCC, 30 USD/t); the mining
    share of one outside country is capped at 0.6 of demand; calm (x1) and surge (x2) scenarios.
    Calm: N1 60 + N2 40; surge: N1 120 + N2 80. A second member BB (no country, no demand) exists."""
    settings["max_country_share_mining"] = 0.6
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "existing", 1000, var_cost_usd_per_t=30)]
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    return calm_and_surge(sheets), settings


def tag(sol, o, a, s, value):
    put(sol.trace, "tonnes_per_yr", float(value), mine_country=o, refining_country="AAA", member=a, scenario=s)


def test_traced_input(solve_tiny):
    # Calm: tags (BBB -> AAA -> AA) 60 t and (CCC -> AAA -> AA) 40 t, equal to the refined ore of each
    # origin. Moving 10 t of tags from BBB to CCC keeps AA's delivery total (100) but breaks both
    # origins' input balance: |50 - 60| = 10 and |50 - 40| = 10 t/yr.
    res = solved(solve_tiny, *mining_case(*tiny()))
    sol = copy_of(res.solution)
    assert get(sol.trace, "tonnes_per_yr", mine_country="BBB", member="AA", scenario="calm") == pytest.approx(60)
    tag(sol, "BBB", "AA", "calm", 50)
    tag(sol, "CCC", "AA", "calm", 50)
    check(res, sol, [("traced_input", "X,BBB,AAA,2030,calm", 10.0), ("traced_input", "X,CCC,AAA,2030,calm", 10.0)])


def test_traced_delivery(solve_tiny):
    # Calm: moving 10 t of BBB-origin tags from AA to BB keeps the origin's input balance (60 t over
    # all members) but AA's tags now add to 90 against 100 delivered and BB's to 10 against 0:
    # traced_delivery off by 10 t/yr for both members. (BB has no demand row: no share-cap row.)
    res = solved(solve_tiny, *mining_case(*tiny()))
    sol = copy_of(res.solution)
    tag(sol, "BBB", "AA", "calm", 50)
    sol.trace = append(sol.trace, mine_country="BBB", refining_country="AAA", member="BB", mineral="X", period=2030,
                       scenario="calm", tonnes_per_yr=10.0)
    check(res, sol, [("traced_delivery", "X,AAA,AA,2030,calm", 10.0),
                     ("traced_delivery", "X,AAA,BB,2030,calm", 10.0)])


def test_mining_share_cap_under_a_multiplier(solve_tiny):
    # Surge: demand 200, so at most 0.6 x 200 = 120 t may be mined in BBB. Moving 10 t of ore from
    # N2 to N1 (flows and tags together, so both balances hold: 130 + 70 = 200 refined) mines
    # 130 t in BBB: violation 130 - 120 = 10 t/yr. Against the plain demand (cap 60) the untampered
    # plan would already fail.
    res = solved(solve_tiny, *mining_case(*tiny()))
    sol = copy_of(res.solution)
    assert flow(sol, "N1", "R0", scenario="surge") == pytest.approx(120)
    set_flow(sol, "N1", "R0", 130, scenario="surge")
    set_flow(sol, "N2", "R0", 70, scenario="surge")
    tag(sol, "BBB", "AA", "surge", 130)
    tag(sol, "CCC", "AA", "surge", 70)
    check(res, sol, [("mining_share_cap", "AA,X,BBB,2030,surge", 10.0)])


def test_allied_share(solve_tiny):
    # R0 (AAA, yield 0.5) refines 100 t from 200 t of ore: min_allied_share 0.5 forces 50 refined t
    # of AAA origin: N2 (AAA, 10 USD/t, 80 t) + N3 (AAA, 300 USD/t) 20 t, and N1 (BBB) 100 t
    # (test_standards_trace.test_min_allied_share_binds). Moving N3's 20 t of ore to N1 (N1 120,
    # N3 0; tags AAA 40, BBB 60, so the traced balances hold) leaves 40 allied of 100 delivered:
    # 0.5 x 100 - 40 = 10 t/yr short.
    sheets, settings = tiny()
    sheets["sites"][0]["var_cost_usd_per_t"] = 5000
    sheets["sites"] += [site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=20),
                        site("N2", "AAA", "mine", "existing", 80, var_cost_usd_per_t=10),
                        site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 0.5}),
                        site("N3", "AAA", "mine", "existing", 1000, var_cost_usd_per_t=300)]
    sheets["minerals"][0]["min_allied_share"] = 0.5
    res = solved(solve_tiny, sheets, settings)
    sol = copy_of(res.solution)
    assert flow(sol, "N3", "R0") == pytest.approx(20) and flow(sol, "N1", "R0") == pytest.approx(100)
    set_flow(sol, "N3", "R0", 0)
    set_flow(sol, "N1", "R0", 120)
    tag(sol, "AAA", "AA", "base", 40)
    tag(sol, "BBB", "AA", "base", 60)
    check(res, sol, [("allied_share", "AA,X,2030,base", 10.0)])


# --- financing -------------------------------------------------------------------------------------

def two_members(**settings):
    """test_financing: BB (country BBB) joins; R1 (AAA, host AA, capex 0.02 MUSD, 100 USD/t) is built
    (0.03 MUSD against 0.05 from the market)."""
    sheets, sets = tiny(**settings)
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    sheets["countries"][1]["member"] = "BB"
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.02, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return sheets, sets


def pay(sol, member, value):
    """Member pays `value` for R1 (a row added when it paid nothing)."""
    f = sol.financing
    if not rows(f, site="R1", member=member).any():
        sol.financing = f = pd.concat([f, pd.DataFrame([{"site": "R1", "member": member, "build_period": 2030,
                                                         "paid_musd": 0.0}])], ignore_index=True)
    put(f, "paid_musd", float(value), site="R1", member=member)


def paid(sol, member):
    f = sol.financing
    return get(f, "paid_musd", site="R1", member=member) if rows(f, site="R1", member=member).any() else 0.0


def test_financing_balance(solve_tiny):
    # No rules: AA receives all of R1's output and pays its 0.02 capex. AA paying 0.017 leaves
    # 0.02 - 0.017 = 0.003 MUSD unpaid.
    res = solved(solve_tiny, *two_members())
    sol = copy_of(res.solution)
    assert paid(sol, "AA") == pytest.approx(0.02)
    pay(sol, "AA", 0.017)
    check(res, sol, [("financing_balance", "R1,2030", 0.003)])


def test_financing_paid_but_not_built(solve_tiny):
    # Dropping R1's build row (and its output, so no capacity row breaks: AA's 100 t then come
    # unmet) leaves 0.02 MUSD paid for a site not built.
    res = solved(solve_tiny, *two_members())
    sol = copy_of(res.solution)
    sol.builds = sol.builds.iloc[0:0]
    sol.flows = sol.flows[sol.flows["origin"].isin(["M1"])].reset_index(drop=True)
    put(sol.unmet, "unmet_tpy", 100.0, member="AA")
    check(res, sol, [("financing_balance", "R1,2030 paid but not built", 0.02)])


def test_budget(solve_tiny):
    # AA's budget in 2030 is 0.015 MUSD: AA, receiving all of R1's output, pays 0.015 and BB the
    # other 0.005. AA 0.018 + BB 0.002 still pays the 0.02 capex but commits 0.018 - 0.015 = 0.003 MUSD
    # over AA's budget.
    sheets, sets = two_members()
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.015}]
    res = solved(solve_tiny, sheets, sets)
    sol = copy_of(res.solution)
    assert paid(sol, "AA") == pytest.approx(0.015)
    pay(sol, "AA", 0.018)
    pay(sol, "BB", 0.002)
    check(res, sol, [("budget", "AA,2030", 0.003)])


def test_host_share(solve_tiny):
    # host_min_share 0.6: AA (R1's host, receiving all its output) pays all 0.02 anyway. An equal
    # split 0.01 / 0.01 leaves the host 0.6 x 0.02 - 0.01 = 0.002 MUSD short.
    sheets, sets = two_members(host_min_share=0.6)
    res = solved(solve_tiny, sheets, sets)
    sol = copy_of(res.solution)
    assert paid(sol, "AA") == pytest.approx(0.02)
    pay(sol, "AA", 0.01)
    pay(sol, "BB", 0.01)
    check(res, sol, [("host_share", "R1,AA,2030", 0.002)])


def test_financing_cap(solve_tiny):
    # BB may carry at most 50% of R1 (site rule); AA receives all of R1's output and pays it all.
    # BB 0.014 (AA 0.006) is 0.014 - 0.5 x 0.02 = 0.004 MUSD over its cap.
    sheets, sets = two_members()
    sheets["financing_rules"] = [{"member": "BB", "country": None, "site": "R1", "max_share": 0.5}]
    res = solved(solve_tiny, sheets, sets)
    sol = copy_of(res.solution)
    assert paid(sol, "BB") == pytest.approx(0.0)
    pay(sol, "AA", 0.006)
    pay(sol, "BB", 0.014)
    check(res, sol, [("financing_cap", "R1,BB,2030", 0.004)])


def test_burden_band(solve_tiny):
    # Targets AA 0.3 / BB 0.7, tolerance 0.1: AA, receiving all of R1's output, pays as much as the
    # band allows, 0.4 x 0.02 = 0.008, BB 0.012 (total 0.02, r = 0 so PV = paid). An equal split
    # 0.01 / 0.01 puts each 0.004 from its target, 0.1 x 0.02 = 0.002 allowed: both members are 0.002
    # MUSD outside the band (with two members one edit moves both).
    sheets, sets = two_members(burden_tolerance=0.1)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.3, 0.7
    res = solved(solve_tiny, sheets, sets)
    sol = copy_of(res.solution)
    assert paid(sol, "AA") == pytest.approx(0.008)
    pay(sol, "AA", 0.01)
    pay(sol, "BB", 0.01)
    check(res, sol, [("burden_band", "AA", 0.002), ("burden_band", "BB", 0.002)])


def test_benefit_floor(solve_tiny):
    # AA and BB each demand 100 t (benefit shares 0.5 / 0.5); min_benefit_ratio 1 caps each cost
    # share at 0.5: AA 0.01, BB 0.01, whoever receives R1's output. AA 0.012 / BB 0.008:
    # 1 x 0.012 - 0.5 x 0.02 = 0.002 MUSD over AA's floor row (BB: 0.008 - 0.01 < 0, fine).
    sheets, sets = two_members(min_benefit_ratio=1)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.9, 0.1
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    res = solved(solve_tiny, sheets, sets)
    sol = copy_of(res.solution)
    assert paid(sol, "AA") == pytest.approx(0.01)
    pay(sol, "AA", 0.012)
    pay(sol, "BB", 0.008)
    check(res, sol, [("benefit_floor", "AA", 0.002)])


# --- cost ------------------------------------------------------------------------------------------

def test_cost_components_follow_a_tampered_flow(solve_tiny):
    # One period 2035 of 5 years, base year 2030, r = 5%: delta = 1.05^-5 = 0.783526166, weight
    # W = 5 delta = 3.917630831. Freight 0.01 USD/(t km); M1 stands in CCC at (60N, 90E), AA at (0, 0):
    # haversine a = sin^2(30 deg) + cos 0 cos 60 sin^2(45 deg) = 0.25 + 0.25 = 0.5, central angle
    # 2 asin(sqrt 0.5) = pi/2, distance 6371 pi/2 = 10,007.543 km, so 100.07543 USD/t.
    # 10 t/yr more on M1 -> AA changes
    #   variable cost by 10 x 500 x W x 1e-6 = 0.019588154 MUSD,
    #   transport     by 10 x 100.07543 x W x 1e-6 = 0.003920586 MUSD,
    # and 5 t/yr more unmet changes the penalty by 5 x 1,000,000 x W x 1e-6 = 19.588154 MUSD.
    sheets, settings = tiny(discount_rate=0.05, freight_usd_per_t_km=0.01)
    sheets["periods"] = [{"period": 2035, "years": 5}]
    sheets["demand"][0]["period"] = 2035
    sheets["countries"][2]["lat"], sheets["countries"][2]["lon"] = 60, 90
    res = solved(solve_tiny, sheets, settings)
    W = 5 * 1.05 ** -5
    km = 6371 * math.pi / 2
    before = cost_components(res.data, res.solution)
    assert before["total_cost_musd"] == pytest.approx(100 * (500 + 0.01 * km) * W * 1e-6, rel=1e-9)
    sol = copy_of(res.solution)
    set_flow(sol, "M1", "AA", 110)
    put(sol.unmet, "unmet_tpy", 5.0, member="AA")
    after = cost_components(res.data, sol)
    delta = {k: after[k] - before[k] for k in before}
    assert delta["variable_cost_musd"] == pytest.approx(10 * 500 * W * 1e-6, rel=1e-9)
    assert delta["transport_musd"] == pytest.approx(10 * 0.01 * km * W * 1e-6, rel=1e-9)
    assert delta["unmet_penalty_musd"] == pytest.approx(5 * 1e6 * W * 1e-6, rel=1e-9)
    for k in ("capex_musd", "fixed_opex_musd", "stock_musd", "carbon_musd", "risk_charge_musd",
              "stock_replenish_musd", "cvar_weighted_musd"):
        assert delta[k] == 0
    assert delta["total_cost_musd"] == pytest.approx(
        delta["variable_cost_musd"] + delta["transport_musd"] + delta["unmet_penalty_musd"], rel=1e-12)


def test_cost_components_follow_a_tampered_build(solve_tiny):
    # Periods 2030 and 2035 (5 years each), r = 5%: delta_2035 = 0.783526166. Build R1 (capex 0.01
    # MUSD, fixed opex 0.001 MUSD/yr, lead 0) is moved from 2030 to 2035 in the tables: capex PV
    # falls by 0.01 x (1 - 0.783526166) = 0.002164738 and fixed opex by the 2030 period's
    # 0.001 x 5 x 1 = 0.005 MUSD (R1 is then online in 2035 only).
    sheets, settings = tiny(discount_rate=0.05)
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    res = solved(solve_tiny, refinery_chain(sheets, fixed_opex_musd_per_yr=0.001), settings)
    assert res.solution.builds.values.tolist() == [["R1", 2030]]
    before = cost_components(res.data, res.solution)
    sol = copy_of(res.solution)
    put(sol.builds, "build_period", 2035, site="R1")
    after = cost_components(res.data, sol)
    assert before["capex_musd"] - after["capex_musd"] == pytest.approx(0.01 * (1 - 1.05 ** -5), rel=1e-9)
    assert before["fixed_opex_musd"] - after["fixed_opex_musd"] == pytest.approx(0.005, rel=1e-9)
