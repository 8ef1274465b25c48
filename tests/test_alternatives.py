"""`plan alternatives` on the hand-solved refineries of tests/test_why.py.

Member AA needs 100 t/yr; one home refinery of capex c costs c + 0.01 MUSD (refining at 100 USD/t),
none costs 0.525 (the embargo), two cost the sum of their capex + 0.01:
  {R1} 0.03 (the optimum), {R3} 0.05, {R2} 0.06, {R1, R3} 0.07, ...; R4 is excluded by its decision.
--within 0.025 MUSD: ceiling 0.03 + 0.025 = 0.055. Under it: {R1} and {R3} only.
  alternative 1 = {R3} (0.05); no third portfolio differs from both: the search stops.
  R1 and R3 are swing (each in one plan and out of the other); R2 never (alone it costs 0.06 > 0.055:
  proved by maximising its builds under the ceiling); R4 never (screened out).
--within 0.015 MUSD: ceiling 0.045: only {R1}: R1 must-have (proved by minimising its builds), R2 and
  R3 never, no alternative.
"""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.analyses.alternatives import parse_within
from planner.cli import cli
from test_why import refineries
from wb import write_workbook


@pytest.fixture
def workbook(tmp_path):
    return write_workbook(tmp_path / "refineries.xlsx", *refineries())


def alternatives(*args):
    return CliRunner().invoke(cli, ["alternatives", *map(str, args), "--workers", "2", "--mip-abs-gap", "0",
                                    "--quiet"])


def read(path, sheet):
    return pd.read_excel(path, sheet_name=sheet, keep_default_na=False, engine="openpyxl")


def test_alternatives_within_the_slack_and_the_classes(workbook, tmp_path):
    out = tmp_path / "alt.xlsx"
    res = alternatives(workbook, "--within", "0.025", "--count", "3", "-o", out)
    assert res.exit_code == 0, res.output
    t = read(out, "alternatives")
    assert t["portfolio"].tolist() == ["base", "alternative 1"]
    assert t["total_cost_musd"].tolist() == pytest.approx([0.03, 0.05], abs=1e-9)
    assert (t["above_ceiling_musd"] <= 1e-9).all()
    assert t.loc[1, "builds_added"] == "R3" and t.loc[1, "builds_dropped"] == "R1"
    s = dict(zip(read(out, "summary")["key"], read(out, "summary")["value"]))
    assert s["ceiling_musd"] == pytest.approx(0.055, abs=1e-9) and s["alternatives_found"] == 1
    assert "no portfolio 2" in s["stopped"]
    c = read(out, "classes").set_index("site")
    assert c["class"].to_dict() == {"R1": "swing", "R2": "never", "R3": "swing", "R4": "never"}
    assert "proved in no plan" in c.loc["R2", "how"] and "screened out" in c.loc["R4", "how"]
    assert c.loc["R1", "earliest_build_period"] == 2030 and c.loc["R3", "latest_build_period"] == 2030
    # the alternative is a full portfolio that plan compare reads beside a plain solve
    alt = tmp_path / "alt_alt1.xlsx"
    assert alt.exists() and alt.with_suffix(".json").exists()
    portfolio = read(alt, "portfolio")
    assert portfolio["site"].tolist() == ["R3"]
    base = tmp_path / "base.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(workbook), "-o", str(base), "--quiet"]).exit_code == 0
    cmp = CliRunner().invoke(cli, ["compare", str(base), str(alt), "-o", str(tmp_path / "cmp.xlsx")])
    assert cmp.exit_code == 0, cmp.output
    assert "alt_alt1: site R1 dropped" in cmp.output and "alt_alt1: site R3 added" in cmp.output, cmp.output


def test_a_tight_slack_proves_the_must_have(workbook, tmp_path):
    out = tmp_path / "alt.xlsx"
    res = alternatives(workbook, "--within", "0.015", "-o", out)
    assert res.exit_code == 0, res.output
    assert read(out, "alternatives")["portfolio"].tolist() == ["base"]
    c = read(out, "classes").set_index("site")
    assert c["class"].to_dict() == {"R1": "must-have", "R2": "never", "R3": "never", "R4": "never"}
    assert "proved in every plan" in c.loc["R1", "how"]
    assert not (tmp_path / "alt_alt1.xlsx").exists()


def test_within_is_money_or_a_share_of_public_money():
    assert parse_within("500") == (500.0, "MUSD")
    assert parse_within("5%public") == (pytest.approx(0.05), "public")
    for bad in ("2%", "-3", "lots", "0%public"):
        with pytest.raises(ValueError, match="--within"):
            parse_within(bad)


def test_a_share_of_the_objective_is_refused(workbook, tmp_path):
    res = alternatives(workbook, "--within", "2%", "-o", tmp_path / "a.xlsx")
    assert res.exit_code == 2 and "public" in res.output
