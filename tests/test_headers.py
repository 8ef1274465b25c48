"""Header rows and ids a careless or unlucky workbook holds: a title above the names, a misspelt
column, invisible characters. Each is one message naming its cell (or a warning where the
workbook can be read as meant)."""

from click.testing import CliRunner
from openpyxl import load_workbook

from planner.cli import cli
from planner.dataset.data import load_data
from planner.io.reader import damerau_levenshtein
from wb import site, tiny, write_workbook


def validate(path):
    return CliRunner().invoke(cli, ["validate", str(path)])


def test_a_title_row_above_the_names(tmp_path):
    sheets, settings = tiny()
    path = write_workbook(tmp_path / "t.xlsx", sheets, settings)
    wb = load_workbook(path)
    wb["sites"].insert_rows(1)
    wb["sites"]["A1"] = "Sites of the alliance, 2026"
    wb.save(path)
    res = validate(path)
    assert res.exit_code == 1 and "[E_HEADER_ROW]" in res.output and "row 2 holds the column names" in res.output


def test_a_misspelt_required_column(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["capcity_tpy"] = sheets["sites"][0].pop("capacity_tpy")
    res = validate(write_workbook(tmp_path / "t.xlsx", sheets, settings))
    assert res.exit_code == 1 and "'capcity_tpy' looks like a misspelling of it" in res.output, res.output


def test_a_misspelt_optional_column_is_an_error_not_silence(tmp_path):
    # private_share is optional: misspelt, it would be ignored and every site financed in full by members
    sheets, settings = tiny()
    sheets["sites"][0]["privat_share"] = 0.5
    res = validate(write_workbook(tmp_path / "t.xlsx", sheets, settings))
    assert res.exit_code == 1 and "[E_COLUMN_MISSPELT]" in res.output and "'private_share'" in res.output
    assert "sites!Q1" in res.output, res.output


def test_an_unknown_column_far_from_any_is_ignored_with_a_warning(tmp_path):
    sheets, settings = tiny()
    sheets["sites"][0]["comment"] = "from the 2025 survey"
    data = load_data(write_workbook(tmp_path / "t.xlsx", sheets, settings))
    assert any("unknown column(s) ignored: comment" in w for w in data.warnings)


def test_invisible_characters_in_a_header_and_an_id(tmp_path):
    # a zero-width space after a column name, a right-to-left mark after a member id: read as typed
    # without them, each with a warning naming its cell and the character
    sheets, settings = tiny()
    sheets["sites"][0]["var_cost_usd_per_t\u200b"] = sheets["sites"][0].pop("var_cost_usd_per_t")
    sheets["demand"][0]["member"] = "AA\u200f"
    data = load_data(write_workbook(tmp_path / "t.xlsx", sheets, settings))
    assert float(data.sites.loc["M1", "var_cost_usd_per_t"]) == 500
    assert ("AA", "X", 2030) in data.demand.index
    said = " ".join(data.warnings)
    assert "U+200B ZERO WIDTH SPACE" in said and "U+200F RIGHT-TO-LEFT MARK" in said
    assert "demand!A2 (member)" in said


def test_damerau_levenshtein():
    assert damerau_levenshtein("capacity", "capacity") == 0
    assert damerau_levenshtein("capcity", "capacity") == 1  # a letter left out
    assert damerau_levenshtein("capactiy", "capacity") == 1  # two neighbours swapped
    assert damerau_levenshtein("kapazitaet", "capacity") > 2


def _rewrite(path, sheet: str, old: bytes, new: bytes) -> None:
    """Replace bytes in one sheet's part of a workbook (what Excel writes and openpyxl does not)."""
    import zipfile
    part = f"xl/worksheets/sheet{load_workbook(path).sheetnames.index(sheet) + 1}.xml"
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    assert old in parts[part], parts[part][:400]
    parts[part] = parts[part].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in parts.items():
            zf.writestr(n, b)


def test_hidden_sheets_hidden_rows_and_linked_values_are_read_and_warned(tmp_path):
    sheets, settings = tiny()
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800))
    sheets["budgets"] = [{"member": "AA", "period": 2030, "budget_musd": 5}]
    path = write_workbook(tmp_path / "t.xlsx", sheets, settings)
    wb = load_workbook(path)
    wb["sites"].row_dimensions[3].hidden = True
    wb["budgets"].sheet_state = "veryHidden"
    wb.save(path)
    # a capacity whose value Excel saved from a link to another workbook ([1]: an external link part)
    _rewrite(path, "sites", b'<c r="G2" t="n"><v>1000</v></c>',
             b'<c r="G2" t="n"><f>[1]Supply!B7</f><v>1000</v></c>')
    import zipfile
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/externalLinks/externalLink1.xml", "<externalLink/>")
    data = load_data(path)
    said = "\n".join(data.warnings)
    assert "sheet 'budgets' is very hidden" in said
    assert "sites: hidden row(s) 3 are read" in said
    assert "sites!G2: value(s) cached from a link to another workbook" in said
    assert float(data.sites.loc["M1", "capacity_tpy"]) == 1000 and "M2" in data.sites.index


def test_a_gap_between_periods_is_warned(tmp_path):
    # 2030 for 5 years ends in 2035; the next period starts in 2040: 2035-2039 are not planned
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2040, "years": 5}]
    sheets["demand"].append({"member": "AA", "mineral": "X", "period": 2040, "demand_tpy": 100})
    data = load_data(write_workbook(tmp_path / "t.xlsx", sheets, settings))
    assert any(w.startswith("periods!A3: period 2040 starts 5 year(s) after the previous one ends (2035)")
               for w in data.warnings), data.warnings
