"""The one-page brief: the first sheet of a portfolio, printed on one page, and `plan brief RUN`
giving the same text from the workbook, its JSON copy or a run saved before the brief existed.

On the teaching workbook `inputs/example_hedge.xlsx` (worked out by hand in its `sources` sheet):
member AA needs 100 t/yr of X in 2030; R1 (0.1 MUSD, 100 USD/t) is built; without it, the embargo
scenario (p 0.5) leaves all 100 t unmet and the calm one none: 0.5 x 100 = 50 t expected, 100 t in
the worst scenario. With R1 nothing is unmet.
"""

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.io.writer import read_json, read_portfolio
from planner.results.brief import brief_lines

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hedge_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("brief") / "hedge.xlsx"
    r = CliRunner().invoke(cli, ["solve", str(ROOT / "inputs" / "example_hedge.xlsx"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_the_brief_is_the_first_sheet_and_fits_one_page(hedge_run):
    wb = openpyxl.load_workbook(hedge_run)
    assert wb.sheetnames[0] == "brief"
    ws = wb["brief"]
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    # one page wide and tall (OOXML's default for both is 1, which XlsxWriter leaves unwritten)
    assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight or 1) == (1, 1)
    assert ws.page_setup.orientation == "landscape"
    lines = [c.value or "" for c in ws["A"]]
    assert len(lines) <= 60  # one printed page
    assert lines[0].startswith("BRIEF: ")  # no header row: the brief starts at the top
    assert read_portfolio(hedge_run)["brief"]["brief"].tolist() == \
        read_json(hedge_run.with_suffix(".json"))["brief"]["brief"].tolist()


def test_the_brief_says_what_a_minister_asks(hedge_run):
    text = "\n".join(read_json(hedge_run.with_suffix(".json"))["brief"]["brief"])
    # money: total 0.11 = cash 0.11 + valuation 0; public money 0.1 (R1's capex, paid by AA)
    assert "total 0.1100 = cash 0.1100" in text and "valuation 0.0000" in text
    assert "Public money: 0.1000 MUSD" in text
    # AA pays R1's 0.1 MUSD in 2030: its row of the public-money table, 2030 and total
    row = next(line for line in text.splitlines() if line.startswith("  AA "))
    assert row.split()[1:] == ["0.1", "0.1"]
    # the site and who receives its output: R1 delivers its 100 t/yr to AA
    assert "R1" in text and "delivers 100 t/yr to AA 100%" in text
    # security: with the portfolio nothing unmet; with no new site 50 t expected, 100 t worst
    assert "with this portfolio: 0 t expected" in text
    assert "with no new site built: 50 t expected; worst scenario embargo: 100 t" in text
    # decisions: R1's one option, proven
    assert "Decisions: 1 of 1 build decisions proven" in text


def test_plan_brief_prints_the_sheet_from_the_workbook_or_its_json(hedge_run):
    sheet = read_json(hedge_run.with_suffix(".json"))["brief"]["brief"].tolist()
    for src in (hedge_run, hedge_run.with_suffix(".json")):
        r = CliRunner().invoke(cli, ["brief", str(src)])
        assert r.exit_code == 0, r.output
        assert r.output.splitlines() == sheet


def test_a_run_saved_before_the_brief_is_briefed_from_what_it_holds(hedge_run):
    # an older run: no brief sheet, no cash/valuation split, no decision tests, no no-build figures
    tables = read_portfolio(hedge_run)
    del tables["brief"]
    s = tables["summary"]
    tables["summary"] = s[~s["key"].isin(["cash_cost_musd", "valuation_cost_musd", "public_money_musd",
                                          "unmet_demand_t_without_builds", "worst_scenario_without_builds",
                                          "worst_unmet_demand_t_without_builds"])]
    ri = tables["run_info"]
    tables["run_info"] = ri[~ri["key"].astype(str).str.contains("decision")]
    text = "\n".join(brief_lines(tables))
    assert "written before the planner reported one" in text
    assert "with no new site built: not in this run" in text
    assert "Decisions: not tested in this run" in text
    assert "R1" in text  # what it holds is still there


def test_plan_brief_names_a_file_that_is_not_a_run(tmp_path):
    r = CliRunner().invoke(cli, ["brief", str(tmp_path / "missing.xlsx")])
    assert r.exit_code == 1 and "does not exist" in r.output
    bad = tmp_path / "notes.json"
    bad.write_text("{}", encoding="utf-8")
    r = CliRunner().invoke(cli, ["brief", str(bad)])
    assert r.exit_code == 1 and "not a readable saved run" in r.output
