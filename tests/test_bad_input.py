"""Every malformed or hostile workbook of tests/hostile.py: its one specific error code, the cell,
exit status 1, no traceback, the input file unchanged, and nothing written."""

import hashlib
import subprocess
import sys

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from hostile import CASES
from planner.cli import cli
from wb import tiny, write_workbook


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_workbook(tmp_path, name):
    build, code, where = CASES[name]
    src = build(tmp_path)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out" / "portfolio.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(f"[{code}]"), res.output
    assert where in errors[0]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert not out.exists() and not out.parent.exists()


def test_lookalike_message_names_the_character(tmp_path):
    build, _, _ = CASES["cyrillic_lookalike_country"]
    res = CliRunner().invoke(cli, ["solve", str(build(tmp_path))])
    assert "U+0421 CYRILLIC CAPITAL LETTER ES" in res.output


def test_typed_text_is_quoted_back(tmp_path):
    build, _, _ = CASES["n/a_in_number"]
    res = CliRunner().invoke(cli, ["solve", str(build(tmp_path))])
    assert "found 'n/a'" in res.output


def test_namibia_code_na_is_text(solve_tiny):
    # 'NA' as a country id is Namibia, not a missing value: the run succeeds and the market in NA sells.
    sheets, settings = tiny()
    sheets["countries"].append({"country": "NA", "name": "Namibia", "member": "", "risk_score": 0.45,
                                "lat": -22, "lon": 17})
    sheets["sites"][0]["country"] = "NA"
    res = solve_tiny(sheets, settings)
    assert res.data.sites.loc["M1", "country"] == "NA"
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=1e-9)


def test_fullwidth_ids_fold_to_ascii(solve_tiny):
    # 'ＣＣＣ' (full-width) is the same id as 'CCC' after NFKC normalisation.
    sheets, settings = tiny()
    sheets["sites"][0]["country"] = "\uff23\uff23\uff23"
    res = solve_tiny(sheets, settings)
    assert res.data.sites.loc["M1", "country"] == "CCC"


def test_ghost_cell_at_the_last_row_loads_fast_and_small(tmp_path):
    """A stray value at row 1,048,576 must not cost a million rows: < 2 s and < 200 MB extra."""
    sheets, settings = tiny()
    p = write_workbook(tmp_path / "ghost.xlsx", sheets, settings)
    wb = load_workbook(p)
    wb["demand"].cell(row=1_048_576, column=4).value = " "
    wb["sites"].cell(row=1_048_576, column=1).number_format = "0.00"
    wb.save(p)
    code = (
        "import resource, time, sys\n"
        "from planner.dataset.data import load_data\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter(); d = load_data(sys.argv[1]); dt = time.perf_counter() - t\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(dt, (after - before) / 1024, len(d.demand))\n")
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
    seconds, extra_mb, n_demand = r.stdout.split()
    assert int(n_demand) == 1
    assert float(seconds) < 2.0 and float(extra_mb) < 200
