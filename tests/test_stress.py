"""Hand-solved: the stress matrix, the value of the stochastic solution and the
cost-risk frontier (see test_risk for the tiny cases' conventions)."""

import pytest

from planner.analyses.frontier import Frontier
from planner.analyses.stress import Stress
from planner.analyses.sweep import batch_definition, run_analysis
from planner.dataset.data import load_data
from planner.model.definition import resolve_definition
from planner.pipeline import solve_workbook
from test_risk import cvar_case, shock_case, with_stockpile
from wb import site, tiny, write_workbook

TOL = 1e-7


def run(make, src, tmp_path, name="out.xlsx"):
    """The analysis `make(data)` on the sweep engine (one worker, every solve to a gap of 0)."""
    definition = batch_definition(resolve_definition("precise"), mip_abs_gap=0.0)
    return run_analysis(make(load_data(src)), src, tmp_path / name, definition, workers=1)


def stress_tables(src, tmp_path, countries=None, vss=True):
    return run(lambda data: Stress(data, countries, vss), src, tmp_path)


def summary(tables) -> dict:
    return dict(zip(tables["summary"]["key"], tables["summary"]["value"]))


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
    src = write_workbook(tmp_path / "c.xlsx", *two_country_case())
    t = stress_tables(src, tmp_path, vss=False)
    assert summary(t)["plan_total_cost_musd"] == pytest.approx(0.0014, abs=TOL)
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
    src = write_workbook(tmp_path / "v.xlsx", with_stockpile(sheets), settings)
    t = stress_tables(src, tmp_path, vss=True)
    s = summary(t)
    assert s["vss_status"] == "ok"
    assert s["vss_rp_musd"] == pytest.approx(0.17, abs=TOL)
    assert s["vss_eev_musd"] == pytest.approx(0.24, abs=TOL)
    assert s["vss_ev_sites_built"] == 0
    assert s["vss_musd"] == pytest.approx(0.07, abs=TOL) and s["vss_musd"] >= 0
    assert t["ev_portfolio"].empty and list(t["portfolio"]["site"]) == []  # the stock is no build


def test_vss_is_zero_without_uncertainty_that_matters(tmp_path):
    # One scenario: the expected-value problem is the problem, so EEV = RP and VSS = 0.
    src = write_workbook(tmp_path / "z.xlsx", *two_country_case())
    s = summary(stress_tables(src, tmp_path, countries=["BBB"]))
    assert s["vss_musd"] == pytest.approx(0.0, abs=TOL)


def test_stress_cli_writes_its_workbook(tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.io.writer import read_portfolio
    src = write_workbook(tmp_path / "c.xlsx", *two_country_case())
    out = tmp_path / "stress.xlsx"
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(out), "--countries", "CCC", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "CCC" in r.output and out.exists()
    back = read_portfolio(out)
    assert {"summary", "stress_cost", "stress_matrix", "stress_pivot", "portfolio"} <= set(back)
    before = out.read_bytes()
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(out), "--countries", "CCC"])
    assert r.exit_code == 2 and "--force" in r.output  # never overwritten without --force (the journal says so)
    assert out.read_bytes() == before
    r = CliRunner().invoke(cli, ["stress", str(src), "-o", str(tmp_path / "x.xlsx"), "--countries", "ZZZ"])
    assert r.exit_code == 2 and "unknown country ZZZ" in r.output


def test_frontier_end_points_are_the_single_objective_optima(tmp_path):
    # The CVaR case of test_risk without a weight: without R1 expected cost 145,000 USD and CVaR_0.9
    # 1,000,000; with R1 both 200,000. End points: least expected cost = the plan solve optimum
    # (145,000, no build); least CVaR = 200,000 (build R1). The middle point of three has
    # epsilon = 600,000, which only the R1 plan meets, so it builds R1 at 200,000.
    sheets, settings = cvar_case(None)
    src = write_workbook(tmp_path / "f.xlsx", sheets, settings)
    solo = solve_workbook(src, write=False, model="precise")
    t = run(lambda data: Frontier(data, 3), src, tmp_path)
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
    r = CliRunner().invoke(cli, ["frontier", str(src), "--points", "2", "-o", str(out), "--quiet", "--workers", "1"])
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
    t = stress_tables(write_workbook(tmp_path / "c.xlsx", sheets, settings), tmp_path, countries=["BBB"], vss=False)
    assert summary(t)["plan_total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    cost = t["stress_cost"].set_index("country")
    assert cost.loc["BBB", "status"] == "optimal"
    assert cost.loc["BBB", "extra_cost_musd"] == pytest.approx(0.0, abs=TOL)


def test_frontier_marks_a_point_stopped_at_a_limit_and_refuses_one_above_its_bound(tmp_path):
    # The frontier's table from solves as the engine returns them (no solver): point 2 stopped at a
    # limit (status best_found): its row says so and gives its gap (110 - 100 = 10 MUSD); point 3's
    # plan has a CVaR of 5 in the plain tables, above its bound of 4: refused, its builds not shown.
    f = Frontier(load_data(write_workbook(tmp_path / "f.xlsx", *cvar_case(None))), 3)

    def solved(status, objective, bound, cvar_, builds):
        return {"status": status, "objective_musd": objective, "bound_musd": bound, "cvar_musd": cvar_,
                "expected_cost_musd": objective, "stock_t": 0.0, "builds": builds, "public_money_musd": 0.0}

    f.base = solved("optimal", 90, 90, 8, {})
    f.results = {"least_risk": solved("optimal", 3, 3, 3, {"R1": 2030}),
                 "point:2": solved("best_found", 110, 100, 5.5, {"R1": 2030}),
                 "point:3": solved("optimal", 120, 120, 5, {"R1": 2030})}
    f.eps = {2: 5.5, 3: 4.0}
    tables = f.tables()
    t = tables["frontier"].set_index("point")
    assert t.loc[2, "note"] == "stopped at a limit: not proven optimal, gap shown" and t.loc[2, "gap_musd"] == 10
    assert t.loc[1, "note"] == "" and t.loc[3, "status"] == "error" and "above the bound" in t.loc[3, "note"]
    assert t.loc[3, "sites_built"] == ""
    assert tables["frontier_builds"].set_index("point")["R1"].to_dict() == {1: "", 2: 2030, 3: ""}


def test_frontier_cli_shows_progress(tmp_path):
    # Every solve is announced on stderr as it finishes: the two end points, then the middle point.
    from click.testing import CliRunner

    from planner.cli import cli
    src = write_workbook(tmp_path / "f.xlsx", *cvar_case(None))
    r = CliRunner().invoke(cli, ["frontier", str(src), "--points", "3", "-o",
                                       str(tmp_path / "fr.xlsx"), "--workers", "1"])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stderr.splitlines() if "s elapsed" in x]
    assert len(lines) == 4  # [1/2], [2/2] for the end points, then [1/2], [2/2] for points 2 and 3
    assert any("the least-risk plan" in x for x in lines) and any("point 2" in x for x in lines)
    assert "point 3: expected cost" in r.stdout
