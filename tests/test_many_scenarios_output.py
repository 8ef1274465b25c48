"""Large outputs: above SCENARIO_DETAIL_MAX scenarios the sheets with a row per scenario give the
expectation over the scenarios unless --tables names them; a large portfolio says which sheet it
has written."""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.io.writer import read_portfolio, write_tables
from planner.results.report import SCENARIO_DETAIL_MAX, expected_over_scenarios
from wb import site, tiny, write_workbook


def many_scenarios(tmp_path):
    """tiny() with 51 scenarios of probability 1/51: in the 26 of even number AA needs 100 t/yr, in
    the 25 of odd number 200 t/yr. The free mine N1 feeds the refinery R1 (capex 0.001 MUSD, 100
    USD/t against the market's 500), which serves it all: the expected flows N1 -> R1 and R1 -> AA
    are (26 x 100 + 25 x 200) / 51 = 7,600 / 51 t/yr."""
    sheets, settings = tiny()
    sheets["scenarios"] = [{"scenario": f"s{k:02d}", "probability": 1 / 51, "demand_multiplier": 1 + k % 2}
                           for k in range(51)]
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 300, capex_musd=0.001, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return write_workbook(tmp_path / "many.xlsx", sheets, settings)


def test_more_than_fifty_scenarios_give_expectations(tmp_path):
    assert SCENARIO_DETAIL_MAX == 50
    src = many_scenarios(tmp_path)
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "a.xlsx")])
    assert r.exit_code == 0, r.output
    assert "51 scenarios: the sheets flows, supply_mix" in r.output
    out = read_portfolio(tmp_path / "a.xlsx")
    flows = out["flows"]
    assert set(flows["scenario"]) == {"expected over 51 scenarios"} and len(flows) == 2
    assert list(flows["flow_tpy"].astype(float)) == [pytest.approx(7600 / 51, rel=1e-9)] * 2
    assert float(out["supply_mix"]["share"].iloc[0]) == pytest.approx(1.0)  # the expectation of a share of 1
    assert len(out["scenario_costs"]) >= 51  # a row per scenario by design: whole
    brief = CliRunner().invoke(cli, ["brief", str(tmp_path / "a.xlsx")])
    assert "R1" in brief.output and "delivers 149 t/yr to AA 100%" in brief.output, brief.output
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / "b.xlsx"), "--tables", "flows"])
    assert r.exit_code == 0, r.output
    flows = read_portfolio(tmp_path / "b.xlsx")["flows"]
    assert len(flows) == 2 * 51 and set(flows["flow_tpy"].astype(float)) == {100.0, 200.0}


def test_the_expectation_keeps_keys_and_weights_numbers():
    # Two scenarios, p 0.25 / 0.75, keys member and period; a row missing in one scenario counts as 0
    # there. `t` varies: weighted. `stress` is the same in every scenario (an attribute): kept, not
    # weighted (BB's 3 stays 3, not 0.75 x 3). `largest` is text that varies: the most probable's.
    df = pd.DataFrame({"member": ["AA", "AA", "BB"], "period": [2030, 2030, 2030], "scenario": ["a", "b", "b"],
                       "t": [4.0, 8.0, 2.0], "stress": [1.0, 1.0, 3.0], "largest": ["CHN", "JPN", "CHN"]})
    out = expected_over_scenarios(df, {"a": 0.25, "b": 0.75}, keys=("member", "period", "scenario"))
    assert list(out.columns) == ["member", "period", "scenario", "t", "stress", "largest"]
    by = out.set_index("member")
    assert by["t"].to_dict() == {"AA": 0.25 * 4 + 0.75 * 8, "BB": 0.75 * 2}
    assert by["stress"].to_dict() == {"AA": 1.0, "BB": 3.0} and by["largest"].to_dict() == {"AA": "JPN", "BB": "CHN"}
    assert set(out["scenario"]) == {"expected over 2 scenarios"} and list(out["period"]) == [2030, 2030]


def test_the_writer_says_which_sheet_it_has_written(tmp_path):
    told = []
    tables = {"a": pd.DataFrame({"x": [1, 2]}), "b": None}
    write_tables(tables, tmp_path / "w.xlsx", late=lambda: {"b": pd.DataFrame({"y": [1, 2, 3]})},
                 progress=lambda *a: told.append(a))
    assert told == [("a", 2, 1, 2), ("b", 3, 2, 2)]
