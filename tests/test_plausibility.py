"""Plausibility warnings (planner/dataset/plausibility.py): values the contract accepts but nobody
means, each named by its cell with the slip it most likely is; the workbook still solves."""

from click.testing import CliRunner

from planner.cli import cli
from planner.dataset.data import load_data
from planner.io.template import readme_rows
from wb import site, tiny, write_workbook


def warnings_of(tmp_path, sheets, settings):
    return load_data(write_workbook(tmp_path / "w.xlsx", sheets, settings)).warnings


def test_capex_typed_in_usd(tmp_path):
    # 800,000,000 "MUSD" for a refinery of 50,000 t/yr: 1.6e10 USD per tonne of yearly capacity
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 50_000, capex_musd=800_000_000,
                                **{"yield": 1}))
    got = [w for w in warnings_of(tmp_path, sheets, settings) if "capex_musd of R1" in w]
    assert len(got) == 1 and got[0].startswith("sites!H3") and "USD instead of MUSD" in got[0], got


def test_capacity_typed_in_kt(tmp_path):
    # 400 MUSD for "50 t/yr" (meant: 50 kt): 8,000,000,000 USD per tonne of yearly capacity
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 50, capex_musd=400, **{"yield": 1}))
    got = [w for w in warnings_of(tmp_path, sheets, settings) if "capex_musd of R1" in w]
    assert len(got) == 1 and "kt instead of t" in got[0]


def test_a_real_project_is_not_warned(tmp_path):
    # 2,000 MUSD for 40,000 t/yr of lithium hydroxide: 50,000 USD per tonne of yearly capacity
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 40_000, capex_musd=2_000,
                                var_cost_usd_per_t=5_000, **{"yield": 1}))
    assert warnings_of(tmp_path, sheets, settings) == []


def test_unit_cost_far_above_the_market_price(tmp_path):
    # M1 sells at 500 USD/t; a refinery at 30,000 USD/t is 60 times that
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "existing", 100, var_cost_usd_per_t=30_000,
                                **{"yield": 1}))
    got = [w for w in warnings_of(tmp_path, sheets, settings) if "var_cost_usd_per_t of R1" in w]
    assert len(got) == 1 and got[0].startswith("sites!J3") and "500 USD/t" in got[0], got


def test_unmet_penalty_below_the_market_price(tmp_path):
    sheets, settings = tiny(unmet_penalty_usd_per_t=100)
    got = [w for w in warnings_of(tmp_path, sheets, settings) if "unmet_penalty_usd_per_t" in w]
    assert len(got) == 1 and got[0].startswith("settings!B4") and "cheaper than buying" in got[0], got


def test_demand_far_above_every_capacity(tmp_path):
    sheets, settings = tiny()
    sheets["demand"][0]["demand_tpy"] = 1_000_000  # every site of X: 1,000 t/yr
    got = [w for w in warnings_of(tmp_path, sheets, settings) if "demand of AA" in w]
    assert len(got) == 1 and got[0].startswith("demand!D2") and "kg" in got[0], got


def test_a_share_typed_as_a_percentage_is_refused_with_the_reading(tmp_path):
    sheets, settings = tiny(max_country_share=80)
    path = write_workbook(tmp_path / "pct.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["validate", str(path)])
    assert res.exit_code == 1 and "a percentage? a share is a fraction: 80% is 0.8" in res.output, res.output


def test_the_default_workbook_has_no_plausibility_warning():
    warned = [w for w in load_data("inputs/alliance_2026.xlsx").warnings
              if any(k in w for k in ("per tonne of yearly capacity", "times the market price", "cheaper than buying",
                                      "times every site's capacity"))]
    assert warned == []


def test_the_template_readme_shows_the_plausible_ranges():
    rows = readme_rows()
    assert rows[0][-1] == "plausible (a warning outside)"
    shown = {(r[0].split(" ")[0], r[1]): r[-1] for r in rows[1:] if r[-1]}
    assert ("sites", "capex_musd") in shown and "1,000,000 USD" in shown[("sites", "capex_musd")]
    assert ("settings", "key = unmet_penalty_usd_per_t") in shown
