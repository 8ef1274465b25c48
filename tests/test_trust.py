"""Solutions are verified before they are reported: rounded builds re-solved, the
hand-over checked, options read back from HiGHS, limits honoured."""

import time
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

import planner.pipeline as pipeline
from planner.dataset.data import build_data
from planner.model.definition import ModelDefinition, SolverOptions
from planner.model.formulation import build_model
from planner.io.reader import read_workbook
from planner.solver.solve import compile_model, resolve_with_fixed_builds, solve_model
from wb import site, tiny, write_workbook

DEFAULT = Path(__file__).resolve().parent.parent / "inputs" / "alliance_2026.xlsx"


def chain(tmp_path):
    # Building R1 (capex 0.01 + 100 t x 100 USD/t = 0.02 MUSD) beats the market (0.05 MUSD).
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return write_workbook(tmp_path / "c.xlsx", sheets, settings)


def test_a_tiny_fractional_build_buys_nothing_after_rounding(tmp_path):
    data = build_data(read_workbook(chain(tmp_path)))
    out = solve_model(build_model(data, ModelDefinition()), SolverOptions())
    assert out.status == "optimal" and out.objective == pytest.approx(0.02, abs=1e-9)  # R1 built
    j = out.compiled.column_map("v_build")[("R1", 2030)]
    out.x[j] = 1e-6  # inside the integrality tolerance: "almost not built"
    fixed = resolve_with_fixed_builds(out, SolverOptions())
    # rounded to 0: R1 cannot run, the market supplies 100 t at 500 USD/t = 0.05 MUSD
    assert fixed.status == "optimal" and fixed.objective == pytest.approx(0.05, abs=1e-9)
    assert fixed.x[j] == 0.0


def test_pipeline_refuses_a_plan_that_relied_on_a_fractional_build(tmp_path, monkeypatch):
    real = pipeline.run_prepared

    def fake_solver(p, options, *a, **kw):
        out = real(p, options, *a, **kw)  # optimal: R1 built, cost 0.02
        out.x[p.c.column_map("v_build")[("R1", 2030)]] = 1e-6  # as if HiGHS had returned R1 at 1e-6 at that cost
        out.objective = 0.01 + 1e-6 * 0.01
        return out

    monkeypatch.setattr(pipeline, "run_prepared", fake_solver)
    res = pipeline.solve_workbook(chain(tmp_path), write=False)
    assert res.outcome.status == "error" and "fractional build" in res.outcome.message
    assert res.solution is None


def test_non_finite_coefficient_is_refused_before_the_solver():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=float("inf") * m.x <= 1)
    m.obj = pyo.Objective(expr=m.x)
    out = solve_model(m, SolverOptions())
    assert out.status == "error" and "non-finite" in out.message and "c" in out.message


def test_hand_over_mismatch_is_an_error(monkeypatch):
    # An LP is solved in the planner's own HiGHS instance: a row lost there is caught.
    import planner.solver.solve as solve_mod
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x >= 0)
    m.obj = pyo.Objective(expr=m.x)
    real = solve_mod.hand_over

    def drop_last_row(c, h):
        real(c, h)
        h.deleteRows(1, np.array([c.n_rows - 1], dtype=np.int32))  # as if HiGHS had rejected a row

    monkeypatch.setattr(solve_mod, "hand_over", drop_last_row)
    out = solve_model(m, SolverOptions())
    assert out.status == "error" and "hand-over lost part of the model" in out.message


# A MIP's search runs in a child process: one whose HiGHS loses the last row of what it was sent
DROPS_A_ROW = """
from planner.solver import mip_worker
real = mip_worker.load_arrays
def dropping(h, model):
    real(h, model)
    import numpy as np
    h.deleteRows(1, np.array([h.getNumRow() - 1], dtype=np.int32))
mip_worker.load_arrays = dropping
mip_worker._child_main()
"""


def test_hand_over_mismatch_in_the_mip_process_is_an_error(monkeypatch, tmp_path):
    import sys

    from planner.solver import mip_worker
    script = tmp_path / "drops.py"
    script.write_text(DROPS_A_ROW)
    monkeypatch.setattr(mip_worker, "worker_command", lambda: [sys.executable, str(script)])
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x >= 0)
    m.obj = pyo.Objective(expr=m.x)
    out = solve_model(m, SolverOptions())
    assert out.status == "error" and "HiGHS holds 0 rows, 1 columns and 0 nonzeros but the model has 1, 1 and 1" in out.message


def test_what_highs_holds_matches_the_compiled_default():
    data = build_data(read_workbook(DEFAULT))
    m = build_model(data, ModelDefinition())
    c = compile_model(m)
    # every active constraint is a row (two-sided ones are none in this model), every variable in
    # them a column
    assert c.n_rows == sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    out = solve_model(m, SolverOptions(time_limit_s=60, mip_gap=1e-4))
    h = out.hand_over
    assert (h["highs_rows"], h["highs_cols"], h["highs_nonzeros"]) == (c.n_rows, c.n_cols, c.nnz)
    assert h["highs_option_time_limit"] == 60 and h["highs_option_mip_rel_gap"] == 1e-4
    # big-M comes from data: the largest coefficient is a site capacity, not a large constant
    assert c.coef_range()[1] == max(data.sites["capacity_tpy"][data.sites["status"] == "candidate"])


def test_time_limit_is_honoured():
    # The default proven to gap 0 takes ~17 s; with a 2 s limit the solve must stop by 2 x 1.1 + 3 s.
    start = time.perf_counter()
    res = pipeline.solve_workbook(DEFAULT, write=False, time_limit=2, mip_gap=0)
    assert res.timings["solve_s"] <= 2 * 1.1 + 3
    assert res.outcome.status in ("best_found", "optimal")
    if res.outcome.status == "best_found":
        assert res.outcome.mip_gap is not None and res.outcome.mip_gap > 0
        assert res.outcome.hand_over["highs_option_time_limit"] == 2
    assert time.perf_counter() - start < 60


def test_ctrl_c_during_the_solve_keeps_the_best_plan():
    """SIGINT during a long solve (the default at gap 0 needs ~15 s), sent once HiGHS has a plan and
    has run 1 s (from the progress the search reports, not a wall-clock timer, which once fired at a
    moment the interrupt went unseen on a loaded CI machine): the planner asks the search to stop,
    HiGHS stops and the best plan so far is kept as best_found, marked as interrupted."""
    import os
    import signal

    sent = []

    def ctrl_c_once_a_plan_exists(t, incumbent, bound, gap):
        if not sent and t >= 1.0 and incumbent is not None:
            sent.append(t)
            os.kill(os.getpid(), signal.SIGINT)

    data = build_data(read_workbook(DEFAULT))
    m = build_model(data, ModelDefinition())
    out = solve_model(m, SolverOptions(time_limit_s=120, mip_gap=0), progress=ctrl_c_once_a_plan_exists)
    assert len(sent) == 1
    assert out.hand_over.get("interrupted_by_user") is True
    assert out.status == "best_found" and out.exit_code == 3 and out.termination == "kInterrupt"
    assert out.objective == pytest.approx(4_363_061.7, rel=1e-2)
    assert out.solve_seconds < 60


def test_presolve_and_heuristic_effort_reach_highs(tmp_path):
    # The options are read back from HiGHS after the hand-over (a misspelt or lost option is an error).
    res = pipeline.solve_workbook(chain(tmp_path), write=False,
                                  solver_overrides={"presolve": "off", "heuristic_effort": 0.3, "threads": 1})
    h = res.outcome.hand_over
    assert res.outcome.status == "optimal", res.outcome.message
    assert (h["highs_option_presolve"], h["highs_option_mip_heuristic_effort"], h["highs_option_threads"]) == \
        ("off", 0.3, 1)


def test_bad_solver_options_in_a_definition_are_refused(tmp_path):
    from planner.model.definition import load_definition
    from planner.errors import DefinitionError
    p = tmp_path / "d.toml"
    p.write_text('[solver]\npresolve = "sometimes"\n')
    with pytest.raises(DefinitionError, match="presolve"):
        load_definition(str(p))
    p.write_text('[solver]\nheuristic_effort = 2\n')
    with pytest.raises(DefinitionError, match="heuristic effort"):
        load_definition(str(p))
