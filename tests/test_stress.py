"""Hand-solved: the stress matrix, the value of the stochastic solution and the
cost-risk frontier (see test_risk for the tiny cases' conventions)."""

import pytest

from planner.pipeline import solve_workbook
from planner.analyses.stress import stress_tables
from test_risk import cvar_case, shock_case, with_stockpile
from wb import site, tiny, write_workbook

TOL = 1e-7


def two_country_case():
    """R0 in AA's own AAA refines ore from N1 (BBB, 10 USD/t, 60 t/yr) and N2 (CCC, 20 USD/t);
    the plan: 60 t from N1 and 40 t from N2 = 600 + 800 = 1,400 USD."""
    sheets, settings = tiny()
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 60, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "existing", 1000, var_cost_usd_per_t=20)]
    return sheets, settings


def test_stress_matrix_on_two_supplier_countries(tmp_path):
    # BBB's exports stop: N2 mines all 100 t: 2,000 USD, extra 600 USD, nothing unmet.
    # CCC's exports stop (N2 and the market M1): only N1's 60 t; 40 t unmet at 1,000,000 USD/t:
    # 600 + 40,000,000 - 1,400 = 39,999,200 USD extra, 40 t extra unmet for AA/X.
    # AAA is AA's own country: R0's deliveries to AA are not exports, nothing changes.
    res = solve_workbook(write_workbook(tmp_path / "c.xlsx", *two_country_case()), write=False)
    assert res.costs["total_cost_musd"] == pytest.approx(0.0014, abs=TOL)
    t = stress_tables(res, vss=False)
    cost = t["stress_cost"].set_index("country")["extra_cost_musd"]
    assert set(cost.index) == {"AAA", "BBB", "CCC"}
    assert cost["BBB"] == pytest.approx(0.0006, abs=TOL)
    assert cost["CCC"] == pytest.approx(39.9992, abs=TOL)
    assert cost["AAA"] == pytest.approx(0.0, abs=TOL)
    mx = t["stress_matrix"].set_index(["country", "member", "mineral"])["extra_unmet_t"]
    assert mx[("CCC", "AA", "X")] == pytest.approx(40)
    assert ("BBB", "AA", "X") not in mx.index  # nothing unmet before or after
    assert list(t["stress_cost"]["country"])[0] == "CCC"  # worst first


def test_value_of_the_stochastic_solution(tmp_path):
    # Shock p = 0.2 with the 100 t stockpile (test_risk): the stochastic plan (RP) holds 100 t and
    # costs 170,000 USD. The expected-value problem sees one average scenario: M1 at 80 % of its
    # 1,000 t/yr, still far more than the 100 t needed, so it holds no stock. Evaluated under the real
    # scenarios (EEV) that plan costs 0.8 x 50,000 + 0.2 x 100 x 10,000 = 240,000 USD.
    # VSS = 240,000 - 170,000 = 70,000 USD = 0.07 MUSD >= 0.
    sheets, settings = shock_case(0.2)
    res = solve_workbook(write_workbook(tmp_path / "v.xlsx", with_stockpile(sheets), settings), write=False,
                         model="precise")
    s = dict(zip(*stress_tables(res, vss=True)["summary"][["key", "value"]].T.values))
    assert s["vss_status"] == "ok"
    assert s["vss_rp_musd"] == pytest.approx(0.17, abs=TOL)
    assert s["vss_eev_musd"] == pytest.approx(0.24, abs=TOL)
    assert s["vss_ev_sites_built"] == 0
    assert s["vss_musd"] == pytest.approx(0.07, abs=TOL) and s["vss_musd"] >= 0


def test_vss_is_zero_without_uncertainty_that_matters(tmp_path):
    # One scenario: the expected-value problem is the problem, so EEV = RP and VSS = 0.
    res = solve_workbook(write_workbook(tmp_path / "z.xlsx", *two_country_case()), write=False)
    s = dict(zip(*stress_tables(res, countries=["BBB"])["summary"][["key", "value"]].T.values))
    assert s["vss_musd"] == pytest.approx(0.0, abs=TOL)


def test_stress_cli_writes_its_workbook(tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.io.writer import read_portfolio
    src = write_workbook(tmp_path / "c.xlsx", *two_country_case())
    out = tmp_path / "stress.xlsx"
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(out), "--countries", "CCC"])
    assert r.exit_code == 0, r.output
    assert "CCC" in r.output and out.exists()
    back = read_portfolio(out)
    assert {"summary", "stress_cost", "stress_matrix", "stress_pivot", "portfolio"} <= set(back)
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(out), "--countries", "CCC"])
    assert r.exit_code == 2 and "exists" in r.output  # never overwritten without --force
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(tmp_path / "x.xlsx"), "--countries", "ZZZ"])
    assert r.exit_code == 2 and "unknown country ZZZ" in r.output


def test_frontier_end_points_are_the_single_objective_optima(tmp_path):
    # The CVaR case of test_risk without a weight: without R1 expected cost 145,000 USD and CVaR_0.9
    # 1,000,000; with R1 both 200,000. End points: least expected cost = the plan solve optimum
    # (145,000, no build); least CVaR = 200,000 (build R1). The middle point of three has
    # epsilon = 600,000, which only the R1 plan meets, so it builds R1 at 200,000.
    from planner.analyses.frontier import frontier_tables
    sheets, settings = cvar_case(None)
    src = write_workbook(tmp_path / "f.xlsx", sheets, settings)
    solo = solve_workbook(src, write=False, model="precise")
    t = frontier_tables(src, 3, model="precise")
    f = t["frontier"]
    assert list(f["status"]) == ["optimal"] * 3
    assert f["expected_cost_musd"].iloc[0] == pytest.approx(solo.costs["total_cost_musd"], abs=TOL)
    assert f["expected_cost_musd"].iloc[0] == pytest.approx(0.145, abs=TOL)
    assert f["cvar_musd"].iloc[0] == pytest.approx(1.0, abs=TOL)
    assert f["epsilon_cvar_musd"].iloc[1] == pytest.approx(0.6, abs=TOL)
    assert list(f["expected_cost_musd"].iloc[1:]) == [pytest.approx(0.2, abs=TOL)] * 2
    assert f["cvar_musd"].iloc[-1] == pytest.approx(0.2, abs=TOL)
    b = t["frontier_builds"].set_index("point")
    assert b.loc[1, "R1"] == "" and b.loc[2, "R1"] == 2030 and b.loc[3, "R1"] == 2030


def test_frontier_cli(tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.io.writer import read_portfolio
    sheets, settings = cvar_case(None)
    src = write_workbook(tmp_path / "f.xlsx", sheets, settings)
    out = tmp_path / "fr.xlsx"
    r = CliRunner().invoke(cli, ["frontier", str(src), "--points", "2", "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    back = read_portfolio(out)
    assert len(back["frontier"]) == 2 and "R1" in back["frontier_builds"].columns
    r = CliRunner().invoke(cli, ["frontier", str(src), "--points", "1", "-o", str(tmp_path / "x.xlsx")])
    assert r.exit_code == 2


def test_stress_country_whose_flows_are_in_no_row(tmp_path):
    # BBB hosts only a candidate mine CM and CCC a candidate refinery CR, both free and with a 5-year
    # lead time in a one-year horizon: neither can be online, so the CM -> CR flow is bounded at 0,
    # sits in no row and costs nothing -- it is no column of the model. Stopping BBB's exports closes
    # nothing: the plan's cost (100 t from the market M1 at 500 USD/t = 0.05 MUSD) is unchanged.
    sheets, settings = tiny()
    sheets["sites"] += [site("CM", "BBB", "mine", "candidate", 100, lead_time_years=5),
                        site("CR", "CCC", "refinery", "candidate", 100, lead_time_years=5, **{"yield": 1})]
    res = solve_workbook(write_workbook(tmp_path / "c.xlsx", sheets, settings), write=False)
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    cost = stress_tables(res, countries=["BBB"], vss=False)["stress_cost"].set_index("country")
    assert cost.loc["BBB", "status"] == "optimal"
    assert cost.loc["BBB", "extra_cost_musd"] == pytest.approx(0.0, abs=TOL)


def test_frontier_shows_progress_and_marks_a_point_stopped_at_a_limit(tmp_path, monkeypatch):
    # The same case; the middle point's solve is made to report "best_found" (a limit stopped it):
    # its row says so, and every solve is announced with its number before it runs.
    from planner.analyses import frontier as F
    sheets, settings = cvar_case(None)
    src = write_workbook(tmp_path / "f.xlsx", sheets, settings)
    real, calls = F._point, {"n": 0}

    def point(*a, **k):
        out, sol, costs = real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 3:  # solves: least cost, least risk, then the middle point
            out.status = "best_found"
        return out, sol, costs

    monkeypatch.setattr(F, "_point", point)
    said = []
    t = F.frontier_tables(src, 3, model="precise", progress=said.append)
    f = t["frontier"].set_index("point")
    assert f.loc[2, "note"] == "stopped at a limit: not proven optimal, gap shown"
    assert f.loc[1, "note"] == "" and f.loc[3, "note"] == ""
    announced = [m for m in said if "solve " in m]
    assert [m.split("] ")[1].split(":")[0] for m in announced] == ["solve 1 of 4", "solve 2 of 4", "solve 3 of 4",
                                                                  "solve 4 of 4"]
    assert any("point 2" in m and "stopped at a limit" in m for m in said)
