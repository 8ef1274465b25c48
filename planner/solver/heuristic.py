"""A first plan of our own for HiGHS to start from: greedy add, drop and swap moves on the
set of build decisions, each plan's flows re-solved as an LP.

HiGHS's own primal heuristics are weak on facility location with the aggregated capacity linking
this model uses: on OR-Library's capa it stopped 5.9% above the published optimum after 120 s.
The moves below reach 0.3-0.6% above it on capa, capb and capc within 20-45 s, and HiGHS then
starts its search from that plan (bench/orlib_results.md).

All moves run in the HiGHS instance of the MIP itself (no second copy of the model): integrality is
dropped, every build column fixed by its bounds to 0 or 1, and the LP re-solved from the previous
basis. Each LP's duals price every option (`opening_prices`): a closed option is priced at its cost
at the LP's prices less the most its capacity could save (the flows through the capacity rows it
opens, best saving per unit of capacity first, each up to its bound); an open one likewise, so a
positive price means it costs more than its flows save. A closed option's own reduced cost is no
guide: its capacity rows have right-hand side 0 and their duals are whatever the basis holds (ranked
by it, the search stalled 2.5% above the optimum of capc after 100 s; priced, 0.3%).

- add: open the closed option with the most negative price (the candidate's other build periods
  closed: built once);
- drop: close the open option with the largest positive price;
- swap: open one option, then drop what does not pay any more; kept if the pair lowers the cost.

A move is kept only if the re-solved cost is lower; each kind of move ends after PATIENCE options in
a row that do not lower it. The search starts from nothing built; if that plan is infeasible (a
forced build, a hard floor), from the LP relaxation rounded up (per candidate the build period with
the largest value). It stops when no move lowers the cost or the time budget is spent. Integrality
and bounds are then restored and the best plan's column values returned (`StartResult.x`):
planner/solver/solve.py hands them to the MIP search (in its own process, planner/solver/mip_worker.py) as its
first incumbent, which it may only improve on.

`plan_start` hands HiGHS a plan chosen elsewhere (the expected-value start, planner/pipeline.py; an
earlier portfolio's builds, planner/solver/previous.py) the same way: its flows re-solved as an LP in the
MIP's instance (given several plans, the cheapest feasible one), no moves.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import highspy
import numpy as np

MS = highspy.HighsModelStatus
IMPROVES = 1e-9  # relative decrease a move must bring to be kept
REPORT_EVERY_S = 2.0  # progress: the best plan so far at least this often while the search runs
PATIENCE = 3  # a move ends after this many options tried in a row without a lower cost


@dataclass
class StartResult:
    """What the start heuristic did (for run_info)."""

    objective: float | None  # cost of the plan handed to HiGHS (None: no feasible plan found)
    builds: int  # build options open in it
    evaluations: int  # LPs solved
    seconds: float
    stopped_by: str  # "no_improving_move", "time_budget", "interrupted", "no_feasible_start"; "evaluated"
    #  (plan_start); "other_integer_variables" (not run: an integer variable other than v_build)
    x: np.ndarray | None = field(default=None, repr=False)  # the plan's column values (the MIP's start)

    def report(self) -> dict:
        return {"start_heuristic_objective": self.objective, "start_heuristic_builds": self.builds,
                "start_heuristic_lps": self.evaluations, "start_heuristic_s": round(self.seconds, 3),
                "start_heuristic_stopped_by": self.stopped_by}


def _lower(cost: float, than: float) -> bool:
    """`cost` is lower than `than` by more than the relative tolerance (anything finite beats inf)."""
    return math.isfinite(cost) and (not math.isfinite(than) or cost < than - IMPROVES * max(1.0, abs(than)))


class _Search:
    """The moves, over `cols` (build columns) grouped by candidate (`group`)."""

    def __init__(self, h: highspy.Highs, cols: np.ndarray, group: np.ndarray, deadline: float,
                 links: CapacityLinks | None = None, report: Callable[[float], None] | None = None):
        self.h, self.cols, self.group = h, cols, group
        self.deadline = deadline
        self.report = report
        self.reported, self.reported_at = np.inf, time.perf_counter()
        self.links = links
        self.evaluations = 0
        self.interrupted = False
        self.best = np.inf
        self.best_open: np.ndarray | None = None
        self.best_x: np.ndarray | None = None
        self.price = np.zeros(len(cols))  # each option's opening price in the best plan (opening_prices)

    def out_of_time(self) -> bool:
        return self.interrupted or time.perf_counter() >= self.deadline

    def evaluate(self, open_: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Cost of the plan opening exactly `open_` (inf if infeasible), the build columns' reduced
        costs, and every column's value."""
        v = open_.astype(float)
        self.h.changeColsBounds(len(self.cols), self.cols, v, v)
        self.h.solve()
        self.evaluations += 1
        status = self.h.getModelStatus()
        if status in (MS.kInterrupt, MS.kHighsInterrupt):
            self.interrupted = True
        if status != MS.kOptimal:
            return np.inf, self.price, None
        sol = self.h.getSolution()
        col_dual = np.asarray(sol.col_dual)
        return float(self.h.getInfo().objective_function_value), \
            self.opening_prices(col_dual, np.asarray(sol.row_dual)), np.asarray(sol.col_value)

    def opening_prices(self, col_dual: np.ndarray, row_dual: np.ndarray) -> np.ndarray:
        """Per build option, the LP's price of opening it: its reduced cost with the capacity rows
        it opens taken out, minus the most those rows' flows would save at the LP's other prices (a
        fractional knapsack per row: the flows of best saving per unit of capacity first, each up to
        its bound). Negative: opening looks worth its cost. An option's reduced cost alone says
        little while it is closed: its capacity rows then have right-hand side 0 and their duals are
        whatever the basis holds. Computed for every row at once (segments of flat arrays)."""
        L, n = self.links, len(self.cols)
        price = col_dual[self.cols].copy()
        if L is None or not len(L.row):
            return price
        pi = row_dual[L.row]
        price -= np.bincount(L.option, weights=pi * L.cap, minlength=n)  # the build's coefficient is -cap
        saving = np.maximum(0.0, -(col_dual[L.flow] + pi[L.seg] * L.coef)) / L.coef  # per unit of capacity
        order = np.lexsort((-saving, L.seg))  # by row, best saving first
        seg, w, saving = L.seg[order], L.width[order], saving[order]
        before = np.cumsum(w) - w
        before -= np.repeat(before[L.start], L.length)  # capacity taken by better flows of the same row
        cap = L.cap[seg]
        used = np.minimum(before + w, cap) - np.minimum(before, cap)
        gain = np.bincount(seg, weights=saving * used, minlength=len(L.row))
        return price - np.bincount(L.option, weights=gain, minlength=n)

    def keep_if_better(self, open_: np.ndarray, cost: float, price: np.ndarray, x) -> bool:
        kept = x is not None and _lower(cost, self.best)
        if kept:
            self.best, self.best_open, self.price, self.best_x = cost, open_, price, x.copy()
        self.show(cost if kept else np.inf)
        return kept

    def show(self, cost: float) -> None:
        """Report a plan cheaper than any reported before (within a swap too: the swap then keeps a
        plan at most that dear), and the best so far every REPORT_EVERY_S seconds."""
        now = time.perf_counter()
        if self.report is None:
            return
        if cost < self.reported:
            self.reported, self.reported_at = cost, now
            self.report(cost)
        elif now - self.reported_at >= REPORT_EVERY_S and math.isfinite(self.reported):
            self.reported_at = now
            self.report(self.reported)

    def with_opened(self, open_: np.ndarray, i: int) -> np.ndarray:
        new = open_.copy()
        new[self.group == self.group[i]] = False  # built once: the candidate's other periods close
        new[i] = True
        return new

    def next_option(self, opening: bool, tried: set[int]) -> int | None:
        """The untried closed option of most negative price (`opening`), or the untried open one of
        largest positive price; None when there is none."""
        price = self.price if opening else -self.price
        for i in np.argsort(price):
            if price[i] >= 0:
                return None
            if self.best_open[i] != opening and int(i) not in tried:
                return int(i)
        return None

    def improve(self, opening: bool) -> bool:
        """Open (or close) options one at a time in price order while that lowers the cost."""
        tried: set[int] = set()
        changed = False
        while not self.out_of_time() and len(tried) < PATIENCE:
            i = self.next_option(opening, tried)
            if i is None:
                break
            tried.add(i)
            if opening:
                new = self.with_opened(self.best_open, i)
            else:
                new = self.best_open.copy()
                new[i] = False
            if self.keep_if_better(new, *self.evaluate(new)):
                changed, tried = True, set()
        return changed

    def add(self) -> bool:
        return self.improve(opening=True)

    def drop(self) -> bool:
        return self.improve(opening=False)

    def swap(self) -> bool:
        """Open one closed option (most negative price first), then drop what does not pay any more;
        keep the result if it is cheaper than the plan before the opening."""
        tried: set[int] = set()
        while not self.out_of_time() and len(tried) < PATIENCE:
            i = self.next_option(True, tried)
            if i is None:
                return False
            tried.add(i)
            saved = (self.best, self.best_open, self.price, self.best_x)
            new = self.with_opened(self.best_open, i)
            cost, price, x = self.evaluate(new)
            if x is None:
                continue
            # accept the opening provisionally, then let the drop move take what does not pay any more
            self.best, self.best_open, self.price, self.best_x = cost, new, price, x.copy()
            self.show(np.inf)
            self.drop()
            if _lower(self.best, saved[0]):
                return True
            self.best, self.best_open, self.price, self.best_x = saved
        return False


def greedy_start(h: highspy.Highs, c, group: np.ndarray, budget_s: float | None,
                 on_better: Callable[[float], None] | None = None) -> StartResult:
    """Search for a good plan in `h`, which holds the model `c` (a `solve.Compiled`: its integer
    columns are the build options, `group` names each one's candidate), then restore the MIP
    (integrality, bounds) and return the best plan found (the MIP's start). See the module
    docstring."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s if budget_s is not None else np.inf
    s = _Search(h, c.integer, group, deadline, capacity_links(c), on_better)
    stopped_by = "no_feasible_start"
    with _as_lp(h, c):
        nothing = np.zeros(len(c.integer), dtype=bool)
        if not s.keep_if_better(nothing, *s.evaluate(nothing)) and not s.interrupted:
            s.keep_if_better(*_rounded_relaxation(s, c.col_lower, c.col_upper))
        if s.best_open is not None:
            while not s.out_of_time():
                moved = s.add()
                moved = s.drop() or moved
                if not (moved or s.swap()):
                    break
            stopped_by = "interrupted" if s.interrupted else "time_budget" if s.out_of_time() else "no_improving_move"
    return _result(s, stopped_by, t0)


def plan_start(h: highspy.Highs, c, plans: Sequence[np.ndarray],
               on_better: Callable[[float], None] | None = None) -> StartResult:
    """A plan chosen elsewhere as the MIP's start: of the plans in `plans` (each a mask over
    `c.integer`, the build options it opens), the cheapest feasible one, each plan's flows re-solved
    as an LP in `h` (as a move of the search does); the MIP restored, the plan returned if an LP
    found one (`StartResult.x`). No moves."""
    t0 = time.perf_counter()
    s = _Search(h, c.integer, np.zeros(len(c.integer)), np.inf, None, on_better)
    with _as_lp(h, c):
        for open_ in plans:
            s.keep_if_better(open_, *s.evaluate(open_))
            if s.interrupted:
                break
    stopped_by = "interrupted" if s.interrupted else "evaluated" if s.best_x is not None else "no_feasible_start"
    return _result(s, stopped_by, t0)


@contextlib.contextmanager
def _as_lp(h: highspy.Highs, c):
    """Integrality dropped for the duration of the block; afterwards the build columns' bounds and
    integrality are as `c` has them."""
    cols = c.integer
    h.changeColsIntegrality(len(cols), cols, np.zeros(len(cols), dtype=np.uint8))
    try:
        yield
    finally:
        h.changeColsBounds(len(cols), cols, c.col_lower[cols], c.col_upper[cols])
        h.changeColsIntegrality(len(cols), cols, np.ones(len(cols), dtype=np.uint8))


def _result(s: _Search, stopped_by: str, t0: float) -> StartResult:
    """What the search did, with its best plan's column values (the MIP's start)."""
    return StartResult(None if s.best_x is None else s.best, int(s.best_open.sum()) if s.best_open is not None else 0,
                       s.evaluations, time.perf_counter() - t0, stopped_by, s.best_x)


def _rounded_relaxation(s: _Search, col_lower: np.ndarray, col_upper: np.ndarray):
    """The LP relaxation with every build free in [0, 1], rounded up: per candidate the build period
    with the largest value, where that value is above 1e-6."""
    s.h.changeColsBounds(len(s.cols), s.cols, col_lower[s.cols], col_upper[s.cols])
    s.h.solve()
    s.evaluations += 1
    if s.h.getModelStatus() != MS.kOptimal:
        nothing = np.zeros(len(s.cols), dtype=bool)
        return nothing, np.inf, s.price, None
    x = np.asarray(s.h.getSolution().col_value)[s.cols]
    open_ = np.zeros(len(s.cols), dtype=bool)
    order = np.lexsort((-x, s.group))  # by candidate, largest value first
    first = np.ones(len(order), dtype=bool)
    first[1:] = s.group[order][1:] != s.group[order][:-1]
    lead = order[first]
    open_[lead[x[lead] > 1e-6]] = True
    return (open_, *s.evaluate(open_))


@dataclass
class CapacityLinks:
    """The rows each build column opens, `flows <= capacity x build` (upper-bounded, the build's
    coefficient negative), as flat arrays: per row (a segment) the option, row index and capacity
    (minus the build's coefficient); per entry of a row's flows (grouped by segment, `start` and `length`
    per segment) the flow column, its coefficient and the capacity it can take at its bound (`width`,
    at most the row's capacity)."""

    option: np.ndarray
    row: np.ndarray
    cap: np.ndarray
    start: np.ndarray
    length: np.ndarray
    seg: np.ndarray
    flow: np.ndarray
    coef: np.ndarray
    width: np.ndarray


def capacity_links(c) -> CapacityLinks:
    """The capacity rows of every build column of `c` (a `solve.Compiled`), see CapacityLinks."""
    by_col = c.A.tocsc()
    A = c.A
    option, row, cap, seg_flows, seg_coefs = [], [], [], [], []
    for k, j in enumerate(c.integer):
        for e in range(by_col.indptr[j], by_col.indptr[j + 1]):
            r, a = int(by_col.indices[e]), float(by_col.data[e])
            if a >= 0 or c.row_lower[r] > -highspy.kHighsInf:
                continue
            lo, hi = A.indptr[r], A.indptr[r + 1]
            idx, val = A.indices[lo:hi], A.data[lo:hi]
            keep = (val > 0) & (idx != j)
            if keep.any():
                option.append(k)
                row.append(r)
                cap.append(-a)
                seg_flows.append(idx[keep])
                seg_coefs.append(val[keep])
    length = np.array([len(f) for f in seg_flows], dtype=np.int64)
    start = np.concatenate(([0], np.cumsum(length)[:-1])).astype(np.int64) if len(length) else length
    seg = np.repeat(np.arange(len(length)), length)
    flow = np.concatenate(seg_flows) if seg_flows else np.zeros(0, dtype=np.int64)
    coef = np.concatenate(seg_coefs) if seg_coefs else np.zeros(0)
    cap_arr = np.array(cap, dtype=float)
    width = np.minimum(coef * np.minimum(c.col_upper[flow], 1e30), cap_arr[seg]) if len(flow) else coef
    return CapacityLinks(np.array(option, dtype=np.int64), np.array(row, dtype=np.int64), cap_arr, start, length,
                         seg, flow, coef, width)
