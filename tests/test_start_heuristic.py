"""The start heuristic (planner/heuristic.py, issue 8): greedy add / drop / swap on the builds, each
plan's flows an LP, the best plan handed to HiGHS as its first incumbent. Worked by hand on a
three-facility, two-customer location problem, then through `plan solve` on tiny workbooks."""

from __future__ import annotations

from types import SimpleNamespace

import highspy
import numpy as np
import pytest
from scipy.sparse import csc_array, csr_array

from planner.heuristic import greedy_start
from planner.solve import new_highs
from planner.standard_form import Csr
from wb import site, tiny

# Customers A and B each need 10 t; a tonne not served costs 100. Facilities (fixed cost, capacity,
# cost per t to A, to B): F1 (100, 20, 5, 5) between them; F2 (60, 10, 0, 20) at A; F3 (60, 10, 20, 0)
# at B. Every plan's cost, worked out by hand (fixed + cheapest service + 100 per t unserved):
PLANS = {
    (): 2000.0,  # all 20 t unserved
    ("F1",): 200.0,  # 100 + 20 t x 5
    ("F2",): 1060.0,  # 60 + A at 0 + B unserved 1,000 (F2's 10 t go to A)
    ("F3",): 1060.0,
    ("F1", "F2"): 210.0,  # 160 + A from F2 at 0 + B from F1 at 5 x 10
    ("F1", "F3"): 210.0,
    ("F2", "F3"): 120.0,  # the optimum: 120 + both served at 0
    ("F1", "F2", "F3"): 220.0,
}
FAC = ("F1", "F2", "F3")
FIXED, CAP = [100.0, 60.0, 60.0], [20.0, 10.0, 10.0]
SERVE = [[5.0, 5.0], [0.0, 20.0], [20.0, 0.0]]


def location_model() -> tuple[highspy.Highs, np.ndarray]:
    """Columns: y1..y3 (0-2, binary), x_ij (3 + 2i + j), u_A, u_B (9, 10). Rows: x_iA + x_iB <= CAP_i y_i,
    sum_i x_ij + u_j = 10."""
    h = new_highs()
    cost = FIXED + [c for row in SERVE for c in row] + [100.0, 100.0]
    n = len(cost)
    h.addVars(n, np.zeros(n), np.array([1.0] * 3 + [highspy.kHighsInf] * 8))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(cost))
    ints = np.arange(3, dtype=np.int32)
    h.changeColsIntegrality(3, ints, np.ones(3, dtype=np.uint8))
    for i in range(3):  # capacity if open
        h.addRow(-highspy.kHighsInf, 0.0, 3, np.array([3 + 2 * i, 4 + 2 * i, i], dtype=np.int32),
                 np.array([1.0, 1.0, -CAP[i]]))
    for j in range(2):  # demand, served or not
        h.addRow(10.0, 10.0, 4, np.array([3 + j, 5 + j, 7 + j, 9 + j], dtype=np.int32), np.ones(4))
    return h, ints


def compiled(h: highspy.Highs, ints: np.ndarray) -> SimpleNamespace:
    """What greedy_start reads of a `solve.Compiled`, from the model HiGHS holds."""
    lp = h.getLp()
    a = lp.a_matrix_
    kind = csr_array if a.format_ == highspy.MatrixFormat.kRowwise else csc_array
    A = csr_array(kind((a.value_, a.index_, a.start_), shape=(lp.num_row_, lp.num_col_)))
    A.sort_indices()
    # the matrix as the planner's compile gives it (planner.standard_form.Csr), not scipy's
    return SimpleNamespace(integer=ints, col_lower=np.array(lp.col_lower_), col_upper=np.array(lp.col_upper_),
                           row_lower=np.array(lp.row_lower_), A=Csr(A.indptr, A.indices, A.data, A.shape))


def test_greedy_start_ends_at_a_plan_no_single_move_improves_and_restores_the_mip():
    h, ints = location_model()
    seen = []
    res = greedy_start(h, compiled(h, ints), np.array(FAC), None, on_better=seen.append)
    # Nothing built is feasible (everything unserved, 2,000), so the search starts there and must end
    # at a plan whose cost is exactly its hand-worked cost and that no single add or drop improves:
    # {F1} (200: adding F2 or F3 gives 210, dropping gives 2,000) or {F2, F3} (120, the optimum).
    assert res.stopped_by == "no_improving_move"
    lp = h.getLp()
    assert list(lp.integrality_[:3]) == [highspy.HighsVarType.kInteger] * 3  # integrality restored
    assert list(lp.col_lower_[:3]) == [0.0] * 3 and list(lp.col_upper_[:3]) == [1.0] * 3  # bounds restored
    assert min(abs(res.objective - PLANS[p]) for p in (("F1",), ("F2", "F3"))) < 1e-6
    assert seen[0] == PLANS[()] and seen[-1] == res.objective and seen == sorted(seen, reverse=True)
    # the MIP starts from it and proves the optimum {F2, F3} = 120
    h.setOptionValue("mip_rel_gap", 0.0)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(PLANS[("F2", "F3")])
    assert np.round(h.getSolution().col_value[:3]).tolist() == [0.0, 1.0, 1.0]


def test_the_start_handed_to_highs_is_the_plan_found():
    # What HiGHS holds as its solution after the search is the plan found (setSolution), and its
    # cost, recomputed from the columns, is that plan's hand-worked cost.
    h, ints = location_model()
    res = greedy_start(h, compiled(h, ints), np.array(FAC), None)
    x = np.asarray(h.getSolution().col_value)
    built = tuple(f for f, y in zip(FAC, x[:3]) if y > 0.5)
    assert res.builds == len(built) and np.allclose(x[:3], np.round(x[:3]))
    cost = np.asarray(h.getLp().col_cost_)
    assert float(cost @ x) == pytest.approx(PLANS[built]) == pytest.approx(res.objective)


# --- through plan solve ----------------------------------------------------------------------

GREEDY = {"start_heuristic": "greedy"}


def two_refineries_in_a_group(sheets):
    """The exclusive-group case of test_families: N1 (free ore) feeds R1 (capex 0.001) or R2 (0.002),
    60 t/yr each at 100 USD/t, at most one of the two; the market sells at 500 USD/t."""
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 60, capex_musd=0.001, var_cost_usd_per_t=100,
                             group="G", **{"yield": 1}),
                        site("R2", "AAA", "refinery", "candidate", 60, capex_musd=0.002, var_cost_usd_per_t=100,
                             group="G", **{"yield": 1})]
    return sheets


def test_greedy_start_through_plan_solve_keeps_the_optimum(solve_tiny):
    # R1 and 40 t from the market: 0.001 + 60 x 100e-6 + 40 x 500e-6 = 0.027 MUSD (opening both would
    # break the group: that move's LP is infeasible and is not kept). Nothing built costs 0.05.
    sheets, settings = tiny()
    res = solve_tiny(two_refineries_in_a_group(sheets), settings, solver_overrides=GREEDY)
    assert res.outcome.status == "optimal"
    assert res.costs["total_cost_musd"] == pytest.approx(0.027, abs=1e-6)
    h = res.outcome.hand_over
    assert h["start_heuristic_stopped_by"] == "no_improving_move"
    # the greedy plan is R1 alone (0.027: R2 alone costs 0.028), found from nothing built (0.05)
    assert h["start_heuristic_objective"] == pytest.approx(0.027, abs=1e-9)
    assert h["start_heuristic_builds"] == 1 and h["start_heuristic_lps"] >= 2
    # with a time limit the MIP gets what the heuristic left of it (HiGHS counts a MIP's limit
    # from the start of its own run)
    res = solve_tiny(sheets, settings, solver_overrides=GREEDY, time_limit=50)
    h = res.outcome.hand_over
    assert h["highs_option_time_limit"] == pytest.approx(50 - h["start_heuristic_s"], abs=2e-3)


def test_greedy_start_from_the_rounded_relaxation_when_nothing_built_is_infeasible(solve_tiny):
    # R2 is force_build, so the plan with nothing built breaks build_once (= 1): the search starts
    # from the LP relaxation rounded up. R2 (0.002) must be built; the group then excludes R1:
    # 0.002 + 60 x 100e-6 + 40 x 500e-6 = 0.028 MUSD.
    sheets, settings = tiny()
    two_refineries_in_a_group(sheets)
    sheets["sites"][-1]["decision"] = "force_build"
    res = solve_tiny(sheets, settings, solver_overrides=GREEDY)
    assert res.outcome.status == "optimal"
    assert res.costs["total_cost_musd"] == pytest.approx(0.028, abs=1e-6)
    h = res.outcome.hand_over
    assert h["start_heuristic_objective"] == pytest.approx(0.028, abs=1e-9)
    assert h["start_heuristic_stopped_by"] == "no_improving_move"


def test_start_heuristic_is_checked():
    from planner.definition import SolverOptions
    from planner.errors import DefinitionError
    with pytest.raises(DefinitionError, match="start heuristic must be one of none, greedy"):
        SolverOptions(start_heuristic="lagrangian").check()


def test_opening_a_build_period_closes_the_candidates_other_period(solve_tiny):
    # Periods 2030 and 2035 (5 years each, r = 0), R1 with no lead time: built in 2030 it serves both
    # periods, 0.01 + 2 x 100 t x 100 USD/t x 5 y = 0.11 MUSD; built in 2035, 0.25 (market in 2030) +
    # 0.05 + 0.01 = 0.31; never, 0.5. Whichever period the search opens first, opening the other
    # closes it (built once; both open would be infeasible), and it ends at 2030.
    from test_families import built, with_refinery_chain
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 5}, {"period": 2035, "years": 5}]
    sheets["demand"] = [{"member": "AA", "mineral": "X", "period": p, "demand_tpy": 100} for p in (2030, 2035)]
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, solver_overrides=GREEDY)
    assert built(res) == {"R1": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.11, abs=1e-6)
    assert res.outcome.hand_over["start_heuristic_objective"] == pytest.approx(0.11, abs=1e-9)
    assert res.outcome.hand_over["start_heuristic_builds"] == 1


def test_ctrl_c_during_the_start_heuristic_keeps_its_plan(solve_tiny, monkeypatch):
    # Ctrl-C reaches the heuristic as an interrupted LP (highspy cancels the solve). Simulated here
    # on its third LP: the search stops, HiGHS gets the best plan so far and no time to search, and
    # the run is reported as stopped by Ctrl-C with a usable plan.
    import planner.heuristic as heuristic
    original = heuristic._Search.evaluate

    def evaluate(self, open_):
        out = original(self, open_)
        if self.evaluations >= 3:
            self.interrupted = True
        return out

    monkeypatch.setattr(heuristic._Search, "evaluate", evaluate)
    sheets, settings = tiny()
    res = solve_tiny(two_refineries_in_a_group(sheets), settings, solver_overrides=GREEDY)
    h = res.outcome.hand_over
    assert h["start_heuristic_stopped_by"] == "interrupted" and h["start_heuristic_lps"] == 3
    assert h["interrupted_by_user"] is True
    assert res.outcome.usable and res.costs["total_cost_musd"] <= h["start_heuristic_objective"] + 1e-9


def test_start_heuristic_in_a_model_definition(tmp_path):
    from planner.definition import load_definition
    from planner.errors import DefinitionError
    p = tmp_path / "loc.toml"
    p.write_text('[solver]\nstart_heuristic = "greedy"\ntime_limit_s = 100\n')
    assert load_definition(str(p)).solver.start_heuristic == "greedy"
    p.write_text('[solver]\nstart_heuristic = "best"\n')
    with pytest.raises(DefinitionError, match=r"loc.toml: \[solver\] start heuristic must be one of none, greedy"):
        load_definition(str(p))


def test_the_heuristics_plans_are_shown_as_progress(solve_tiny):
    # Live progress shows each better plan the heuristic settles on (no bound yet): nothing built
    # (0.05 MUSD), then R1 (0.027); the clock runs on from the solve's start.
    calls = []
    sheets, settings = tiny()
    solve_tiny(two_refineries_in_a_group(sheets), settings, solver_overrides=GREEDY,
               progress=lambda *a: calls.append(a))
    assert [round(c[1], 6) for c in calls[:2]] == [0.05, 0.027]
    assert all(c[2] is None and c[3] is None for c in calls[:2])
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_progress_counts_from_the_start_of_the_solve():
    from types import SimpleNamespace as NS

    from planner.solve import Progress
    seen = []
    p = Progress(lambda *a: seen.append(a))
    p.offset = 10.0  # the start heuristic took 10 s; the MIP's own clock says 2.5 s
    p(NS(data_out=NS(running_time=2.5, mip_primal_bound=5.0, mip_dual_bound=4.0)))
    assert seen == [(12.5, 5.0, 4.0, 0.2)]
