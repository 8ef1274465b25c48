"""`plan template` and `plan validate [--annotate]`."""

import hashlib

from click.testing import CliRunner
from openpyxl import load_workbook

from planner.cli import cli
from planner.io.schema import SETTINGS, SHEETS
from wb import tiny, write_workbook


def test_template_round_trips_through_validate_with_only_empty_tables(tmp_path):
    t = tmp_path / "t.xlsx"
    assert CliRunner().invoke(cli, ["template", str(t)]).exit_code == 0
    res = CliRunner().invoke(cli, ["validate", str(t)])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if "[E_" in ln]
    assert lines and all(ln.endswith("[E_EMPTY_TABLE]") for ln in lines)
    required = {n for n, s in SHEETS.items() if not s.optional and n != "settings"}
    assert {ln.split("!")[0] for ln in lines} == required
    # never overwritten without --force
    assert CliRunner().invoke(cli, ["template", str(t)]).exit_code == 2


def test_template_readme_and_dropdowns_come_from_the_schema(tmp_path):
    t = tmp_path / "t.xlsx"
    CliRunner().invoke(cli, ["template", str(t)])
    wb = load_workbook(t)
    readme = list(wb["README"].iter_rows(min_row=2, values_only=True))
    n_columns = sum(len(s.columns) for n, s in SHEETS.items() if n != "settings") + len(SETTINGS)
    assert len(readme) == n_columns
    cap = next(r for r in readme if r[1] == "capacity_tpy")
    assert cap[2] == "t/yr" and ">= 0" in cap[6]
    dv = {str(d.sqref): d.formula1 for d in wb["sites"].data_validations.dataValidation}
    stage_col = [c.value for c in wb["sites"][1]].index("stage") + 1
    from openpyxl.utils import get_column_letter
    assert dv[f"{get_column_letter(stage_col)}2:{get_column_letter(stage_col)}1000"] == '"mine,refinery,recycling,market"'
    assert any(f == "countries!$A$2:$A$1000" for f in dv.values())
    demand_dv = [d.formula1 for d in wb["demand"].data_validations.dataValidation]
    assert "members!$A$2:$A$1000" in demand_dv


def three_mistakes(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["capacity_tpy"] = "lots"          # sites!G2
    sheets["demand"][0]["demand_tpy"] = -1               # demand!D2
    sheets["countries"][2]["risk_score"] = "n/a"         # countries!D4
    return write_workbook(tmp_path / "bad.xlsx", sheets, settings)


def test_validate_lists_every_problem_at_once(tmp_path):
    src = three_mistakes(tmp_path)
    res = CliRunner().invoke(cli, ["validate", str(src)])
    assert res.exit_code == 1
    codes = [ln for ln in res.output.splitlines() if "[E_" in ln]
    assert len(codes) == 3
    assert any(ln.startswith("sites!G2") and "E_NOT_A_NUMBER" in ln for ln in codes)
    assert any(ln.startswith("demand!D2") and "E_OUT_OF_RANGE" in ln for ln in codes)
    assert any(ln.startswith("countries!D4") and "'n/a'" in ln for ln in codes)


def test_annotated_copy_has_one_comment_per_bad_cell_and_the_input_is_untouched(tmp_path):
    src = three_mistakes(tmp_path)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "marked.xlsx"
    res = CliRunner().invoke(cli, ["validate", str(src), "--annotate", str(out)])
    assert res.exit_code == 1 and out.exists()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    wb = load_workbook(out)
    comments = {(ws.title, c.coordinate): c.comment.text for ws in wb.worksheets for row in ws.iter_rows()
                for c in row if c.comment}
    assert set(comments) == {("sites", "G2"), ("demand", "D2"), ("countries", "D4")}
    assert "E_NOT_A_NUMBER" in comments[("sites", "G2")]
    assert wb["sites"]["G2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert not any(c.comment for ws in load_workbook(src).worksheets for row in ws.iter_rows() for c in row)


def test_validate_a_clean_workbook_and_a_reference_error(tmp_path):
    sheets, settings = tiny()
    ok = write_workbook(tmp_path / "ok.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["validate", str(ok)])
    assert res.exit_code == 0 and "no problems found" in res.output
    sheets["sites"][0]["country"] = "ZZZ"
    sheets["demand"][0]["member"] = "QQ"
    bad = write_workbook(tmp_path / "bad.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["validate", str(bad)])
    lines = [ln for ln in res.output.splitlines() if "[E_UNKNOWN_REF]" in ln]
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert [ln.split(" ")[0] for ln in lines] == ["sites!C2", "demand!A2"]


def test_validate_reports_cells_references_and_sums_in_one_pass(tmp_path):
    # four mistakes of four kinds, each of which plan solve refuses: a capacity that is not a number
    # (sites row 2), a demand row for a member that does not exist (demand row 3), scenario
    # probabilities summing to 0.9 (scenarios row 3) and burden shares summing to 0.8 (members row 2)
    sheets, settings = tiny()
    sheets["sites"][0]["capacity_tpy"] = "lots"
    sheets["demand"].append({"member": "ZZ", "mineral": "X", "period": 2030, "demand_tpy": 5})
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5}, {"scenario": "storm", "probability": 0.4}]
    sheets["members"][0]["burden_share"] = 0.8
    path = write_workbook(tmp_path / "four.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["validate", str(path)])
    assert res.exit_code == 1
    codes = {line.split("[")[-1].rstrip("]") for line in res.output.splitlines() if line.endswith("]")}
    assert codes == {"E_NOT_A_NUMBER", "E_UNKNOWN_REF", "E_PROBABILITY", "E_BURDEN_SHARES"}, res.output
    assert "sites!G2" in res.output and "demand!A3" in res.output and "scenarios!B3" in res.output
    assert "4 problem(s) found" in res.output
    solved = CliRunner().invoke(cli, ["solve", str(path), "-o", str(tmp_path / "out.xlsx")])
    assert solved.exit_code == 1 and not (tmp_path / "out.xlsx").exists()
