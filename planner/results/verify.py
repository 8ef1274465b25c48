"""The independent check of a reported plan: every constraint family of the registry
(planner/model/registry.py) recomputed from the plain tables and the input data alone, never from
the model. It is the safety net that catches a wrong model.
"""

from __future__ import annotations
from functools import cached_property
import pandas as pd
from planner.dataset.data import PlanData
from planner.model.definition import ModelDefinition
from planner.model.registry import FAMILIES
from .solution import Solution, online_periods, paid_pv_by_member, site_output


def required_table(data: PlanData) -> dict[tuple[str, str, int, str], float]:
    """(member, mineral, period, scenario) -> the demand the scenario asks of the plan: the
    workbook's demand times the scenario's demand multiplier for the mineral (scenario_demand, else the
    scenario's own; t/yr), read from the plain tables (not from the model)."""
    mult = {s: float(x) for s, x in data.scenarios["demand_multiplier"].items()}
    over = data.mineral_multiplier
    return {(a, mi, t, s): float(d) * over.get((s, mi), mult[s]) for (a, mi, t), d in data.demand["demand_tpy"].items()
            for s in data.SCENARIOS}


class _Plan:
    """A reported plan's plain tables and what several checks read from them, computed once."""

    def __init__(self, data: PlanData, definition: ModelDefinition, sol: Solution):
        self.data, self.definition, self.sol = data, definition, sol

    @cached_property
    def required(self) -> dict:
        return required_table(self.data)

    @cached_property
    def out(self) -> dict:
        return site_output(self.sol).to_dict()

    @cached_property
    def counts(self) -> dict:
        return self.sol.builds["site"].value_counts().to_dict()

    @cached_property
    def stock(self) -> dict:
        return {(p, t): x for p, t, x, _ in self.sol.stocks.itertuples(index=False)}

    @cached_property
    def paid(self) -> dict:  # (member, build period) -> MUSD; (site, member, build period) -> MUSD
        f = self.sol.financing
        return {(s, a, t): x for s, a, t, x in f.itertuples(index=False)}

    @cached_property
    def pv(self) -> dict:
        return paid_pv_by_member(self.data, self.sol)

    @cached_property
    def traced(self) -> tuple[dict, dict, dict, dict]:
        """The model's origin tags and the plain tables' flows, each by country chain (`_traced_tables`)."""
        return _traced_tables(self)

    def delivered(self) -> dict:
        f = self.sol.flows
        return f[f["kind"] == "delivery"].groupby(["destination", "mineral", "period", "scenario"])[
            "flow_tpy"].sum().to_dict() if not f.empty else {}


Violations = list[tuple[str, str, float]]


def check_build_once(p: _Plan) -> Violations:
    """Each candidate built at most once, only eligible candidates, every forced one (count)."""
    v, sites = [], p.data.sites
    for f, n in p.counts.items():
        if n > 1:
            v.append(("build_once", f, float(n - 1)))
        if f not in sites.index or sites.loc[f, "status"] != "candidate" or not sites.loc[f, "eligible"]:
            v.append(("build_once", f"{f} is not an eligible candidate", 1.0))
    for f in p.data.FORCED:
        if p.counts.get(f, 0) != 1:
            v.append(("build_once", f"{f} forced", 1.0))
    return v


def check_exclusive_group(p: _Plan) -> Violations:
    v = []
    for g, members in p.data.GROUPS.items():
        n = sum(p.counts.get(f, 0) for f in members)
        if n > 1:
            v.append(("exclusive_group", g, float(n - 1)))
    return v


def check_capacity_if_online(p: _Plan) -> Violations:
    """Output at most availability x capacity (the period's: capacity_by_period, else the site's) where
    the site is existing or online (t/yr)."""
    v, data, sites = [], p.data, p.data.sites
    online = online_periods(data, p.sol.builds)
    status = sites["status"].to_dict()
    for f in data.SITES:
        for t in data.PERIODS:
            is_on = status[f] == "existing" or t in online.get(f, set())
            for s in data.SCENARIOS:
                q = p.out.get((f, t, s), 0.0)
                cap = data.avail(s, f, t) * data.capacity(f, t) if is_on else 0.0
                if q - cap > 0:
                    v.append(("capacity_if_online", f"{f},{t},{s}", q - cap))
    return v


def check_refinery_input(p: _Plan) -> Violations:
    """A refinery's ore in = its output / yield (t/yr)."""
    v, data, sites, f_ = [], p.data, p.data.sites, p.sol.flows
    inflow = f_[f_["kind"] == "supply"].groupby(["destination", "period", "scenario"])["flow_tpy"].sum().to_dict() \
        if not f_.empty else {}
    for f in sites.index[sites["stage"] == "refinery"]:
        for t in data.PERIODS:
            for s in data.SCENARIOS:
                gap = abs(inflow.get((f, t, s), 0.0) - p.out.get((f, t, s), 0.0) / float(sites.loc[f, "yield"]))
                if gap > 0:
                    v.append(("refinery_input", f"{f},{t},{s}", gap))
    return v


def check_scrap_limit(p: _Plan) -> Violations:
    """Recycling input (output / yield) at most the member's scrap of the mineral (t/yr)."""
    v, data, sites = [], p.data, p.data.sites
    for (a, mi), fs in data.RECYCLING_POOLS.items():
        for t in data.PERIODS:
            avail = float(data.scrap.loc[(a, mi, t), "scrap_tpy"]) if (a, mi, t) in data.scrap.index else 0.0
            for s in data.SCENARIOS:
                use = sum(p.out.get((f, t, s), 0.0) / float(sites.loc[f, "yield"]) for f in fs)
                if use - avail > 0:
                    v.append(("scrap_limit", f"{a},{mi},{t},{s}", use - avail))
    return v


def check_stock_build_up(p: _Plan) -> Violations:
    """A stock rises only by what is bought in the period (t)."""
    v, periods = [], p.data.PERIODS
    for st, t, x, a in p.sol.stocks.itertuples(index=False):
        i = periods.index(t)
        rise = x - (p.stock[(st, periods[i - 1])] if i else 0.0)
        if rise - a > 0:
            v.append(("stock_build_up", f"{st},{t}", rise - a))
    return v


def check_stock_release(p: _Plan) -> Violations:
    """A stock at most max_t, and a shock's releases (rate x shock years) at most the stock (t)."""
    v, data, rel = [], p.data, p.sol.releases
    for st, t, x, _ in p.sol.stocks.itertuples(index=False):
        cap = float(data.stockpiles.loc[st, "max_t"])
        if x - cap > 0:
            v.append(("stock_release", f"{st},{t} above max_t", x - cap))
    if len(rel):
        for (st, t, s), r in rel.groupby(["stockpile", "period", "scenario"])["release_tpy"].sum().items():
            over = data.shock_years[(s, t)] * r - p.stock.get((st, t), 0.0)
            if over > 0:
                v.append(("stock_release", f"{st},{t},{s}", over))
    return v


def check_demand_coverage(p: _Plan) -> Violations:
    """Deliveries + unmet + stock released cover the scenario's demand (t/yr)."""
    v, data = [], p.data
    delivered = p.delivered()
    unmet = {(a, mi, t, s): u for a, mi, t, s, u in p.sol.unmet.itertuples(index=False)}
    mineral_of = data.stockpiles["mineral"].to_dict() if len(data.stockpiles) else {}
    released: dict[tuple, float] = {}
    for st, a, t, s, r in p.sol.releases.itertuples(index=False):
        k = (a, mineral_of[st], t, s)
        released[k] = released.get(k, 0.0) + r
    for (a, mi, t) in data.demand.index:
        for s in data.SCENARIOS:
            short = (p.required[(a, mi, t, s)] - delivered.get((a, mi, t, s), 0.0)
                     - unmet.get((a, mi, t, s), 0.0) - released.get((a, mi, t, s), 0.0))
            if short > 0:
                v.append(("demand_coverage", f"{a},{mi},{t},{s}", short))
    return v


def check_country_share_cap(p: _Plan) -> Violations:
    """Deliveries from one outside country at most its share of the scenario's demand (t/yr)."""
    v, data, sol = [], p.data, p.sol
    sigma = data.sigma_by_mineral
    if not any(x is not None for x in sigma.values()) or sol.flows.empty:
        return v
    d = sol.flows[sol.flows["kind"] == "delivery"].copy()
    country = data.sites["country"].to_dict()
    d["country"] = [country[o] for o in d["origin"]]
    by = d.groupby(["destination", "mineral", "country", "period", "scenario"])["flow_tpy"].sum()
    for (a, mi, c, t, s), x in by.items():
        if (a, mi, c) in data.SHARE_CAP_INDEX and (a, mi, t) in data.demand.index and sigma.get(mi) is not None:
            excess = x - sigma[mi] * p.required[(a, mi, t, s)]
            if excess > 0:
                v.append(("country_share_cap", f"{a},{mi},{c},{t},{s}", excess))
    return v


def _territorial(p: _Plan, family: str, cap_col: str, per_t: str) -> Violations:
    v, data = [], p.data
    w = data.sites[per_t].astype(float).to_dict()
    for label, r in data.limits.iterrows():
        cap = r[cap_col]
        if cap is None or pd.isna(cap):
            continue
        covered, t = data.LIMIT_SITES[label], int(r["period"])
        for s in data.SCENARIOS:
            use = sum(w[f] * p.out.get((f, t, s), 0.0) for f in covered)
            if use - float(cap) > 0:
                v.append((family, f"limits row {r['_row']},{s}", use - float(cap)))
    return v


def check_emissions_cap(p: _Plan) -> Violations:
    """Emissions of the sites a limits row covers at most its cap (tCO2e/yr)."""
    return _territorial(p, "emissions_cap", "emissions_cap_tco2e_per_yr", "emissions_tco2e_per_t")


def check_water_cap(p: _Plan) -> Violations:
    """Fresh water of the sites a limits row covers at most its cap (m3/yr)."""
    return _territorial(p, "water_cap", "water_cap_m3_per_yr", "water_m3_per_t")


def _traced_tables(p: _Plan) -> tuple[dict, dict, dict, dict]:
    from planner.results.trace import delivered_by_country, refined_by_origin
    z, flows = p.sol.trace, p.sol.flows
    tin = z.groupby(["mineral", "mine_country", "refining_country", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
    tout = z.groupby(["mineral", "refining_country", "member", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
    rin = refined_by_origin(p.data, flows) if not flows.empty else {}
    rout = delivered_by_country(p.data, flows) if not flows.empty else {}
    return tin, tout, rin, rout


def check_traced_input(p: _Plan) -> Violations:
    """The model's origin tags add up to each refining country's ore by mine country (t/yr)."""
    traced = set(p.data.TRACED_MINERALS)
    tin, _, rin, _ = p.traced
    return [("traced_input", ",".join(map(str, k)), abs(tin.get(k, 0.0) - rin.get(k, 0.0)))
            for k in set(tin) | {k for k in rin if k[0] in traced} if abs(tin.get(k, 0.0) - rin.get(k, 0.0)) > 0]


def check_traced_delivery(p: _Plan) -> Violations:
    """The model's origin tags add up to each member's deliveries by refining country (t/yr)."""
    traced = set(p.data.TRACED_MINERALS)
    _, tout, _, rout = p.traced
    return [("traced_delivery", ",".join(map(str, k)), abs(tout.get(k, 0.0) - rout.get(k, 0.0)))
            for k in set(tout) | {k for k in rout if k[0] in traced} if abs(tout.get(k, 0.0) - rout.get(k, 0.0)) > 0]


def check_mining_share_cap(p: _Plan) -> Violations:
    """Refined supply mined in one outside country at most its share of the scenario's demand (t/yr)."""
    v, data = [], p.data
    if data.sigma_mining is None or not data.TRACE:
        return v
    by = p.sol.trace.groupby(["member", "mineral", "mine_country", "period", "scenario"])["tonnes_per_yr"].sum()
    for (a, mi, c, t, s), x in by.items():
        if c not in data.member_countries(a) and (a, mi, t) in data.demand.index:
            excess = x - data.sigma_mining * p.required[(a, mi, t, s)]
            if excess > 0:
                v.append(("mining_share_cap", f"{a},{mi},{c},{t},{s}", excess))
    return v


def check_allied_share(p: _Plan) -> Violations:
    """Allied-content supply (mined and refined in allied countries, or recycled there) at least the
    mineral's min_allied_share of the member's supply (t/yr)."""
    v, data, sol = [], p.data, p.sol
    rho = {mi: float(r) for mi, r in data.minerals["min_allied_share"].items() if r is not None and not pd.isna(r)}
    if not rho or not data.TRACE:
        return v
    z = sol.trace
    allied_z = z[z["mine_country"].isin(data.ALLIED) & z["refining_country"].isin(data.ALLIED)]
    allied = allied_z.groupby(["member", "mineral", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
    d = sol.flows[sol.flows["kind"] == "delivery"] if not sol.flows.empty else pd.DataFrame(
        columns=["origin", "destination", "mineral", "period", "scenario", "flow_tpy"])
    keys = ["destination", "mineral", "period", "scenario"]
    got = d.groupby(keys)["flow_tpy"].sum().to_dict()
    stage, country = data.sites["stage"].to_dict(), data.sites["country"].to_dict()
    recycled = d[[stage[o] == "recycling" and country[o] in data.ALLIED for o in d["origin"]]]
    rec = recycled.groupby(keys)["flow_tpy"].sum().to_dict()
    for (a, mi, t) in data.demand.index:
        if mi not in rho:
            continue
        for s in data.SCENARIOS:
            k = (a, mi, t, s)
            short = rho[mi] * got.get(k, 0.0) - allied.get(k, 0.0) - rec.get(k, 0.0)
            if short > 0:
                v.append(("allied_share", f"{a},{mi},{t},{s}", short))
    return v


def check_financing_balance(p: _Plan) -> Violations:
    """The members pay each built site's whole public capex (capex less its private share), and nothing
    for a site not built (MUSD)."""
    v, sol, sites = [], p.sol, p.data.sites
    f_tab = sol.financing
    paid = f_tab.groupby(["site", "build_period"])["paid_musd"].sum().to_dict() if len(f_tab) else {}
    built = set(zip(sol.builds["site"], sol.builds["build_period"]))
    for f, t in zip(sol.builds["site"], sol.builds["build_period"]):
        gap = abs(paid.get((f, t), 0.0) - float(sites.loc[f, "public_capex_musd"]))
        if gap > 0:
            v.append(("financing_balance", f"{f},{t}", gap))
    for (f, t) in paid:
        if (f, t) not in built:
            v.append(("financing_balance", f"{f},{t} paid but not built", paid[(f, t)]))
    return v


def check_budget(p: _Plan) -> Violations:
    """Each member's capex committed in a period at most its budget (MUSD)."""
    f_tab = p.sol.financing
    by = f_tab.groupby(["member", "build_period"])["paid_musd"].sum().to_dict() if len(f_tab) else {}
    return [("budget", f"{a},{t}", by[(a, t)] - b) for (a, t), b in p.data.financing.budgets.items()
            if by.get((a, t), 0.0) - b > 0]


def check_host_share(p: _Plan) -> Violations:
    """A member hosting a built site pays at least host_min_share of its capex (MUSD)."""
    v, data, fin = [], p.data, p.data.financing
    if not fin.host_min_share:
        return v
    for f, t in zip(p.sol.builds["site"], p.sol.builds["build_period"]):
        host = data.sites.loc[f, "host_member"]
        if host in data.MEMBERS:
            short = fin.host_min_share * float(data.sites.loc[f, "public_capex_musd"]) - p.paid.get((f, host, t), 0.0)
            if short > 0:
                v.append(("host_share", f"{f},{host},{t}", short))
    return v


def check_financing_cap(p: _Plan) -> Violations:
    """A member pays at most its financing rule's share of a site's capex (MUSD)."""
    v, data = [], p.data
    for f, t in zip(p.sol.builds["site"], p.sol.builds["build_period"]):
        capex = float(data.sites.loc[f, "public_capex_musd"])
        for a in data.MEMBERS:
            over = p.paid.get((f, a, t), 0.0) - data.financing.caps.get((a, f), 1.0) * capex
            if over > 0:
                v.append(("financing_cap", f"{f},{a},{t}", over))
    return v


def check_burden_band(p: _Plan) -> Violations:
    """Each member's share of PV capex within burden_tolerance of its burden_share (MUSD, PV)."""
    fin, total = p.data.financing, sum(p.pv.values())
    if fin.burden_tolerance is None or not fin.burden_given:
        return []
    return [("burden_band", a, abs(p.pv[a] - fin.burden_target[a] * total) - fin.burden_tolerance * total)
            for a in p.data.MEMBERS if abs(p.pv[a] - fin.burden_target[a] * total) - fin.burden_tolerance * total > 0]


def check_benefit_floor(p: _Plan) -> Violations:
    """min_benefit_ratio x a member's PV capex at most its benefit share of the total (MUSD, PV)."""
    fin, total = p.data.financing, sum(p.pv.values())
    if fin.min_benefit_ratio is None:
        return []
    return [("benefit_floor", a, fin.min_benefit_ratio * p.pv[a] - p.data.benefit_share[a] * total)
            for a in p.data.MEMBERS if fin.min_benefit_ratio * p.pv[a] - p.data.benefit_share[a] * total > 0]


def check_syndicate(p: _Plan) -> Violations:
    """At most max_financiers members pay for a built site (a count), each at least
    min_ticket_share of its public capex (a share of it). A payment below 1e-9 of the public capex
    is no payment."""
    v, fin = [], p.data.financing
    if not fin.max_financiers and not fin.min_ticket_share:
        return v
    for f, t in zip(p.sol.builds["site"], p.sol.builds["build_period"]):
        capex = float(p.data.sites.loc[f, "public_capex_musd"])
        paid = {a: p.paid.get((f, a, t), 0.0) for a in p.data.MEMBERS}
        payers = [a for a, x in paid.items() if x > 1e-9 * max(1.0, capex)]
        if fin.max_financiers and len(payers) > fin.max_financiers:
            v.append(("syndicate", f"{f}: {len(payers)} payers", float(len(payers) - fin.max_financiers)))
        for a in payers:
            short = (fin.min_ticket_share or 0.0) - paid[a] / capex
            if short > 0:
                v.append(("syndicate", f"{f},{a} ticket", short))
    return v


# the plain-table check of each constraint family of the registry (planner/model/registry.py)
CHECKS = {name[len("check_"):]: fn for name, fn in list(globals().items()) if name.startswith("check_")}


def verify_solution(data: PlanData, definition: ModelDefinition, sol: Solution) -> Violations:
    """Recompute every constraint family of the registry that the model built, from the plain
    tables and the input data alone (`CHECKS`; definitions are covered as their entry says).

    Returns (constraint family, index, violation) for every violated row, largest first;
    a violation is measured in the row's own unit (t/yr, t, tCO2e/yr, m3/yr, MUSD or count)."""
    plan = _Plan(data, definition, sol)
    v: Violations = []
    for family in FAMILIES:
        if family.kind == "constraint" and not (family.optional and not definition.on(family.name)):
            v += CHECKS[family.name](plan)
    return sorted(v, key=lambda r: -r[2])
