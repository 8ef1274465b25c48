"""Plain result tables from a solved plan, and everything computed from them (no Pyomo, no
solver): cost accounting and an independent check of every constraint.

The costs reported in `summary` are recomputed here from the plain tables and the input data,
not read from the solver; `verify_solution` recomputes every constraint the same way. Build
decisions are rounded at 0.5 (binaries come back as 0.9999999 or -0.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import PlanData
from .definition import ModelDefinition
from .model import demand_required

FLOW_EPS = 1e-6  # t/yr below which a flow is reported as zero
FINANCE_EPS = 1e-9  # MUSD below which a payment is reported as zero
STOCK_COLS = ["stockpile", "period", "stock_t", "added_t"]
RELEASE_COLS = ["stockpile", "member", "period", "scenario", "release_tpy"]
TRACE_VARS = ["mine_country", "refining_country", "member", "mineral", "period", "scenario", "tonnes_per_yr"]


@dataclass
class Solution:
    builds: pd.DataFrame  # site, build_period
    flows: pd.DataFrame  # arc, origin, destination, kind, mineral, period, scenario, flow_tpy
    unmet: pd.DataFrame  # member, mineral, period, scenario, unmet_tpy
    financing: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["site", "member", "build_period", "paid_musd"]))  # capex paid, undiscounted
    trace: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRACE_VARS))  # model's tagged flows
    stocks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STOCK_COLS))  # first stage
    releases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RELEASE_COLS))


def extract_solution(plan, data: PlanData) -> Solution:
    """Read a solved plan into plain tables. `plan.values(name)` gives (indices, values) of a
    variable by the compiled model's column keys (`solve.SolveOutcome.values`); a variable with no
    column is 0."""
    def values(name: str) -> list[tuple[object, float]]:
        index, x = plan.values(name)
        return list(zip(index, np.asarray(x, dtype=float).tolist()))

    builds = [k for k, x in values("v_build") if x > 0.5]
    arcs = data.arcs
    rows = [(a, t, s, x) for (a, t, s), x in values("v_flow") if x > FLOW_EPS]
    flows = pd.DataFrame(rows, columns=["arc", "period", "scenario", "flow_tpy"])
    for col in ("origin", "destination", "kind", "mineral"):
        flows[col] = arcs[col].to_numpy()[flows["arc"].to_numpy(dtype=int)] if len(flows) else []
    flows = flows[["arc", "origin", "destination", "kind", "mineral", "period", "scenario", "flow_tpy"]]
    got = dict(values("v_unmet"))
    unmet = [(a, mi, t, s, max(0.0, got.get((a, mi, t, s), 0.0))) for (a, mi, t) in data.demand.index
             for s in data.SCENARIOS]
    built = set(builds)
    fin = [(f, a, t, x) for (f, a, t), x in values("v_finance") if (f, t) in built and x > FINANCE_EPS]
    trace = [k + (x,) for k, x in values("v_trace") if x > FLOW_EPS]
    stock, added = dict(values("v_stock")), dict(values("v_stock_added"))
    stocks = [(p, t, max(0.0, stock.get((p, t), 0.0)), max(0.0, added.get((p, t), 0.0)))
              for p in data.STOCKPILES for t in data.PERIODS]
    releases = [k + (x,) for k, x in values("v_release") if x > FLOW_EPS]
    return Solution(builds=pd.DataFrame(builds, columns=["site", "build_period"]), flows=flows,
                    unmet=pd.DataFrame(unmet, columns=["member", "mineral", "period", "scenario", "unmet_tpy"]),
                    financing=pd.DataFrame(fin, columns=["site", "member", "build_period", "paid_musd"]),
                    trace=pd.DataFrame(trace, columns=TRACE_VARS), stocks=pd.DataFrame(stocks, columns=STOCK_COLS),
                    releases=pd.DataFrame(releases, columns=RELEASE_COLS))


def online_periods(data: PlanData, builds: pd.DataFrame) -> dict[str, set[int]]:
    """Candidate -> periods in which it is online under the given builds."""
    built = dict(zip(builds["site"], builds["build_period"]))
    out = {}
    for f, tb in built.items():
        lead = float(data.sites.loc[f, "lead_time_years"])
        out[f] = {t for t in data.PERIODS if tb + lead <= t}
    return out


def site_output(sol: Solution) -> pd.Series:
    """(site, period, scenario) -> output t/yr."""
    if sol.flows.empty:
        return pd.Series(dtype=float)
    return sol.flows.groupby(["origin", "period", "scenario"])["flow_tpy"].sum()


FIRST_STAGE = ("capex_musd", "fixed_opex_musd", "stock_musd")
SECOND_STAGE = ("variable_cost_musd", "carbon_musd", "risk_charge_musd", "transport_musd", "unmet_penalty_musd",
                "stock_replenish_musd")
COMPONENTS = FIRST_STAGE + SECOND_STAGE + ("cvar_weighted_musd",)  # they add up to total_cost_musd


def scenario_costs(data: PlanData, sol: Solution) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Present-value cost components (MUSD) recomputed from the plain tables: the first stage, and the
    second stage of each scenario as if it happened (not weighted by its probability)."""
    sites, per = data.sites, data.periods
    delta, W = per["discount"].astype(float).to_dict(), per["weight"].astype(float).to_dict()
    capex = sum(delta[t] * float(sites.loc[f, "capex_musd"]) for f, t in zip(sol.builds["site"], sol.builds["build_period"]))
    fixed = sum(W[t] * float(sites.loc[f, "fixed_opex_musd_per_yr"])
                for f in sites.index[sites["status"] == "existing"] for t in data.PERIODS)
    for f, ts in online_periods(data, sol.builds).items():
        fixed += sum(W[t] * float(sites.loc[f, "fixed_opex_musd_per_yr"]) for t in ts)
    sp = data.stockpiles
    acq = sp["acquisition_cost_usd_per_t"].astype(float).to_dict() if len(sp) else {}
    hold = sp["holding_cost_usd_per_t_yr"].astype(float).to_dict() if len(sp) else {}
    stock = sum(1e-6 * (delta[t] * acq[p] * a + W[t] * hold[p] * x) for p, t, x, a in sol.stocks.itertuples(index=False))
    first = {"capex_musd": capex, "fixed_opex_musd": fixed, "stock_musd": stock}
    second = {s: dict.fromkeys(SECOND_STAGE, 0.0) for s in data.SCENARIOS}
    cp = data.periods["carbon_price"].astype(float).to_dict()
    rw = float(data.settings.get("risk_weight_usd_per_t") or 0.0)
    var_c, em, risk_s = (sites[c].astype(float).to_dict() for c in ("var_cost_usd_per_t", "emissions_tco2e_per_t",
                                                                      "risk_score"))
    for (f, t, s), q in site_output(sol).items():
        second[s]["variable_cost_musd"] += 1e-6 * W[t] * var_c[f] * q
        second[s]["carbon_musd"] += 1e-6 * W[t] * cp[t] * em[f] * q
        second[s]["risk_charge_musd"] += 1e-6 * W[t] * rw * risk_s[f] * q
    if not sol.flows.empty:
        cost = data.arcs["cost_usd_per_t"].to_dict()
        for a, t, s, x in zip(sol.flows["arc"], sol.flows["period"], sol.flows["scenario"], sol.flows["flow_tpy"]):
            second[s]["transport_musd"] += 1e-6 * W[t] * float(cost[a]) * x
    pen = float(data.settings.get("unmet_penalty_usd_per_t") or 0.0)
    for t, s, u in zip(sol.unmet["period"], sol.unmet["scenario"], sol.unmet["unmet_tpy"]):
        second[s]["unmet_penalty_musd"] += 1e-6 * W[t] * pen * u
    for p, _, t, s, r in sol.releases.itertuples(index=False):
        second[s]["stock_replenish_musd"] += 1e-6 * delta[t] * acq[p] * data.shock_years[(s, t)] * r
    return first, second


def cvar(values: dict[str, float], prob: dict[str, float], alpha: float) -> float:
    """CVaR_alpha of a discrete distribution: the probability-weighted mean of its worst (1 - alpha)
    tail (Rockafellar-Uryasev, with the VaR atom split)."""
    tail, acc = 1.0 - alpha, 0.0
    out = 0.0
    for s in sorted(values, key=lambda k: -values[k]):
        take = min(prob[s], tail - acc)
        if take <= 0:
            break
        out += take * values[s]
        acc += take
    return out / tail


def cost_components(data: PlanData, sol: Solution) -> dict[str, float]:
    """Present-value cost components in MUSD, recomputed from the plain tables: first stage, expected
    second stage and, when a CVaR weight is set, the weighted CVaR of scenario cost;
    `total_cost_musd` is their sum (the objective)."""
    first, second = scenario_costs(data, sol)
    prob = data.scenarios["probability"].astype(float).to_dict()
    comp = dict(first)
    for k in SECOND_STAGE:
        comp[k] = sum(prob[s] * second[s][k] for s in data.SCENARIOS)
    comp["expected_cost_musd"] = sum(comp.values())
    comp["cvar_weighted_musd"] = 0.0
    if data.cvar_weight:
        per_s = {s: sum(first.values()) + sum(second[s].values()) for s in data.SCENARIOS}
        comp["cvar_weighted_musd"] = data.cvar_weight * cvar(per_s, prob, data.cvar_alpha)
    comp["total_cost_musd"] = comp["expected_cost_musd"] + comp["cvar_weighted_musd"]
    return comp


def verify_solution(data: PlanData, definition: ModelDefinition, sol: Solution) -> list[tuple[str, str, float]]:
    """Recompute every constraint from the plain tables.

    Returns (constraint family, index, violation) for every violated row, largest first;
    a violation is measured in the row's own unit (t/yr, tCO2e/yr or count)."""
    v: list[tuple[str, str, float]] = []
    sites = data.sites
    out = site_output(sol).to_dict()
    online = online_periods(data, sol.builds)
    # build_once / force_build / exclusive groups / eligibility
    counts = sol.builds["site"].value_counts().to_dict()
    for f, n in counts.items():
        if n > 1:
            v.append(("build_once", f, float(n - 1)))
        if f not in sites.index or sites.loc[f, "status"] != "candidate" or not sites.loc[f, "eligible"]:
            v.append(("build_once", f"{f} is not an eligible candidate", 1.0))
    for f in data.FORCED:
        if counts.get(f, 0) != 1:
            v.append(("build_once", f"{f} forced", 1.0))
    if definition.on("exclusive_group"):
        for g, members in data.GROUPS.items():
            n = sum(counts.get(f, 0) for f in members)
            if n > 1:
                v.append(("exclusive_group", g, float(n - 1)))
    for f in data.SITES:
        r = sites.loc[f]
        for t in data.PERIODS:
            is_on = r["status"] == "existing" or t in online.get(f, set())
            for s in data.SCENARIOS:
                q = out.get((f, t, s), 0.0)
                cap = data.avail(s, f, t) * float(r["capacity_tpy"]) if is_on else 0.0
                if q - cap > 0:
                    v.append(("capacity_if_online", f"{f},{t},{s}", q - cap))
    inflow = sol.flows[sol.flows["kind"] == "supply"].groupby(["destination", "period", "scenario"])["flow_tpy"].sum().to_dict() \
        if not sol.flows.empty else {}
    for f in sites.index[sites["stage"] == "refinery"]:
        for t in data.PERIODS:
            for s in data.SCENARIOS:
                gap = abs(inflow.get((f, t, s), 0.0) - out.get((f, t, s), 0.0) / float(sites.loc[f, "yield"]))
                if gap > 0:
                    v.append(("refinery_input", f"{f},{t},{s}", gap))
    if definition.on("scrap_limit"):
        for (a, mi), fs in data.RECYCLING_POOLS.items():
            for t in data.PERIODS:
                avail = float(data.scrap.loc[(a, mi, t), "scrap_tpy"]) if (a, mi, t) in data.scrap.index else 0.0
                for s in data.SCENARIOS:
                    use = sum(out.get((f, t, s), 0.0) / float(sites.loc[f, "yield"]) for f in fs)
                    if use - avail > 0:
                        v.append(("scrap_limit", f"{a},{mi},{t},{s}", use - avail))
    delivered = sol.flows[sol.flows["kind"] == "delivery"].groupby(
        ["destination", "mineral", "period", "scenario"])["flow_tpy"].sum().to_dict() if not sol.flows.empty else {}
    unmet = {(a, mi, t, s): u for a, mi, t, s, u in sol.unmet.itertuples(index=False)}
    mineral_of = data.stockpiles["mineral"].to_dict() if len(data.stockpiles) else {}
    released: dict[tuple, float] = {}
    for p, a, t, s, r in sol.releases.itertuples(index=False):
        released[(a, mineral_of[p], t, s)] = released.get((a, mineral_of[p], t, s), 0.0) + r
    stock = {(p, t): x for p, t, x, _ in sol.stocks.itertuples(index=False)}
    added = {(p, t): x for p, t, _, x in sol.stocks.itertuples(index=False)}
    for p, t, x, a in sol.stocks.itertuples(index=False):
        if x - float(data.stockpiles.loc[p, "max_t"]) > 0:
            v.append(("stock_release", f"{p},{t} above max_t", x - float(data.stockpiles.loc[p, "max_t"])))
        i = data.PERIODS.index(t)
        rise = x - (stock[(p, data.PERIODS[i - 1])] if i else 0.0)
        if rise - added[(p, t)] > 0:
            v.append(("stock_build_up", f"{p},{t}", rise - added[(p, t)]))
    out_r = sol.releases.groupby(["stockpile", "period", "scenario"])["release_tpy"].sum() if len(sol.releases) else {}
    for (p, t, s), r in (out_r.items() if len(sol.releases) else ()):
        over = data.shock_years[(s, t)] * r - stock.get((p, t), 0.0)
        if over > 0:
            v.append(("stock_release", f"{p},{t},{s}", over))
    for (a, mi, t) in data.demand.index:
        for s in data.SCENARIOS:
            short = (demand_required(data, a, mi, t, s) - delivered.get((a, mi, t, s), 0.0)
                     - unmet.get((a, mi, t, s), 0.0) - released.get((a, mi, t, s), 0.0))
            if short > 0:
                v.append(("demand_coverage", f"{a},{mi},{t},{s}", short))
    sigma = data.sigma_by_mineral
    if definition.on("country_share_cap") and any(v is not None for v in sigma.values()) and not sol.flows.empty:
        d = sol.flows[sol.flows["kind"] == "delivery"].copy()
        d["country"] = [sites.loc[o, "country"] for o in d["origin"]]
        by = d.groupby(["destination", "mineral", "country", "period", "scenario"])["flow_tpy"].sum()
        for (a, mi, c, t, s), x in by.items():
            if (a, mi, c) in data.SHARE_CAP_INDEX and (a, mi, t) in data.demand.index and sigma.get(mi) is not None:
                excess = x - sigma[mi] * demand_required(data, a, mi, t, s)
                if excess > 0:
                    v.append(("country_share_cap", f"{a},{mi},{c},{t},{s}", excess))
    v += verify_financing(data, definition, sol)
    for family, cap_col, per_t in (("emissions_cap", "emissions_cap_tco2e_per_yr", "emissions_tco2e_per_t"),
                                   ("water_cap", "water_cap_m3_per_yr", "water_m3_per_t")):
        if not definition.on(family):
            continue
        w = data.sites[per_t].astype(float).to_dict()
        for label, r in data.limits.iterrows():
            cap = r[cap_col]
            if cap is None or pd.isna(cap):
                continue
            covered, t = data.LIMIT_SITES[label], int(r["period"])
            for s in data.SCENARIOS:
                use = sum(w[f] * out.get((f, t, s), 0.0) for f in covered)
                if use - float(cap) > 0:
                    v.append((family, f"limits row {r['_row']},{s}", use - float(cap)))
    v += verify_trace(data, definition, sol)
    return sorted(v, key=lambda r: -r[2])


def verify_trace(data: PlanData, definition: ModelDefinition, sol: Solution) -> list[tuple[str, str, float]]:
    """The origin-tagged families, recomputed from the plain flows and the model's tags (t/yr)."""
    from .trace import delivered_by_country, refined_by_origin
    v: list[tuple[str, str, float]] = []
    if not data.TRACE:
        return v
    sites = data.sites
    traced = set(data.TRACED_MINERALS)
    z = sol.trace
    tin = z.groupby(["mineral", "mine_country", "refining_country", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
    tout = z.groupby(["mineral", "refining_country", "member", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
    rin = refined_by_origin(data, sol.flows) if not sol.flows.empty else {}
    rout = delivered_by_country(data, sol.flows) if not sol.flows.empty else {}
    for k in set(tin) | {k for k in rin if k[0] in traced}:
        gap = abs(tin.get(k, 0.0) - rin.get(k, 0.0))
        if gap > 0:
            v.append(("traced_input", ",".join(map(str, k)), gap))
    for k in set(tout) | {k for k in rout if k[0] in traced}:
        gap = abs(tout.get(k, 0.0) - rout.get(k, 0.0))
        if gap > 0:
            v.append(("traced_delivery", ",".join(map(str, k)), gap))
    if definition.on("mining_share_cap") and data.sigma_mining is not None:
        by = z.groupby(["member", "mineral", "mine_country", "period", "scenario"])["tonnes_per_yr"].sum()
        for (a, mi, c, t, s), x in by.items():
            if c not in data.member_countries(a) and (a, mi, t) in data.demand.index:
                excess = x - data.sigma_mining * demand_required(data, a, mi, t, s)
                if excess > 0:
                    v.append(("mining_share_cap", f"{a},{mi},{c},{t},{s}", excess))
    rho = {mi: float(r) for mi, r in data.minerals["min_allied_share"].items() if r is not None and not pd.isna(r)}
    if definition.on("allied_share") and rho:
        allied_z = z[z["mine_country"].isin(data.ALLIED) & z["refining_country"].isin(data.ALLIED)]
        allied = allied_z.groupby(["member", "mineral", "period", "scenario"])["tonnes_per_yr"].sum().to_dict()
        d = sol.flows[sol.flows["kind"] == "delivery"] if not sol.flows.empty else pd.DataFrame(
            columns=["origin", "destination", "mineral", "period", "scenario", "flow_tpy"])
        keys = ["destination", "mineral", "period", "scenario"]
        got = d.groupby(keys)["flow_tpy"].sum().to_dict()
        stage, country = sites["stage"].to_dict(), sites["country"].to_dict()
        recycled = d[[stage[o] == "recycling" and country[o] in data.ALLIED for o in d["origin"]]]
        rec = recycled.groupby(keys)["flow_tpy"].sum().to_dict()
        for (a, mi, t) in data.demand.index:
            if mi not in rho:
                continue
            for s in data.SCENARIOS:
                short = rho[mi] * got.get((a, mi, t, s), 0.0) - allied.get((a, mi, t, s), 0.0) - rec.get((a, mi, t, s), 0.0)
                if short > 0:
                    v.append(("allied_share", f"{a},{mi},{t},{s}", short))
    return v


def paid_pv_by_member(data: PlanData, sol: Solution) -> dict[str, float]:
    """Present value (MUSD) of the capex each active member pays."""
    out = {a: 0.0 for a in data.MEMBERS}
    for a, t, x in zip(sol.financing["member"], sol.financing["build_period"], sol.financing["paid_musd"]):
        out[a] += float(data.periods.loc[t, "discount"]) * float(x)
    return out


def verify_financing(data: PlanData, definition: ModelDefinition, sol: Solution) -> list[tuple[str, str, float]]:
    """Recompute the financing families from the plain tables (violations in MUSD)."""
    v: list[tuple[str, str, float]] = []
    fin, sites = data.financing, data.sites
    f_tab = sol.financing
    paid = f_tab.groupby(["site", "build_period"])["paid_musd"].sum().to_dict() if len(f_tab) else {}
    for f, t in zip(sol.builds["site"], sol.builds["build_period"]):
        gap = abs(paid.get((f, t), 0.0) - float(sites.loc[f, "capex_musd"]))
        if gap > 0:
            v.append(("financing_balance", f"{f},{t}", gap))
    for (f, t) in paid:
        if not ((sol.builds["site"] == f) & (sol.builds["build_period"] == t)).any():
            v.append(("financing_balance", f"{f},{t} paid but not built", paid[(f, t)]))
    if definition.on("budget"):
        by = f_tab.groupby(["member", "build_period"])["paid_musd"].sum().to_dict() if len(f_tab) else {}
        for (a, t), b in fin.budgets.items():
            if by.get((a, t), 0.0) - b > 0:
                v.append(("budget", f"{a},{t}", by[(a, t)] - b))
    pay = {(f, a, t): x for f, a, t, x in f_tab.itertuples(index=False)}
    for f, t in zip(sol.builds["site"], sol.builds["build_period"]):
        capex = float(sites.loc[f, "capex_musd"])
        host = sites.loc[f, "host_member"]
        if definition.on("host_share") and fin.host_min_share and host in data.MEMBERS:
            short = fin.host_min_share * capex - pay.get((f, host, t), 0.0)
            if short > 0:
                v.append(("host_share", f"{f},{host},{t}", short))
        if definition.on("financing_cap"):
            for a in data.MEMBERS:
                over = pay.get((f, a, t), 0.0) - fin.caps.get((a, f), 1.0) * capex
                if over > 0:
                    v.append(("financing_cap", f"{f},{a},{t}", over))
    pv = paid_pv_by_member(data, sol)
    total = sum(pv.values())
    if definition.on("burden_band") and fin.burden_tolerance is not None and fin.burden_given:
        for a in data.MEMBERS:
            dev = abs(pv[a] - fin.burden_target[a] * total) - fin.burden_tolerance * total
            if dev > 0:
                v.append(("burden_band", a, dev))
    if definition.on("benefit_floor") and fin.min_benefit_ratio is not None:
        for a in data.MEMBERS:
            over = fin.min_benefit_ratio * pv[a] - data.benefit_share[a] * total
            if over > 0:
                v.append(("benefit_floor", a, over))
    return v
