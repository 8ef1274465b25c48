"""The plan as plain tables (no Pyomo, no solver), read by the compiled columns' keys, and its
cost accounting.

The costs reported in `summary` are recomputed here from the plain tables and the input data,
not read from the solver; `verify_solution` recomputes every constraint the same way. Build
decisions are rounded at 0.5 (binaries come back as 0.9999999 or -0.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.dataset.data import PlanData

FLOW_EPS = 1e-6  # t/yr below which a traced flow or a stock release is reported as zero
FLOW_SHOWN_TPY = 1e-6  # t/yr below which a flow is left out of the tables shown (not of any total or check)
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
    rows = [(a, t, s, x) for (a, t, s), x in values("v_flow") if x > 0]  # every flow: checks and totals use them
    flows = pd.DataFrame(rows, columns=["arc", "period", "scenario", "flow_tpy"])
    for col in ("origin", "destination", "kind", "mineral"):
        flows[col] = arcs[col].to_numpy()[flows["arc"].to_numpy(dtype=int)] if len(flows) else []
    flows = flows[["arc", "origin", "destination", "kind", "mineral", "period", "scenario", "flow_tpy"]]
    got = dict(values("v_unmet"))
    unmet = [(a, mi, t, s, max(0.0, got.get((a, mi, t, s), 0.0))) for (a, mi, t) in data.demand.index
             for s in data.SCENARIOS]
    fin = financing_of(plan, builds)
    trace = [k + (x,) for k, x in values("v_trace") if x > FLOW_EPS]
    stock, added = dict(values("v_stock")), dict(values("v_stock_added"))
    stocks = [(p, t, max(0.0, stock.get((p, t), 0.0)), max(0.0, added.get((p, t), 0.0)))
              for p in data.STOCKPILES for t in data.PERIODS]
    releases = [k + (x,) for k, x in values("v_release") if x > FLOW_EPS]
    return Solution(builds=pd.DataFrame(builds, columns=["site", "build_period"]), flows=flows,
                    unmet=pd.DataFrame(unmet, columns=["member", "mineral", "period", "scenario", "unmet_tpy"]),
                    financing=fin,
                    trace=pd.DataFrame(trace, columns=TRACE_VARS), stocks=pd.DataFrame(stocks, columns=STOCK_COLS),
                    releases=pd.DataFrame(releases, columns=RELEASE_COLS))


def financing_of(plan, builds) -> pd.DataFrame:
    """The payments of a solved plan for its builds ((site, build period) pairs), MUSD: a row per
    site, member and build period paying more than FINANCE_EPS."""
    index, x = plan.values("v_finance")
    built = set(builds)
    rows = [(f, a, t, v) for (f, a, t), v in zip(index, np.asarray(x, dtype=float).tolist())
            if (f, t) in built and v > FINANCE_EPS]
    return pd.DataFrame(rows, columns=["site", "member", "build_period", "paid_musd"])


def online_periods(data: PlanData, builds: pd.DataFrame) -> dict[str, set[int]]:
    """Candidate -> periods in which it is online under the given builds."""
    built = dict(zip(builds["site"], builds["build_period"]))
    out = {}
    for f, tb in built.items():
        if f not in data.sites.index:  # not a site of the workbook (build_once reports it)
            continue
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
# money someone pays (carbon too where settings.carbon_price_basis is `levy`), and charges that value
# a risk or a shortfall without anyone paying them (carbon too where the basis is `shadow`)
CASH = ("capex_musd", "fixed_opex_musd", "stock_musd", "variable_cost_musd", "transport_musd",
        "stock_replenish_musd")
VALUATION = ("risk_charge_musd", "unmet_penalty_musd", "cvar_weighted_musd")


def carbon_is_cash(data: PlanData) -> bool:
    """Whether the carbon price is a levy paid (cash), not a shadow price (a valuation charge)."""
    return str(data.settings.get("carbon_price_basis") or "shadow") == "levy"


def scenario_costs(data: PlanData, sol: Solution) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Present-value cost components (MUSD) recomputed from the plain tables: the first stage, and the
    second stage of each scenario as if it happened (not weighted by its probability)."""
    sites, per = data.sites, data.periods
    delta, W = per["discount"].astype(float).to_dict(), per["weight"].astype(float).to_dict()
    capex_of, opex_of = (sites[c].astype(float).to_dict() for c in ("capex_musd", "fixed_opex_musd_per_yr"))
    capex = sum(delta[t] * capex_of[f] for f, t in zip(sol.builds["site"], sol.builds["build_period"]))
    fixed = sum(opex_of[f] for f in sites.index[sites["status"] == "existing"]) * sum(W[t] for t in data.PERIODS)
    for f, ts in online_periods(data, sol.builds).items():
        fixed += sum(W[t] * opex_of[f] for t in ts)
    sp = data.stockpiles
    acq = sp["acquisition_cost_usd_per_t"].astype(float).to_dict() if len(sp) else {}
    hold = sp["holding_cost_usd_per_t_yr"].astype(float).to_dict() if len(sp) else {}
    stock = sum(1e-6 * (delta[t] * acq[p] * a + W[t] * hold[p] * x) for p, t, x, a in sol.stocks.itertuples(index=False))
    first = {"capex_musd": capex, "fixed_opex_musd": fixed, "stock_musd": stock}
    second = {s: dict.fromkeys(SECOND_STAGE, 0.0) for s in data.SCENARIOS}
    cp = data.periods["carbon_price"].astype(float)
    rw = float(data.settings.get("risk_weight_usd_per_t") or 0.0)
    pen = data.unmet_penalty  # USD per tonne unmet, per mineral
    weight = per["weight"].astype(float)
    f = sol.flows
    if not f.empty:
        # per flow row (t/yr) its present-value weight; each component a column, summed per scenario
        w = 1e-6 * weight.reindex(f["period"]).to_numpy() * f["flow_tpy"].to_numpy(dtype=float)
        origin = sites.reindex(f["origin"])
        by_flow = pd.DataFrame({
            "scenario": f["scenario"].to_numpy(),
            "variable_cost_musd": w * origin["var_cost_usd_per_t"].to_numpy(dtype=float),
            "carbon_musd": w * cp.reindex(f["period"]).to_numpy() * origin["emissions_tco2e_per_t"].to_numpy(dtype=float),
            "risk_charge_musd": w * rw * origin["risk_score"].to_numpy(dtype=float),
            "transport_musd": w * data.arcs["cost_usd_per_t"].astype(float).reindex(f["arc"]).to_numpy()})
        for s_, row in by_flow.groupby("scenario").sum().iterrows():
            second[s_].update({k: float(v) for k, v in row.items()})
    u = sol.unmet
    if not u.empty:
        pv = 1e-6 * pd.Series(pen).reindex(u["mineral"]).fillna(0.0).to_numpy() \
            * weight.reindex(u["period"]).to_numpy() * u["unmet_tpy"].to_numpy(dtype=float)
        for s_, v in pd.Series(pv).groupby(u["scenario"].to_numpy()).sum().items():
            second[s_]["unmet_penalty_musd"] = float(v)
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
    `total_cost_musd` is their sum (the objective). The same total split two ways:
    `cash_cost_musd` (money paid by anyone, `CASH`) + `valuation_cost_musd` (charges nobody pays,
    `VALUATION`), carbon on the side `settings.carbon_price_basis` says; and `public_money_musd`, the
    present value of the capex the members pay (the alliance's own outlay)."""
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
    carbon_cash = carbon_is_cash(data)
    comp["cash_cost_musd"] = sum(comp[k] for k in CASH) + (comp["carbon_musd"] if carbon_cash else 0.0)
    comp["valuation_cost_musd"] = sum(comp[k] for k in VALUATION) + (0.0 if carbon_cash else comp["carbon_musd"])
    comp["public_money_musd"] = sum(paid_pv_by_member(data, sol).values())
    return comp


def paid_pv_by_member(data: PlanData, sol: Solution) -> dict[str, float]:
    """Present value (MUSD) of the capex each active member pays."""
    out = {a: 0.0 for a in data.MEMBERS}
    for a, t, x in zip(sol.financing["member"], sol.financing["build_period"], sol.financing["paid_musd"]):
        out[a] += float(data.periods.loc[t, "discount"]) * float(x)
    return out
