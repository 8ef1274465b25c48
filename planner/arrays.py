"""`build_arrays(data, definition)`: the model of `planner.model` written straight as HiGHS's arrays.

Pyomo creates an object for every variable, term and row before anything reaches HiGHS: on the
large benchmark (1.2 million flows) its build and compile take 25-35 s. The same rows written with
numpy, family by family, take a few seconds, so HiGHS can start searching at once. Pyomo's model
stays the definition: it is built while HiGHS searches (or after), compiled, and `match` checks
that it has exactly the rows, columns, bounds and coefficients HiGHS was given (to 1e-9, in any
order); a run whose arrays differ from it reports no plan. The plan is then read through Pyomo's
variables as before.

Written here: every family of `planner.model` (the edge cases where Pyomo writes a row the other
way round -- a stock released over a 0-year shock, a host share of a zero capex, an allied share
with nothing delivered -- raise `NotSupported`) but the elastic objective that `plan solve`
builds only to explain an infeasible run; a model with anything not written here is built with
Pyomo first, as it always was. Each row is oriented as Pyomo's compile gives it (for `a >= b` with
variables on both sides: b - a <= 0), so the arrays are the compiled Pyomo model itself; the
columns come in Pyomo's order (the order of first use) wherever the costs are not zero. The
docstrings of `planner.model` hold the math; each function below says which family it writes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import PlanData
from .definition import ModelDefinition
from .model import USD_TO_MUSD, flow_bound_array, site_availability, unit_costs
from .standard_form import TRIVIAL_TOL, Csr, NotSupported

INF = float("inf")
MATCH_RTOL = 1e-9  # coefficients and bounds computed in another order agree to this


class ModelMismatch(Exception):
    """The arrays HiGHS was given differ from the Pyomo model (a bug: no plan is reported)."""


@dataclass
class Keys:
    """Column or row keys (variable or constraint name, index) by position, without a tuple per
    position: blocks of positions, each with its name and a function from a position in the block to
    the index."""

    blocks: list  # (name, first position, count, index_of(i) -> index)

    def __len__(self) -> int:
        return sum(b[2] for b in self.blocks)

    def __getitem__(self, j: int) -> tuple[str, object]:
        for name, first, count, index_of in self.blocks:
            if first <= j < first + count:
                return name, index_of(j - first)
        raise IndexError(j)


@dataclass
class ArrayModel:
    """What `build_arrays` gives: the arrays of `solve.Compiled`, the keys of its columns and rows by
    position, and the blocks they came from (for `match`)."""

    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    cost: np.ndarray
    offset: float
    row_lower: np.ndarray
    row_upper: np.ndarray
    A: Csr
    col_keys: Keys
    row_keys: Keys
    # before columns and rows were dropped: per variable (constraint) its block of positions, each
    # with its count and its indices in order (a function giving the list), and every position's
    # final column (row), -1 if dropped
    col_blocks: dict  # name -> (first, count, all_indices() -> list)
    col_new: np.ndarray
    row_blocks: dict
    row_new: np.ndarray


class _Builder:
    """Columns by block (one per variable), rows by family, entries as numpy arrays."""

    def __init__(self, data: PlanData):
        self.data = data
        self.P, self.S = list(data.PERIODS), list(data.SCENARIOS)
        self.nP, self.nS = len(self.P), len(self.S)
        self.tpos = {t: i for i, t in enumerate(self.P)}
        self.spos = {s: i for i, s in enumerate(self.S)}
        self.col_blocks: list = []  # name, first, count, index_of(i) -> index, every() -> all indices
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.n_cols = 0
        self.row_blocks: list = []  # the same for rows
        self.row_lower: list[np.ndarray] = []
        self.row_upper: list[np.ndarray] = []
        self.n_rows = 0
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # rows, columns, values

    def columns(self, name: str, keys, lower, upper, index_of=None, every=None) -> int:
        """A block of columns (one variable): its indices `keys`, or `index_of(i)` and `every()` (all
        of them, in order) for a block too large for a list kept with the model; returns its first
        column."""
        n = len(keys) if index_of is None else int(np.size(lower))
        first = self.n_cols
        if index_of is None:
            keys = list(keys)
            index_of, every = keys.__getitem__, (lambda keys=keys: keys)
        self.col_blocks.append((name, first, n, index_of, every))
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)))
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)))
        self.n_cols += n
        return first

    def rows(self, name: str, keys: list, lower, upper) -> int:
        """A block of rows (one family, `keys` their indices in order); returns its first row."""
        n = len(keys)
        first = self.n_rows
        self.row_blocks.append((name, first, n, keys.__getitem__, lambda keys=keys: keys))
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)))
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)))
        self.n_rows += n
        return first

    def add(self, rows, cols, vals) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.entries.append((rows, np.broadcast_to(np.asarray(cols, dtype=np.int64), rows.shape),
                             np.broadcast_to(np.asarray(vals, dtype=float), rows.shape)))


def _supported(data: PlanData, definition: ModelDefinition) -> None:
    """Raise NotSupported where the model has a family not written here."""
    if definition.elastic:
        raise NotSupported("an elastic model")
    if not isinstance(data.arcs.index, pd.RangeIndex) or list(data.arcs.index[:1]) not in ([], [0]):
        raise NotSupported("arcs not numbered 0..n-1")


def arrays_or_why(data: PlanData, definition: ModelDefinition) -> tuple[ArrayModel | None, str]:
    """(the model as arrays, "") or (None, why not: `NotSupported`'s message)."""
    try:
        return build_arrays(data, definition), ""
    except NotSupported as exc:
        return None, str(exc) or "not supported"


def build_arrays(data: PlanData, definition: ModelDefinition) -> ArrayModel:
    """The model `build_model(data, definition)` compiles to, as arrays. Pure: reads only `data` and
    `definition`. Raises NotSupported for a model with a family not written here."""
    _supported(data, definition)
    b = _Builder(data)
    nP, nS = b.nP, b.nS
    arcs = data.arcs
    n_arcs = len(arcs)
    site_pos = {f: i for i, f in enumerate(data.SITES)}
    origin = np.array([site_pos[x] for x in arcs["origin"]], dtype=np.int64)
    ub = flow_bound_array(data)
    # columns in the order Pyomo's compile gives them (the order of first use), so HiGHS receives the
    # same model, column for column, where the costs are not zero: v_build, the stocks, v_flow,
    # v_unmet, v_release, v_finance, v_paid_total, v_burden_over/under
    build_keys = list(data.BUILD_OPTIONS)
    c_build = b.columns("v_build", build_keys, 0.0, 1.0)
    P, S = b.P, b.S
    stock_keys = [(p, t) for p in data.STOCKPILES for t in P]
    max_t = data.stockpiles["max_t"].astype(float).to_dict() if len(data.stockpiles) else {}
    c_added = b.columns("v_stock_added", stock_keys, 0.0, INF)
    c_stock = b.columns("v_stock", stock_keys, 0.0, [max_t[p] for p, _ in stock_keys])

    def flow_key(i, P=P, S=S, nP=nP, nS=nS):
        return (i // (nP * nS), P[(i // nS) % nP], S[i % nS])

    def every_flow(P=P, S=S, n=n_arcs):
        return list(itertools.product(range(n), P, S))

    c_flow = b.columns("v_flow", None, np.zeros(ub.size), ub.reshape(-1), flow_key, every_flow)

    def flow(a, t, s):
        """Column of flow(s) a (array) in period position t, scenario position s (broadcast)."""
        return c_flow + (np.asarray(a, dtype=np.int64) * nP + t) * nS + s

    demands = list(data.demand.index)
    unmet_keys = [(*k, s) for k in demands for s in S]
    c_unmet = b.columns("v_unmet", unmet_keys, 0.0, INF)
    c_release = b.columns("v_release", list(data.RELEASE), 0.0, INF)
    c_eta = c_excess = -1
    if data.cvar_weight:
        c_eta = b.columns("v_cvar_eta", [None], -INF, INF)
        c_excess = b.columns("v_cvar_excess", list(S), 0.0, INF)
    trace_keys = [(*z, t, s) for z in data.TRACE for t in P for s in S]
    c_trace = b.columns("v_trace", trace_keys, 0.0, INF)
    c_fin = b.columns("v_finance", list(data.FINANCE), 0.0, INF)
    c_total = b.columns("v_paid_total", [None], 0.0, INF)
    c_over = b.columns("v_burden_over", list(data.MEMBERS), 0.0, INF)
    c_under = b.columns("v_burden_under", list(data.MEMBERS), 0.0, INF)
    build_col = {k: c_build + i for i, k in enumerate(build_keys)}

    _build_once(b, data, build_col)
    _capacity_if_online(b, data, ub, origin, flow, build_col)
    _refinery_input(b, data, flow)
    _demand_coverage(b, data, demands, flow, c_unmet, c_release)
    if data.STOCKPILES:
        _stocks(b, data, c_added, c_stock, c_release)
    if definition.on("scrap_limit"):
        _scrap_limit(b, data, flow)
    if definition.on("country_share_cap"):
        _country_share_cap(b, data, ub, flow)
    if definition.on("exclusive_group"):
        _exclusive_group(b, data, build_col)
    if definition.on("emissions_cap"):
        _territorial_cap(b, data, flow, "emissions_cap", "emissions_cap_tco2e_per_yr", "emissions_tco2e_per_t")
    if definition.on("water_cap"):
        _territorial_cap(b, data, flow, "water_cap", "water_cap_m3_per_yr", "water_m3_per_t")
    if data.TRACE:
        _trace(b, data, definition, flow, c_trace)
    if definition.on("allied_share"):
        _allied_share(b, data, flow, c_trace)
    _financing(b, data, definition, build_col, c_fin, c_over, c_under, c_total)
    first, in_objective, offset, second = _objective(b, data, origin, flow, build_col, c_unmet, c_added, c_stock,
                                                     c_release)
    cost = _expected_cost(b, data, first, second)
    if data.cvar_weight:
        cost = cost + _cvar(b, data, first, offset, second, c_eta, c_excess)
        in_objective[[c_eta, *range(c_excess, c_excess + nS)]] = True
    return _finish(b, cost, in_objective, offset, c_build, len(build_keys))


def _build_once(b: _Builder, data: PlanData, build_col: dict) -> None:
    """Build once (model.define_build_once)."""
    by_site: dict[str, list[int]] = {}
    for f, t in data.BUILD_OPTIONS:
        by_site.setdefault(f, []).append(t)
    keys = sorted(by_site)
    forced = set(data.FORCED)
    first = b.rows("build_once", keys, [1.0 if f in forced else -INF for f in keys], 1.0)
    for i, f in enumerate(keys):
        b.add(np.full(len(by_site[f]), first + i), [build_col[(f, t)] for t in by_site[f]], 1.0)


def _out_entries(data: PlanData, sites, flow, row_of, coef_of=None):
    """Entries of `sum_{f in sites} coef_f e_output[f, t, s]` for every row: `row_of(f)` gives an
    array [period, scenario] of rows (-1: no row), `coef_of(f)` the coefficient (1 without)."""
    rows, cols, vals = [], [], []
    for f in sites:
        out = data.out_arcs.get(f, ())
        if not out:
            continue
        r = row_of(f)
        t, s = np.nonzero(r >= 0)
        if not len(t):
            continue
        a = np.asarray(out, dtype=np.int64)
        rows.append(np.repeat(r[t, s], len(a)))
        cols.append(flow(a[None, :], t[:, None], s[:, None]).reshape(-1))
        vals.append(np.full(len(t) * len(a), 1.0 if coef_of is None else coef_of(f)))
    return rows, cols, vals


def _capacity_if_online(b: _Builder, data: PlanData, ub, origin, flow, build_col) -> None:
    """Capacity if online (model.define_capacity_if_online): rows where the site's outgoing flows
    can carry anything, and for an existing site only where they can carry more than its capacity."""
    nsite = len(data.SITES)
    most = np.zeros((nsite, b.nP, b.nS))
    np.add.at(most, origin, ub)
    capacity = data.sites["capacity_tpy"].astype(float).reindex(list(data.SITES)).to_numpy()
    cap = site_availability(data) * capacity[:, None, None]
    existing = (data.sites["status"].reindex(list(data.SITES)) == "existing").to_numpy()
    keep = (most != 0) & ~(existing[:, None, None] & (most <= cap))
    f_i, t_i, s_i = np.nonzero(keep)
    keys = [(data.SITES[f], b.P[t], b.S[s]) for f, t, s in zip(f_i.tolist(), t_i.tolist(), s_i.tolist())]
    is_existing = existing[f_i]
    upper = np.where(is_existing, cap[f_i, t_i, s_i], 0.0)
    first = b.rows("capacity_if_online", keys, -INF, upper)
    row = np.full(keep.shape, -1, dtype=np.int64)
    row[f_i, t_i, s_i] = first + np.arange(len(keys))
    pos = {f: i for i, f in enumerate(data.SITES)}
    rows, cols, vals = _out_entries(data, data.SITES, flow, lambda f: row[pos[f]])
    cand = np.flatnonzero(~is_existing)  # candidates: - cap x (the builds that put f online in t)
    links = {}
    for f, t in {keys[i][:2] for i in cand.tolist()}:
        links[(f, t)] = np.array([build_col[(f, tb)] for tb in data.ONLINE_LINKS.get((f, t), ())], dtype=np.int64)
    got = [links[keys[i][:2]] for i in cand.tolist()]
    counts = np.array([len(x) for x in got], dtype=np.int64)
    if counts.sum():
        rows.append(np.repeat(first + cand, counts))
        cols.append(np.concatenate(got))
        vals.append(np.repeat(-cap[f_i[cand], t_i[cand], s_i[cand]], counts))
    for r, c, v in zip(rows, cols, vals):
        b.add(r, c, v)


def _refinery_input(b: _Builder, data: PlanData, flow) -> None:
    """Refinery input (model.define_refinery_input): inflow - output / yield = 0 where the refinery
    runs in t."""
    refineries = [f for f in data.sites.index[data.sites["stage"] == "refinery"]]
    yld = data.sites["yield"].astype(float).to_dict()
    keys = [(f, t, s) for f in refineries for t in b.P if (f, t) in data.running for s in b.S]
    first = b.rows("refinery_input", keys, 0.0, 0.0)
    row = {f: np.full((b.nP, b.nS), -1, dtype=np.int64) for f in refineries}
    for i, (f, t, s) in enumerate(keys):
        row[f][b.tpos[t], b.spos[s]] = first + i
    for f in refineries:
        r = row[f]
        t, s = np.nonzero(r >= 0)
        for arcs_, coef in ((data.in_arcs.get(f, ()), 1.0), (data.out_arcs.get(f, ()), -1.0 / yld[f])):
            if arcs_ and len(t):
                a = np.asarray(arcs_, dtype=np.int64)
                b.add(np.repeat(r[t, s], len(a)), flow(a[None, :], t[:, None], s[:, None]).reshape(-1), coef)


def _demand_coverage(b: _Builder, data: PlanData, demands: list, flow, c_unmet: int, c_release: int) -> None:
    """Demand coverage (model.define_demand_coverage): delivered + released + unmet >= D mu_s."""
    keys = [(*k, s) for k in demands for s in b.S]
    dem = data.demand_tpy
    mult = data.multiplier
    first = b.rows("demand_coverage", keys, [dem[k[:3]] * mult[k[3]] for k in keys], INF)
    n = len(keys)
    b.add(first + np.arange(n), c_unmet + np.arange(n), 1.0)  # v_unmet has the rows' keys, in order
    if data.RELEASE:
        mineral_of = data.stockpiles["mineral"].to_dict()
        row_of = {k: first + i for i, k in enumerate(keys)}
        b.add([row_of[(a, mineral_of[p], t, s)] for p, a, t, s in data.RELEASE],
              c_release + np.arange(len(data.RELEASE)), 1.0)
    for d, (a, mi, t) in enumerate(demands):
        arcs_ = data.member_in_arcs.get((a, mi), ())
        if arcs_:
            arr = np.asarray(arcs_, dtype=np.int64)
            s = np.arange(b.nS)
            b.add(np.repeat(first + d * b.nS + s, len(arr)), flow(arr[None, :], b.tpos[t], s[:, None]).reshape(-1), 1.0)


def _stocks(b: _Builder, data: PlanData, c_added: int, c_stock: int, c_release: int) -> None:
    """Stock build up and stock release (model.define_stock_build_up, define_stock_release), as
    Pyomo's compile orients them: S_{p,t} - S_{p,t-1} - A_{p,t} <= 0 and
    d_{s,t} sum_a r_{p,a,t,s} - S_{p,t} <= 0."""
    keys = [(p, t) for p in data.STOCKPILES for t in b.P]
    first = b.rows("stock_build_up", keys, -INF, 0.0)
    n = len(keys)
    b.add(first + np.arange(n), c_stock + np.arange(n), 1.0)
    b.add(first + np.arange(n), c_added + np.arange(n), -1.0)
    later = [i for i, (_, t) in enumerate(keys) if t != b.P[0]]
    b.add(first + np.array(later, dtype=np.int64), c_stock + np.array(later, dtype=np.int64) - 1, -1.0)
    stock_col = {k: c_stock + i for i, k in enumerate(keys)}
    by_key: dict[tuple, list] = {}
    for i, k in enumerate(data.RELEASE):
        by_key.setdefault((k[0], k[2], k[3]), []).append(i)
    rows = sorted(by_key)
    d = [data.shock_years[(s, t)] for _, t, s in rows]
    if any(x == 0 for x in d):
        raise NotSupported("a shock of 0 years")  # Pyomo's row then reads S >= 0, another orientation
    first = b.rows("stock_release", rows, -INF, 0.0)
    for i, (p, t, s) in enumerate(rows):
        rel = by_key[(p, t, s)]
        b.add(np.full(len(rel), first + i), c_release + np.array(rel, dtype=np.int64), d[i])
    b.add(first + np.arange(len(rows)), [stock_col[(p, t)] for p, t, _ in rows], -1.0)


def _period_scenario_rows(b: _Builder, name: str, index: list, lower, upper) -> int:
    """Rows (k, s) for k in `index` (k a tuple or one value) and every scenario, in that order;
    returns the first."""
    keys = [(*(k if isinstance(k, tuple) else (k,)), s) for k in index for s in b.S]
    return b.rows(name, keys, lower, upper)


def _scrap_limit(b: _Builder, data: PlanData, flow) -> None:
    """Scrap limit (model.define_scrap_limit): sum of the pool's output / yield <= scrap available."""
    pools = data.RECYCLING_POOLS
    scrap = data.scrap["scrap_tpy"].astype(float).to_dict()
    yld = data.sites["yield"].astype(float).to_dict()
    index = [(a, mi, t) for (a, mi) in pools for t in b.P]
    first = _period_scenario_rows(b, "scrap_limit", index, -INF,
                                     np.repeat([scrap.get(k, 0.0) for k in index], b.nS))
    for i, (a, mi, t) in enumerate(index):
        r = np.full((b.nP, b.nS), -1, dtype=np.int64)
        r[b.tpos[t]] = first + i * b.nS + np.arange(b.nS)
        for parts in zip(*_out_entries(data, pools[(a, mi)], flow, lambda f: r, lambda f: 1.0 / yld[f])):
            b.add(*parts)


def _country_share_cap(b: _Builder, data: PlanData, ub, flow) -> None:
    """Country share cap (model.define_country_share_cap): rows where the country's arcs can carry
    more than the share."""
    sigma = data.sigma_by_mineral
    groups = [(k, arcs_) for k, arcs_ in data.SHARE_CAP_INDEX.items() if sigma.get(k[1]) is not None and arcs_]
    if not groups:
        b.rows("country_share_cap", [], -INF, [])
        return
    dem = data.demand_tpy
    mult = np.array([data.multiplier[s] for s in b.S])
    length = np.array([len(x) for _, x in groups], dtype=np.int64)
    start = np.concatenate(([0], np.cumsum(length)[:-1]))
    cat = np.concatenate([np.asarray(x, dtype=np.int64) for _, x in groups])
    # [group, period, scenario]: sigma x demand_required where the member has a demand row, and
    # what the group's arcs can carry (their bounds, summed in the arcs' order)
    need = np.array([[dem.get((a, mi, t), np.nan) for t in b.P] for (a, mi, _), _ in groups]).reshape(len(groups), b.nP)
    sig = np.array([sigma[mi] for (_, mi, _), _ in groups])
    cap = sig[:, None, None] * (need[:, :, None] * mult[None, None, :])
    most = np.add.reduceat(ub[cat], start, axis=0)
    keep = ~np.isnan(need)[:, :, None] & (most > np.nan_to_num(cap, nan=np.inf))
    g_i, t_i, s_i = np.nonzero(keep)  # in Pyomo's order: group, period, scenario
    keys = [(*groups[g][0], b.P[t], b.S[s]) for g, t, s in zip(g_i.tolist(), t_i.tolist(), s_i.tolist())]
    first = b.rows("country_share_cap", keys, -INF, cap[g_i, t_i, s_i])
    n = length[g_i]
    at = np.repeat(start[g_i] - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(int(n.sum()))
    b.add(first + np.repeat(np.arange(len(keys)), n), flow(cat[at], np.repeat(t_i, n), np.repeat(s_i, n)), 1.0)


def _exclusive_group(b: _Builder, data: PlanData, build_col: dict) -> None:
    """Exclusive group (model.define_exclusive_group)."""
    options: dict[str, list] = {}
    for f, t in data.BUILD_OPTIONS:
        options.setdefault(f, []).append((f, t))
    groups = {g: [k for f in members for k in options.get(f, [])] for g, members in data.GROUPS.items()}
    groups = {g: v for g, v in groups.items() if len(v) > 1}
    first = b.rows("exclusive_group", list(groups), -INF, 1.0)
    for i, v in enumerate(groups.values()):
        b.add(np.full(len(v), first + i), [build_col[k] for k in v], 1.0)


def _territorial_cap(b: _Builder, data: PlanData, flow, name: str, cap_column: str, per_t_column: str) -> None:
    """Emissions cap and water cap (model._territorial_cap)."""
    from .model import _limit_rows
    caps = _limit_rows(data, cap_column)
    per_t = {f: float(v) for f, v in data.sites[per_t_column].items() if v}
    period = data.limits["period"].to_dict()
    labels = sorted(caps)
    first = _period_scenario_rows(b, name, labels, -INF, np.repeat([caps[k] for k in labels], b.nS))
    for i, label in enumerate(labels):
        r = np.full((b.nP, b.nS), -1, dtype=np.int64)
        r[b.tpos[int(period[label])]] = first + i * b.nS + np.arange(b.nS)
        sites = [f for f in data.LIMIT_SITES[label] if f in per_t]
        for parts in zip(*_out_entries(data, sites, flow, lambda f: r, per_t.get)):
            b.add(*parts)


def _trace(b: _Builder, data: PlanData, definition: ModelDefinition, flow, c_trace: int) -> None:
    """Traced input, traced delivery and mining share cap (model.define_traced_input,
    define_traced_delivery, define_mining_share_cap), as Pyomo's compile orients them:
    sum_a z - sum eta x = 0, sum_o z - sum x = 0, sum_k z <= sigma D mu."""
    nP, nS = b.nP, b.nS
    zpos = {z: i for i, z in enumerate(data.TRACE)}
    s_all = np.arange(nS)

    def z_cols(zs, ti):
        """[scenario, z] columns of v_trace for the tuples zs in period position ti."""
        zi = np.array([zpos[z] for z in zs], dtype=np.int64)
        return c_trace + (zi[None, :] * nP + ti) * nS + s_all[:, None]

    members, origins = {}, {}
    for o, k, a, mi in data.TRACE:
        members.setdefault((o, k, mi), []).append((o, k, a, mi))
        origins.setdefault((k, a, mi), []).append((o, k, a, mi))
    for name, groups, arcs_of in (("traced_input", members, lambda g: data.COUNTRY_IN.get((g[2], g[0], g[1]), ())),
                                  ("traced_delivery", origins,
                                   lambda g: [(x, 1.0) for x in data.COUNTRY_OUT.get((g[2], g[0], g[1]), ())])):
        index = sorted(groups)
        first = _period_scenario_rows(b, name, [(*g, t) for g in index for t in b.P], 0.0, 0.0)
        for i, g in enumerate(index):
            arcs_ = arcs_of(g)
            for ti in range(nP):
                r = first + (i * nP + ti) * nS + s_all  # rows of (g, t, every s)
                zc = z_cols(groups[g], ti)
                b.add(np.repeat(r, zc.shape[1]), zc.reshape(-1), 1.0)
                if arcs_:
                    a = np.array([x for x, _ in arcs_], dtype=np.int64)
                    y = np.array([v for _, v in arcs_], dtype=float)
                    b.add(np.repeat(r, len(a)), flow(a[None, :], ti, s_all[:, None]).reshape(-1), np.tile(-y, nS))
    sigma = data.sigma_mining
    if definition.on("mining_share_cap") and sigma is not None:
        own = {a: data.member_countries(a) for a in data.MEMBERS}
        keys: dict[tuple, list] = {}
        for o, k, a, mi in data.TRACE:
            if o not in own[a]:
                for t in b.P:
                    if (a, mi, t) in data.demand_tpy:
                        keys.setdefault((a, mi, o, t), []).append((o, k, a, mi))
        index = sorted(keys)
        mult = np.array([data.multiplier[s] for s in b.S])
        upper = [sigma * (data.demand_tpy[(a, mi, t)] * mu) for (a, mi, _, t) in index for mu in mult]
        first = _period_scenario_rows(b, "mining_share_cap", index, -INF, upper)
        for i, key in enumerate(index):
            zc = z_cols(keys[key], b.tpos[key[3]])
            b.add(np.repeat(first + i * nS + s_all, zc.shape[1]), zc.reshape(-1), 1.0)


def _allied_share(b: _Builder, data: PlanData, flow, c_trace: int) -> None:
    """Allied share (model.define_allied_share), as Pyomo's compile orients it:
    rho sum x - (allied-tagged z + allied recycled x) <= 0."""
    from .model import allied_arcs
    rho = {mi: float(v) for mi, v in data.minerals["min_allied_share"].items() if v is not None and not pd.isna(v)}
    nP, nS = b.nP, b.nS
    zpos = {z: i for i, z in enumerate(data.TRACE)}
    tagged: dict[tuple[str, str], list] = {}
    for o, k, a, mi in data.TRACE:
        if mi in rho and o in data.ALLIED and k in data.ALLIED:
            tagged.setdefault((a, mi), []).append(zpos[(o, k, a, mi)])
    keys = [(a, mi, t) for (a, mi, t) in data.demand.index if mi in rho]
    for a, mi, t in keys:
        if not data.member_in_arcs.get((a, mi)) or rho[mi] == 0:
            raise NotSupported("an allied share with nothing delivered")  # Pyomo's row reads allied >= 0
    first = _period_scenario_rows(b, "allied_share", keys, -INF, 0.0)
    s_all = np.arange(nS)
    for i, (a, mi, t) in enumerate(keys):
        ti = b.tpos[t]
        r = first + i * nS + s_all
        got = np.asarray(data.member_in_arcs[(a, mi)], dtype=np.int64)
        # the allied recycled arcs are among those delivering: one entry each, rho - 1 (as Pyomo sums them)
        coef = np.where(np.isin(got, np.asarray(allied_arcs(data, a, mi), dtype=np.int64)), rho[mi] + -1.0, rho[mi])
        b.add(np.repeat(r, len(got)), flow(got[None, :], ti, s_all[:, None]).reshape(-1), np.tile(coef, nS))
        zi = np.asarray(tagged.get((a, mi), ()), dtype=np.int64)
        if len(zi):
            b.add(np.repeat(r, len(zi)), (c_trace + (zi[None, :] * nP + ti) * nS + s_all[:, None]).reshape(-1), -1.0)


def _financing(b: _Builder, data: PlanData, definition: ModelDefinition, build_col: dict, c_fin: int, c_over: int,
               c_under: int, c_total: int) -> None:
    """Financing balance, paid total, burden target, budget, host share, financing cap, burden band
    and benefit floor (model.define_financing_balance ... define_benefit_floor), each row oriented as
    Pyomo's compile gives it."""
    cap = data.sites["capex_musd"].astype(float).to_dict()
    options = list(data.BUILD_OPTIONS)
    first = b.rows("financing_balance", options, 0.0, 0.0)
    opt_row = {k: first + i for i, k in enumerate(options)}
    fin = list(data.FINANCE)
    paid = {(f, t) for f, _, t in fin}
    # sum phi - C b = 0; with no payer Pyomo's row reads C b = 0 (the side with variables kept as written)
    b.add(first + np.arange(len(options)), [build_col[k] for k in options],
          [-cap[k[0]] if k in paid else cap[k[0]] for k in options])
    if fin:
        b.add([opt_row[(f, t)] for f, _, t in fin], c_fin + np.arange(len(fin)), 1.0)
    delta = data.periods["discount"].astype(float).to_dict()
    pv = np.array([delta[t] for _, _, t in fin], dtype=float)
    total = b.rows("paid_total", [None], 0.0, 0.0)
    b.add([total], [c_total], 1.0)
    if fin:
        b.add(np.full(len(fin), total), c_fin + np.arange(len(fin)), -pv)
    members = list(data.MEMBERS)
    target = data.financing.burden_target or {a: 1.0 / len(members) for a in members}
    first = b.rows("burden_target", members, 0.0, 0.0)
    mpos = {a: i for i, a in enumerate(members)}
    # o+ - o- - (P_a - s_a T) = 0: the orientation of Pyomo's row (its compile keeps it)
    if fin:
        b.add([first + mpos[a] for _, a, _ in fin], c_fin + np.arange(len(fin)), -pv)
    n = len(members)
    b.add(first + np.arange(n), np.full(n, c_total), [target[a] for a in members])
    b.add(first + np.arange(n), c_over + np.arange(n), 1.0)
    b.add(first + np.arange(n), c_under + np.arange(n), -1.0)
    f = data.financing
    fin_col = {k: c_fin + i for i, k in enumerate(fin)}
    if definition.on("budget"):  # sum phi <= B
        by_key: dict[tuple, list] = {}
        for k in fin:
            by_key.setdefault((k[1], k[2]), []).append(fin_col[k])
        keys = [k for k in sorted(f.budgets) if k[0] in data.MEMBERS and by_key.get(k)]
        first = b.rows("budget", keys, -INF, [f.budgets[k] for k in keys])
        for i, k in enumerate(keys):
            b.add(np.full(len(by_key[k]), first + i), by_key[k], 1.0)
    if definition.on("host_share") and f.host_min_share:  # h C b - phi_host <= 0
        host = data.sites["host_member"].to_dict()
        keys = [(g, t) for g, t in data.BUILD_OPTIONS if (g, host[g], t) in fin_col]
        coef = [float(f.host_min_share) * float(cap[g]) for g, _ in keys]
        if any(c == 0 for c in coef):
            raise NotSupported("a host share of a zero capex")  # Pyomo's row then reads phi >= 0
        first = b.rows("host_share", keys, -INF, 0.0)
        b.add(first + np.arange(len(keys)), [build_col[k] for k in keys], coef)
        b.add(first + np.arange(len(keys)), [fin_col[(g, host[g], t)] for g, t in keys], -1.0)
    if definition.on("financing_cap"):  # phi - kappa C b <= 0
        keys = [k for k in fin if f.caps.get((k[1], k[0]), 1.0) < 1.0]
        first = b.rows("financing_cap", keys, -INF, 0.0)
        b.add(first + np.arange(len(keys)), [fin_col[k] for k in keys], 1.0)
        b.add(first + np.arange(len(keys)), [build_col[(g, t)] for g, _, t in keys],
              [-(f.caps[(a, g)] * float(cap[g])) for g, a, _ in keys])
    member_fin = [(mpos[k[1]], fin_col[k], pv[i]) for i, k in enumerate(fin)]
    if definition.on("burden_band") and f.burden_tolerance is not None and f.burden_given:
        tau = float(f.burden_tolerance)
        s = f.burden_target
        # upper: P_a - s_a T - tau T <= 0; lower: -tau T - P_a + s_a T <= 0
        for name, sign, t_coef in (("burden_band_upper", 1.0, [-s[a] + -tau for a in members]),
                                   ("burden_band_lower", -1.0, [-tau + s[a] for a in members])):
            first = b.rows(name, members, -INF, 0.0)
            if member_fin:
                b.add([first + r for r, _, _ in member_fin], [c for _, c, _ in member_fin],
                      [sign * v for _, _, v in member_fin])
            b.add(first + np.arange(n), np.full(n, c_total), t_coef)
    if definition.on("benefit_floor") and f.min_benefit_ratio is not None:  # r P_a - beta_a T <= 0
        r = float(f.min_benefit_ratio)
        first = b.rows("benefit_floor", members, -INF, 0.0)
        if member_fin:
            b.add([first + m for m, _, _ in member_fin], [c for _, c, _ in member_fin],
                  [r * v for _, _, v in member_fin])
        b.add(first + np.arange(n), np.full(n, c_total), [-data.benefit_share[a] for a in members])


def _objective(b: _Builder, data: PlanData, origin, flow, build_col: dict, c_unmet: int, c_added: int, c_stock: int,
               c_release: int):
    """Objective (model.define_objective) without its CVaR term: capex, fixed opex, stocks, operating,
    transport, the unmet-demand penalty and replenishing released stock. Returns the first stage
    (cost per column, columns in it, constant) and the second stage as (columns, scenario positions,
    costs if that scenario happens) -- the expected cost weighs those by the probabilities."""
    sites, per = data.sites, data.periods
    delta, W = per["discount"].astype(float).to_dict(), per["weight"].astype(float).to_dict()
    capex = sites["capex_musd"].astype(float).to_dict()
    fixed = sites["fixed_opex_musd_per_yr"].astype(float).to_dict()
    first = np.zeros(b.n_cols)
    used = np.zeros(b.n_cols, dtype=bool)
    for (f, t), j in build_col.items():
        first[j] += delta[t] * capex[f]
        used[j] = True
    for (f, t), links in data.ONLINE_LINKS.items():
        for tb in links:
            first[build_col[(f, tb)]] += W[t] * fixed[f]
    offset = sum(W[t] * fixed[f] for f in sites.index[sites["status"] == "existing"] for t in data.PERIODS)
    w = np.array([W[t] * USD_TO_MUSD for t in b.P])
    # per arc and period: the origin's unit cost (where non-zero) and the arc's transport cost
    unit = unit_costs(data)
    site_unit = np.array([[unit[(f, t)] for t in b.P] for f in data.SITES]).reshape(len(data.SITES), b.nP)
    per_site = site_unit[origin]  # [arc, period]
    transport = data.arcs["cost_usd_per_t"].astype(float).to_numpy()
    a_all = np.arange(len(origin))
    flow_cost = np.broadcast_to((w[None, :] * per_site)[:, :, None], (len(origin), b.nP, b.nS)) \
        + (w[None, :] * transport[:, None])[:, :, None]
    flow_used = np.broadcast_to(((per_site != 0) | (transport != 0)[:, None])[:, :, None], flow_cost.shape)
    cols = flow(a_all[:, None, None], np.arange(b.nP)[None, :, None], np.arange(b.nS)[None, None, :])
    scen = np.broadcast_to(np.arange(b.nS)[None, None, :], flow_cost.shape)
    second = [(cols.reshape(-1), scen.reshape(-1), flow_cost.reshape(-1))]
    used[cols.reshape(-1)] |= flow_used.reshape(-1)
    sp = data.stockpiles
    if data.STOCKPILES:
        acq = sp["acquisition_cost_usd_per_t"].astype(float).to_dict()
        hold = sp["holding_cost_usd_per_t_yr"].astype(float).to_dict()
        for i, (p, t) in enumerate((p, t) for p in data.STOCKPILES for t in b.P):
            first[c_added + i] += USD_TO_MUSD * (delta[t] * acq[p])
            first[c_stock + i] += USD_TO_MUSD * (W[t] * hold[p])
            used[c_added + i] |= delta[t] * acq[p] != 0
            used[c_stock + i] |= W[t] * hold[p] != 0
        rel = [USD_TO_MUSD * delta[t] * acq[p] * data.shock_years[(s, t)] for p, a, t, s in data.RELEASE]
        n = len(rel)
        second.append((c_release + np.arange(n), np.array([b.spos[k[3]] for k in data.RELEASE], dtype=np.int64),
                       np.array(rel, dtype=float)))
        used[c_release:c_release + n] |= np.array(rel) != 0
    pen = float(data.settings.get("unmet_penalty_usd_per_t") or 0.0)
    if pen:
        n = len(data.demand.index) * b.nS
        keys_t = np.repeat([b.tpos[t] for _, _, t in data.demand.index], b.nS)
        second.append((c_unmet + np.arange(n), np.tile(np.arange(b.nS), len(data.demand.index)), w[keys_t] * pen))
        used[c_unmet:c_unmet + n] = True
    return first, used, float(offset), second


def _expected_cost(b: _Builder, data: PlanData, first: np.ndarray, second: list) -> np.ndarray:
    """First stage + sum_s p_s (second stage of s), per column."""
    prob = data.scenarios["probability"].astype(float).reindex(b.S).to_numpy()
    cost = first.copy()
    for cols, scen, coef in second:
        np.add.at(cost, cols, prob[scen] * coef)
    return cost


def _cvar(b: _Builder, data: PlanData, first: np.ndarray, offset: float, second: list, c_eta: int,
          c_excess: int) -> np.ndarray:
    """Cvar excess (model.define_cvar_excess), as Pyomo's compile orients it:
    C_s - eta - z_s <= -(the cost's constant), C_s the first stage plus scenario s's second stage;
    returns the objective's CVaR term per column, lambda (eta + sum_s p_s z_s / (1 - alpha))."""
    prob = data.scenarios["probability"].astype(float).reindex(b.S).to_numpy()
    n = b.nS
    top = b.rows("cvar_excess", list(b.S), -INF, -offset)
    fj = np.flatnonzero(first)
    for s in range(n):
        b.add(np.full(len(fj), top + s), fj, first[fj])
    for cols, scen, coef in second:
        b.add(top + scen, cols, coef)
    b.add(top + np.arange(n), np.full(n, c_eta), -1.0)
    b.add(top + np.arange(n), c_excess + np.arange(n), -1.0)
    risk = np.zeros(b.n_cols)
    weight, alpha = float(data.cvar_weight), float(data.cvar_alpha)
    risk[c_eta] = weight
    risk[c_excess:c_excess + n] = weight * (prob / (1.0 - alpha))
    return risk


def _finish(b: _Builder, cost: np.ndarray, in_objective: np.ndarray, offset: float, c_build: int,
            n_build: int) -> ArrayModel:
    """Sort the entries by row, drop zeros, drop rows that hold whatever the variables are and
    columns in no row and not in the objective (as Pyomo's compile does), and renumber."""
    rows = np.concatenate([e[0] for e in b.entries]) if b.entries else np.zeros(0, dtype=np.int64)
    # by row (a stable sort: the entries come in long runs of increasing rows); no two entries of a
    # row share a column (each family writes a column once per row; HiGHS and `match` would refuse
    # it otherwise)
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    cols = np.concatenate([e[1] for e in b.entries])[order] if b.entries else np.zeros(0, dtype=np.int64)
    vals = np.concatenate([e[2] for e in b.entries])[order] if b.entries else np.zeros(0)
    nz = vals != 0.0
    if not nz.all():
        rows, cols, vals = rows[nz], cols[nz], vals[nz]
    row_lower = np.concatenate(b.row_lower) if b.row_lower else np.zeros(0)
    row_upper = np.concatenate(b.row_upper) if b.row_upper else np.zeros(0)
    count = np.bincount(rows, minlength=b.n_rows)
    keep_row = (count > 0) | ~((row_lower <= TRIVIAL_TOL) & (row_upper >= -TRIVIAL_TOL))
    keep_col = in_objective.copy()
    keep_col[cols] = True
    new_row = np.cumsum(keep_row) - 1
    new_col = np.cumsum(keep_col) - 1
    rows, cols = new_row[rows], new_col[cols]  # rows already sorted
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=int(keep_row.sum())))))
    col_lower = np.concatenate(b.lower)[keep_col]
    col_upper = np.concatenate(b.upper)[keep_col]
    if not (np.isfinite(vals).all() and np.isfinite(cost).all() and np.isfinite(offset)
            and not np.isnan(col_lower).any() and not np.isnan(col_upper).any()
            and not np.isnan(row_lower).any() and not np.isnan(row_upper).any()):
        raise NotSupported("a non-finite number (Pyomo's compile names where)")
    integer = new_col[c_build:c_build + n_build][keep_col[c_build:c_build + n_build]].astype(np.int32)
    A = Csr(indptr.astype(np.int64), cols.astype(np.int32), vals.astype(float),
            (int(keep_row.sum()), int(keep_col.sum())))
    col_keys, col_blocks = _renumbered(b.col_blocks, keep_col)
    row_keys, row_blocks = _renumbered(b.row_blocks, keep_row)
    return ArrayModel(col_lower, col_upper, integer, cost[keep_col], offset, row_lower[keep_row],
                      row_upper[keep_row], A, col_keys, row_keys, col_blocks, np.where(keep_col, new_col, -1),
                      row_blocks, np.where(keep_row, new_row, -1))


def _renumbered(blocks: list, keep: np.ndarray) -> tuple[Keys, dict]:
    """The keys of the positions kept, and the blocks by name (first, count, every())."""
    new = np.cumsum(keep) - 1
    out = []
    for name, first, count, index_of, _ in blocks:
        kept = np.flatnonzero(keep[first:first + count])
        if len(kept):
            out.append((name, int(new[first + kept[0]]), len(kept), (lambda i, k=kept, f=index_of: f(int(k[i])))))
    return Keys(out), {name: (first, count, every) for name, first, count, _, every in blocks}


def _positions(m, ctype, items: list, blocks: dict, new: np.ndarray, what: str) -> np.ndarray:
    """For each of `items` (the Pyomo model's columns' variables or rows' constraints, by id), its
    position in the arrays (-1 if it has none there). Each component's indices must be its block's,
    in the same order (else ModelMismatch); a component's i-th member is then the block's i-th."""
    ids, pos = [], []
    for comp in m.component_objects(ctype, active=None, descend_into=True):
        name = comp.local_name
        got = blocks.get(name)
        if got is None:
            if len(comp):
                ids.append(np.fromiter(map(id, comp.values()), dtype=np.uint64, count=len(comp)))
                pos.append(np.full(len(comp), -1, dtype=np.int64))  # in the model only: an error if used
            continue
        first, count, every = got
        keys = list(comp.keys())
        if keys != every():
            theirs = every()
            k = next((i for i, (x, y) in enumerate(zip(keys, theirs)) if x != y), min(len(keys), len(theirs)))
            shown = keys[k] if k < len(keys) else theirs[k]
            raise ModelMismatch(f"the {what}s of {name} differ from the arrays' (first at {_name((name, shown))}: "
                                f"{len(keys)} in the model, {len(theirs)} in the arrays)")
        ids.append(np.fromiter(map(id, comp.values()), dtype=np.uint64, count=count))
        pos.append(new[first:first + count])
    all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint64)
    all_pos = np.concatenate(pos) if pos else np.zeros(0, dtype=np.int64)
    order = np.argsort(all_ids)
    wanted = np.fromiter(map(id, items), dtype=np.uint64, count=len(items))
    at = np.searchsorted(all_ids[order], wanted)
    at = np.minimum(at, max(len(order) - 1, 0))
    found = all_ids[order][at] == wanted if len(order) else np.zeros(len(items), dtype=bool)
    return np.where(found, all_pos[order][at] if len(order) else -1, -1)


def match(am: ArrayModel, m, pc) -> tuple[list, list]:
    """The columns and rows of `pc` (the Pyomo model `m` compiled: `solve.Compiled`) in the order of
    `am`, after checking that both are the same model: the same columns and rows by name and index,
    the same integer columns, and every bound, cost and coefficient equal to MATCH_RTOL. Raises
    ModelMismatch naming the first difference."""
    import pyomo.environ as pyo
    n, r = len(pc.columns), len(pc.rows)
    col = _positions(m, pyo.Var, pc.columns, am.col_blocks, am.col_new, "variable")
    cons = [x.constraint for x in pc.rows]
    row = _positions(m, pyo.Constraint, cons, am.row_blocks, am.row_new, "row")
    for pos, items, what in ((col, pc.columns, "column"), (row, cons, "row")):
        bad = np.flatnonzero(pos < 0)
        if len(bad):
            raise ModelMismatch(f"{what} {items[bad[0]].name} of the model is not in the arrays")
    if (n, r) != (len(am.col_lower), len(am.row_lower)):
        raise ModelMismatch(f"{r} rows and {n} columns in the model, {len(am.row_lower)} and "
                            f"{len(am.col_lower)} in the arrays")
    # the model's arrays in the arrays' order
    py_col = np.empty(n, dtype=np.int64)
    py_col[col] = np.arange(n)
    py_row = np.empty(r, dtype=np.int64)
    py_row[row] = np.arange(r)
    checks = [("lower bound", am.col_lower, pc.col_lower[py_col], am.col_keys),
              ("upper bound", am.col_upper, pc.col_upper[py_col], am.col_keys),
              ("cost", am.cost, pc.cost[py_col], am.col_keys),
              ("lower bound", am.row_lower, pc.row_lower[py_row], am.row_keys),
              ("upper bound", am.row_upper, pc.row_upper[py_row], am.row_keys)]
    for what, mine, theirs, keys in checks:
        _same(what, mine, theirs, keys)
    if not np.isclose(am.offset, pc.offset, rtol=MATCH_RTOL, atol=0.0):
        raise ModelMismatch(f"the objective's constant is {am.offset!r} in the arrays, {pc.offset!r} in the model")
    if not np.array_equal(np.sort(am.integer), np.sort(col[pc.integer])):
        raise ModelMismatch("the integer columns differ")
    # the matrix: the model's entries renumbered, sorted by row then column, against the arrays'
    A = pc.A
    p_rows = row[np.repeat(np.arange(r), np.diff(A.indptr))]
    p_cols = col[A.indices]
    order = np.lexsort((p_cols, p_rows))
    a_rows = np.repeat(np.arange(len(am.row_lower)), np.diff(am.A.indptr))
    a_order = np.lexsort((am.A.indices, a_rows))
    if len(order) != len(a_order) or not (np.array_equal(p_rows[order], a_rows[a_order])
                                          and np.array_equal(p_cols[order], am.A.indices[a_order])):
        counts = np.bincount(p_rows, minlength=r) - np.diff(am.A.indptr)
        first = int(np.flatnonzero(counts)[0]) if counts.any() else 0
        raise ModelMismatch(f"row {_name(am.row_keys[first])} has other columns in the model than in the arrays")
    mine, theirs = am.A.data[a_order], A.data[order]
    bad = np.flatnonzero(~np.isclose(mine, theirs, rtol=MATCH_RTOL, atol=0.0))
    if len(bad):
        e = bad[0]
        raise ModelMismatch(f"row {_name(am.row_keys[int(a_rows[a_order][e])])}, column "
                            f"{_name(am.col_keys[int(am.A.indices[a_order][e])])}: coefficient {mine[e]!r} in the "
                            f"arrays, {theirs[e]!r} in the model")
    return [pc.columns[j] for j in py_col.tolist()], [pc.rows[i] for i in py_row.tolist()]


def _same(what: str, mine: np.ndarray, theirs: np.ndarray, keys: Keys) -> None:
    bad = np.flatnonzero(~np.isclose(mine, theirs, rtol=MATCH_RTOL, atol=0.0))
    if len(bad):
        j = int(bad[0])
        raise ModelMismatch(f"{_name(keys[j])}: {what} {mine[j]!r} in the arrays, {theirs[j]!r} in the model")


def _name(key: tuple[str, object]) -> str:
    name, index = key
    if index is None:
        return name
    return f"{name}[{','.join(map(str, index)) if isinstance(index, tuple) else index}]"
