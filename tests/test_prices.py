"""`plan prices` on hand-solved workbooks where each kind of rule binds: a budget, a standard and an
emissions cap (below); a financing rule, the ESG screen and a water cap; a share cap, the host
share, the burden band, the benefit floor, the allied-content floor and the two syndicate rules
(each with its workbook).

The first workbook, with a share cap, a budget, a standard and an emissions cap:

From `wb.tiny()`: member AA needs 100 t/yr of mineral X in one one-year period (discount rate 0).
Markets: M1 in C-land at 500 USD/t, M2 in B-land at 800 USD/t. At home (A-land) the free mine N1
feeds two candidate refineries (yield 1, 100 USD/t): R1, capex 0.02 MUSD, ESG score 80; R2, capex
0.001 MUSD, ESG score 20. Rules:
  share cap  max_country_share 0.6: at most 60 t from any one outside country
  budget     AA may commit 0.01 MUSD in 2030: R1 (0.02) cannot be paid for
  standard   esg_score >= 50: R2 is screened out
  emissions  C-land's sites may emit 50 tCO2e/yr; M1 emits 1 tCO2e/t: M1 sells at most 50 t
Base: nothing can be built; 50 t from M1 + 50 t from M2 = 25,000 + 40,000 USD = 0.065 MUSD (the
emissions cap binds, the share cap does not: 50 < 60).
  share cap dropped or 0.65:  M1 still 50 t                     -> worth 0
  budget dropped:      R1 built: 0.02 + 100 x 100 USD = 0.03    -> worth 0.035
  budget +10% (0.011): R1 still unaffordable                    -> worth 0
  standard dropped:    R2 built: 0.001 + 0.01 = 0.011           -> worth 0.054
  emissions dropped:   M1 60 t (the share cap): 30,000 + 32,000 = 0.062 -> worth 0.003
  emissions +10% (55): 27,500 + 45 x 800 = 63,500 USD           -> worth 0.0015
While this portfolio stands (nothing built), a tonne of CO2e more lets M1 replace a tonne of M2:
300 USD = 0.0003 MUSD per tCO2e/yr, until M1 reaches the share cap's 60 t (a cap of 60), and down to a
cap of 40 (below it M2 would sell more than the share cap's 60 t); the budget
is not binding with nothing built (marginal value 0).
The other rules the workbook could state are off and listed as off.
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from wb import site, tiny, write_workbook

EXACT = {"max_country_share": ("share_cap", 0.0, 0.0), "budget_musd": ("budget", 0.035, 0.0),
         "criterion": ("standard", 0.054, None), "emissions_cap_tco2e_per_yr": ("emissions_cap", 0.003, 0.0015)}


def sites_of_the_test() -> list[dict]:
    """M2, N1, R1 and R2 as the module docstring says (M1 comes with `wb.tiny()`)."""
    return [site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800),
            site("N1", "AAA", "mine", "existing", 1000),
            site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.02, var_cost_usd_per_t=100, esg_score=80,
                 **{"yield": 1}),
            site("R2", "AAA", "refinery", "candidate", 1000, capex_musd=0.001, var_cost_usd_per_t=100, esg_score=20,
                 **{"yield": 1})]


@pytest.fixture
def ruled(tmp_path):
    sheets, settings = tiny(max_country_share=0.6)
    sheets["sites"][0]["emissions_tco2e_per_t"] = 1
    sheets["limits"] = [{"period": 2030, "member": None, "country": "CCC", "emissions_cap_tco2e_per_yr": 50}]
    sheets["sites"] += sites_of_the_test()
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.01}]
    sheets["standards"] = [{"criterion": "esg_score", "stage": None, "min": 50, "max": None, "note": "test"}]
    return write_workbook(tmp_path / "ruled.xlsx", sheets, settings)


def read(path, sheet="prices"):
    return pd.read_excel(path, sheet_name=sheet, keep_default_na=False, engine="openpyxl")


@pytest.mark.parametrize("gap", ["0", None])
def test_every_interval_holds_the_hand_solved_worth(ruled, tmp_path, gap):
    out = tmp_path / "prices.xlsx"
    args = ["prices", str(ruled), "-o", str(out), "--workers", "2", "--quiet"] + (["--mip-abs-gap", gap] if gap else [])
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    t = read(out)
    s = dict(zip(read(out, "summary")["key"], read(out, "summary")["value"]))
    assert s["base_objective_musd"] == pytest.approx(0.065, abs=1e-9) or gap is None
    on = t[t["state"] == "on"].set_index("column")
    assert sorted(on.index) == sorted(EXACT)
    for column, (kind, drop, relax) in EXACT.items():
        r = on.loc[column]
        assert r["kind"] == kind and r["drop_status"] == "optimal", r.to_dict()
        assert r["drop_worth_low_musd"] - 1e-9 <= drop <= r["drop_worth_high_musd"] + 1e-9, (column, r.to_dict())
        if relax is None:
            assert r["relax_step"] == "" and r["relax_status"] == ""
        else:
            assert r["relax_worth_low_musd"] - 1e-9 <= relax <= r["relax_worth_high_musd"] + 1e-9, (column, r.to_dict())
        if gap == "0":  # proven optima: the interval is the exact worth
            assert r["drop_width_musd"] == pytest.approx(0, abs=1e-7)
    assert on.loc["max_country_share", "binding_in_base"] == "no"
    assert on.loc["emissions_cap_tco2e_per_yr", "binding_in_base"] == "yes"
    if gap == "0":  # the base plan is the optimum (nothing built): its duals and ranges, by hand above
        cap = on.loc["emissions_cap_tco2e_per_yr"]
        assert cap["marginal_value_musd_per_unit"] == pytest.approx(0.0003, abs=1e-12)
        assert cap["unit"] == "tCO2e/yr" and cap["holds_to"] == pytest.approx(60)
        # below 40 M1 would sell under 40 t and M2 over 60, past the share cap (0.6 x 100): the dual
        # holds for caps from 40 to 60
        assert cap["holds_from"] == pytest.approx(40)
        assert on.loc["budget_musd", "marginal_value_musd_per_unit"] == 0
    assert on.loc["max_country_share", "relax_step"] == "cap +5 points"
    assert on.loc["budget_musd", "relax_step"] == "budget +10%"
    assert "+R1" in on.loc["budget_musd", "drop_builds_changed"]
    assert "+R2" in on.loc["criterion", "drop_builds_changed"]
    off = set(t.loc[t["state"] == "off", "column"])
    assert {"host_min_share", "burden_tolerance", "min_benefit_ratio", "min_allied_share"} <= off


def test_the_brief_gives_what_the_rules_are_worth_from_a_prices_run(ruled, tmp_path):
    # the worth of dropping each rule, as plan prices found it (above): the standard 0.054, the
    # budget 0.035, the emissions cap 0.003, the share cap 0 -- most first
    prices = tmp_path / "prices.xlsx"
    res = CliRunner().invoke(cli, ["prices", str(ruled), "-o", str(prices), "--workers", "2", "--mip-abs-gap", "0",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(ruled), "-o", str(run), "--quiet", "--prices", str(prices)])
    assert res.exit_code == 0, res.output
    lines = pd.read_excel(run, sheet_name="brief", header=None, keep_default_na=False, engine="openpyxl")[0].tolist()
    start = next(i for i, x in enumerate(lines) if x.startswith("What rules cost (a prices run"))
    rules = [x.strip() for x in lines[start + 1:start + 5]]
    assert rules[0].startswith("standard esg_score") and rules[0].endswith("0.0540 to 0.0540"), rules
    assert rules[1].startswith("budget AA 2030") and rules[1].endswith("0.0350 to 0.0350"), rules
    assert rules[2].startswith("emissions cap CCC 2030") and rules[2].endswith("0.0030 to 0.0030"), rules
    printed = CliRunner().invoke(cli, ["brief", str(run), "--prices", str(prices)])
    assert printed.exit_code == 0 and "standard esg_score" in printed.output
    # a file that is not a prices run: one message, the input-error status
    bad = CliRunner().invoke(cli, ["brief", str(run), "--prices", str(run)])
    assert bad.exit_code == 1 and "no prices sheet" in bad.output
    # the prices file is an input: never written over
    over = CliRunner().invoke(cli, ["solve", str(ruled), "-o", str(prices), "--force", "--prices", str(prices)])
    assert over.exit_code == 2 and "never writes over its inputs" in over.output


@pytest.fixture
def screened_and_capped(tmp_path):
    # The same markets, mine and refineries as above, with other rules:
    #   financing rule  AA finances at most 0 of R1: R1 cannot be paid for (a screen)
    #   ESG screen      settings.min_esg_score 50: R2 (score 20) is screened out
    #   water cap       C-land's sites may withdraw 60 m3/yr; M1 uses 1 m3/t: M1 sells at most 60 t
    # Base: 60 t from M1 + 40 t from M2 = 30,000 + 32,000 USD = 0.062 MUSD.
    #   financing rule dropped: R1 built, 0.02 + 0.01 = 0.03       -> worth 0.032
    #   max_share 0.05:         AA may pay 5% of R1, nobody the rest -> worth 0
    #   ESG screen dropped:     R2 built, 0.001 + 0.01 = 0.011     -> worth 0.051
    #   score 45:               R2 (20) still out                  -> worth 0
    #   water cap dropped:      100 t from M1 = 0.05               -> worth 0.012
    #   water cap 66:           66 x 500 + 34 x 800 = 60,200 USD   -> worth 0.0018
    # With nothing built a m3/yr more lets M1 replace a tonne of M2: 300 USD = 0.0003 MUSD, until M1
    # sells all 100 t (a cap of 100).
    sheets, settings = tiny(min_esg_score=50)
    sheets["sites"][0]["water_m3_per_t"] = 1
    sheets["sites"] += sites_of_the_test()
    sheets["financing_rules"] = [{"member": "AA", "country": None, "site": "R1", "max_share": 0}]
    sheets["limits"] = [{"period": 2030, "member": None, "country": "CCC", "water_cap_m3_per_yr": 60}]
    return write_workbook(tmp_path / "capped.xlsx", sheets, settings)


def test_financing_rule_esg_screen_and_water_cap(screened_and_capped, tmp_path):
    out = tmp_path / "prices.xlsx"
    res = CliRunner().invoke(cli, ["prices", str(screened_and_capped), "-o", str(out), "--workers", "2",
                                   "--mip-abs-gap", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    on = read(out).query("state == 'on'").set_index("column")
    exact = {"max_share": ("financing_rule", 0.032, 0.0), "min_esg_score": ("esg_screen", 0.051, 0.0),
             "water_cap_m3_per_yr": ("water_cap", 0.012, 0.0018)}
    assert sorted(on.index) == sorted(exact)
    for column, (kind, drop, relax) in exact.items():
        r = on.loc[column]
        assert r["kind"] == kind, r.to_dict()
        assert r["drop_worth_low_musd"] == pytest.approx(drop, abs=1e-7), (column, r.to_dict())
        assert r["drop_worth_high_musd"] == pytest.approx(drop, abs=1e-7), (column, r.to_dict())
        assert r["relax_worth_low_musd"] == pytest.approx(relax, abs=1e-7), (column, r.to_dict())
    water = on.loc["water_cap_m3_per_yr"]
    assert water["marginal_value_musd_per_unit"] == pytest.approx(0.0003, abs=1e-12)
    assert water["unit"] == "m3/yr" and water["holds_to"] == pytest.approx(100)


def two_members(**settings_override):
    # Members AA (A-land) and BB (B-land) each need 100 t/yr of X; the market M1 (C-land) sells at
    # 500 USD/t: 200 t cost 0.1 MUSD. The candidate R1 at AA's home refines ore of the free mine N1
    # (100 USD/t): built for capex c, supplying both costs c + 200 x 100 USD = c + 0.02 MUSD.
    sheets, settings = tiny(**settings_override)
    sheets["countries"][1]["member"] = "BB"
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.04, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return sheets, settings


def host_and_burden():
    # host_min_share 0.9 (AA pays at least 90% of R1) against burden shares 0.5 / 0.5 within 0.1
    # (each member 40% to 60% of the capex): no split finances R1; the market: 0.1 MUSD.
    #   host share dropped: R1 split within the band, 0.04 + 0.02 = 0.06 -> worth 0.04; at 0.85: still none, 0
    #   burden band dropped: AA pays 90%: 0.06 -> worth 0.04; at 0.15 (35%-65%): still none, 0
    sheets, settings = two_members(host_min_share=0.9, burden_tolerance=0.1)
    for m in sheets["members"]:
        m["burden_share"] = 0.5
    return sheets, settings, {"host_min_share": (0.04, 0.0), "burden_tolerance": (0.04, 0.0)}


def benefit_and_financing_rule():
    # BB finances nothing at R1 (financing rule max_share 0), so AA would pay all of it; the benefit
    # floor (min_benefit_ratio 1) asks AA's cost share (1) to be at most its benefit share (its
    # share of demand, 0.5): R1 cannot be financed; the market: 0.1 MUSD.
    #   benefit floor dropped: R1, 0.06 -> worth 0.04; ratio 0.9: 0.5 < 0.9, still none, 0
    #   financing rule dropped: R1 split 50/50, 0.06 -> worth 0.04; BB up to 5%: AA 95% > 50%, 0
    sheets, settings = two_members(min_benefit_ratio=1.0)
    sheets["financing_rules"] = [{"member": "BB", "country": None, "site": "R1", "max_share": 0}]
    return sheets, settings, {"min_benefit_ratio": (0.04, 0.0), "max_share": (0.04, 0.0)}


def allied_floor():
    # X's min_allied_share 0.5: at least half of each member's X mined and refined in allied
    # countries: only N1 -> R1 at home can. R1 at capex 0.2 costs 0.22 MUSD against the market's 0.1.
    #   floor dropped: the market, 0.1 -> worth 0.12; floor 0.45: R1 still needed, 0
    sheets, settings = two_members()
    sheets["sites"][-1]["capex_musd"] = 0.2
    sheets["minerals"][0]["min_allied_share"] = 0.5
    return sheets, settings, {"min_allied_share": (0.12, 0.0)}


def share_cap():
    # One member, the markets M1 (500 USD/t) and M2 (800 USD/t), max_country_share 0.6: 60 t from M1
    # and 40 t from M2, 30,000 + 32,000 USD = 0.062 MUSD.
    #   cap dropped: 100 t from M1, 0.05 -> worth 0.012; cap 0.65: 65 x 500 + 35 x 800 = 60,500 -> 0.0015
    sheets, settings = tiny(max_country_share=0.6)
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800))
    return sheets, settings, {"max_country_share": (0.012, 0.0015)}


def syndicate_size():
    # test_syndicate.three(): R1 (capex 0.03) would serve AA, BB and CC (0.06 MUSD against the market's
    # 0.15). max_financiers 1 and host_min_share 0.5: the one payer must be the host AA, paying all,
    # but AA's financing rule allows 60%: R1 cannot be financed; the market, 0.15.
    #   max_financiers dropped or 2: AA 60% or less, the others the rest: 0.06 -> worth 0.09
    #   host share dropped: BB alone pays -> 0.09; 0.45: the host still the one payer -> 0
    #   financing rule dropped: AA pays all -> 0.09; 0.65: still short of all -> 0
    from test_syndicate import three
    sheets, settings = three(max_financiers=1, host_min_share=0.5)
    sheets["financing_rules"] = [{"member": "AA", "country": None, "site": None, "max_share": 0.6}]
    return sheets, settings, {"max_financiers": (0.09, 0.09), "host_min_share": (0.09, 0.0),
                              "max_share": (0.09, 0.0)}


def syndicate_ticket():
    # The same R1. min_ticket_share 0.6 and host_min_share 0.2: the host AA pays, so at least 60%,
    # but its financing rule allows 50%: R1 cannot be financed; the market, 0.15.
    #   ticket dropped: AA 20-50%, the others the rest -> 0.09; ticket 0.55: still above 50% -> 0
    #   host share dropped: BB and CC pay -> 0.09; 0.15: AA still pays -> 0
    #   financing rule dropped: AA may take a ticket -> 0.09; 0.55: still below 60% -> 0
    from test_syndicate import three
    sheets, settings = three(min_ticket_share=0.6, host_min_share=0.2)
    sheets["financing_rules"] = [{"member": "AA", "country": None, "site": None, "max_share": 0.5}]
    return sheets, settings, {"min_ticket_share": (0.09, 0.0), "host_min_share": (0.09, 0.0),
                              "max_share": (0.09, 0.0)}


@pytest.mark.parametrize("make", [share_cap, host_and_burden, benefit_and_financing_rule, allied_floor,
                                  syndicate_size, syndicate_ticket],
                         ids=lambda f: f.__name__)
def test_a_cap_the_financing_rules_and_the_allied_floor(make, tmp_path):
    sheets, settings, exact = make()
    wb = write_workbook(tmp_path / "w.xlsx", sheets, settings)
    out = tmp_path / "prices.xlsx"
    res = CliRunner().invoke(cli, ["prices", str(wb), "-o", str(out), "--workers", "2", "--mip-abs-gap", "0",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    on = read(out).query("state == 'on'").set_index("column")
    assert sorted(on.index) == sorted(exact)
    for column, (drop, relax) in exact.items():
        r = on.loc[column]
        assert r["drop_worth_low_musd"] == pytest.approx(drop, abs=1e-7), (column, r.to_dict())
        assert r["drop_worth_high_musd"] == pytest.approx(drop, abs=1e-7), (column, r.to_dict())
        assert r["relax_worth_low_musd"] == pytest.approx(relax, abs=1e-7), (column, r.to_dict())
