"""Every solver outcome maps to a status and exit code (planner.solver.solve is the one place that does it)."""

import pyomo.environ as pyo
import pytest
from highspy import HighsModelStatus as MS

from planner.model.definition import SolverOptions
from planner.solver.solve import STATUSES, lp_message, map_outcome, relative_gap, solve_model


def test_infeasible_model():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.Binary)
    m.lo = pyo.Constraint(expr=m.x >= 2)  # a binary cannot reach 2
    m.obj = pyo.Objective(expr=m.x)
    out = solve_model(m, SolverOptions())
    assert out.status == "infeasible" and out.exit_code == 5 and not out.usable
    assert out.objective is None


def test_unbounded_model():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.b = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x >= m.b)
    m.obj = pyo.Objective(expr=-m.x)
    out = solve_model(m, SolverOptions())
    assert out.status in ("unbounded", "infeasible_or_unbounded") and out.exit_code == 6


def test_optimal_small_mip_reports_bound_and_gap():
    # min 3x + 2y  s.t. x + y >= 1, x, y binary -> y = 1, cost 2.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.Binary)
    m.y = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x + m.y >= 1)
    m.obj = pyo.Objective(expr=3 * m.x + 2 * m.y)
    out = solve_model(m, SolverOptions(time_limit_s=10, mip_gap=0))
    assert out.status == "optimal" and out.exit_code == 0
    assert out.objective == pytest.approx(2) and out.bound == pytest.approx(2) and out.mip_gap == 0
    assert out.values("y")[1][0] > 0.5 and out.values("x")[1][0] < 0.5  # read by the columns' keys
    assert out.hand_over["highs_rows"] == out.hand_over["model_rows"] == 1
    assert out.hand_over["highs_cols"] == out.hand_over["model_cols"] == 2


@pytest.mark.parametrize("tc,has,expected", [
    (MS.kOptimal, True, "optimal"),
    (MS.kOptimal, False, "error"),
    (MS.kModelEmpty, True, "optimal"),
    (MS.kTimeLimit, True, "best_found"),
    (MS.kTimeLimit, False, "no_solution"),
    (MS.kIterationLimit, True, "best_found"),
    (MS.kSolutionLimit, True, "best_found"),
    (MS.kMemoryLimit, False, "no_solution"),
    (MS.kInterrupt, True, "best_found"),
    (MS.kInterrupt, False, "interrupted"),
    (MS.kInfeasible, False, "infeasible"),
    (MS.kUnbounded, False, "unbounded"),
    (MS.kUnboundedOrInfeasible, False, "infeasible_or_unbounded"),
    (MS.kSolveError, False, "error"),
    (MS.kModelError, False, "error"),
    (MS.kUnknown, False, "error"),
    (MS.kNotset, False, "error"),
])
def test_map_outcome(tc, has, expected):
    assert map_outcome(tc, has) == expected


def test_exit_codes_distinguish_usable_results():
    usable = {k for k, v in STATUSES.items() if v[1]}
    assert usable == {"optimal", "best_found"}
    assert STATUSES["optimal"][0] == 0
    assert all(v[0] != 0 for k, v in STATUSES.items() if k != "optimal")


def test_relative_gap():
    assert relative_gap(100.0, 99.0) == pytest.approx(0.01)
    assert relative_gap(0.0, 0.0) == 0.0
    assert relative_gap(None, 1.0) is None


def test_prepared_model_solved_again_after_a_bound_change():
    # min 3x + 2y, x + y >= 1, 0 <= x, y <= 1 (an LP): y = 1, cost 2. With y's upper bound set to 0
    # in the same HiGHS instance: x = 1, cost 3; bound put back: 2 again. Each re-solve keeps the
    # requested 5 s limit counted from where HiGHS's clock already stands, and reads it back.
    import numpy as np

    from planner.solver.solve import compile_model, prepare, run_prepared
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.y = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x + m.y >= 1)
    m.obj = pyo.Objective(expr=3 * m.x + 2 * m.y)
    opts = SolverOptions(time_limit_s=5)
    p = prepare(compile_model(m), opts)
    first = run_prepared(p, opts)
    assert first.status == "optimal" and first.objective == pytest.approx(2) and first.values("y")[1][0] == pytest.approx(1)
    j = p.c.columns_of("y")[0]
    p.h.changeColsBounds(1, j, np.zeros(1), np.zeros(1))
    clock = p.h.getRunTime()
    assert clock > 0
    second = run_prepared(p, opts)
    assert second.status == "optimal" and second.objective == pytest.approx(3)
    assert second.values("x")[1][0] == pytest.approx(1)
    assert second.hand_over["highs_option_time_limit"] == pytest.approx(clock + 5)
    p.h.changeColsBounds(1, j, np.zeros(1), np.ones(1))
    assert run_prepared(p, opts).objective == pytest.approx(2)


def test_an_lp_out_of_memory_says_so_and_what_to_try():
    # HiGHS ends an LP kMemoryLimit when an allocation fails (measured: the rounded re-solve on medium
    # under `ulimit -v 650000`); the status's own meaning ("a limit was reached") would not say which
    assert lp_message(MS.kMemoryLimit, "no_solution", low_memory=False) == "HiGHS ran out of memory; try --low-memory"
    assert lp_message(MS.kMemoryLimit, "no_solution", low_memory=True) == "HiGHS ran out of memory"
    assert lp_message(MS.kOptimal, "optimal", low_memory=False) == STATUSES["optimal"][2]
