"""No Pyomo model is held during any search (the plan is read by the compiled columns' keys), and
`--low-memory` (`[solver] low_memory`) makes HiGHS's main search lean: one thread and the root LP
presolved once."""

from __future__ import annotations

import gc

import pyomo.environ as pyo
import pytest
from click.testing import CliRunner

from planner.solver import solve
from planner.cli import cli
from planner.io.writer import read_portfolio
from test_cli_and_output import chain_case
from test_families import built, with_refinery_chain
from wb import tiny

LOW = {"low_memory": True}


def models_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, pyo.ConcreteModel))


@pytest.mark.parametrize("low", [False, True])
def test_no_model_is_alive_during_the_search_and_the_plan_is_read_by_keys(solve_tiny, monkeypatch, low):
    # R1 (capex 0.01 MUSD + 100 t x 100 USD/t) costs 0.02 MUSD against 0.05 via the market: built,
    # with or without low memory. The Pyomo model is let go once compiled (or never enters the
    # planner, built apart): while the child searches no Pyomo model is alive in the planner, and
    # the plan is read by the compiled columns' keys.
    real, alive = solve.solve_in_child, []

    def counting(*a, **k):
        before = models_alive()
        run = real(*a, **k)
        alive.append((before, models_alive()))  # when the child starts; when the search ends
        return run

    monkeypatch.setattr(solve, "solve_in_child", counting)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, solver_overrides=LOW if low else None)
    o = res.outcome
    assert alive == [(0, 0)]
    assert o.status == "optimal" and built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.02, abs=1e-9) and res.max_violation <= 1e-6
    assert o.hand_over.get("rounded_resolve_status") == "optimal"
    # with low memory the model was built and compiled in a process of its own (solve.compile_apart)
    assert o.hand_over.get("built_apart") == (True if low else None)
    # with low memory the child's HiGHS searched with one thread and no second presolve of the root
    # LP (the options it reports holding); without, HiGHS's own choices (the options are not sent)
    assert o.hand_over.get("highs_option_threads") == (1 if low else None)
    assert o.hand_over.get("highs_option_mip_root_presolve_only") == (True if low else None)


def test_low_memory_from_the_command_line_and_a_model_definition(tmp_path):
    from planner.model.definition import load_definition
    from planner.errors import DefinitionError
    src, out = chain_case(tmp_path), tmp_path / "out.xlsx"
    res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--low-memory"])
    assert res.exit_code == 0, res.output
    assert "total cost (PV): 0.0200 MUSD" in res.output
    run_info = read_portfolio(out)["run_info"]
    info = dict(zip(run_info["key"], run_info["value"]))
    assert "low_memory=True" in info["options"]
    # the options HiGHS searched with, as README names them
    assert str(info["hand_over_highs_option_threads"]) == "1"
    assert str(info["hand_over_highs_option_mip_root_presolve_only"]) == "True"
    p = tmp_path / "lean.toml"
    p.write_text("[solver]\nlow_memory = true\n")
    assert load_definition(str(p)).solver.low_memory is True
    p.write_text('[solver]\nlow_memory = "yes"\n')
    with pytest.raises(DefinitionError, match=r"lean.toml: \[solver\] low_memory must be true or false, got 'yes'"):
        load_definition(str(p))


def test_low_memory_after_a_start_heuristic(solve_tiny):
    # The greedy start runs its LPs in the planner's HiGHS copy before the search: nothing built
    # (0.05 MUSD), then R1 (0.02); the search starts from that plan and ends on it.
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings,
                     solver_overrides={**LOW, "start_heuristic": "greedy"})
    h = res.outcome.hand_over
    assert h["start_heuristic_objective"] == pytest.approx(0.02, abs=1e-9)
    assert h["rounded_resolve_from_start_basis"] is True  # the start's basis, kept across the search
    assert res.outcome.status == "optimal" and built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.02, abs=1e-9)


def test_low_memory_searches_with_one_thread_unless_threads_are_chosen():
    from planner.model.definition import SolverOptions
    assert solve.low_memory_search(SolverOptions()) == {}
    assert solve.low_memory_search(SolverOptions(low_memory=True)) == {"mip_root_presolve_only": True, "threads": 1}
    assert solve.low_memory_search(SolverOptions(low_memory=True, threads=2)) == {"mip_root_presolve_only": True}
