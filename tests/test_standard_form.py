"""planner.solver.standard_form: our own compile of the linear model to arrays, checked by hand on a tiny
model and against Pyomo's LinearStandardFormCompiler on the default workbook's models."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from planner.dataset.data import build_data
from planner.model.definition import ModelDefinition, SolverOptions, load_definition
from planner.model.formulation import build_model
from planner.io.reader import read_workbook
from planner.solver.solve import compile_model, compile_with_pyomo, solve_model
from planner.solver.standard_form import NotSupported, compile_linear

DEFAULT = Path(__file__).resolve().parent.parent / "inputs" / "alliance_2026.xlsx"
INF = math.inf


def rows_of(f) -> dict[str, tuple]:
    """constraint name -> (lower, upper, {variable name: coefficient}) of each row."""
    out = {}
    for i, r in enumerate(f.rows):
        lo, hi = f.A.indptr[i], f.A.indptr[i + 1]
        terms = {f.columns[j].name: float(a) for j, a in zip(f.A.indices[lo:hi], f.A.data[lo:hi])}
        out[r.constraint.name] = (float(f.row_lower[i]), float(f.row_upper[i]), terms)
    return out


def tiny_model():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.y = pyo.Var(bounds=(0, 5))
    m.z = pyo.Var()
    m.z.fix(2)
    m.unused = pyo.Var()
    m.e = pyo.Expression(expr=m.x + 2 * m.y)  # used in two rows and the objective: flattened once
    m.c1 = pyo.Constraint(expr=m.e <= 4)
    m.c2 = pyo.Constraint(expr=3 * m.e - m.x >= m.z + 1)
    m.c3 = pyo.Constraint(expr=m.z <= 3)  # only a fixed variable, and it holds: dropped
    m.c4 = pyo.Constraint(expr=pyo.inequality(1, m.x - m.y, 7))
    m.c5 = pyo.Constraint(expr=m.x == 2 * m.z)
    m.c6 = pyo.Constraint(expr=m.z >= 5)  # only a fixed variable, violated: kept as an empty row
    m.obj = pyo.Objective(expr=5 + m.e + 0.5 * m.y + m.z + (m.x - m.y) / 4)
    return m


def test_tiny_model_by_hand():
    f = compile_linear(tiny_model())
    # columns: x and y (the objective is walked first, as Pyomo does); z is fixed (a number),
    # `unused` is in no row
    assert [v.name for v in f.columns] == ["x", "y"]
    rows = rows_of(f)
    assert list(rows) == ["c1", "c2", "c4", "c5", "c6"]
    assert rows["c1"] == (-INF, 4.0, {"x": 1.0, "y": 2.0})
    # z + 1 <= 3(x + 2y) - x, z = 2:  3 - (2x + 6y) <= 0, i.e. -2x - 6y <= -3
    assert rows["c2"] == (-INF, -3.0, {"x": -2.0, "y": -6.0})
    assert rows["c4"] == (1.0, 7.0, {"x": 1.0, "y": -1.0})  # one ranged row, not two
    assert rows["c5"] == (4.0, 4.0, {"x": 1.0})  # x - 2z = 0 with z = 2
    # z >= 5: the constant side is the bound (as Pyomo orients it): 5 - 2 <= (nothing), kept empty
    # and violated, so HiGHS will call the model infeasible
    assert rows["c6"] == (3.0, INF, {})
    assert [r.bound_type for r in f.rows] == [1, 1, 2, 0, -1]
    # objective 5 + (x + 2y) + 0.5y + z + (x - y)/4 = 1.25x + 2.25y + 7
    assert f.cost.tolist() == [1.25, 2.25] and f.offset == 7.0


def test_tiny_model_solved():
    # min 1.25x + 2.25y + 7 with x = 4 (c5), x + 2y <= 4, 2x + 6y >= 3, 1 <= x - y <= 7:
    # x = 4 forces y = 0 (c1), 2*4 >= 3 holds, x - y = 4 in range; but c6 (3 <= 0) is violated
    out = solve_model(tiny_model(), SolverOptions())
    assert out.status == "infeasible"
    m = tiny_model()
    m.c6.deactivate()
    out = solve_model(m, SolverOptions())
    assert out.status == "optimal" and out.objective == pytest.approx(1.25 * 4 + 7)
    assert out.values("x")[1][0] == pytest.approx(4) and out.values("y")[1][0] == pytest.approx(0)


def test_nonlinear_terms_are_not_compiled_silently():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.y = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x * m.y <= 1)
    m.obj = pyo.Objective(expr=m.x)
    with pytest.raises(NotSupported):
        compile_linear(m)
    m.c.deactivate()
    m.d = pyo.Constraint(expr=m.x / (1 + m.y) <= 1)
    with pytest.raises(NotSupported):
        compile_linear(m)
    m.d.deactivate()
    m.obj.deactivate()
    m.max = pyo.Objective(expr=m.x, sense=pyo.maximize)
    with pytest.raises(NotSupported):
        compile_linear(m)


def test_unsupported_expression_falls_back_to_pyomo(monkeypatch):
    # a maximised objective is outside the walker: compile_model hands the model to Pyomo's compiler
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 3))
    m.c = pyo.Constraint(expr=m.x <= 2)
    m.obj = pyo.Objective(expr=m.x, sense=pyo.maximize)
    c = compile_model(m)
    assert c.n_rows == 1 and c.n_cols == 1
    assert c.cost.tolist() == [-1.0]  # Pyomo's standard form minimises: max x is min -x
    out = solve_model(m, SolverOptions())
    assert out.status == "optimal" and out.values("x")[1][0] == pytest.approx(2)


def assert_same_as_pyomo(m):
    """Our compile gives HiGHS exactly what Pyomo's compiler gives: the same columns in the same
    order, the same rows with the same orientation and bounds, the same coefficients and costs (so
    HiGHS takes the same path as before the change)."""
    ours, theirs = compile_linear(m), compile_with_pyomo(m)
    assert [v.name for v in ours.columns] == [v.name for v in theirs.columns]
    assert [(r.constraint.name, r.bound_type) for r in ours.rows] == [(r.constraint.name, r.bound_type)
                                                                     for r in theirs.rows]
    assert np.array_equal(ours.row_lower, theirs.row_lower) and np.array_equal(ours.row_upper, theirs.row_upper)
    assert np.array_equal(ours.A.indptr, theirs.A.indptr)
    for i in range(len(ours.rows)):  # within a row the entries may come in another order
        lo, hi = ours.A.indptr[i], ours.A.indptr[i + 1]
        a, b = np.argsort(ours.A.indices[lo:hi]), np.argsort(theirs.A.indices[lo:hi])
        assert np.array_equal(ours.A.indices[lo:hi][a], theirs.A.indices[lo:hi][b])
        assert np.allclose(ours.A.data[lo:hi][a], theirs.A.data[lo:hi][b], rtol=1e-12, atol=0)
    assert np.allclose(ours.cost, theirs.cost, rtol=1e-12, atol=0) and ours.offset == pytest.approx(theirs.offset)
    return ours


@pytest.fixture(scope="module")
def default_data():
    return build_data(read_workbook(DEFAULT))


@pytest.mark.parametrize("name", ["baseline", "no_share_cap", "precise"])
def test_default_workbook_models_compile_as_pyomo_does(default_data, name):
    ours = assert_same_as_pyomo(build_model(default_data, load_definition(name)))
    assert ours.A.nnz > 10_000  # the whole model, not an empty one


def test_elastic_cvar_and_fixed_builds_compile_as_pyomo_does(default_data):
    # the elastic model (financing slack and a second objective), CVaR in the objective, and
    # every build fixed (rows left with fixed variables only are dropped, as Pyomo does)
    data = dataclasses.replace(default_data, cvar_weight=0.5, cvar_alpha=0.9)
    m = build_model(data, ModelDefinition(elastic=True))
    assert hasattr(m, "v_cvar_excess") and hasattr(m, "elastic_objective")
    assert_same_as_pyomo(m)
    for i, v in enumerate(m.v_build.values()):
        v.fix(float(i % 3 == 0))
    ours = assert_same_as_pyomo(m)
    assert not any(v.name.startswith("v_build") for v in ours.columns)


def test_default_workbook_run_does_not_import_scipy():
    # the compile needs no scipy, and importing it after Pyomo costs ~1 s (Pyomo's hook loads scipy.stats)
    import subprocess
    import sys
    code = ("import sys; from planner.pipeline import solve_workbook; "
            f"r = solve_workbook({str(DEFAULT)!r}, write=False, time_limit=60); "
            "print(r.outcome.status, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["optimal", "False"]


def test_non_finite_objective_is_named():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x <= 1)
    m.cost = pyo.Objective(expr=float("nan") * m.x)
    c = compile_model(m)
    assert c.nonfinite == ["cost"]
    m2 = pyo.ConcreteModel()
    m2.x = pyo.Var(bounds=(0, 1))
    m2.cap = pyo.Constraint(expr=m2.x <= float("nan"))
    m2.cost = pyo.Objective(expr=m2.x)
    assert compile_model(m2).nonfinite == ["cap"]
    assert np.isnan(compile_model(m2).row_upper[0])
