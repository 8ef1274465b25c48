"""`plan sweep --vary` on a hand-solved workbook.

From `wb.tiny()`: member AA needs 100 t/yr of mineral X in one one-year period (discount rate 0);
the market M1 in C-land sells at 500 USD/t; in the scenario `embargo` (p 0.5) C-land stops
exporting. The home refinery R1 refines ore of the free mine N1 at 100 USD/t for capex 0.1 MUSD.
  build R1:  capex 0.1 + 100 x 100 USD = 0.11 MUSD in either scenario
  no build:  0.5 x 100 x 500 USD + 0.5 x 100 t x penalty = 0.025 + 0.5 x penalty x 1e-4 MUSD
With the penalty at 5,000 USD/t no build costs 0.275: build (0.11, the base).
  penalty 1,000:  no build 0.025 + 0.05 = 0.075 < 0.11: R1 dropped, total -0.035, public money 0
  capex x0.5:     build, 0.05 + 0.01 = 0.06: total -0.05, public money 0.05
  capex x2:       build, 0.2 + 0.01 = 0.21 (below 0.275): total +0.10, public money 0.2
  grid penalty 1,000 & capex x0.5: build 0.06 < no build 0.075: R1 stays, total -0.05
  grid penalty 1,000 & capex x2:   no build 0.075: R1 dropped, total -0.035
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from wb import embargo, site, tiny, write_workbook


@pytest.fixture
def hedge(tmp_path):
    sheets, settings = tiny(unmet_penalty_usd_per_t=5_000)
    embargo(sheets)
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.1, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return write_workbook(tmp_path / "hedge.xlsx", sheets, settings)


def sweep(*args):
    return CliRunner().invoke(cli, ["sweep", *map(str, args), "--workers", "2", "--mip-abs-gap", "0", "--quiet"])


def read(path, sheet):
    return pd.read_excel(path, sheet_name=sheet, keep_default_na=False, engine="openpyxl")


def test_one_at_a_time(hedge, tmp_path):
    out = tmp_path / "sweep.xlsx"
    res = sweep(hedge, "--vary", "unmet_penalty_usd_per_t=1000", "--vary", "sites.capex_musd=0.5,*2", "-o", out)
    assert res.exit_code == 0, res.output
    t = read(out, "sweep").set_index("case")
    assert list(t.index) == ["base", "unmet_penalty_usd_per_t=1000", "sites.capex_musd*0.5", "sites.capex_musd*2"]
    assert t.loc["base", "total_cost_musd"] == pytest.approx(0.11, abs=1e-9)
    expected = {"unmet_penalty_usd_per_t=1000": (-0.035, 0.0, "R1"), "sites.capex_musd*0.5": (-0.05, 0.05, ""),
                "sites.capex_musd*2": (0.10, 0.2, "")}
    for case, (change, public, dropped) in expected.items():
        r = t.loc[case]
        assert r["status"] == "optimal"
        assert r["total_difference_low_musd"] == pytest.approx(change, abs=1e-7), case
        assert r["total_difference_high_musd"] == pytest.approx(change, abs=1e-7), case
        assert r["public_money_musd"] == pytest.approx(public, abs=1e-9), case
        assert r["builds_dropped"] == dropped, case
    assert t.loc["unmet_penalty_usd_per_t=1000", "expected_unmet_t"] == pytest.approx(50)  # 0.5 x 100 t
    tornado = read(out, "tornado")
    assert tornado["name"].tolist() == ["sites.capex_musd", "unmet_penalty_usd_per_t"]  # swing 0.15, then 0.035
    assert tornado.loc[0, "total_change_min_musd"] == pytest.approx(-0.05, abs=1e-7)
    assert tornado.loc[0, "total_change_max_musd"] == pytest.approx(0.10, abs=1e-7)
    assert tornado.loc[0, "public_money_change_max_musd"] == pytest.approx(0.1, abs=1e-9)
    d = read(out, "decisions").set_index("site")
    assert d.loc["R1", "base"] == 2030 and d.loc["R1", "unmet_penalty_usd_per_t=1000"] == ""
    assert d.loc["R1", "solves_changed"] == 1 and d.loc["R1", "never_changes"] == "no"


def test_grid(hedge, tmp_path):
    out = tmp_path / "grid.xlsx"
    res = sweep(hedge, "--vary", "unmet_penalty_usd_per_t=1000", "--vary", "sites.capex_musd=0.5,2", "--grid",
                "-o", out)
    assert res.exit_code == 0, res.output
    t = read(out, "sweep").set_index("case")
    both = "unmet_penalty_usd_per_t=1000 & sites.capex_musd*"
    assert t.loc[both + "0.5", "total_difference_low_musd"] == pytest.approx(-0.05, abs=1e-7)
    assert t.loc[both + "0.5", "builds_dropped"] == ""
    assert t.loc[both + "2", "total_difference_low_musd"] == pytest.approx(-0.035, abs=1e-7)
    assert t.loc[both + "2", "builds_dropped"] == "R1"
    assert "tornado" not in pd.ExcelFile(out, engine="openpyxl").sheet_names


@pytest.mark.parametrize("vary,says", [("no_such_setting=1", "no such setting"), ("sites.name=2", "no numbers"),
                                       ("discount_rate=abc", "discount_rate=abc: 'abc' is not a number"),
                                       ("max_country_share=80", "80% is 0.8"),
                                       ("sites.capex_musd=cheap", "not a factor"), ("discount_rate", "NAME=v1")])
def test_bad_vary_is_a_usage_error(hedge, tmp_path, vary, says):
    res = sweep(hedge, "--vary", vary, "-o", tmp_path / "x.xlsx")
    assert res.exit_code == 2 and says in res.output, res.output
    assert not (tmp_path / "x.xlsx").exists()


def test_a_value_the_workbook_would_refuse_is_refused_by_its_cell(hedge, tmp_path):
    # a negative capacity typed into the sites sheet is an input error naming the cell; scaled into
    # it by a sweep, the same: that solve reports it, the others go on
    out = tmp_path / "sweep.xlsx"
    res = sweep(hedge, "--vary", "sites.capacity_tpy=-1,2", "-o", out)
    assert res.exit_code == 0, res.output
    t = read(out, "sweep").set_index("case")
    assert t.loc["sites.capacity_tpy*-1", "status"] == "input_error"
    assert "sites!G2" in t.loc["sites.capacity_tpy*-1", "note"] and "out of range" in t.loc["sites.capacity_tpy*-1", "note"]
    assert t.loc["sites.capacity_tpy*2", "status"] == "optimal"
    # a setting's value is checked before any solve: a usage error naming it
    res = sweep(hedge, "--vary", "discount_rate=2", "-o", tmp_path / "d.xlsx")
    assert res.exit_code == 2 and "discount_rate=2" in res.output and "out of range" in res.output
