"""`plan prices` on a hand-solved workbook where a share cap, a budget and a standard each bind.

From `wb.tiny()`: member AA needs 100 t/yr of mineral X in one one-year period (discount rate 0).
Markets: M1 in C-land at 500 USD/t, M2 in B-land at 800 USD/t. At home (A-land) the free mine N1
feeds two candidate refineries (yield 1, 100 USD/t): R1, capex 0.02 MUSD, ESG score 80; R2, capex
0.001 MUSD, ESG score 20. Rules:
  share cap  max_country_share 0.6: at most 60 t from any one outside country
  budget     AA may commit 0.01 MUSD in 2030: R1 (0.02) cannot be paid for
  standard   esg_score >= 50: R2 is screened out
Base: nothing can be built; 60 t from M1 + 40 t from M2 = 30,000 + 32,000 USD = 0.062 MUSD.
  share cap dropped:   100 t from M1 = 0.05                      -> worth 0.012
  share cap 0.65:      65 x 500 + 35 x 800 = 60,500 USD = 0.0605 -> worth 0.0015
  budget dropped:      R1 built: 0.02 + 100 x 100 USD = 0.03     -> worth 0.032
  budget +10% (0.011): R1 still unaffordable                     -> worth 0
  standard dropped:    R2 built: 0.001 + 0.01 = 0.011            -> worth 0.051
The other rules the workbook could state are off and listed as off.
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from wb import site, tiny, write_workbook

EXACT = {"max_country_share": ("share_cap", 0.012, 0.0015), "budget_musd": ("budget", 0.032, 0.0),
         "criterion": ("standard", 0.051, None)}


@pytest.fixture
def ruled(tmp_path):
    sheets, settings = tiny(max_country_share=0.6)
    sheets["sites"] += [site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800),
                        site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.02, var_cost_usd_per_t=100,
                             esg_score=80, **{"yield": 1}),
                        site("R2", "AAA", "refinery", "candidate", 1000, capex_musd=0.001, var_cost_usd_per_t=100,
                             esg_score=20, **{"yield": 1})]
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
    assert s["base_objective_musd"] == pytest.approx(0.062, abs=1e-9) or gap is None
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
    assert on.loc["max_country_share", "binding_in_base"] == "yes"
    assert on.loc["max_country_share", "relax_step"] == "cap +5 points"
    assert on.loc["budget_musd", "relax_step"] == "budget +10%"
    assert "+R1" in on.loc["budget_musd", "drop_builds_changed"]
    assert "+R2" in on.loc["criterion", "drop_builds_changed"]
    off = set(t.loc[t["state"] == "off", "column"])
    assert {"host_min_share", "burden_tolerance", "min_benefit_ratio", "min_allied_share"} <= off
