"""`plan solve --start-from PORTFOLIO`: a variant of a workbook starts from the builds of the portfolio
written for it earlier (planner/solver/previous.py). Costs worked by hand in test_start_heuristic.boom_or_calm."""

from __future__ import annotations

import openpyxl
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.dataset.data import load_data
from planner.errors import InputError
from planner.solver.previous import previous_builds
from planner.status import INPUT_ERROR_EXIT
from planner.io.writer import read_portfolio
from test_families import with_refinery_chain
from test_start_heuristic import boom_or_calm
from wb import site, tiny, write_workbook


def run_info(path) -> dict:
    return dict(zip(*[read_portfolio(path)["run_info"][c] for c in ("key", "value")]))


def portfolio_file(path, rows, header=("site", "build_period")):
    """A portfolio sheet as plan solve writes it (the columns the start reads), rows from row 2."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "portfolio"
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path


def test_a_variant_starts_from_the_previous_portfolio(tmp_path):
    # Boom or calm with R1's capex at 0.02 MUSD: the optimum builds R1 in 2030, 0.04 MUSD. The variant
    # raises the capex to 0.035: started from that portfolio, HiGHS's first plan is R1 re-costed under
    # the variant, 0.035 + 0.02 = 0.055 MUSD; the optimum builds nothing, 0.05. And back: the variant's
    # portfolio (nothing built) as the start of the first workbook costs 0.05; the optimum is 0.04.
    first = write_workbook(tmp_path / "first.xlsx", boom_or_calm(tiny()[0], capex_musd=0.02), tiny()[1])
    variant = write_workbook(tmp_path / "variant.xlsx", boom_or_calm(tiny()[0]), tiny()[1])
    a, b, c = (tmp_path / n for n in ("a.xlsx", "b.xlsx", "c.xlsx"))
    res = CliRunner().invoke(cli, ["solve", str(first), "-o", str(a), "--quiet"])
    assert res.exit_code == 0, res.output
    assert read_portfolio(a)["portfolio"][["site", "build_period"]].values.tolist() == [["R1", 2030]]
    res = CliRunner().invoke(cli, ["solve", str(variant), "-o", str(b), "--start-from", str(a)])
    assert res.exit_code == 0, res.output
    info = run_info(b)
    assert f"start_from={a}" in info["options"]
    assert info["hand_over_start_heuristic_chosen"] == "start_from"
    assert info["hand_over_start_heuristic_stopped_by"] == "evaluated"
    assert float(info["hand_over_start_heuristic_objective"]) == pytest.approx(0.055, abs=1e-9)
    assert float(info["objective_musd"]) == pytest.approx(0.05, abs=1e-9)
    assert len(read_portfolio(b)["portfolio"]) == 0
    res = CliRunner().invoke(cli, ["solve", str(first), "-o", str(c), "--start-from", str(b), "--quiet"])
    assert res.exit_code == 0, res.output
    info = run_info(c)
    assert float(info["hand_over_start_heuristic_objective"]) == pytest.approx(0.05, abs=1e-9)
    assert float(info["objective_musd"]) == pytest.approx(0.04, abs=1e-9)


def test_the_start_replaces_the_start_heuristic(solve_tiny, tmp_path):
    # With --start-heuristic expected_value too, the portfolio's plan is the start (R1: 0.055 MUSD)
    # and the expected-value problem is not solved.
    start = portfolio_file(tmp_path / "p.xlsx", [("R1", 2030)])
    sheets, settings = tiny()
    res = solve_tiny(boom_or_calm(sheets), settings, start_from=start,
                     solver_overrides={"start_heuristic": "expected_value"})
    h = res.outcome.hand_over
    assert h["start_heuristic_chosen"] == "start_from" and "start_ev_status" not in h
    assert h["start_heuristic_objective"] == pytest.approx(0.055, abs=1e-9)
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=1e-9)


def test_builds_the_workbook_cannot_make_are_left_out_with_a_warning(tmp_path):
    # Row 2 R1 in 2030: kept. Row 3 ZZ: no such site. Row 4 M1: an existing site, not a build option.
    # Row 5 R1 in 2035: not a period of this workbook.
    sheets, settings = tiny()
    data = load_data(write_workbook(tmp_path / "w.xlsx", with_refinery_chain(sheets, capex=0.01), settings))
    start = portfolio_file(tmp_path / "p.xlsx", [("R1", 2030), ("ZZ", 2030), ("M1", 2030), ("R1", 2035.0)])
    builds, warnings = previous_builds(start, data)
    assert builds == frozenset({("R1", 2030)})
    assert len(warnings) == 3
    assert "site ZZ (portfolio row 3) is not a site in this workbook" in warnings[0]
    assert "site M1 cannot be built in 2030 in this workbook (portfolio row 4)" in warnings[1]
    assert "site R1 cannot be built in 2035 in this workbook (portfolio row 5)" in warnings[2]


def test_a_start_infeasible_for_the_variant_is_dropped_with_a_warning(solve_tiny, tmp_path):
    # R1 and R2 (each 100 t at 100 USD/t, capex 0.01) are now in one exclusive group: the earlier plan
    # building both breaks it, so no start; the optimum builds one of them, 0.01 + 100 x 100 USD = 0.02.
    start = portfolio_file(tmp_path / "p.xlsx", [("R1", 2030), ("R2", 2030)])
    sheets, settings = tiny()
    with_refinery_chain(sheets, capex=0.01, group="G")
    sheets["sites"].append(site("R2", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                                group="G", **{"yield": 1}))
    res = solve_tiny(sheets, settings, start_from=start)
    assert res.outcome.hand_over["start_heuristic_stopped_by"] == "no_feasible_start"
    assert any("the plan in 'p.xlsx' is not feasible for this workbook" in w for w in res.data.warnings)
    assert res.outcome.status == "optimal" and res.costs["total_cost_musd"] == pytest.approx(0.02, abs=1e-9)


@pytest.mark.parametrize("make, code, where", [
    (lambda d: d / "absent.xlsx", "start_from_missing", ""),
    (lambda d: (d / "text.xlsx").write_text("not a workbook") and d / "text.xlsx", "E_FILE_FORMAT", ""),
    (lambda d: write_workbook(d / "input.xlsx", *tiny()), "start_from_not_portfolio", ""),
    (lambda d: portfolio_file(d / "p.xlsx", [("R1", 2030)], header=("site", "period")), "start_from_not_portfolio",
     "portfolio!1"),
    (lambda d: portfolio_file(d / "p.xlsx", [("R1", 2030), ("R1", "soon")]), "start_from_bad_period", "portfolio!B3"),
    (lambda d: portfolio_file(d / "p.xlsx", [("R1", 2030.5)]), "start_from_bad_period", "portfolio!B2"),
    (lambda d: portfolio_file(d / "p.xlsx", [("", 2030)]), "start_from_blank_site", "portfolio!A2"),
])
def test_a_file_that_is_not_a_portfolio_is_named(tmp_path, make, code, where):
    sheets, settings = tiny()
    data = load_data(write_workbook(tmp_path / "w.xlsx", with_refinery_chain(sheets, capex=0.01), settings))
    with pytest.raises(InputError) as err:
        previous_builds(make(tmp_path), data)
    assert err.value.code == code and err.value.where == where


def test_a_bad_start_from_fails_before_the_solve_and_writes_nothing(tmp_path):
    sheets, settings = tiny()
    src = write_workbook(tmp_path / "w.xlsx", with_refinery_chain(sheets, capex=0.01), settings)
    start = portfolio_file(tmp_path / "p.xlsx", [("R1", "soon")])
    out = tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--start-from", str(start)])
    assert res.exit_code == INPUT_ERROR_EXIT and "Traceback" not in res.output
    assert "portfolio!B2 (column 'build_period')" in res.output and "'soon' is not a whole number" in res.output
    assert not out.exists() and not out.with_suffix(".json").exists()
