"""`plan solve --engine ph`: progressive hedging on MPI with mpi-sppy, for scenario counts past what
one machine's extensive form holds.

    mpiexec -n 3 python -m mpi4py -m planner solve INPUT --engine ph [--mip-gap G] [--time-limit S]

Three cylinders (ranks a multiple of 3): the PH hub, a Lagrangian spoke (lower bounds) and an xhat
spoke (upper bounds: first stages tried in every scenario). Each scenario's subproblem is the one
Pyomo model (`build_model`) built on the workbook restricted to that scenario at probability 1
(`data.scenario_data`), its probability given to mpi-sppy; HiGHS solves it through Pyomo's solver
plugin (`appsi_highs`). The first stage -- the nonanticipative variables -- is the builds
(`v_build`) and the stock levels (`v_stock`, `v_stock_added`); who pays is chosen again with the
plan fixed. HiGHS solves no MIQP, so PH's proximal terms are linearised (mpi-sppy's
`linearize_proximal_terms`, `linearize_binary_proximal_terms`). A workbook with a CVaR weight is
refused: its threshold would couple the scenarios.

Rho is cost-proportional: RHO_SHARE of each first-stage variable's own cost coefficient (capex
for a build, buying and holding for a stock), at least RHO_FLOOR.

The plan PH finds (the best xhat) is then fixed in the whole model and solved through the
planner's own road (`plan solve` with the plan fixed: the flows of every scenario, the rounded
re-solve, the plain-table verification, the workbook), which gives its exact cost; the reported gap
is that cost against the best Lagrangian bound.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

from planner.dataset.data import PlanData, scenario_data
from planner.model.definition import ModelDefinition
from planner.model.formulation import build_model

CYLINDERS = 3  # the hub, the Lagrangian spoke and the xhat spoke
RHO_SHARE = 1.0
RHO_FLOOR = 1e-3
SOLVER = "appsi_highs"
SUBPROBLEM_SHARE = 20  # a subproblem's solve stops at 1/20 of the run's time limit...
SUBPROBLEM_MIN_S = 5.0  # ...or 5 s, whichever is longer
LAGRANGIAN_GAP = 1e-6  # the Lagrangian spoke's subproblems: relative gap...
LAGRANGIAN_TIME_FACTOR = 4  # ...and four times a hub subproblem's time
INSTALL = "pip install -e '.[mpi]' (mpi-sppy, mpi4py and MPICH from the package index; make test installs them)"


def missing() -> str:
    """'' when mpi-sppy and mpi4py can be imported, else what to install."""
    try:
        import mpi4py  # noqa: F401
        import mpisppy  # noqa: F401
    except ImportError as exc:
        return f"--engine ph needs mpi-sppy and mpi4py ({exc.name} is not installed): {INSTALL}"
    return ""


def world():
    """MPI's world communicator (mpi4py)."""
    from mpi4py import MPI
    return MPI.COMM_WORLD


@dataclass
class PHResult:
    builds: tuple  # ((site, build period), ...)
    stocks: tuple  # ((stockpile, period, stock_t, added_t), ...)
    inner_musd: float | None  # the best xhat's cost as mpi-sppy evaluated it
    outer_musd: float | None  # the best Lagrangian bound
    seconds: float
    report: dict = field(default_factory=dict)


def scenario_creator(scenario_name: str, data: PlanData | None = None, definition: ModelDefinition | None = None):
    """The scenario's model for mpi-sppy: the one model on the workbook restricted to the scenario,
    its first stage and first-stage cost marked, its probability attached."""
    from mpisppy.utils import sputils
    m = build_model(scenario_data(data, scenario_name), definition)
    if data.STOCKPILES:
        # tonnes added to a stock bounded by the most it can hold: never binding where a tonne has a
        # price (A >= S_t - S_{t-1} <= max_t), but without it the Lagrangian spoke's subproblems,
        # whose prices on the first stage may be negative, are unbounded
        for (p, t), v in m.v_stock_added.items():
            v.setub(m.v_stock[p, t].ub)
    stage1 = [m.v_build] + ([m.v_stock, m.v_stock_added] if data.STOCKPILES else [])
    sputils.attach_root_node(m, m.e_first_stage, stage1)
    m._mpisppy_probability = float(data.scenarios.loc[scenario_name, "probability"])
    return m


def rho_setter(scenario, **_):
    """Cost-proportional rho: RHO_SHARE of the variable's first-stage cost coefficient."""
    from pyomo.repn import generate_standard_repn
    repn = generate_standard_repn(scenario.e_first_stage.expr, compute_values=True)
    cost = {id(v): abs(float(c)) for v, c in zip(repn.linear_vars, repn.linear_coefs)}
    out = []
    for node in scenario._mpisppy_node_list:
        for v in node.nonant_vardata_list:
            out.append((id(v), max(RHO_FLOOR, RHO_SHARE * cost.get(id(v), 0.0))))
    return out


def _writer(file_name: str, scenario, bundling) -> None:
    """The first stage as JSON: [variable, index, value] for each nonanticipative variable."""
    import pyomo.environ as pyo
    rows = []
    for v in scenario._mpisppy_node_list[0].nonant_vardata_list:
        index = v.index()
        rows.append([v.parent_component().local_name, list(index) if isinstance(index, tuple) else [index],
                     float(pyo.value(v))])
    with open(file_name, "w", encoding="utf-8") as f:
        json.dump(rows, f)


def solve_ph(data: PlanData, definition: ModelDefinition, rel_gap: float, time_limit_s: float | None,
             max_iterations: int) -> PHResult | None:
    """Run the hub and its spokes on every rank; rank 0 gets the plan, the others None."""
    # mpi-sppy's cylinders open their log files (hub.log, xhatclp.log, ...) in the working folder
    # when first imported: imported from a folder of their own, so the user's is left as it was
    here = os.getcwd()
    os.chdir(tempfile.mkdtemp(prefix="planner-ph-logs-"))
    try:
        import mpisppy.cylinders.hub  # noqa: F401
        import mpisppy.cylinders.lagrangian_bounder  # noqa: F401
        import mpisppy.cylinders.xhatshufflelooper_bounder  # noqa: F401
        import mpisppy.utils.cfg_vanilla as vanilla
        import mpisppy.utils.xhat_eval  # noqa: F401
        from mpisppy.spin_the_wheel import WheelSpinner
        from mpisppy.utils import config
    finally:
        os.chdir(here)
    comm = world()
    cfg = config.Config()
    cfg.popular_args()
    cfg.two_sided_args()
    cfg.ph_args()
    cfg.lagrangian_args()
    cfg.xhatshuffle_args()
    cfg.solver_name = SOLVER
    cfg.default_rho = 1.0
    cfg.max_iterations = int(max_iterations)
    cfg.linearize_proximal_terms = True
    cfg.linearize_binary_proximal_terms = True
    cfg.rel_gap = float(rel_gap)
    cfg.abs_gap = float(definition.solver.mip_abs_gap or 0.0)
    if time_limit_s:
        cfg.time_limit = int(math.ceil(float(time_limit_s)))
    # each subproblem's MIP stops at a tenth of the run's gap (the bounds take the subproblems' own
    # bounds, so a loose subproblem costs gap, not validity) and within its share of the time: the
    # hub looks at the time limit between iterations only
    if "iterk_mipgap" not in cfg:
        cfg.add_mipgap_specs()
    cfg.iter0_mipgap = cfg.iterk_mipgap = max(float(rel_gap) / 10.0, 1e-6)
    each = max(SUBPROBLEM_MIN_S, float(time_limit_s) / SUBPROBLEM_SHARE) if time_limit_s else None
    if each:
        cfg.solver_options = f"time_limit={each:g}"
    # the Lagrangian spoke's bound is the sum of its subproblems' own bounds: solved closer (a
    # relative 1e-4 of the default's 4.4 million MUSD is 436 MUSD a scenario) and given longer
    cfg.lagrangian_iter0_mipgap = cfg.lagrangian_iterk_mipgap = LAGRANGIAN_GAP
    if each:
        cfg.lagrangian_solver_options = f"time_limit={LAGRANGIAN_TIME_FACTOR * each:g}"
    cfg.lagrangian = True
    cfg.xhatshuffle = True
    cfg.display_progress = True
    names = list(data.SCENARIOS)
    kw = {"data": data, "definition": definition}
    beans = (cfg, scenario_creator, None, names)
    hub = vanilla.ph_hub(*beans, scenario_creator_kwargs=kw, rho_setter=rho_setter)
    spokes = [vanilla.lagrangian_spoke(*beans, scenario_creator_kwargs=kw, rho_setter=rho_setter),
              vanilla.xhatshuffle_spoke(*beans, scenario_creator_kwargs=kw)]
    t0 = time.perf_counter()
    # mpi-sppy prints its progress (per iteration: bounds, gap, convergence) from rank 0 (Pyomo's
    # HiGHS plugin captures the process's own output streams while it solves: they are left as
    # they are)
    wheel = WheelSpinner(hub, spokes)
    wheel.spin()
    folder = tempfile.mkdtemp(prefix="planner-ph-") if comm.Get_rank() == 0 else None
    folder = comm.bcast(folder, root=0)
    path = os.path.join(folder, "first_stage.json")
    wheel.write_first_stage_solution(path, first_stage_solution_writer=_writer)
    inner = outer = None
    if wheel.on_hub() and wheel.spcomm.cylinder_rank == 0:
        inner, outer = wheel.BestInnerBound, wheel.BestOuterBound
    bounds = comm.gather((inner, outer), root=0)
    comm.Barrier()
    if comm.Get_rank() != 0:
        return None
    seconds = time.perf_counter() - t0
    inner, outer = next(((i, o) for i, o in bounds if i is not None or o is not None), (None, None))
    if not os.path.exists(path):
        return PHResult((), (), None, outer, seconds, {"ph_status": "no first stage found (no xhat)"})
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    builds = tuple(sorted((str(i[0]), int(i[1])) for name, i, v in rows if name == "v_build" and v > 0.5))
    stock = {(str(i[0]), int(i[1])): v for name, i, v in rows if name == "v_stock"}
    added = {(str(i[0]), int(i[1])): v for name, i, v in rows if name == "v_stock_added"}
    stocks = tuple(sorted((p, t, max(0.0, float(x)), max(0.0, float(added.get((p, t), 0.0))))
                          for (p, t), x in stock.items()))
    finite = (lambda v: None if v is None or not abs(v) < float("inf") else float(v))
    return PHResult(builds, stocks, finite(inner), finite(outer), seconds,
                    {"ph_ranks": comm.Get_size(), "ph_seconds": round(seconds, 3), "ph_inner_bound_musd": finite(inner),
                     "ph_outer_bound_musd": finite(outer), "ph_sites_built": len(builds)})
