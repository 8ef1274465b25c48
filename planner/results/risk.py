"""Supply-security tables from plain results (no Pyomo): stockpiles and releases, the cost of each
scenario with expected cost, CVaR and the worst case, unmet demand at risk, and concentration
(HHI, largest single-country share, share from alliance members)."""

from __future__ import annotations

import pandas as pd

from planner.dataset.data import PlanData
from planner.results.solution import Solution, cvar, scenario_costs

DEFAULT_CVAR_ALPHA = 0.9  # reported even when the objective is risk-neutral


def stockpile_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Recommended stock per stockpile and period (first stage) with what buying and holding it costs."""
    cols = ["stockpile", "mineral", "holder", "period", "stock_t", "added_t", "max_t"]
    if sol.stocks.empty:
        return pd.DataFrame(columns=cols)
    sp = data.stockpiles
    t = sol.stocks.copy()
    t["mineral"] = [sp.loc[p, "mineral"] for p in t["stockpile"]]
    t["holder"] = [sp.loc[p, "member"] or "alliance" for p in t["stockpile"]]
    t["max_t"] = [float(sp.loc[p, "max_t"]) for p in t["stockpile"]]
    return t[cols]


def release_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Stock released in each scenario and period: the rate during the shock and the tonnes it adds up to."""
    cols = ["stockpile", "member", "period", "scenario", "shock_years", "release_tpy", "released_t"]
    if sol.releases.empty:
        return pd.DataFrame(columns=cols)
    r = sol.releases.copy()
    r["shock_years"] = [data.shock_years[(s, t)] for s, t in zip(r["scenario"], r["period"])]
    r["released_t"] = r["shock_years"] * r["release_tpy"]
    return r[cols]


def scenario_cost_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Per scenario: probability, first-stage and scenario-stage cost and their total (PV MUSD), and the
    tonnes left unmet over the horizon; sorted worst first."""
    first, second = scenario_costs(data, sol)
    years = data.periods["years"].to_dict()
    rows = []
    for s in data.SCENARIOS:
        u = sol.unmet[sol.unmet["scenario"] == s]
        rows.append({"scenario": s, "probability": float(data.scenarios.loc[s, "probability"]),
                     "first_stage_musd": sum(first.values()), "scenario_stage_musd": sum(second[s].values()),
                     "cost_musd": sum(first.values()) + sum(second[s].values()),
                     "unmet_demand_t": float(sum(years[t] * x for t, x in zip(u["period"], u["unmet_tpy"])))})
    return pd.DataFrame(rows).sort_values("cost_musd", ascending=False).reset_index(drop=True)


def risk_summary(data: PlanData, costs: pd.DataFrame) -> list[tuple[str, object, str]]:
    """Summary rows: expected cost, CVaR at the model's level (or 0.9), the worst scenario and its cost."""
    alpha = data.cvar_alpha if data.cvar_alpha is not None else DEFAULT_CVAR_ALPHA
    values = dict(zip(costs["scenario"], costs["cost_musd"]))
    prob = dict(zip(costs["scenario"], costs["probability"]))
    worst = costs.iloc[0]
    return [("cvar_alpha", alpha, "CVaR level (settings.cvar_alpha, else 0.9 for reporting)"),
            ("cvar_musd", cvar(values, prob, alpha), "MUSD: mean cost of the worst (1 - alpha) of scenarios"),
            ("worst_scenario", worst["scenario"], "the scenario with the highest cost"),
            ("worst_scenario_cost_musd", float(worst["cost_musd"]), "MUSD (present value)")]


def unmet_risk_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Per member and mineral: expected tonnes unmet over the horizon, the worst scenario's and which."""
    cols = ["member", "mineral", "expected_unmet_t", "worst_unmet_t", "worst_scenario"]
    years = data.periods["years"].to_dict()
    prob = data.scenarios["probability"].astype(float).to_dict()
    u = sol.unmet.assign(t=[years[t] * x for t, x in zip(sol.unmet["period"], sol.unmet["unmet_tpy"])])
    by = u.groupby(["member", "mineral", "scenario"])["t"].sum()
    rows = []
    for (a, mi), g in by.groupby(level=[0, 1]):
        per_s = {k[2]: v for k, v in g.items()}
        worst = max(data.SCENARIOS, key=lambda s: (per_s.get(s, 0.0), -data.SCENARIOS.index(s)))
        rows.append((a, mi, sum(prob[s] * x for s, x in per_s.items()), per_s.get(worst, 0.0),
                     worst if per_s.get(worst, 0.0) > 0 else ""))
    return pd.DataFrame(rows, columns=cols)


def concentration_table(data: PlanData, mix: pd.DataFrame) -> pd.DataFrame:
    """Per member, mineral, period and scenario, from the supply mix by the supplying site's country:
    Herfindahl-Hirschman index (sum of squared shares, 0..1), the largest single-country share and
    its country, and the share supplied from alliance members' countries."""
    cols = ["member", "mineral", "period", "scenario", "hhi", "largest_country", "largest_share", "alliance_share"]
    if mix.empty:
        return pd.DataFrame(columns=cols)
    member_of = data.countries["member"].to_dict()
    keys = cols[:4]
    share = mix["share"].astype(float)
    allied = mix["origin_country"].map(lambda c: member_of.get(c) in data.MEMBERS)
    parts = pd.DataFrame({**{k: mix[k] for k in keys}, "sq": share ** 2, "allied": share.where(allied, 0.0),
                          "share": share})
    grouped = parts.groupby(keys, sort=True)
    out = grouped.agg(hhi=("sq", "sum"), alliance_share=("allied", "sum"))
    top = mix.loc[grouped["share"].idxmax().to_numpy()]  # the first country with the largest share
    out["largest_country"] = top["origin_country"].to_numpy()
    out["largest_share"] = top["share"].astype(float).to_numpy()
    return out.reset_index()[cols]
