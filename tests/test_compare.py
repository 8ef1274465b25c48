"""`plan compare` on saved portfolios (reads the output contract, never re-solves)."""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.analyses.compare import compare_runs, has_differences
from planner.io.writer import read_portfolio
from wb import site, tiny, write_workbook


def case(tmp_path, name, force_r2=False):
    # R1 (capex 0.01, 100 USD/t) is built and serves AA: 0.02 MUSD. R2 (capex 0.005, 600 USD/t, dearer
    # than the market) is never worth building; forcing it adds exactly its capex: 0.025 MUSD, R1 stays.
    sheets, sets = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                             **{"yield": 1}),
                        site("R2", "AAA", "refinery", "candidate", 100, capex_musd=0.005, var_cost_usd_per_t=600,
                             decision="force_build" if force_r2 else None, **{"yield": 1})]
    src = write_workbook(tmp_path / f"{name}_in.xlsx", sheets, sets)
    out = tmp_path / f"{name}.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    return out


def test_compare_a_run_with_itself_shows_no_differences(tmp_path):
    a = case(tmp_path, "a")
    res = CliRunner().invoke(cli, ["compare", str(a), str(a), "-o", str(tmp_path / "d.xlsx")])
    assert res.exit_code == 0, res.output
    assert "same input content: yes   same model definition: yes" in res.output
    assert "no differences in the headline figures or the sites built" in res.output
    d = read_portfolio(tmp_path / "d.xlsx")
    assert (pd.to_numeric(d["kpis"]["delta_a_2"], errors="coerce").fillna(0) == 0).all()
    assert d["sites"]["status_a_2"].tolist() == ["same"]


def test_one_forced_site_shows_exactly_that_site_and_the_cost_difference(tmp_path):
    a, b = case(tmp_path, "a"), case(tmp_path, "b", force_r2=True)
    res = CliRunner().invoke(cli, ["compare", str(a), str(b), "-o", str(tmp_path / "d.xlsx")])
    assert res.exit_code == 0, res.output
    assert "same input content: NO" in res.output
    d = read_portfolio(tmp_path / "d.xlsx")
    sites = d["sites"].set_index("site")
    assert sites["status_b"].to_dict() == {"R1": "same", "R2": "added"}
    k = d["kpis"].set_index("key")
    assert float(k.loc["total_cost_musd", "a"]) == pytest.approx(0.02, abs=1e-9)
    assert float(k.loc["total_cost_musd", "delta_b"]) == pytest.approx(0.005, abs=1e-9)
    assert float(k.loc["capex_musd", "delta_b"]) == pytest.approx(0.005, abs=1e-9)
    # the one changed input cell is named instead of the inputs' hash
    assert "site R2 added" in res.output and "input_sha256" not in res.output
    assert "input changes (1 cell(s); sheet, row key, column: a -> b):\n  sites, R2, decision: (blank) -> force_build" \
        in res.output
    assert "financing_delta" in d and "supply_mix_delta" in d


def test_runs_from_older_versions_lacking_sheets(tmp_path):
    a = read_portfolio(case(tmp_path, "a"))
    old = {k: v for k, v in a.items() if k not in ("financing", "milestones", "commitments", "member_totals")}
    cmp = compare_runs([a, old], ["new", "old"])
    assert "old lacks sheet 'financing'" in cmp.missing
    assert "financing" not in cmp.tables and "supply_mix" in cmp.tables
    assert not has_differences(cmp)


def test_compare_refuses_what_is_not_a_portfolio(tmp_path):
    a = case(tmp_path, "a")
    res = CliRunner().invoke(cli, ["compare", str(a), str(tmp_path / "a_in.xlsx")])
    assert res.exit_code == 1 and "not a portfolio" in res.output and "Traceback" not in res.output
