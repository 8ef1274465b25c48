"""`build_model(data, definition)`: the Pyomo MILP, a pure function of the validated tables.

One `define_*` function per constraint family, each named as its heading in
`models/formulation.md` and carrying its math in the docstring. Index sets come ready-made
and sparse from `planner.dataset.data`; nothing here loops over dense products.

Units: flows and outputs in t/yr; costs in the objective in MUSD (present value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.core as pyo  # the modelling components only: no solver or transformation plugins
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from planner.dataset.data import PlanData
from planner.model.definition import ModelDefinition
from planner.model.registry import FAMILIES, built

USD_TO_MUSD = 1e-6


def linear_sum(terms):
    """sum(c * v for c, v in terms) as one LinearExpression (measured ~2.5x faster to build than
    Python's sum, which copies a growing expression); 0 when there are no terms."""
    args = [MonomialTermExpression((float(c), v)) for c, v in terms]
    return LinearExpression(args) if args else 0


def flows(m, arcs, t, s):
    """The sum of the flows on `arcs` in period t, scenario s (the variables themselves as the terms of
    one LinearExpression: coefficient 1 needs no monomial object)."""
    fv = m.flow_var
    args = [fv[(a, t, s)] for a in arcs]
    return LinearExpression(args) if args else 0


def unit_costs(data: PlanData) -> dict[tuple[str, int], float]:
    """c_{f,t} = var_cost + carbon_price_t * emissions + risk_weight * risk_score(country), for every
    site and period."""
    sites = data.sites
    rw = float(data.settings.get("risk_weight_usd_per_t") or 0.0)
    var = sites["var_cost_usd_per_t"].astype(float).to_numpy()
    em = sites["emissions_tco2e_per_t"].astype(float).to_numpy()
    risk = rw * sites["risk_score"].astype(float).to_numpy()
    out = {}
    for t, cp in data.periods["carbon_price"].astype(float).items():
        out.update(zip(((f, t) for f in sites.index), (var + cp * em + risk).tolist()))
    return out


def _limit_rows(data: PlanData, column: str) -> dict[int, float]:
    """limits row label -> cap, for the rows giving `column`."""
    return {int(k): float(v) for k, v in data.limits[column].items() if v is not None and not pd.isna(v)}


def demand_required(data: PlanData, member: str, mineral: str, t: int, s: str) -> float:
    """D_{a,m,t} * mu_{s,m}."""
    return data.demand_tpy[(member, mineral, t)] * data.demand_multiplier(s, mineral)


def site_availability(data: PlanData) -> np.ndarray:
    """alpha_{s,f,t} as an array [site, period, scenario] (SITES, PERIODS, SCENARIOS order; 1 where
    the availability sheet says nothing)."""
    P, S = list(data.PERIODS), list(data.SCENARIOS)
    pos = {f: i for i, f in enumerate(data.SITES)}
    avail = np.ones((len(pos), len(P), len(S)))
    pi, si = {t: i for i, t in enumerate(P)}, {s: i for i, s in enumerate(S)}
    for (s, f, t), x in data.availability.items():
        if f in pos and t in pi and s in si:
            avail[pos[f], pi[t], si[s]] = x
    return avail


def flow_bound_array(data: PlanData) -> np.ndarray:
    """The flows' upper bounds (see flow_upper_bounds) as an array [arc, period, scenario]."""
    arcs, P, S = data.arcs, list(data.PERIODS), list(data.SCENARIOS)
    pos = {f: i for i, f in enumerate(data.SITES)}
    # available capacity (site, period, scenario), 0 where the site cannot run in the period
    runs = np.array([[(f, t) in data.running for t in P] for f in data.SITES], dtype=float).reshape(len(pos), len(P))
    avail = site_availability(data)
    cap = np.array([[data.capacity(f, t) for t in P] for f in data.SITES]).reshape(len(pos), len(P))  # K_{f,t}
    yld = data.sites["yield"].astype(float).to_numpy()
    usable = avail * (cap * runs)[:, :, None]
    o = np.array([pos[x] for x in arcs["origin"]], dtype=int)
    ub = usable[o]
    supply = (arcs["kind"] == "supply").to_numpy()
    if supply.any():
        d = np.array([pos[x] for x in arcs["destination"][supply]], dtype=int)
        ub[supply] = np.minimum(ub[supply], usable[d] / yld[d][:, None, None])
    if (~supply).any():
        dem = data.demand_tpy
        need = np.array([[dem.get((dd, mi, t), 0.0) for t in P]
                         for dd, mi in zip(arcs["destination"][~supply], arcs["mineral"][~supply])]).reshape(-1, len(P))
        mult = np.array([[data.demand_multiplier(s, mi) for s in S] for mi in arcs["mineral"][~supply]])
        ub[~supply] = np.minimum(ub[~supply], need[:, :, None] * mult.reshape(-1, len(S))[:, None, :])
    return ub


def flow_upper_bounds(data: PlanData) -> dict[tuple[int, int, str], float]:
    """The most a flow can usefully carry, as variable bounds (not rows): a delivery never more than
    the member's demand D_{a,m,t} mu_{s,m} (0 without a demand row) nor its supplier's available capacity;
    a supply arc never more than the mine's available capacity nor what the refinery can refine;
    0 when the origin (or a supply arc's refinery) cannot be online in t.
    Over-delivery only costs, so no optimal plan is cut off; the bounds let HiGHS derive the
    variable-upper-bound cuts of facility location (on the OR-Library capacitated warehouse
    instances they turned a plan 4x the optimum into the optimum)."""
    P, S = list(data.PERIODS), list(data.SCENARIOS)
    keys = ((a, t, s) for a in data.arcs.index for t in P for s in S)
    return dict(zip(keys, flow_bound_array(data).reshape(-1).tolist()))


def output_upper_bounds(data: PlanData, ub: dict[tuple[int, int, str], float]) -> dict[tuple[str, int, str], float]:
    """(site, t, s) -> the sum of the upper bounds of the site's outgoing flows (the most it can
    ship), for every site with outgoing arcs."""
    origin = data.arcs["origin"].to_dict()
    most: dict[tuple[str, int, str], float] = {}
    for (a, t, s), x in ub.items():
        k = (origin[a], t, s)
        most[k] = most.get(k, 0.0) + x
    return most


# --- sets and variables --------------------------------------------------------------------

def define_sets(m: pyo.ConcreteModel, data: PlanData) -> None:
    m.PERIODS = pyo.Set(initialize=data.PERIODS, ordered=True, doc="planning periods (first year)")
    m.SCENARIOS = pyo.Set(initialize=data.SCENARIOS, ordered=True, doc="scenarios")
    m.SITES = pyo.Set(initialize=data.SITES, ordered=True, doc="all sites")
    m.BUILD_OPTIONS = pyo.Set(initialize=data.BUILD_OPTIONS, dimen=2, ordered=True,
                              doc="(candidate, build period) pairs that come online within the horizon")
    m.ARCS = pyo.Set(initialize=tuple(data.arcs.index), ordered=True,
                     doc="feasible flows: mine->refinery and refinery/recycling/market->member, same mineral")
    m.DEMANDS = pyo.Set(initialize=tuple(data.demand.index), dimen=3, ordered=True,
                        doc="(member, mineral, period) with a demand row")


def define_variables(m: pyo.ConcreteModel, data: PlanData) -> None:
    m.v_build = pyo.Var(m.BUILD_OPTIONS, domain=pyo.Binary,
                        doc="1 if candidate f is built (final investment decision) in period t [-]")
    ub = flow_upper_bounds(data)
    # plain dicts for the build only (not components; removed when the build ends): the families
    # below skip rows that these bounds imply
    m.flow_ub = ub
    m.output_ub = output_upper_bounds(data, ub)
    m.v_flow = pyo.Var(m.ARCS, m.PERIODS, m.SCENARIOS, domain=pyo.NonNegativeReals,
                       bounds=lambda m, a, t, s: (0, ub[(a, t, s)]),
                       doc="flow on arc in period t, scenario s (at most what can be used: see flow_upper_bounds) [t/yr]")
    # (arc, t, s) -> the flow variable, a plain dict for the build only (a lookup in it is ~30x faster
    # than indexing the Var, which checks the index; removed when the build ends)
    m.flow_var = dict(m.v_flow.items())
    m.v_unmet = pyo.Var(m.DEMANDS, m.SCENARIOS, domain=pyo.NonNegativeReals,
                        doc="demand not met [t/yr]")
    m.FINANCE = pyo.Set(initialize=data.FINANCE, dimen=3, ordered=True,
                        doc="(candidate, member, build period) where the member may pay part of the capex")
    m.MEMBERS = pyo.Set(initialize=data.MEMBERS, ordered=True, doc="active alliance members")
    m.v_finance = pyo.Var(m.FINANCE, domain=pyo.NonNegativeReals,
                          doc="capex of candidate f built in t paid by member a [MUSD, undiscounted]")
    m.v_burden_over = pyo.Var(m.MEMBERS, domain=pyo.NonNegativeReals,
                              doc="PV capex paid by a above its target share [MUSD]")
    m.v_burden_under = pyo.Var(m.MEMBERS, domain=pyo.NonNegativeReals,
                               doc="PV capex paid by a below its target share [MUSD]")
    m.TRACE = pyo.Set(initialize=data.TRACE, dimen=4, ordered=True,
                      doc="(mine country, refining country, member, mineral) for minerals whose origin is constrained")
    m.v_trace = pyo.Var(m.TRACE, m.PERIODS, m.SCENARIOS, domain=pyo.NonNegativeReals,
                        doc="refined tonnes delivered to the member, mined in o and refined in k [t/yr]")
    m.STOCKPILES = pyo.Set(initialize=data.STOCKPILES, ordered=True, doc="stockpiles (mineral:holder)")
    max_t = data.stockpiles["max_t"].astype(float).to_dict() if len(data.stockpiles) else {}
    m.v_stock = pyo.Var(m.STOCKPILES, m.PERIODS, domain=pyo.NonNegativeReals, bounds=lambda m, p, t: (0, max_t[p]),
                        doc="stock held in period t (first stage; at most max_t) [t]")
    m.v_stock_added = pyo.Var(m.STOCKPILES, m.PERIODS, domain=pyo.NonNegativeReals,
                              doc="stock bought at the start of period t [t]")
    m.RELEASE = pyo.Set(initialize=data.RELEASE, dimen=4, ordered=True,
                        doc="(stockpile, member, period, shock scenario) a release may serve")
    m.v_release = pyo.Var(m.RELEASE, domain=pyo.NonNegativeReals,
                          doc="stock released to the member during the scenario's shock [t/yr]")


def define_expressions(m: pyo.ConcreteModel, data: PlanData) -> None:
    out_arcs = data.out_arcs

    def output(m, f, t, s):
        return flows(m, out_arcs.get(f, ()), t, s)

    m.e_output = pyo.Expression(m.SITES, m.PERIODS, m.SCENARIOS, rule=output,
                                doc="output of site f (sum of its outgoing flows) [t/yr]")
    online_keys = tuple(data.ONLINE_LINKS)

    def online(m, f, t):
        return sum(m.v_build[f, tb] for tb in data.ONLINE_LINKS[(f, t)])

    m.e_online = pyo.Expression(pyo.Set(initialize=online_keys, dimen=2), rule=online,
                                doc="1 if candidate f is online in period t [-]")


# --- constraint families (headings of models/formulation.md) --------------------------------

ELASTIC_PENALTY = 1e6  # per MUSD of relaxation: far above any cost, so only what is needed is relaxed


def _relaxation(m: pyo.ConcreteModel, definition, family: str, index) -> callable:
    """In an elastic model, a penalised slack per row of `family` (MUSD); otherwise zero."""
    if not definition.elastic:
        return lambda *k: 0
    var = pyo.Var(index, domain=pyo.NonNegativeReals, doc=f"relaxation of {family} [MUSD]")
    m.add_component(f"v_relax_{family}", var)
    return lambda *k: var[k if len(k) > 1 else k[0]]


def _finance_by_option(data: PlanData) -> dict[tuple[str, int], list[str]]:
    out: dict[tuple[str, int], list[str]] = {}
    for f, a, t in data.FINANCE:
        out.setdefault((f, t), []).append(a)
    return out


def define_financing_balance(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Financing balance: \sum_a \phi_{f,a,t} = (1 - \pi_f) C_f\, b_{f,t} for every build option: the
    public capex of a site built in t (its capex less the private share \pi_f) is paid in full by the
    members (MUSD, undiscounted, in the build period)."""
    payers = _finance_by_option(data)
    cap = data.sites["public_capex_musd"].to_dict()

    def rule(m, f, t):
        return sum(m.v_finance[f, a, t] for a in payers.get((f, t), ())) == float(cap[f]) * m.v_build[f, t]

    m.financing_balance = pyo.Constraint(m.BUILD_OPTIONS, rule=rule, doc="members pay the whole capex [MUSD]")
    period_delta = data.periods["discount"].to_dict()
    by_member: dict[str, list] = {a: [] for a in data.MEMBERS}
    for f, a, t in data.FINANCE:
        by_member[a].append((f, a, t))
    m.e_paid_pv = pyo.Expression(m.MEMBERS, rule=lambda m, a: sum(float(period_delta[k[2]]) * m.v_finance[k]
                                                                  for k in by_member[a]),
                                 doc="present value of the capex member a pays [MUSD]")


def define_paid_total(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Paid total: T = \sum_a P_a, the present value of all capex paid, one variable that the burden and
    benefit rows refer to (so each of those rows has two terms, not one per member)."""
    m.v_paid_total = pyo.Var(domain=pyo.NonNegativeReals, doc="present value of all capex paid [MUSD]")
    m.paid_total = pyo.Constraint(expr=m.v_paid_total == sum(m.e_paid_pv[a] for a in data.MEMBERS),
                                  doc="total PV capex paid = sum over members [MUSD]")


def define_burden_target(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Burden target: P_a - s_a \sum_{a'} P_{a'} = o^+_a - o^-_a, with P_a the PV capex member a pays
    and s_a its burden_share (equal shares when none is given). It only measures the deviation; the
    split of payments is chosen to minimise \sum_a (o^+_a + o^-_a) once the builds are fixed."""
    target = data.financing.burden_target or {a: 1.0 / len(data.MEMBERS) for a in data.MEMBERS}

    def rule(m, a):
        return m.e_paid_pv[a] - target[a] * m.v_paid_total == m.v_burden_over[a] - m.v_burden_under[a]

    m.burden_target = pyo.Constraint(m.MEMBERS, rule=rule, doc="deviation from the target share [MUSD]")
    m.e_burden_deviation = pyo.Expression(expr=sum(m.v_burden_over[a] + m.v_burden_under[a] for a in data.MEMBERS),
                                          doc="total deviation of payments from target shares [MUSD]")


def define_budget(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Budget: \sum_{f} \phi_{f,a,t} \le B_{a,t} for every member and period with a budget row."""
    by_key: dict[tuple[str, int], list] = {}
    for f, a, t in data.FINANCE:
        by_key.setdefault((a, t), []).append((f, a, t))
    keys = tuple(k for k in sorted(data.financing.budgets) if k[0] in data.MEMBERS and by_key.get(k))
    index = pyo.Set(initialize=keys, dimen=2, ordered=True)
    relax = _relaxation(m, definition or ModelDefinition(), "budget", index)

    def rule(m, a, t):
        return sum(m.v_finance[k] for k in by_key[(a, t)]) <= data.financing.budgets[(a, t)] + relax(a, t)

    m.budget = pyo.Constraint(index, rule=rule,
                              doc="capex committed by a member in a period <= its budget [MUSD]")


def define_host_share(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Host share: \phi_{f,h(f),t} \ge \eta^{host} (1 - \pi_f) C_f b_{f,t} where the host h(f) is an active
    member: a share of the public capex."""
    h = data.financing.host_min_share
    if not h:
        return
    cap = data.sites["public_capex_musd"].to_dict()
    host = data.sites["host_member"].to_dict()
    keys = tuple((f, t) for f, t in data.BUILD_OPTIONS if (f, host[f], t) in set(data.FINANCE))
    index = pyo.Set(initialize=keys, dimen=2, ordered=True)
    relax = _relaxation(m, definition or ModelDefinition(), "host_share", index)

    def rule(m, f, t):
        return m.v_finance[f, host[f], t] + relax(f, t) >= float(h) * float(cap[f]) * m.v_build[f, t]

    m.host_share = pyo.Constraint(index, rule=rule,
                                  doc="the host member pays at least host_min_share [MUSD]")


def define_financing_cap(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Financing cap: \phi_{f,a,t} \le \kappa_{a,f} (1 - \pi_f) C_f b_{f,t} for every rule with 0 < \kappa < 1
    (a rule of 0 removes the variable): a share of the public capex."""
    cap = data.sites["public_capex_musd"].to_dict()
    keys = tuple(k for k in data.FINANCE if data.financing.caps.get((k[1], k[0]), 1.0) < 1.0)

    def rule(m, f, a, t):
        return m.v_finance[f, a, t] <= data.financing.caps[(a, f)] * float(cap[f]) * m.v_build[f, t]

    m.financing_cap = pyo.Constraint(pyo.Set(initialize=keys, dimen=3, ordered=True), rule=rule,
                                     doc="a member's share of a project's capex <= its financing rule [MUSD]")


def define_burden_band(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Burden band: |P_a - s_a \sum_{a'} P_{a'}| \le \tau \sum_{a'} P_{a'} for every member with a
    burden_share (both sides written as linear rows)."""
    tau = data.financing.burden_tolerance
    if tau is None or not data.financing.burden_given:
        return
    s = data.financing.burden_target

    def total(m):
        return m.v_paid_total

    up = _relaxation(m, definition or ModelDefinition(), "burden_band_upper", m.MEMBERS)
    lo = _relaxation(m, definition or ModelDefinition(), "burden_band_lower", m.MEMBERS)
    m.burden_band_upper = pyo.Constraint(m.MEMBERS, rule=lambda m, a: m.e_paid_pv[a] - s[a] * total(m)
                                         <= float(tau) * total(m) + up(a), doc="paid share <= target + tolerance")
    m.burden_band_lower = pyo.Constraint(m.MEMBERS, rule=lambda m, a: m.e_paid_pv[a] - s[a] * total(m)
                                         >= -float(tau) * total(m) - lo(a), doc="paid share >= target - tolerance")


def define_benefit_floor(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Benefit floor: \beta_a \ge \rho\, P_a / \sum_{a'} P_{a'}, written r P_a \le \beta_a \sum_{a'} P_{a'}, with
    \beta_a the member's share of the alliance's expected demand in tonnes (the supply the plan
    secures for it); linear because \beta_a is data."""
    r = data.financing.min_benefit_ratio
    if r is None:
        return
    beta = data.benefit_share
    relax = _relaxation(m, definition or ModelDefinition(), "benefit_floor", m.MEMBERS)

    def rule(m, a):
        return float(r) * m.e_paid_pv[a] <= beta[a] * m.v_paid_total + relax(a)

    m.benefit_floor = pyo.Constraint(m.MEMBERS, rule=rule, doc="benefit share >= ratio x cost share")


def _site_payers(data: PlanData) -> dict[str, dict[str, list[int]]]:
    """site -> member -> the build periods in which the member may pay for it (FINANCE)."""
    out: dict[str, dict[str, list[int]]] = {}
    for f, a, t in data.FINANCE:
        out.setdefault(f, {}).setdefault(a, []).append(t)
    return out


def define_syndicate(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Syndicate: with y_{f,a} \in \{0,1\} member a's place in the syndicate of site f and
    K_f = (1 - \pi_f) C_f its public capex,
    \sum_t \phi_{f,a,t} \le K_f\, y_{f,a} (only members of the syndicate pay);
    \sum_t \phi_{f,a,t} \ge \mu K_f \sum_t b_{f,t} - K_f (1 - y_{f,a}) where min_ticket_share \mu is set;
    \sum_a y_{f,a} \le N where max_financiers N is set."""
    n, mu = data.financing.max_financiers, data.financing.min_ticket_share
    if not n and not mu:
        return
    payers = _site_payers(data)
    keys = tuple((f, a) for f, by in payers.items() for a in by)
    builds: dict[str, list[int]] = {}
    for f, t in data.BUILD_OPTIONS:
        builds.setdefault(f, []).append(t)
    cap = data.sites["public_capex_musd"].to_dict()
    m.SYNDICATE = pyo.Set(initialize=keys, dimen=2, ordered=True, doc="(site, member) pairs that may pay")
    m.v_syndicate = pyo.Var(m.SYNDICATE, domain=pyo.Binary, doc="member a is in the syndicate of site f")

    def paid(m, f, a):
        return sum(m.v_finance[f, a, t] for t in payers[f][a])

    m.syndicate_upper = pyo.Constraint(m.SYNDICATE, rule=lambda m, f, a: paid(m, f, a) <= float(cap[f])
                                       * m.v_syndicate[f, a], doc="only members of the syndicate pay [MUSD]")
    if mu:
        m.syndicate_lower = pyo.Constraint(
            m.SYNDICATE, rule=lambda m, f, a: paid(m, f, a) >= float(mu) * float(cap[f])
            * sum(m.v_build[f, t] for t in builds[f]) - float(cap[f]) * (1 - m.v_syndicate[f, a]),
            doc="each member of the syndicate pays at least min_ticket_share [MUSD]")
    if n:
        sites = tuple(f for f in payers if len(payers[f]) > n)
        m.syndicate = pyo.Constraint(pyo.Set(initialize=sites, ordered=True),
                                     rule=lambda m, f: sum(m.v_syndicate[f, a] for a in payers[f]) <= int(n),
                                     doc="at most max_financiers members pay for a site")


def define_benefit_split(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Benefit split: \sum_t \phi_{f,a,t} - ar o_{f,a} = d^+_{f,a} - d^-_{f,a}, d^\pm \ge 0, for every
    site and member that may pay for it. During the search ar o = 0 and the row only defines d^\pm;
    once the plan is fixed, ar o_{f,a} = o_{f,a} K_f b_f, member a's share of site f's expected
    output times its public capex, and the payments are re-chosen to minimise
    \sum_{f,a} (d^+_{f,a} + d^-_{f,a}) / K_f (planner/solver/split.py)."""
    payers = _site_payers(data)
    keys = tuple((f, a) for f, by in payers.items() for a in by)
    m.SPLIT = pyo.Set(initialize=keys, dimen=2, ordered=True, doc="(site, member) pairs that may pay")
    m.v_split_over = pyo.Var(m.SPLIT, domain=pyo.NonNegativeReals,
                             doc="paid above the member's output share of the public capex [MUSD]")
    m.v_split_under = pyo.Var(m.SPLIT, domain=pyo.NonNegativeReals,
                              doc="paid below the member's output share of the public capex [MUSD]")
    m.benefit_split = pyo.Constraint(
        m.SPLIT, rule=lambda m, f, a: sum(m.v_finance[f, a, t] for t in payers[f][a])
        - m.v_split_over[f, a] + m.v_split_under[f, a] == 0.0,
        doc="payment less output share = over - under [MUSD]; its right-hand side is set once the plan is fixed")


def define_build_once(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Build once: \sum_t b_{f,t} \le 1 for every candidate; = 1 where decision is force_build."""
    by_site: dict[str, list[int]] = {}
    for f, t in data.BUILD_OPTIONS:
        by_site.setdefault(f, []).append(t)
    forced = set(data.FORCED)

    def rule(m, f):
        total = sum(m.v_build[f, t] for t in by_site[f])
        return total == 1 if f in forced else total <= 1

    m.build_once = pyo.Constraint(pyo.Set(initialize=tuple(sorted(by_site)), ordered=True), rule=rule,
                                  doc="each candidate built at most once (exactly once if forced)")


def define_capacity_if_online(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Capacity if online: q_{f,t,s} \le \alpha_{s,f,t} K_{f,t} o_{f,t}, with o = 1 for existing sites
    and o_{f,t} = \sum_{t': y_{t'} + \ell_f \le y_t} b_{f,t'} for candidates (0 if never eligible);
    K_{f,t} the capacity_by_period row, else sites.capacity_tpy."""
    existing = set(data.sites.index[data.sites["status"] == "existing"])

    def rule(m, f, t, s):
        most = m.output_ub.get((f, t, s), 0.0)
        if not most:
            return pyo.Constraint.Skip  # no outgoing arc, or the flow bounds are 0 (cannot be online in t)
        cap = data.avail(s, f, t) * data.capacity(f, t)
        if f in existing:
            if most <= cap:
                return pyo.Constraint.Skip  # implied by the flow bounds
            return m.e_output[f, t, s] <= cap
        return m.e_output[f, t, s] <= cap * m.e_online[f, t]  # a candidate that can be online in t

    m.capacity_if_online = pyo.Constraint(m.SITES, m.PERIODS, m.SCENARIOS, rule=rule,
                                          doc="output <= availability x capacity x online [t/yr]")


def define_refinery_input(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Refinery input: \sum_{(g,f)} x_{g,f,t,s} = q_{f,t,s} / \eta_f for every refinery f."""
    refineries = tuple(data.sites.index[data.sites["stage"] == "refinery"])
    yld = data.sites["yield"].astype(float).to_dict()

    def rule(m, f, t, s):
        if (f, t) not in data.running:
            return pyo.Constraint.Skip  # every flow in and out is bounded at 0
        inflow = flows(m, data.in_arcs.get(f, ()), t, s)
        return inflow == m.e_output[f, t, s] / yld[f]

    m.refinery_input = pyo.Constraint(pyo.Set(initialize=refineries, ordered=True), m.PERIODS, m.SCENARIOS,
                                      rule=rule, doc="raw input = refined output / yield [t/yr]")


def define_scrap_limit(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Scrap limit: \sum_{f \in R(a,m)} q_{f,t,s} / \eta_f \le S_{a,m,t} for every member a and
    mineral m with recycling sites in a's countries (S = 0 where no scrap row is given)."""
    pools = data.RECYCLING_POOLS
    scrap = data.scrap["scrap_tpy"].astype(float).to_dict()
    yld = data.sites["yield"].astype(float).to_dict()

    def rule(m, a, mineral, t, s):
        avail = scrap.get((a, mineral, t), 0.0)
        use = sum(m.e_output[f, t, s] / yld[f] for f in pools[(a, mineral)])
        return use <= avail

    m.scrap_limit = pyo.Constraint(pyo.Set(initialize=tuple(pools), dimen=2, ordered=True), m.PERIODS,
                                   m.SCENARIOS, rule=rule, doc="scrap used <= scrap available [t/yr]")


def define_demand_coverage(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Demand coverage: \sum_{(f,a)} x_{f,a,t,s} + \sum_{p} r_{p,a,t,s} + u_{a,m,t,s} \ge D_{a,m,t} \mu_{s,m},
    with r the releases of the stockpiles of mineral m that may serve a."""
    mineral_of = data.stockpiles["mineral"].to_dict() if len(data.stockpiles) else {}
    releases: dict[tuple[str, str, int], list] = {}
    for p, a, t, s in data.RELEASE:
        releases.setdefault((a, mineral_of[p], t, s), []).append((p, a, t, s))

    def rule(m, a, mineral, t, s):
        delivered = flows(m, data.member_in_arcs.get((a, mineral), ()), t, s)
        released = sum(m.v_release[k] for k in releases.get((a, mineral, t, s), ()))
        return delivered + released + m.v_unmet[a, mineral, t, s] >= demand_required(data, a, mineral, t, s)

    m.demand_coverage = pyo.Constraint(m.DEMANDS, m.SCENARIOS, rule=rule,
                                       doc="delivered + unmet >= demand x multiplier [t/yr]")


def define_country_share_cap(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Country share cap: \sum_{f \in c, (f,a)} x_{f,a,t,s} \le \sigma_m D_{a,m,t} \mu_{s,m} for every
    member a, mineral m and country c outside a's own countries (only where \sigma_m is set: the
    mineral's max_country_share, else the refining-stage setting)."""
    sigma = data.sigma_by_mineral
    idx = tuple((a, mi, c, t) for (a, mi, c) in data.SHARE_CAP_INDEX if sigma.get(mi) is not None
                for t in data.PERIODS if (a, mi, t) in data.demand.index)
    if not idx:
        return

    def rule(m, a, mineral, c, t, s):
        arcs = data.SHARE_CAP_INDEX[(a, mineral, c)]
        cap = sigma[mineral] * demand_required(data, a, mineral, t, s)
        if sum(m.flow_ub[(k, t, s)] for k in arcs) <= cap:
            return pyo.Constraint.Skip  # the country cannot deliver more than its share anyway
        return flows(m, arcs, t, s) <= cap

    m.country_share_cap = pyo.Constraint(pyo.Set(initialize=idx, dimen=4, ordered=True), m.SCENARIOS,
                                         rule=rule, doc="supply from one outside country <= share x demand")


def define_exclusive_group(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Exclusive group: \sum_{f \in g} \sum_t b_{f,t} \le 1 for every group g."""
    options: dict[str, list[tuple[str, int]]] = {}
    for f, t in data.BUILD_OPTIONS:
        options.setdefault(f, []).append((f, t))
    groups = {g: [k for f in members for k in options.get(f, [])] for g, members in data.GROUPS.items()}
    groups = {g: v for g, v in groups.items() if len(v) > 1}

    def rule(m, g):
        return sum(m.v_build[k] for k in groups[g]) <= 1

    m.exclusive_group = pyo.Constraint(pyo.Set(initialize=tuple(groups), ordered=True), rule=rule,
                                       doc="at most one build per exclusive group")


def _territorial_cap(m, data: PlanData, name: str, cap_column: str, per_t_column: str, doc: str) -> None:
    r"""\sum_{f \in scope(l)} w_f q_{f,t_l,s} \le cap_l for every limits row l giving `cap_column`."""
    caps = _limit_rows(data, cap_column)
    per_t = {f: float(v) for f, v in data.sites[per_t_column].items() if v}
    period = data.limits["period"].to_dict()

    def rule(m, label, s):
        t = int(period[label])
        terms = [per_t[f] * m.e_output[f, t, s] for f in data.LIMIT_SITES[label] if f in per_t]
        if not terms:  # no covered site emits (uses water): the cap (>= 0) holds whatever the plan
            return pyo.Constraint.Skip
        return sum(terms) <= caps[label]

    m.add_component(name, pyo.Constraint(pyo.Set(initialize=tuple(sorted(caps)), ordered=True), m.SCENARIOS,
                                         rule=rule, doc=doc))


def define_emissions_cap(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Emissions cap: \sum_{f \in F_l} e_f q_{f,t_l,s} \le E_l for every limits row l with an emissions
    cap, F_l being every site (member and country blank), a member's countries' sites (territorial)
    or one country's sites."""
    _territorial_cap(m, data, "emissions_cap", "emissions_cap_tco2e_per_yr", "emissions_tco2e_per_t",
                     "emissions of the covered sites <= cap [tCO2e/yr]")


def define_water_cap(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Water cap: \sum_{f \in F_l} w_f q_{f,t_l,s} \le W_l for every limits row l with a water cap
    (F_l as for the emissions cap; typically one water-stressed country)."""
    _territorial_cap(m, data, "water_cap", "water_cap_m3_per_yr", "water_m3_per_t",
                     "fresh water withdrawn by the covered sites <= cap [m3/yr]")


def define_traced_input(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Traced input: \sum_a z_{o,k,a,m,t,s} = \sum_{(g,r): g \in o, r \in k} \eta_r x_{g,r,t,s} for every
    traced mineral m and (mine country o, refining country k) pair with supply arcs: the refined
    output of country k's refineries carries the origin of its ore (mass balance at country level)."""
    members = {}
    for o, k, a, mi in data.TRACE:
        members.setdefault((o, k, mi), []).append(a)

    def rule(m, o, k, mi, t, s):
        refined = linear_sum((y, m.flow_var[(arc, t, s)]) for arc, y in data.COUNTRY_IN[(mi, o, k)])
        return sum(m.v_trace[o, k, a, mi, t, s] for a in members[(o, k, mi)]) == refined

    m.traced_input = pyo.Constraint(pyo.Set(initialize=tuple(sorted(members)), dimen=3, ordered=True), m.PERIODS,
                                    m.SCENARIOS, rule=rule, doc="origin-tagged refined output = refined ore of "
                                    "that origin [t/yr]")


def define_traced_delivery(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Traced delivery: \sum_o z_{o,k,a,m,t,s} = \sum_{r \in k} x_{r,a,t,s} for every traced mineral m,
    refining country k and member a: the tagged tonnes are exactly what k's refineries deliver."""
    origins = {}
    for o, k, a, mi in data.TRACE:
        origins.setdefault((k, a, mi), []).append(o)

    def rule(m, k, a, mi, t, s):
        delivered = flows(m, data.COUNTRY_OUT[(mi, k, a)], t, s)
        return sum(m.v_trace[o, k, a, mi, t, s] for o in origins[(k, a, mi)]) == delivered

    m.traced_delivery = pyo.Constraint(pyo.Set(initialize=tuple(sorted(origins)), dimen=3, ordered=True),
                                       m.PERIODS, m.SCENARIOS, rule=rule,
                                       doc="origin-tagged deliveries = deliveries from k's refineries [t/yr]")


def define_mining_share_cap(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Mining share cap: \sum_k z_{c,k,a,m,t,s} \le \sigma^{mine} D_{a,m,t} \mu_{s,m} for every member a,
    mineral m and mine country c outside a's own countries (only where max_country_share_mining is set)."""
    sigma = data.sigma_mining
    if sigma is None:
        return
    own = {a: data.member_countries(a) for a in data.MEMBERS}
    keys: dict[tuple, list] = {}
    for o, k, a, mi in data.TRACE:
        if o not in own[a]:
            for t in data.PERIODS:
                if (a, mi, t) in data.demand.index:
                    keys.setdefault((a, mi, o, t), []).append((o, k, a, mi))

    def rule(m, a, mi, c, t, s):
        return sum(m.v_trace[z, t, s] for z in keys[(a, mi, c, t)]) <= sigma * demand_required(data, a, mi, t, s)

    m.mining_share_cap = pyo.Constraint(pyo.Set(initialize=tuple(sorted(keys)), dimen=4, ordered=True),
                                        m.SCENARIOS, rule=rule,
                                        doc="supply mined in one outside country <= share x demand [t/yr]")


def allied_arcs(data: PlanData, member: str, mineral: str) -> tuple[int, ...]:
    """Delivery arcs to the member whose whole chain is allied without tagging: recycling in an allied
    country (market supply has no known mine origin and is never allied)."""
    stage, country = data.sites["stage"].to_dict(), data.sites["country"].to_dict()
    origin = data.arcs["origin"].to_dict()
    return tuple(a for a in data.member_in_arcs.get((member, mineral), ())
                 if stage[origin[a]] == "recycling" and country[origin[a]] in data.ALLIED)


def define_allied_share(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Allied share: \sum_{o,k \in \mathcal{A}} z_{o,k,a,m,t,s} + \sum_{r \in Rec(\mathcal{A})} x_{r,a,t,s}
    \ge \rho_m \sum_{(f,a)} x_{f,a,t,s} for every member a and mineral m with min_allied_share \rho_m:
    supply mined and refined (or recycled) in alliance or partner countries is at least the share
    of what the member receives."""
    rho = {mi: float(v) for mi, v in data.minerals["min_allied_share"].items() if v is not None and not pd.isna(v)}
    tagged: dict[tuple[str, str], list] = {}
    for o, k, a, mi in data.TRACE:
        if mi in rho and o in data.ALLIED and k in data.ALLIED:
            tagged.setdefault((a, mi), []).append((o, k, a, mi))
    keys = tuple((a, mi, t) for (a, mi, t) in data.demand.index if mi in rho)
    recycled = {(a, mi): allied_arcs(data, a, mi) for (a, mi, _) in keys}

    def rule(m, a, mi, t, s):
        allied = (sum(m.v_trace[z, t, s] for z in tagged.get((a, mi), ()))
                  + flows(m, recycled[(a, mi)], t, s))
        delivered = flows(m, data.member_in_arcs.get((a, mi), ()), t, s)
        return allied >= rho[mi] * delivered

    m.allied_share = pyo.Constraint(pyo.Set(initialize=keys, dimen=3, ordered=True), m.SCENARIOS, rule=rule,
                                    doc="allied-content supply >= min_allied_share x supply [t/yr]")


def define_stock_build_up(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Stock build up: A_{p,t} \ge S_{p,t} - S_{p,t-1} (S_{p,t_0 - 1} = 0): tonnes added to a stock are
    bought at the acquisition cost; a stock may be run down (without resale value)."""
    prev = dict(zip(data.PERIODS[1:], data.PERIODS[:-1]))

    def rule(m, p, t):
        before = m.v_stock[p, prev[t]] if t in prev else 0
        return m.v_stock_added[p, t] >= m.v_stock[p, t] - before

    m.stock_build_up = pyo.Constraint(m.STOCKPILES, m.PERIODS, rule=rule, doc="stock added >= increase in stock [t]")


def define_stock_release(m: pyo.ConcreteModel, data: PlanData, definition=None) -> None:
    r"""Stock release: d_{s,t} \sum_a r_{p,a,t,s} \le S_{p,t}: during a shock lasting d_{s,t} years (the
    scenario's shock_years, at most the period) the stock can sustain a release rate of S / d."""
    by_key: dict[tuple[str, int, str], list] = {}
    for k in data.RELEASE:
        by_key.setdefault((k[0], k[2], k[3]), []).append(k)

    def rule(m, p, t, s):
        return data.shock_years[(s, t)] * sum(m.v_release[k] for k in by_key[(p, t, s)]) <= m.v_stock[p, t]

    m.stock_release = pyo.Constraint(pyo.Set(initialize=tuple(sorted(by_key)), dimen=3, ordered=True), rule=rule,
                                     doc="tonnes released over the shock <= stock held [t]")


def define_cvar_excess(m: pyo.ConcreteModel, data: PlanData, alpha: float) -> None:
    r"""Cvar excess: z_s \ge C_s - \eta, z_s \ge 0, so that
    \mathrm{CVaR}_\alpha = \eta + \frac{1}{1-\alpha} \sum_s p_s z_s (Rockafellar-Uryasev) at the optimum,
    with C_s the present-value cost of scenario s (first stage included)."""
    m.v_cvar_eta = pyo.Var(domain=pyo.Reals, doc="value-at-risk of scenario cost at level alpha [MUSD]")
    m.v_cvar_excess = pyo.Var(m.SCENARIOS, domain=pyo.NonNegativeReals,
                              doc="scenario cost above the value-at-risk [MUSD]")
    m.cvar_excess = pyo.Constraint(m.SCENARIOS, rule=lambda m, s: m.v_cvar_excess[s] >= m.e_scenario_cost[s]
                                   - m.v_cvar_eta, doc="excess of scenario cost over the VaR [MUSD]")
    prob = data.scenarios["probability"].astype(float).to_dict()
    m.e_cvar = pyo.Expression(expr=m.v_cvar_eta + sum(prob[s] * m.v_cvar_excess[s] for s in data.SCENARIOS)
                              / (1.0 - alpha), doc="CVaR of scenario cost at level alpha [MUSD]")


def define_objective(m: pyo.ConcreteModel, data: PlanData) -> None:
    r"""Objective (present value, MUSD): first stage plus expected second stage (plus \lambda CVaR):
    C^{1} = \sum_{f,t} \delta_t C_f b_{f,t} + \sum_{f,t} L_t \delta_t F_f o_{f,t}
    + 10^{-6} \sum_{p,t} (\delta_t a_p A_{p,t} + L_t \delta_t h_p S_{p,t});
    C_s = C^{1} + \sum_t L_t \delta_t 10^{-6} [\sum_f c_{f,t} q_{f,t,s} + \sum_k \tau_k x_{k,t,s} + \pi u]
    + \sum_t \delta_t 10^{-6} a_p d_{s,t} r_{p,a,t,s};  minimise \sum_s p_s C_s + \lambda \mathrm{CVaR}_\alpha(C)."""
    sites, per = data.sites, data.periods
    delta, W = per["discount"].astype(float).to_dict(), per["weight"].astype(float).to_dict()
    capex = sites["capex_musd"].astype(float).to_dict()
    fixed = sites["fixed_opex_musd_per_yr"].astype(float).to_dict()
    m.e_capex = pyo.Expression(expr=sum(delta[t] * capex[f] * m.v_build[f, t]
                                        for f, t in data.BUILD_OPTIONS),
                               doc="present value of capex [MUSD]")
    existing_fixed = sum(W[t] * fixed[f]
                         for f in sites.index[sites["status"] == "existing"] for t in data.PERIODS)
    m.e_fixed_opex = pyo.Expression(
        expr=existing_fixed + sum(W[t] * fixed[f]
                                  * m.e_online[f, t] for (f, t) in data.ONLINE_LINKS if data.ONLINE_LINKS[(f, t)]),
        doc="present value of fixed opex [MUSD]")
    sp = data.stockpiles
    acq = sp["acquisition_cost_usd_per_t"].astype(float).to_dict() if len(sp) else {}
    hold = sp["holding_cost_usd_per_t_yr"].astype(float).to_dict() if len(sp) else {}
    m.e_stock_cost = pyo.Expression(
        expr=sum(USD_TO_MUSD * (delta[t] * acq[p] * m.v_stock_added[p, t] + W[t] * hold[p] * m.v_stock[p, t])
                 for p in data.STOCKPILES for t in data.PERIODS),
        doc="present value of buying and holding stocks [MUSD]")
    m.e_first_stage = pyo.Expression(expr=m.e_capex + m.e_fixed_opex + m.e_stock_cost,
                                     doc="cost decided before the scenario is known [MUSD]")
    unit = {(f, t): c for (f, t), c in unit_costs(data).items() if data.out_arcs.get(f)}
    cost = {a: c for a, c in data.arcs["cost_usd_per_t"].items() if c}
    pen = data.unmet_penalty  # theta_m, USD/t

    def w(t):
        return W[t] * USD_TO_MUSD

    m.e_operating_s = pyo.Expression(m.SCENARIOS, rule=lambda m, s: sum(
        w(t) * c * m.e_output[f, t, s] for (f, t), c in unit.items() if c),
        doc="PV of variable, carbon and risk charges in scenario s [MUSD]")
    per_arc = [(a, t, w(t) * c) for a, c in cost.items() for t in data.PERIODS]  # the same in every scenario
    m.e_transport_s = pyo.Expression(m.SCENARIOS, rule=lambda m, s: linear_sum(
        (k, m.flow_var[(a, t, s)]) for a, t, k in per_arc), doc="PV of transport in scenario s [MUSD]")
    m.e_unmet_penalty_s = pyo.Expression(m.SCENARIOS, rule=lambda m, s: sum(
        w(t) * pen[mi] * m.v_unmet[a, mi, t, s] for (a, mi, t) in data.demand.index if pen[mi]),
        doc="PV of the unmet-demand penalty in scenario s [MUSD]")
    m.e_stock_replenish_s = pyo.Expression(m.SCENARIOS, rule=lambda m, s: sum(
        USD_TO_MUSD * delta[t] * acq[p] * data.shock_years[(s, t)] * m.v_release[p, a, t, ss]
        for (p, a, t, ss) in data.RELEASE if ss == s), doc="PV of replenishing the stock released in scenario s [MUSD]")
    m.e_scenario_cost = pyo.Expression(m.SCENARIOS, rule=lambda m, s: m.e_first_stage + m.e_operating_s[s]
                                       + m.e_transport_s[s] + m.e_unmet_penalty_s[s] + m.e_stock_replenish_s[s],
                                       doc="present-value cost if scenario s happens [MUSD]")
    prob = data.scenarios["probability"].astype(float).to_dict()

    def expected(e):
        return sum(prob[s] * e[s] for s in data.SCENARIOS)

    m.e_operating = pyo.Expression(expr=expected(m.e_operating_s), doc="expected PV of variable, carbon and risk "
                                   "charges [MUSD]")
    m.e_transport = pyo.Expression(expr=expected(m.e_transport_s), doc="expected PV of transport [MUSD]")
    m.e_unmet_penalty = pyo.Expression(expr=expected(m.e_unmet_penalty_s),
                                       doc="expected PV of the unmet-demand penalty [MUSD]")
    m.e_stock_replenish = pyo.Expression(expr=expected(m.e_stock_replenish_s),
                                         doc="expected PV of replenishing released stock [MUSD]")
    m.e_expected_cost = pyo.Expression(expr=m.e_first_stage + m.e_operating + m.e_transport + m.e_unmet_penalty
                                       + m.e_stock_replenish, doc="expected present-value cost [MUSD]")
    risk = 0.0
    if data.cvar_weight:
        define_cvar_excess(m, data, data.cvar_alpha)
        risk = data.cvar_weight * m.e_cvar
    m.total_cost = pyo.Objective(expr=m.e_expected_cost + risk, sense=pyo.minimize,
                                 doc="expected present-value cost (+ cvar_weight x CVaR) [MUSD]")


def build_model(data: PlanData, definition: ModelDefinition) -> pyo.ConcreteModel:
    """The extensive-form two-stage MILP. Pure: reads only `data` and `definition`."""
    with PauseGC():  # Pyomo's own advice for large builds: no garbage-collector passes while building
        return _build(data, definition)


def _build(data: PlanData, definition: ModelDefinition) -> pyo.ConcreteModel:
    """Sets, variables and expressions, then every family of the registry (`planner/model/registry.py`)
    that applies, in its order, then the objective."""
    m = pyo.ConcreteModel(name=f"planner:{definition.name}")
    define_sets(m, data)
    define_variables(m, data)
    define_expressions(m, data)
    for family in FAMILIES:
        if built(family, definition, data):
            globals()[f"define_{family.name}"](m, data, definition)
    define_objective(m, data)
    if definition.elastic:
        relax = [v for v in m.component_objects(pyo.Var) if v.name.startswith("v_relax_")]
        m.total_cost.deactivate()
        m.elastic_objective = pyo.Objective(
            expr=m.total_cost.expr + ELASTIC_PENALTY * sum(var[k] for var in relax for k in var),
            sense=pyo.minimize, doc="cost + penalty on every relaxation [MUSD]")
    del m.flow_var, m.flow_ub, m.output_ub  # build-only lookups (see define_variables)
    return m
