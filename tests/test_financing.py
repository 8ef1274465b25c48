"""Co-financing: hand-solved tiny cases.

Base: tiny() with a free existing mine N1 in AAA and a candidate refinery R1 in AAA (host member
AA), capex 0.02 MUSD, 100 USD/t; AA needs 100 t/yr for one 1-year period at r = 0. Building R1
costs 0.02 + 100 x 100e-6 = 0.03 MUSD against 0.05 from the market, so R1 is built. A second
member BB (country BBB) joins the financing. Payments follow the output (formulation.md, "Benefit
split"): here all of R1's output goes to AA. In `shared()` R1 is twice as large (200 t/yr) and BB
needs 100 t/yr too: R1 (0.02 + 200 x 100e-6 = 0.04 MUSD against 0.10 from the market) delivers
100 t to each, output shares 0.5 / 0.5.
"""

import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import InputError
from planner.io.writer import read_portfolio
from wb import site, tiny, write_workbook

TOL = 1e-9


def two_members(**settings):
    sheets, sets = tiny(**settings)
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    sheets["countries"][1]["member"] = "BB"  # BBB belongs to BB
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.02, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return sheets, sets


def shared(**settings):
    sheets, sets = two_members(**settings)
    sheets["sites"][-1]["capacity_tpy"] = 200
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    return sheets, sets


def paid(res):
    f = res.solution.financing
    return {a: float(x) for a, x in zip(f["member"], f["paid_musd"])}


def test_without_rules_the_split_follows_the_output(solve_tiny):
    # AA receives all of R1's output and pays all of it; with R1 shared 0.5 / 0.5, each pays half of
    # its 0.02 MUSD. The cost is unaffected; the distance from the output shares is 0.
    res = solve_tiny(*two_members())
    assert res.costs["total_cost_musd"] == pytest.approx(0.03, abs=TOL)
    assert paid(res) == pytest.approx({"AA": 0.02}, abs=TOL)
    res = solve_tiny(*shared())
    assert res.costs["total_cost_musd"] == pytest.approx(0.04, abs=TOL)
    assert paid(res) == pytest.approx({"AA": 0.01, "BB": 0.01}, abs=TOL)
    assert res.outcome.hand_over["split_l1_distance"] == pytest.approx(0, abs=1e-9)


def test_budget_shifts_a_build_to_a_later_period(solve_tiny):
    # Periods 2030 and 2031 (1 year each, r = 0); AA alone pays and may commit only 0.01 MUSD in 2030.
    # Building in 2030 (0.02 + 0.01 + 0.01 = 0.04) is out of budget; in 2031: market in 2030
    # 0.05 + capex 0.02 + R1 0.01 = 0.08 < 0.10 never building.
    sheets, sets = tiny()
    sheets["periods"] = [{"period": 2030, "years": 1}, {"period": 2031, "years": 1}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2031)]
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.02, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    res = solve_tiny(sheets, sets)
    assert res.solution.builds["build_period"].tolist() == [2030]
    assert res.costs["total_cost_musd"] == pytest.approx(0.04, abs=TOL)
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.01},
                         {"member": "AA", "period": 2031, "budget_musd": 1}]
    res = solve_tiny(sheets, sets)
    assert res.solution.builds["build_period"].tolist() == [2031]
    assert res.costs["total_cost_musd"] == pytest.approx(0.08, abs=TOL)


def test_host_rule(solve_tiny):
    # R1 shared 0.5 / 0.5: each pays 0.01. host_min_share 0.6 makes AA, the host of R1, pay at least
    # 0.012; the split stays as close to the output shares as allowed: AA 0.012, BB 0.008, distance
    # |0.6 - 0.5| + |0.4 - 0.5| = 0.2.
    sheets, sets = shared()
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.01, "BB": 0.01}, abs=TOL)
    sets["host_min_share"] = 0.6
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.012, "BB": 0.008}, abs=TOL)
    assert res.outcome.hand_over["split_l1_distance"] == pytest.approx(0.2, abs=1e-9)
    assert res.costs["total_cost_musd"] == pytest.approx(0.04, abs=TOL)


def test_burden_sharing_moves_payment_not_the_plan(solve_tiny):
    # Shares AA 0.3 / BB 0.7 with tolerance 0: AA pays exactly 30% (0.006); with 0.7 / 0.3, 70%.
    sheets, sets = two_members(burden_tolerance=0)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.3, 0.7
    a = solve_tiny(sheets, sets)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.7, 0.3
    b = solve_tiny(sheets, sets)
    assert paid(a) == pytest.approx({"AA": 0.006, "BB": 0.014}, abs=TOL)
    assert paid(b) == pytest.approx({"AA": 0.014, "BB": 0.006}, abs=TOL)
    assert a.solution.builds.equals(b.solution.builds)
    assert a.costs["total_cost_musd"] == pytest.approx(b.costs["total_cost_musd"], abs=TOL)


def test_burden_band_can_make_a_build_unfinanceable(solve_tiny):
    # host_min_share 0.6 forces AA to pay >= 60% of R1, the band keeps AA's share in 0.2 +/- 0.1:
    # R1 cannot be financed, so the market serves AA: 0.05 MUSD.
    sheets, sets = two_members(host_min_share=0.6, burden_tolerance=0.1)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.2, 0.8
    res = solve_tiny(sheets, sets)
    assert res.solution.builds.empty
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)


def test_financing_ban_in_a_country(solve_tiny):
    # BB will not finance anything in AAA (max_share 0): AA pays all of R1 although BB receives half.
    sheets, sets = shared()
    sheets["financing_rules"] = [{"member": "BB", "country": "AAA", "site": None, "max_share": 0}]
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.02}, abs=TOL)


def test_site_rule_overrides_country_rule(solve_tiny):
    # BB: at most 10% in AAA, but up to 50% of R1 itself (the more specific rule wins). BB receives
    # half of R1's output -> BB pays the 50% it may: 0.01 (the country rule would allow 0.002).
    sheets, sets = shared()
    sheets["financing_rules"] = [{"member": "BB", "country": "AAA", "site": None, "max_share": 0.1},
                                 {"member": "BB", "country": None, "site": "R1", "max_share": 0.5}]
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.01, "BB": 0.01}, abs=TOL)


def test_fairness_floor_binds(solve_tiny):
    # AA and BB each demand 100 t/yr (benefit shares 0.5 / 0.5). Freight at 0.001 USD/(t km) sends all
    # of R1's 100 t to AA, next door (R1 -> BB is 1,112 km, the market M1 is 1,112 km from BB and
    # 2,224 km from AA), so AA receives all of R1's output and pays all of it, 0.02. min_benefit_ratio
    # 1 caps each member's cost share at its benefit share 0.5: AA 0.01, BB 0.01.
    sheets, sets = two_members(freight_usd_per_t_km=0.001)
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.02}, abs=TOL)
    sets["min_benefit_ratio"] = 1
    res = solve_tiny(sheets, sets)
    assert paid(res) == pytest.approx({"AA": 0.01, "BB": 0.01}, abs=TOL)


def test_without_a_member(tmp_path):
    # R2 in BBB (host BB) is the cheap option (capex 0.001). With both members (140 t): R2 alone costs
    # 1,000 + 100 t x 100 + 40 t x 500 (market) = 31,000 USD; R1 and R2 cost 21,000 + 140 x 100 =
    # 35,000. With BB gone (--without BB) R2 cannot be built and BB's demand disappears: AA builds R1
    # (0.02 + 100 x 100 USD = 0.03 MUSD); the output says who left.
    sheets, sets = two_members()
    sheets["sites"].append(site("R2", "BBB", "refinery", "candidate", 100, capex_musd=0.001,
                                var_cost_usd_per_t=100, **{"yield": 1}))
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 40})
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "all.xlsx")])
    assert res.exit_code == 0
    assert read_portfolio(tmp_path / "all.xlsx")["portfolio"]["site"].tolist() == ["R2"]
    res = CliRunner().invoke(cli, ["solve", str(src), "--without", "BB", "-o", str(tmp_path / "nobb.xlsx")])
    assert res.exit_code == 0 and "member BB is treated as having left" in res.output
    out = read_portfolio(tmp_path / "nobb.xlsx")
    assert out["portfolio"]["site"].tolist() == ["R1"]
    summary = dict(zip(out["summary"]["key"], out["summary"]["value"]))
    assert summary["members_left"] == "BB"
    assert float(summary["total_cost_musd"]) == pytest.approx(0.03, abs=TOL)
    assert set(out["unmet_demand"]["member"]) == {"AA"}
    assert CliRunner().invoke(cli, ["solve", str(src), "--without", "ZZ"]).exit_code == 1


def test_active_column_is_the_same_as_without(solve_tiny):
    sheets, sets = two_members()
    sheets["members"][1]["active"] = "no"
    res = solve_tiny(sheets, sets)
    assert res.data.MEMBERS == ("AA",) and res.data.INACTIVE == ("BB",)
    assert paid(res) == pytest.approx({"AA": 0.02}, abs=TOL)


def test_outputs_commitments_and_milestones(tmp_path):
    # Periods 2030 and 2031; R1 with a 0.5-year lead built in 2030 is online in 2031 (0.08 MUSD in all,
    # against 0.10 never building). AA receives all of R1's output but may commit only 0.005 MUSD in
    # 2030: AA pays 0.005 (25%), BB the other 0.015 (75%).
    sheets, sets = two_members()
    sheets["periods"] = [{"period": 2030, "years": 1}, {"period": 2031, "years": 1}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2031)]
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.25, 0.75
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.005}]
    sheets["sites"][-1]["lead_time_years"] = 0.5
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")]).exit_code == 0
    out = read_portfolio(tmp_path / "o.xlsx")
    fin = out["financing"].set_index("member")
    assert float(fin.loc["AA", "paid_musd"]) == pytest.approx(0.005)
    assert float(fin.loc["BB", "public_share_paid"]) == pytest.approx(0.75)
    assert (float(fin.loc["AA", "output_share"]), float(fin.loc["BB", "output_share"])) == (1.0, 0.0)
    com = out["commitments"].set_index(["member", "period"])
    assert float(com.loc[("AA", 2030), "budget_used_share"]) == pytest.approx(1.0)
    assert com.loc[("BB", 2030), "budget_musd"] == ""  # no budget row: unconstrained
    ms = out["milestones"].iloc[0]
    # built 2030 with a 0.5-year lead: decision 2030, construction from the decision (no
    # construction_years), first production 2031 (2030.5 rounded up), full capacity 2032 (the default
    # one-year ramp-up), online in 2031 (the first period starting at or after 2031)
    assert (int(ms["final_investment_decision_year"]), int(ms["construction_start_year"]),
            int(ms["first_production_year"]), int(ms["full_capacity_year"]), int(ms["online_period"])) == \
        (2030, 2030, 2031, 2032, 2031)
    assert ms["financing_members"] == "BB 75%, AA 25%"
    summary = dict(zip(out["summary"]["key"], out["summary"]["value"]))
    assert float(summary["committed_pv_capex_musd_BB"]) == pytest.approx(0.015)


def test_forced_builds_beyond_the_budget_are_an_input_error(tmp_path):
    sheets, sets = two_members(host_min_share=0.5)
    sheets["sites"][-1]["decision"] = "force_build"
    sheets["sites"][-1]["capex_musd"] = 2.0
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.5}]
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 1 and "[E_BUDGET_TOO_SMALL]" in res.output and "budgets!C2" in res.output
    assert "AA budget (2030: 0.5 MUSD; 0.5 in all) is below the 1 MUSD" in res.output


@pytest.mark.parametrize("edit,code,where", [
    (lambda s, t: (s["members"][0].__setitem__("burden_share", 0.5),
                   s["members"][1].__setitem__("burden_share", 0.4)), "E_BURDEN_SHARES", "members!E3"),
    (lambda s, t: s.__setitem__("financing_rules", [{"member": "ZZ", "country": None, "site": None,
                                                     "max_share": 0.5}]), "E_UNKNOWN_REF", "financing_rules!A2"),
    (lambda s, t: s.__setitem__("financing_rules", [{"member": "BB", "country": "QQQ", "site": None,
                                                     "max_share": 0.5}]), "E_UNKNOWN_REF", "financing_rules!B2"),
    (lambda s, t: s.__setitem__("budgets", [{"member": "AA", "period": 2099, "budget_musd": 1}]),
     "E_UNKNOWN_REF", "budgets!B2"),
    (lambda s, t: t.__setitem__("burden_tolerance", 0.1), "E_VALUE_MISSING", "members"),
])
def test_financing_input_errors(tmp_path, edit, code, where):
    sheets, sets = two_members()
    edit(sheets, sets)
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 1 and f"[{code}]" in res.output and where in res.output, res.output


def test_force_build_the_rules_cannot_finance(tmp_path):
    sheets, sets = two_members()
    sheets["sites"][-1]["decision"] = "force_build"
    sheets["financing_rules"] = [{"member": "AA", "country": None, "site": None, "max_share": 0.3},
                                 {"member": "BB", "country": None, "site": None, "max_share": 0.3}]
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src)])
    assert res.exit_code == 1 and "[E_CONTRADICTION]" in res.output and "at most 60%" in res.output
    with pytest.raises(InputError):
        from planner.dataset.data import load_data
        load_data(src)


def test_infeasible_financing_is_explained_by_the_smallest_relaxation(tmp_path):
    # R1 (hosted by AA, capex 0.02) is forced; host_min_share 0.6 makes AA pay >= 0.012 of the 0.02
    # total, but AA's burden share 0.2 +/- 0.1 allows at most 30% = 0.006: no plan exists. The elastic
    # re-solve reports one relaxation of 0.012 - 0.006 = 0.006 MUSD: either AA pays that much more than
    # its band allows, or the host pays that much less than host_min_share asks (equally small).
    sheets, sets = two_members(host_min_share=0.6, burden_tolerance=0.1)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.2, 0.8
    sheets["sites"][-1]["decision"] = "force_build"
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 5 and not (tmp_path / "o.xlsx").exists()
    assert "smallest relaxations" in res.output
    assert ("members: AA must pay 0.006 MUSD (present value) more than burden_share 0.2 + burden_tolerance 0.1"
            in res.output) or ("host_min_share 0.6 cannot be met for site 'R1' built in 2030: its host pays "
                               "0.006 MUSD short" in res.output), res.output
    assert res.output.count("\n  ") == 1  # exactly one relaxation is needed


def test_explain_iis_names_the_conflicting_rows(tmp_path):
    # The same conflict as above: the IIS of the LP relaxation holds the forced build, the host-share
    # row of R1, the financing balance that ties payments to the build, and one side of the burden
    # band (AA's upper side or, equivalently with two members, BB's lower side).
    sheets, sets = two_members(host_min_share=0.6, burden_tolerance=0.1)
    sheets["members"][0]["burden_share"], sheets["members"][1]["burden_share"] = 0.2, 0.8
    sheets["sites"][-1]["decision"] = "force_build"
    src = write_workbook(tmp_path / "w.xlsx", sheets, sets)
    res = CliRunner().invoke(cli, ["solve", str(src), "--explain-iis", "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 5
    iis = [ln for ln in res.output.splitlines() if ln.startswith("iis: constraint")]
    names = {ln.split()[2].rstrip(":") for ln in iis}
    assert {"build_once[R1]", "host_share[R1,2030]", "financing_balance[R1,2030]"} <= names, res.output
    assert names & {"burden_band_upper[AA]", "burden_band_lower[BB]"}, res.output


def test_a_private_share_lowers_what_the_members_pay_not_the_cost(solve_tiny):
    # R1 (capex 0.02 MUSD) with sites.private_share 0.25: private investors carry 0.005, the members
    # the public capex 0.015. The objective counts the whole capex: cost 0.02 + 100 x 100 USD =
    # 0.03 MUSD, as without a private share. AA receives all of R1's output and pays all the public
    # capex: the public money is 0.015.
    sheets, sets = two_members()
    sheets["sites"][-1]["private_share"] = 0.25
    res = solve_tiny(sheets, sets)
    assert res.costs["total_cost_musd"] == pytest.approx(0.03, abs=TOL)
    assert res.costs["capex_musd"] == pytest.approx(0.02, abs=TOL)
    assert paid(res) == pytest.approx({"AA": 0.015}, abs=TOL)
    assert res.costs["public_money_musd"] == pytest.approx(0.015, abs=TOL)


def test_budgets_and_host_shares_count_public_money_only(solve_tiny):
    # settings.private_share 0.5: R1's public capex is 0.01 MUSD. host_min_share 0.6 puts 0.006 on
    # the host AA; AA's budget of 0.007 in 2030 holds it (the whole capex, 0.02, would not: 0.6 x
    # 0.02 = 0.012 > 0.007). R1 is built (0.03 MUSD against 0.05 + unmet nothing: the market costs
    # 0.05 for the 100 t). AA receives all of R1's output and would pay all 0.01; its budget holds
    # 0.007 of it, BB pays the other 0.003.
    sheets, sets = two_members(host_min_share=0.6, private_share=0.5)
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 0.007}]
    res = solve_tiny(sheets, sets)
    assert res.costs["total_cost_musd"] == pytest.approx(0.03, abs=TOL)
    assert paid(res) == pytest.approx({"AA": 0.007, "BB": 0.003}, abs=TOL)
    port = res.solution.builds
    assert list(port["site"]) == ["R1"]
