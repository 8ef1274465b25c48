"""Every mistake a user can make in the workbook: one message naming the sheet, row and column,
exit status 1, no traceback, the input unchanged and nothing written."""

import hashlib

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from planner.cli import cli
from wb import site, tiny, write_workbook


def run_bad(tmp_path, sheets, settings, *, edit=None):
    src = write_workbook(tmp_path / "in.xlsx", sheets, settings)
    if edit:
        wb = load_workbook(src)
        edit(wb)
        wb.save(src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not out.exists()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1
    return res.output


def cell_of(sheet_name, column, row):
    """Excel reference of `column` in data row `row` (1-based after the header) of a tiny() sheet."""
    sheets, settings = tiny()
    cols = []
    for r in sheets[sheet_name]:
        for k in r:
            if k not in cols:
                cols.append(k)
    from openpyxl.utils import get_column_letter
    return f"{sheet_name}!{get_column_letter(cols.index(column) + 1)}{row + 1}"


def test_missing_sheet(tmp_path):
    sheets, settings = tiny()
    del sheets["demand"]
    out = run_bad(tmp_path, sheets, settings)
    assert "[E_SHEET_MISSING]" in out and "demand" in out


def test_missing_column(tmp_path):
    sheets, settings = tiny()
    for r in sheets["sites"]:
        del r["capacity_tpy"]
    out = run_bad(tmp_path, sheets, settings)
    assert "sites!1" in out and "capacity_tpy" in out and "[E_COLUMN_MISSING]" in out


def test_text_in_number_column(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["capacity_tpy"] = "lots"
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "capacity_tpy", 1) in out
    assert "'lots'" in out and "[E_NOT_A_NUMBER]" in out


@pytest.mark.parametrize("typed", ["n/a", "#N/A", "NA", "-"])
def test_missing_markers_in_numbers_are_quoted(tmp_path, typed):
    sheets, settings = tiny()
    sheets["demand"][0]["demand_tpy"] = typed
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("demand", "demand_tpy", 1) in out and f"'{typed}'" in out and "[E_NOT_A_NUMBER]" in out


def test_boolean_in_number_column(tmp_path):
    sheets, settings = tiny()
    sheets["demand"][0]["demand_tpy"] = True
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("demand", "demand_tpy", 1) in out and "TRUE" in out and "[E_NOT_A_NUMBER]" in out


def test_negative_capacity(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["capacity_tpy"] = -5
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "capacity_tpy", 1) in out and "[E_OUT_OF_RANGE]" in out


def test_missing_required_value(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["country"] = None
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "country", 1) in out and "[E_VALUE_MISSING]" in out


def test_unknown_country(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["country"] = "ccc"
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "country", 1) in out and "[E_UNKNOWN_REF]" in out and "did you mean 'CCC'" in out


def test_unknown_site_in_transport(tmp_path):
    sheets, settings = tiny()
    sheets["transport"] = [{"origin": "M9", "destination": "AA", "cost_usd_per_t": 1}]
    out = run_bad(tmp_path, sheets, settings)
    assert "transport!A2" in out and "'M9'" in out and "[E_UNKNOWN_REF]" in out


def test_unknown_site_in_disruptions(tmp_path):
    sheets, settings = tiny()
    sheets["disruptions"] = [{"scenario": None, "country": None, "site": "NOPE", "mineral": None, "period": None,
                              "availability": 0.5}]
    out = run_bad(tmp_path, sheets, settings)
    assert "disruptions!C2" in out and "[E_UNKNOWN_REF]" in out


def test_duplicate_site_id(tmp_path):
    sheets, settings = tiny()
    sheets["sites"].append(dict(sheets["sites"][0]))
    out = run_bad(tmp_path, sheets, settings)
    assert "sites!A3" in out and "first given in row 2" in out and "[E_DUPLICATE]" in out


def test_duplicate_demand_key(tmp_path):
    sheets, settings = tiny()
    sheets["demand"].append(dict(sheets["demand"][0]))
    out = run_bad(tmp_path, sheets, settings)
    assert "demand!A3" in out and "[E_DUPLICATE]" in out


def test_probabilities_not_summing_to_one(tmp_path):
    sheets, settings = tiny()
    sheets["scenarios"] = [{"scenario": "a", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "b", "probability": 0.4, "demand_multiplier": 1}]
    out = run_bad(tmp_path, sheets, settings)
    assert "scenarios!B3" in out and "sum to 0.9" in out and "[E_PROBABILITY]" in out


def test_formula_without_saved_value(tmp_path):
    sheets, settings = tiny()

    def edit(wb):
        wb["demand"]["D2"] = "=50*2"  # written by a program: no cached value

    out = run_bad(tmp_path, sheets, settings, edit=edit)
    assert "demand!D2" in out and "[E_FORMULA_NO_VALUE]" in out


def test_missing_setting(tmp_path):
    sheets, settings = tiny()
    del settings["discount_rate"]
    out = run_bad(tmp_path, sheets, settings)
    assert "discount_rate" in out and "[E_SETTING_MISSING]" in out


def test_bad_choice(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["stage"] = "smelter"
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "stage", 1) in out and "'smelter'" in out and "[E_BAD_CHOICE]" in out


def test_refinery_without_yield(tmp_path):
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "existing", 10))
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "yield", 2) in out and "[E_VALUE_MISSING]" in out


def test_recycling_outside_members(tmp_path):
    sheets, settings = tiny()
    sheets["sites"].append(site("Y1", "BBB", "recycling", "existing", 10, **{"yield": 0.9}))
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "country", 2) in out and "[E_RECYCLING_OUTSIDE]" in out


def test_force_build_failing_esg_screen(tmp_path):
    sheets, settings = tiny(min_esg_score=50)
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 10, esg_score=40, decision="force_build",
                                **{"yield": 1}))
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "decision", 2) in out and "[E_CONTRADICTION]" in out and "min_esg_score" in out


def test_two_force_builds_in_one_group(tmp_path):
    sheets, settings = tiny()
    for sid in ("R1", "R2"):
        sheets["sites"].append(site(sid, "AAA", "refinery", "candidate", 10, group="G", decision="force_build",
                                    **{"yield": 1}))
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "decision", 3) in out and "'R1'" in out and "[E_CONTRADICTION]" in out


def test_force_build_beyond_horizon(tmp_path):
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 10, lead_time_years=8,
                                decision="force_build", **{"yield": 1}))
    out = run_bad(tmp_path, sheets, settings)
    assert cell_of("sites", "decision", 2) in out and "cannot come online" in out and "[E_CONTRADICTION]" in out


def test_csv_renamed_xlsx(tmp_path):
    src = tmp_path / "data.xlsx"
    src.write_text("site,country\nM1,CCC\n")
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 1 and "[E_FILE_FORMAT]" in res.output and "Traceback" not in res.output


def test_truncated_file(tmp_path):
    sheets, settings = tiny()
    src = write_workbook(tmp_path / "t.xlsx", sheets, settings)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 1 and "[E_FILE_FORMAT]" in res.output and "Traceback" not in res.output


def test_missing_input_file(tmp_path):
    res = CliRunner().invoke(cli, ["solve", str(tmp_path / "none.xlsx")])
    assert res.exit_code == 1 and "[E_FILE]" in res.output


def test_namibia_code_na_is_text(solve_tiny):
    # 'NA' as a country id is Namibia, not a missing value: the run succeeds and the market in NA sells.
    sheets, settings = tiny()
    sheets["countries"].append({"country": "NA", "name": "Namibia", "member": "", "risk_score": 0.45,
                                "lat": -22, "lon": 17})
    sheets["sites"][0]["country"] = "NA"
    res = solve_tiny(sheets, settings)
    assert res.data.sites.loc["M1", "country"] == "NA"
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=1e-9)
