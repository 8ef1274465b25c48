"""`plan why` on the sweep engine: every candidate's decision reversed, on a hand-solved workbook.

The workbook starts from `wb.tiny()`: member AA needs 100 t/yr of mineral X in one one-year period
(base year 2030, discount rate 0: present value = plain sum); the market M1 in C-land sells at
500 USD/t. An embargo on C-land (scenario `embargo`, p 0.5; unmet demand 10,000 USD/t) makes a
refinery of AA's own worth building: R1, R2, R3 refine ore of the free mine N1 (yield 1, 1,000 t/yr,
100 USD/t) at capex 0.02, 0.05 and 0.04 MUSD; R4 (capex 0.01) is excluded by its `decision`.
Refining 100 t costs 100 x 100 USD = 0.01 MUSD in either scenario, so a plan with one refinery
costs its capex + 0.01 MUSD; with none it costs 0.5 x 0.05 + 0.5 x 100 x 10,000 x 1e-6 = 0.525.
  plan:            R1 built, 0.02 + 0.01 = 0.03 MUSD
  R1 excluded:     R3 instead, 0.04 + 0.01 = 0.05 -> the reversal costs 0.02 MUSD
  R2 forced in:    R2 alone (R1 would be idle), 0.05 + 0.01 = 0.06 -> 0.03 MUSD, R1 dropped
  R3 forced in:    R3 alone, 0.05 -> 0.02 MUSD, R1 dropped
  R4:              not tried: screened out ("excluded by decision")
"""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from wb import embargo, site, tiny, write_workbook

EXACT = {"R1": ("excluded", 0.02, "R3", ""), "R2": ("forced in", 0.03, "", "R1"),
         "R3": ("forced in", 0.02, "", "R1")}


def refineries() -> tuple[dict, dict]:
    sheets, settings = tiny(unmet_penalty_usd_per_t=10_000)
    embargo(sheets)
    sheets["sites"].append(site("N1", "AAA", "mine", "existing", 1000))
    for name, capex, decision in (("R1", 0.02, None), ("R2", 0.05, None), ("R3", 0.04, None),
                                  ("R4", 0.01, "exclude")):
        sheets["sites"].append(site(name, "AAA", "refinery", "candidate", 1000, capex_musd=capex,
                                    var_cost_usd_per_t=100, decision=decision, **{"yield": 1}))
    return sheets, settings


@pytest.fixture
def workbook(tmp_path):
    return write_workbook(tmp_path / "refineries.xlsx", *refineries())


def why(*args):
    return CliRunner().invoke(cli, ["why", *map(str, args)])


def read(path, sheet="why") -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=sheet, keep_default_na=False, engine="openpyxl")


def test_every_reversal_costs_what_the_hand_solution_says(workbook, tmp_path):
    out = tmp_path / "why.xlsx"
    res = why(workbook, "-o", out, "--workers", "1", "--mip-abs-gap", "0", "--quiet")
    assert res.exit_code == 0, res.output
    t = read(out).set_index("site")
    assert list(t.index) == ["R1", "R2", "R3", "R4"]
    assert t.loc["R1", "built"] == "yes" and t.loc["R1", "build_period"] == 2030
    assert (t.loc[["R2", "R3", "R4"], "built"] == "no").all()
    for f, (reversal, cost, added, dropped) in EXACT.items():
        r = t.loc[f]
        assert r["reversal"] == reversal and r["status"] == "optimal", (f, r.to_dict())
        # at a gap of 0 the interval is the exact difference
        assert r["reversal_cost_low_musd"] == pytest.approx(cost, abs=1e-7), f
        assert r["reversal_cost_high_musd"] == pytest.approx(cost, abs=1e-7), f
        assert r["builds_added"] == added and r["builds_dropped"] == dropped, (f, r.to_dict())
    assert t.loc["R4", "reversal"] == "not tried" and t.loc["R4", "reversal_cost_low_musd"] == ""
    assert "screened out: excluded by decision" in t.loc["R4", "what_binds"]
    s = dict(zip(read(out, "summary")["key"], read(out, "summary")["value"]))
    assert s["base_objective_musd"] == pytest.approx(0.03, abs=1e-9)
    assert s["candidates"] == 4 and s["built"] == 1 and s["not_tried_screened"] == 1
    assert "R1" in res.output and "excluded" in res.output


def test_intervals_at_the_batch_gap_hold_the_exact_differences(workbook, tmp_path):
    # the batch's default absolute gap (25 MUSD) is far wider than these costs: a solve may stop at
    # any plan, but each interval [bound - base plan, plan - base bound] still holds the exact
    # difference of the two optima, whichever plan the base solve stopped at. The optimum with a
    # refinery excluded is the cheapest other one's capex + 0.01; with one forced in, its own
    # capex + 0.01 (a second refinery only adds capex); the base optimum is 0.03.
    out = tmp_path / "why.xlsx"
    res = why(workbook, "-o", out, "--workers", "2", "--quiet")
    assert res.exit_code == 0, res.output
    t = read(out).set_index("site")
    base = dict(zip(read(out, "summary")["key"], read(out, "summary")["value"]))
    assert base["mip_abs_gap_musd"] == 25 and base["mip_gap"] == 0
    capex = {"R1": 0.02, "R2": 0.05, "R3": 0.04}
    for f in capex:
        r = t.loc[f]
        if r["reversal"] == "excluded":
            forced = min(c for g, c in capex.items() if g != f) + 0.01
        else:
            forced = capex[f] + 0.01
        exact = forced - 0.03
        assert r["reversal_cost_low_musd"] - 1e-9 <= exact <= r["reversal_cost_high_musd"] + 1e-9, (f, r.to_dict())
        assert r["interval_width_musd"] == pytest.approx(r["reversal_cost_high_musd"] - r["reversal_cost_low_musd"])


def test_site_names_are_checked(workbook, tmp_path):
    res = why(workbook, "--site", "R9", "-o", tmp_path / "w.xlsx")
    assert res.exit_code == 2 and "R9" in res.output
    res = why(workbook, "--site", "M1", "-o", tmp_path / "w.xlsx")
    assert res.exit_code == 2 and "existing" in res.output


def test_one_site_only(workbook, tmp_path):
    out = tmp_path / "why.xlsx"
    res = why(workbook, "--site", "R3", "-o", out, "--workers", "1", "--mip-abs-gap", "0", "--quiet")
    assert res.exit_code == 0, res.output
    t = read(out)
    assert t["site"].tolist() == ["R3"]
    assert t["reversal_cost_low_musd"].iloc[0] == pytest.approx(0.02, abs=1e-7)
    lines = (tmp_path / "why.sweep" / "done.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["spec"][0] for x in lines) == ["base", "in:R3"]
