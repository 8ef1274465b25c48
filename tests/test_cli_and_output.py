"""`plan solve` through click's runner; the saved portfolio: round trip, no clobbering, text as text."""

import zipfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.io.writer import read_portfolio
from wb import site, tiny, write_workbook


def chain_case(tmp_path, name="in.xlsx"):
    """tiny() + an existing mine N1 and candidate refinery R1 (capex 0.01 MUSD, 100 USD/t) in AAA:
    building R1 costs 0.01 + 100 t x 100 USD/t = 0.02 MUSD against 0.05 via the market."""
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return write_workbook(tmp_path / name, sheets, settings)


def test_solve_writes_portfolio_and_prints_headline(tmp_path):
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "OPTIMAL" in res.output and f"wrote {out}" in res.output
    assert "total cost (PV): 0.0200 MUSD" in res.output
    tables = read_portfolio(out)
    summary = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    assert float(summary["total_cost_musd"]) == pytest.approx(0.02, abs=1e-9)
    assert summary["status"] == "optimal"
    assert list(tables["portfolio"]["site"]) == ["R1"]
    run_info = dict(zip(tables["run_info"]["key"], tables["run_info"]["value"]))
    assert len(run_info["input_sha256"]) == 64 and run_info["model_definition"] == "baseline"
    assert float(run_info["max_constraint_violation"]) <= 1e-6


def test_quiet_prints_only_the_status_line(tmp_path):
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--quiet"])
    assert res.exit_code == 0
    assert res.output.strip().splitlines() == [f"wrote {out}  [optimal, gap 0.0000% (0.0 MUSD)]"]


def test_python_dash_m_planner_works(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "planner", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "solve" in r.stdout


def test_existing_output_is_not_overwritten_without_force(tmp_path):
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    out.write_bytes(b"precious")
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    assert out.read_bytes() == b"precious"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--force"])
    assert res.exit_code == 0
    assert zipfile.is_zipfile(out)


def test_default_output_under_outputs_never_clobbers(tmp_path, monkeypatch):
    src = chain_case(tmp_path)
    monkeypatch.chdir(tmp_path)
    r1 = CliRunner().invoke(cli, ["solve", str(src), "--quiet"])
    r2 = CliRunner().invoke(cli, ["solve", str(src), "--quiet"])
    assert r1.exit_code == 0 and r2.exit_code == 0
    files = sorted((tmp_path / "outputs").glob("in_baseline_*.xlsx"))
    assert len(files) == 2  # same second -> the second run gets a -2 suffix, never the same name


def test_unknown_model_definition_is_a_usage_error(tmp_path):
    src = chain_case(tmp_path)
    res = CliRunner().invoke(cli, ["solve", str(src), "--model", "nonesuch"])
    assert res.exit_code == 2 and "no model definition 'nonesuch'" in res.output


@pytest.mark.parametrize("args,msg", [(["--mip-gap", "1.5"], "MIP gap"), (["--time-limit", "-3"], "time limit")])
def test_bad_solver_options_are_refused(tmp_path, args, msg):
    src = chain_case(tmp_path)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")] + args)
    assert res.exit_code == 2 and msg in res.output and not (tmp_path / "o.xlsx").exists()


def test_round_trip_tables(tmp_path):
    from planner.pipeline import solve_workbook
    src = chain_case(tmp_path)
    res = solve_workbook(src, output=tmp_path / "o.xlsx")
    back = read_portfolio(res.output)
    assert list(back) == ["brief", "summary", "portfolio", "capex_by_host", "flows", "supply_mix", "unmet_demand",
                          "unmet_by_scenario", "supply_mix_chart", "financing", "commitments", "member_totals",
                          "milestones", "screening", "scenario_costs", "unmet_risk", "concentration", "stockpiles",
                          "stock_releases", "traceability", "allied_share", "emissions", "water",
                          "run_info", "inputs", "map"]
    flows = back["flows"]
    assert set(zip(flows["origin"], flows["destination"], flows["flow_tpy"])) == {("N1", "R1", 100.0),
                                                                                  ("R1", "AA", 100.0)}
    mix = back["supply_mix"]
    assert list(mix["origin_country"]) == ["AAA"] and float(mix["share"].iloc[0]) == 1.0
    port = back["portfolio"].iloc[0]
    assert (port["site"], port["member"], int(port["build_period"]), int(port["online_period"])) == ("R1", "AA", 2030, 2030)


def test_round_trip_equals_written_tables(tmp_path):
    """Every table written reads back equal (numbers to the bit, text as typed, blanks as blanks)."""
    from planner.io.writer import write_tables
    tables = {
        "portfolio": pd.DataFrame({"site": ["R1", "NA"], "member": ["AA", ""], "capacity_tpy": [100.5, 3.0],
                                   "build_period": [2030, 2035]}),
        "summary": pd.DataFrame({"key": ["total_cost_musd", "status"], "value": [1.234567890123, "optimal"]}),
    }
    path = write_tables(tables, tmp_path / "t.xlsx")
    back = read_portfolio(path)
    assert back["portfolio"]["site"].tolist() == ["R1", "NA"]
    assert back["portfolio"]["member"].tolist() == ["AA", ""]
    assert back["portfolio"]["capacity_tpy"].tolist() == [100.5, 3.0]
    assert back["portfolio"]["build_period"].tolist() == [2030, 2035]
    assert back["summary"]["value"].tolist() == [1.234567890123, "optimal"]


def test_user_text_is_written_as_text_not_formula(tmp_path):
    # A site named "=HYPERLINK(...)" must stay a string in the output XML (no <f> element).
    from planner.io.writer import write_tables
    evil = '=HYPERLINK("http://x","click")'
    path = write_tables({"portfolio": pd.DataFrame({"name": [evil, "+1", "-2", "@SUM(A1)"]})}, tmp_path / "t.xlsx")
    with zipfile.ZipFile(path) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
        strings = z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else ""
    assert "<f>" not in sheet_xml
    assert "HYPERLINK" in strings or "HYPERLINK" in sheet_xml
    assert read_portfolio(path)["portfolio"]["name"].tolist() == [evil, "+1", "-2", "@SUM(A1)"]


def test_shipped_example_hedge_builds_the_home_refinery(tmp_path):
    # inputs/example_hedge.xlsx: worked out in its sources sheet -> build R1, total 0.11 MUSD.
    from pathlib import Path
    src = Path(__file__).resolve().parent.parent / "inputs" / "example_hedge.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 0 and "total cost (PV): 0.1100 MUSD" in res.output
    assert read_portfolio(tmp_path / "o.xlsx")["portfolio"]["site"].tolist() == ["R1"]


def test_unknown_sheets_and_columns_are_warned_by_name(tmp_path):
    sheets, settings = tiny()
    sheets["notes_2026"] = [{"anything": 1}]
    for r in sheets["sites"]:
        r["owner_remark"] = "x"
    src = write_workbook(tmp_path / "w.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 0
    assert "warning: unknown sheet(s) ignored: notes_2026" in res.output
    assert "warning: sites: unknown column(s) ignored: owner_remark" in res.output


def test_output_is_formatted_with_frozen_headers_and_a_native_chart(tmp_path):
    from openpyxl import load_workbook
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    wb = load_workbook(out)
    for ws in wb.worksheets:
        if ws.title not in ("map", "brief"):  # the picture, and the brief's lines of text, are no tables
            assert ws.freeze_panes == "A2" and ws["A1"].font.b
    charts = wb["capex_by_host"]._charts
    assert len(charts) == 1 and charts[0].grouping == "stacked"
    summ = {r[0].value: r[1] for r in wb["summary"].iter_rows(min_row=2)}
    assert summ["total_cost_musd"].number_format == "#,##0.00"
    assert summ["mip_gap"].number_format == "0.0000%" and summ["sites_built"].number_format == "General"
    port = wb["portfolio"]
    col = [c.value for c in port[1]].index("capex_musd") + 1
    assert port.cell(row=2, column=col).number_format == "#,##0.00"
    assert port.column_dimensions["B"].width >= 10


def test_solution_json_is_saved_and_export_rebuilds_the_workbook(tmp_path):
    src, out = chain_case(tmp_path), tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    js = tmp_path / "run.json"
    assert js.exists()
    res = CliRunner().invoke(cli, ["export", str(js), "-o", str(tmp_path / "again.xlsx")])
    assert res.exit_code == 0, res.output
    a, b = read_portfolio(out), read_portfolio(tmp_path / "again.xlsx")
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False)
    # export refuses to overwrite without --force
    res = CliRunner().invoke(cli, ["export", str(js), "-o", str(tmp_path / "again.xlsx")])
    assert res.exit_code == 2 and "--force" in res.output


def test_excel_writer_failure_loses_no_solve(tmp_path, monkeypatch):
    import planner.pipeline as pipeline

    def broken_writer(tables, path, force=False, **kw):
        raise OSError("No space left on device")

    monkeypatch.setattr(pipeline, "write_tables", broken_writer)
    src, out = chain_case(tmp_path), tmp_path / "run.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 9 and "plan export" in res.output and "Traceback" not in res.output
    assert not out.exists() and (tmp_path / "run.json").exists()
    monkeypatch.undo()
    assert CliRunner().invoke(cli, ["export", str(tmp_path / "run.json")]).exit_code == 0
    assert read_portfolio(out)["portfolio"]["site"].tolist() == ["R1"]


def test_atomic_save_leaves_nothing_when_interrupted(tmp_path):
    from planner.io.writer import atomic_save
    target = tmp_path / "t.xlsx"

    def dies_half_way(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"PK partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_save(dies_half_way, target, force=False)
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_non_portfolio_json_is_refused(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    res = CliRunner().invoke(cli, ["export", str(bad)])
    assert res.exit_code == 1 and "not a portfolio JSON" in res.output


def test_a_table_too_long_for_a_sheet_is_refused_not_cut(tmp_path):
    # An Excel sheet holds 1,048,575 rows below its header; the writer would otherwise drop the rest
    # without a word. Nothing is left at the target.
    from planner.io.writer import write_tables
    big = pd.DataFrame({"flow_tpy": np.zeros(1_048_576)})
    with pytest.raises(ValueError, match="table 'flows' has 1,048,576 rows and 1 columns; an Excel sheet holds "
                                         "at most 1,048,575 rows"):
        write_tables({"flows": big}, tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_start_heuristic_from_the_command_line(tmp_path):
    # --start-heuristic greedy reaches the solve: R1 (0.02 MUSD) is the heuristic's plan and the
    # optimum; run_info records the option and what the heuristic did.
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--start-heuristic", "greedy"])
    assert res.exit_code == 0, res.output
    run_info = dict(zip(*[read_portfolio(out)["run_info"][c] for c in ("key", "value")]))
    assert "start_heuristic=greedy" in run_info["options"]
    assert run_info["hand_over_start_heuristic_stopped_by"] == "no_improving_move"
    assert float(run_info["hand_over_start_heuristic_objective"]) == pytest.approx(0.02, abs=1e-9)
    bad = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--force", "--start-heuristic", "best"])
    assert bad.exit_code == 2 and "'best' is not one of 'auto', 'none', 'greedy'" in bad.output


def test_expected_value_start_from_the_command_line(tmp_path):
    # --start-heuristic expected_value reaches the solve: the boom-or-calm case (test_start_heuristic,
    # worked by hand there): the expected-value problem builds R1 at 0.045 MUSD, that plan costs
    # 0.055 under the two scenarios and is HiGHS's start; the optimum builds nothing, 0.05.
    from test_start_heuristic import boom_or_calm
    sheets, settings = tiny()
    src, out = write_workbook(tmp_path / "b.xlsx", boom_or_calm(sheets), settings), tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--start-heuristic", "expected_value"])
    assert res.exit_code == 0, res.output
    run_info = dict(zip(*[read_portfolio(out)["run_info"][c] for c in ("key", "value")]))
    assert "start_heuristic=expected_value" in run_info["options"]
    assert float(run_info["hand_over_start_ev_objective"]) == pytest.approx(0.045, abs=1e-9)
    assert float(run_info["hand_over_start_heuristic_objective"]) == pytest.approx(0.055, abs=1e-9)
    assert float(run_info["objective_musd"]) == pytest.approx(0.05, abs=1e-9)


def test_the_planner_out_of_memory_is_one_message_and_writes_nothing(tmp_path, monkeypatch, capsys):
    # numpy's "Unable to allocate" (a MemoryError) anywhere in the planner's own process: one message
    # naming it, exit 7, no traceback, the existing output untouched; Pyomo's own log of a failing rule
    # is silenced (the planner reports the failure itself).
    import logging
    import sys
    from planner import cli as cli_module, pipeline
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    out.write_bytes(b"precious")

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 3.08 MiB for an array with shape (403880,) and data type float64")

    monkeypatch.setattr(pipeline, "solve_workbook", no_memory)
    monkeypatch.setattr(sys, "argv", ["plan", "solve", str(src), "-o", str(out), "--force"])
    pyomo_log = logging.getLogger("pyomo.core")
    before = pyomo_log.level
    try:
        with pytest.raises(SystemExit) as exit_:
            cli_module.main()
        assert pyomo_log.level == logging.CRITICAL
    finally:
        pyomo_log.setLevel(before)
    err = capsys.readouterr().err
    assert exit_.value.code == 7 and "Traceback" not in err
    assert err.strip() == ("error: the planner's own process ran out of memory (Unable to allocate 3.08 MiB for an "
                           "array with shape (403880,) and data type float64); nothing was written. Try --low-memory "
                           "(plan solve), a smaller workbook, or a machine with more memory")
    assert out.read_bytes() == b"precious"


def test_a_json_copy_without_its_workbook_names_plan_export(tmp_path):
    # a run interrupted (or failed, exit 9) after its JSON copy and before its workbook: the rerun's
    # refusal says how to get the workbook back, and --force replaces the copy
    src, out = chain_case(tmp_path), tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    out.unlink()
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert res.exit_code == 2 and "plan export" in res.output and "run.json" in res.output, res.output
    assert not out.exists()
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--force"]).exit_code == 0
    assert out.exists()


def test_tables_writes_only_the_sheets_asked_for(tmp_path):
    from planner.results.report import TABLE_NAMES
    src, out = chain_case(tmp_path), tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "all.xlsx")]).exit_code == 0
    everything = read_portfolio(tmp_path / "all.xlsx")
    assert [n for n in everything if n not in ("brief", "map")] == list(TABLE_NAMES)  # the list cannot drift
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--tables", "portfolio, financing"])
    assert res.exit_code == 0, res.output
    got = read_portfolio(out)
    assert set(got) - {"map"} == {"brief", "summary", "portfolio", "financing", "run_info", "inputs"}
    # the brief is made from every table, whatever is written (its first line holds the time written)
    assert got["brief"]["brief"].tolist()[1:] == everything["brief"]["brief"].tolist()[1:]
    import json
    assert set(json.loads((tmp_path / "run.json").read_text())["tables"]) == set(got) - {"map"}
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "x.xlsx"), "--tables", "portfolios"])
    assert res.exit_code == 2 and "portfolios" in res.output and "portfolio" in res.output


@pytest.mark.parametrize("limit,status,said", [(20_000, 9, "`plan export"), (2_000, 10, "nothing was written")])
def test_a_file_size_limit_is_one_message(tmp_path, limit, status, said):
    # A real write failure: `plan solve` in a process whose files may not grow beyond `limit` bytes
    # (RLIMIT_FSIZE; Python turns the signal into an error). At 20,000 bytes the JSON copy is kept and
    # the workbook fails: exit 9, naming plan export; at 2,000 even the JSON copy fails: exit 10.
    # Either way one message, no traceback, no "Exception ignored" from a zip file closed later, and
    # no partial file left.
    import resource
    import subprocess
    import sys
    from pathlib import Path

    src = write_workbook(tmp_path / "in.xlsx", *tiny())
    out = tmp_path / "run" / "out.xlsx"
    plan = Path(sys.executable).with_name("plan")
    r = subprocess.run([str(plan), "solve", str(src), "-o", str(out), "--quiet"], capture_output=True, text=True,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert r.returncode == status, r.stderr
    assert said in r.stderr and r.stderr.count("error:") == 1
    assert "Traceback" not in r.stderr + r.stdout and "Exception ignored" not in r.stderr
    assert not out.exists() and not list(tmp_path.rglob("*.part"))
