"""Output tables of the saved portfolio, built from plain tables only (testable without a solver)."""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from planner import __version__
from planner.dataset.data import PlanData
from planner.model.definition import ModelDefinition
from planner.results.benefit import output_shares
from planner.results.verify import required_table
from planner.results.solution import COMPONENTS, FLOW_SHOWN_TPY, Solution, carbon_is_cash, cost_components, online_periods, paid_pv_by_member, site_output
from planner.results.risk import (concentration_table, release_table, risk_summary, scenario_cost_table, stockpile_table,
                   unmet_risk_table)
from planner.results.trace import allied_share_table, emissions_table, traceability_table, water_table



@dataclass
class RunRecord:
    """What is known about a run besides its solution (for `summary` and `run_info`)."""

    input_file: str
    input_sha256: str
    definition: ModelDefinition
    options: dict
    outcome: object  # the run's solver outcome (status, termination, objective, bound, gap, hand_over, ...)
    max_violation: float
    max_violation_where: str
    warnings: list[str] = field(default_factory=list)


def portfolio_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    s = data.sites
    online = online_periods(data, sol.builds)
    rows = []
    for f, tb in sorted(zip(sol.builds["site"], sol.builds["build_period"])):
        r = s.loc[f]
        on = min(online[f]) if online[f] else None
        rows.append({"site": f, "name": r["name"], "country": r["country"], "member": r["host_member"],
                     "stage": r["stage"], "mineral": r["mineral"], "capacity_tpy": float(r["capacity_tpy"]),
                     "build_period": int(tb), "online_period": on, "capex_musd": float(r["capex_musd"]),
                     "public_capex_musd": float(r["public_capex_musd"])})
    return pd.DataFrame(rows, columns=["site", "name", "country", "member", "stage", "mineral", "capacity_tpy",
                                       "build_period", "online_period", "capex_musd", "public_capex_musd"])


def flows_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Every flow of at least FLOW_SHOWN_TPY (the tiny remainders of the solver's arithmetic are left
    out of the sheet, not of any total or check)."""
    f = sol.flows[sol.flows["flow_tpy"] >= FLOW_SHOWN_TPY].copy()
    f["origin_country"] = f["origin"].map(data.sites["country"])
    f["origin_stage"] = f["origin"].map(data.sites["stage"])
    cols = ["origin", "origin_country", "origin_stage", "destination", "kind", "mineral", "period", "scenario",
            "flow_tpy"]
    return f[cols].sort_values(["scenario", "period", "mineral", "origin", "destination"]).reset_index(drop=True)


def supply_mix_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Per member, mineral, period, scenario: delivered supply by origin country and its share."""
    d = sol.flows[sol.flows["kind"] == "delivery"].copy()
    cols = ["member", "mineral", "period", "scenario", "origin_country", "supply_tpy", "share"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d["origin_country"] = d["origin"].map(data.sites["country"])
    g = d.groupby(["destination", "mineral", "period", "scenario", "origin_country"], as_index=False)["flow_tpy"].sum()
    g = g.rename(columns={"destination": "member", "flow_tpy": "supply_tpy"})
    g["share"] = g["supply_tpy"] / g.groupby(["member", "mineral", "period", "scenario"])["supply_tpy"].transform("sum")
    g = g[g["supply_tpy"] >= FLOW_SHOWN_TPY]  # shares of all supply; rows below FLOW_SHOWN_TPY not shown
    return g[cols].sort_values(cols[:5]).reset_index(drop=True)


def supply_mix_chart_table(data: PlanData, mix: pd.DataFrame, period: int, top: int = 5) -> pd.DataFrame:
    """The data behind the supply-mix charts: for the given period, one block of rows per scenario
    (column `scenario`), a row per 'member mineral', and the shares of the member's supply that come
    from alliance members' and partner countries (`allied`), from each of the `top` largest other
    countries, and from the rest (`other`)."""
    m = mix[mix["period"] == period]
    if m.empty:
        return pd.DataFrame(columns=["scenario", "member_mineral"])
    allied = set(data.ALLIED)
    m = m.assign(allied=m["origin_country"].isin(allied))
    big = m[~m["allied"]].groupby("origin_country")["supply_tpy"].sum().sort_values(ascending=False).index[:top]
    origin = m["origin_country"].where(m["origin_country"].isin(big), "other")
    m = m.assign(origin=origin.where(~m["allied"], "allied"))
    t = m.pivot_table(index=["scenario", "member", "mineral"], columns="origin", values="share", aggfunc="sum",
                      fill_value=0.0)
    order = {sc: i for i, sc in enumerate(data.SCENARIOS)}
    t = t.reset_index()
    t = t.assign(_o=t["scenario"].map(order)).sort_values(["_o", "member", "mineral"]).drop(columns="_o")
    t.insert(1, "member_mineral", [f"{a} {mi}" for a, mi in zip(t["member"], t["mineral"])])
    cols = ["scenario", "member_mineral"] + (["allied"] if "allied" in t else []) + [str(c) for c in big] + (
        ["other"] if "other" in t else [])
    t.columns = [str(c) for c in t.columns]
    return t[cols].reset_index(drop=True)


def unmet_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    delivered = sol.flows[sol.flows["kind"] == "delivery"].groupby(
        ["destination", "mineral", "period", "scenario"])["flow_tpy"].sum().to_dict() if not sol.flows.empty else {}
    rows, required = [], required_table(data)
    for a, mi, t, s, u in sol.unmet.itertuples(index=False):
        rows.append({"member": a, "mineral": mi, "period": int(t), "scenario": s,
                     "demand_tpy": required[(a, mi, t, s)],
                     "delivered_tpy": delivered.get((a, mi, t, s), 0.0), "unmet_tpy": u})
    return pd.DataFrame(rows, columns=["member", "mineral", "period", "scenario", "demand_tpy", "delivered_tpy",
                                       "unmet_tpy"])


def unmet_by_scenario_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Tonnes unmet over the horizon per scenario, sum_t L_t u (undiscounted)."""
    years = data.periods["years"].to_dict()
    rows = []
    for s in data.SCENARIOS:
        u = sol.unmet[sol.unmet["scenario"] == s]
        rows.append({"scenario": s, "probability": float(data.scenarios.loc[s, "probability"]),
                     "demand_multiplier": float(data.scenarios.loc[s, "demand_multiplier"]),
                     "unmet_demand_t": float(sum(years[t] * x for t, x in zip(u["period"], u["unmet_tpy"])))})
    return pd.DataFrame(rows)


def unmet_headline(data: PlanData, sol: Solution) -> str:
    """One line on demand left unmet: expected tonnes over the horizon and their share of the demand
    the scenarios ask for, and the worst scenario's tonnes ("" when every tonne is met)."""
    by = unmet_by_scenario_table(data, sol)
    if not len(by) or by["unmet_demand_t"].max() <= 1e-6:
        return ""
    years = data.periods["years"].astype(float).to_dict()
    prob = by.set_index("scenario")["probability"].to_dict()
    asked = sum(prob[s] * years[t] * x for (_, _, t, s), x in required_table(data).items())
    expected = float((by["probability"] * by["unmet_demand_t"]).sum())
    worst = by.loc[by["unmet_demand_t"].idxmax()]
    share = f" ({expected / asked:.1%} of demand)" if asked else ""
    return (f"unmet demand: {expected:,.0f} t expected over the horizon{share}; worst scenario "
            f"{worst['scenario']}: {worst['unmet_demand_t']:,.0f} t (sheet unmet_demand)")


def capex_by_host_table(portfolio: pd.DataFrame) -> pd.DataFrame:
    """Undiscounted capex of built sites by host member (or 'non-member') and stage, MUSD."""
    p = portfolio.copy()
    p["member"] = p["member"].replace("", "non-member")
    stages = ["mine", "refinery", "recycling"]
    if p.empty:
        return pd.DataFrame(columns=["member"] + [f"{s}_capex_musd" for s in stages])
    t = p.pivot_table(index="member", columns="stage", values="capex_musd", aggfunc="sum", fill_value=0.0)
    t = t.reindex(columns=stages, fill_value=0.0)
    t.columns = [f"{c}_capex_musd" for c in t.columns]
    return t.reset_index()


def financing_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """One row per built site and member that pays for it or receives its output: MUSD paid
    (undiscounted, in the build period), the share of the site's public capex (the capex less its
    private share) paid, and the member's share of the site's expected output, side by side (the
    split follows the output shares as closely as the financing rules allow)."""
    cols = ["site", "name", "host_member", "member", "build_period", "paid_musd", "public_share_paid", "output_share"]
    if sol.builds.empty:
        return pd.DataFrame(columns=cols)
    s = data.sites
    shares = output_shares(data, sol.flows)
    paid = {(f, a): x for f, a, _, x in sol.financing.itertuples(index=False)}
    rows = []
    for f, t in zip(sol.builds["site"], sol.builds["build_period"]):
        capex = float(s.loc[f, "public_capex_musd"])
        for a in data.MEMBERS:
            x, o = paid.get((f, a), 0.0), shares.get(f, {}).get(a, 0.0)
            if x > 0 or o > 1e-6:
                rows.append({"site": f, "name": s.loc[f, "name"], "host_member": s.loc[f, "host_member"], "member": a,
                             "build_period": int(t), "paid_musd": x, "public_share_paid": x / capex if capex else 0.0,
                             "output_share": o})
    return pd.DataFrame(rows, columns=cols).sort_values(["site", "member"]).reset_index(drop=True)


def commitments_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Per member and period: capex committed (undiscounted MUSD), budget and share of it used."""
    paid = sol.financing.groupby(["member", "build_period"])["paid_musd"].sum().to_dict() if len(sol.financing) else {}
    rows = []
    for a in data.MEMBERS:
        for t in data.PERIODS:
            b = data.financing.budgets.get((a, t))
            c = paid.get((a, t), 0.0)
            rows.append({"member": a, "period": t, "committed_musd": c, "budget_musd": b if b is not None else "",
                         "budget_used_share": (c / b if b else "") if b is not None else ""})
    return pd.DataFrame(rows, columns=["member", "period", "committed_musd", "budget_musd", "budget_used_share"])


def member_totals_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Per member: PV capex committed and its share, against the burden-share target; benefit as the
    member's share of expected tonnes delivered (and of demand, the benefit floor's measure)."""
    pv = paid_pv_by_member(data, sol)
    total = sum(pv.values())
    years = data.periods["years"].to_dict()
    prob = data.scenarios["probability"].to_dict()
    d = sol.flows[sol.flows["kind"] == "delivery"]
    delivered = {a: 0.0 for a in data.MEMBERS}
    for a, t, sc, x in zip(d["destination"], d["period"], d["scenario"], d["flow_tpy"]):
        delivered[a] += prob[sc] * years[t] * x
    dtot = sum(delivered.values())
    rows = []
    for a in data.MEMBERS:
        rows.append({"member": a, "pv_committed_musd": pv[a], "cost_share": pv[a] / total if total else 0.0,
                     "burden_share_target": data.financing.burden_target.get(a, "") if data.financing.burden_given else "",
                     "delivered_share": delivered[a] / dtot if dtot else 0.0,
                     "demand_share": data.benefit_share.get(a, 0.0)})
    return pd.DataFrame(rows)


MILESTONE_COLUMNS = ["site", "name", "host_member", "build_period", "final_investment_decision_year",
                     "construction_start_year", "first_production_year", "full_capacity_year", "online_period",
                     "financing_members"]
MILESTONE_NOTES = {
    "final_investment_decision_year": "the first year of the build period the plan chooses",
    "construction_start_year": "the investment decision, or construction_years before first production "
                               "where the site gives them",
    "first_production_year": "the investment decision plus the lead time (rounded up to a whole year)",
    "full_capacity_year": "first production plus the ramp-up (sites.ramp_up_years, else "
                          "settings.ramp_up_years)",
    "online_period": "the first period whose first year is at least the first production year; the model "
                     "counts no output before it, and full capacity from it",
}


def milestones_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """The accountability schedule per built site, in calendar years that agree:
    final investment decision <= construction start <= first production <= full capacity, and the
    online period the first period starting at or after first production (`MILESTONE_NOTES`)."""
    s = data.sites
    online = online_periods(data, sol.builds)
    payers = sol.financing.groupby("site") if len(sol.financing) else None
    default_ramp = float(data.settings.get("ramp_up_years") if data.settings.get("ramp_up_years") is not None else 1.0)
    rows = []
    for f, tb in sorted(zip(sol.builds["site"], sol.builds["build_period"])):
        capex = float(s.loc[f, "public_capex_musd"])
        who = ""
        if payers is not None and f in payers.groups:
            g = payers.get_group(f).sort_values("paid_musd", ascending=False)
            who = ", ".join(f"{a} {x / capex:.0%}" if capex else a for a, x in zip(g["member"], g["paid_musd"]))
        fid = int(tb)
        first = fid + math.ceil(float(s.loc[f, "lead_time_years"]) - 1e-9)
        build = _blank_or(s.loc[f].get("construction_years"))
        start = fid if build is None else min(first, max(fid, first - math.ceil(build - 1e-9)))
        ramp = _blank_or(s.loc[f].get("ramp_up_years"))
        full = first + math.ceil((default_ramp if ramp is None else ramp) - 1e-9)
        rows.append({"site": f, "name": s.loc[f, "name"], "host_member": s.loc[f, "host_member"],
                     "build_period": int(tb), "final_investment_decision_year": fid,
                     "construction_start_year": start, "first_production_year": first, "full_capacity_year": full,
                     "online_period": min(online[f]) if online.get(f) else "", "financing_members": who})
    out = pd.DataFrame(rows, columns=MILESTONE_COLUMNS)
    out.attrs["notes"] = MILESTONE_NOTES
    return out


def _blank_or(v) -> float | None:
    return None if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) else float(v)


def screening_table(data: PlanData, sol: Solution) -> pd.DataFrame:
    """Every candidate (and every existing site failing a standard): its verdict on each standard,
    whether it could be built and, if not, why (decision, standards, ESG screen, lead time,
    financing rules, host member left); and whether the plan builds it."""
    v = data.verdicts
    failing = set(v.index[(v == "fail").any(axis=1)]) if len(v.columns) else set()
    s = data.sites[(data.sites["status"] == "candidate") | data.sites.index.isin(failing)]
    built = dict(zip(sol.builds["site"], sol.builds["build_period"]))
    rows = []
    for f, r in s.iterrows():
        row = {"site": f, "name": r["name"], "status": r["status"], "country": r["country"], "stage": r["stage"],
               "mineral": r["mineral"],
               "esg_score": r["esg_score"] if r["esg_score"] is not None and r["esg_score"] == r["esg_score"] else ""}
        row.update({label: v.loc[f, label] for label in v.columns})
        row.update({"eligible": "yes" if r["eligible"] else "no", "reason_excluded": r["screen_reason"],
                    "built_period": built.get(f, "")})
        rows.append(row)
    return pd.DataFrame(rows, columns=["site", "name", "status", "country", "stage", "mineral", "esg_score",
                                       *v.columns, "eligible", "reason_excluded", "built_period"])


def _standards_text(data: PlanData) -> tuple[str, int]:
    """The summary's line on the standards and how many candidates they exclude."""
    if not data.standards:
        return "none in the workbook", 0
    fails = (data.verdicts == "fail").any(axis=1)
    n = int(sum(1 for f in data.verdicts.index[fails] if data.sites.loc[f, "status"] == "candidate"))
    if data.standards_on:
        return f"on: {len(data.standards)} standard(s) exclude {n} candidate(s)", n
    return f"off: {len(data.standards)} standard(s) in the workbook not applied (they would exclude {n})", 0


def _expected_share(data: PlanData, shares: pd.DataFrame) -> float | str:
    """Allied tonnes / supplied tonnes over the horizon, expected over scenarios."""
    if shares.empty:
        return ""
    prob, years = data.scenarios["probability"].to_dict(), data.periods["years"].to_dict()
    w = [float(prob[s]) * float(years[t]) for s, t in zip(shares["scenario"], shares["period"])]
    sup = float((shares["supply_tpy"] * w).sum())
    return float((shares["allied_tpy"] * w).sum()) / sup if sup > 0 else ""


def summary_table(data: PlanData, sol: Solution, run: RunRecord, allied: pd.DataFrame | None = None,
                  scenario_costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """`scenario_costs`: the plan's `scenario_cost_table` where the caller has it."""
    comp = cost_components(data, sol)
    out = run.outcome
    ub = unmet_by_scenario_table(data, sol)
    expected_unmet = float((ub["probability"] * ub["unmet_demand_t"]).sum())
    carbon = "carbon" if carbon_is_cash(data) else ""
    rows = [("total_cost_musd", comp["total_cost_musd"], "MUSD (present value) = cash + valuation"),
            ("cash_cost_musd", comp["cash_cost_musd"], "MUSD (present value): money paid by anyone: capex, fixed "
             "opex, purchases and variable cost, transport, stocks" + (", carbon levy" if carbon else "")),
            ("valuation_cost_musd", comp["valuation_cost_musd"], "MUSD (present value): charges nobody pays: risk "
             "charge, unmet-demand penalty, CVaR weighting" + ("" if carbon else ", carbon shadow price")),
            ("public_money_musd", comp["public_money_musd"], "MUSD (present value): the capex the members pay, "
             "the alliance's own outlay")]
    rows += [(k, comp[k], "MUSD (present value)") for k in COMPONENTS]
    rows.append(("expected_cost_musd", comp["expected_cost_musd"], "MUSD (present value), expected over scenarios"))
    rows += risk_summary(data, scenario_cost_table(data, sol) if scenario_costs is None else scenario_costs)
    out_q = site_output(sol)
    prob, years = data.scenarios["probability"].to_dict(), data.periods["years"].to_dict()
    per_t = data.sites["emissions_tco2e_per_t"].to_dict()
    em = sum(float(prob[sc]) * float(years[t]) * float(per_t[f]) * q for (f, t, sc), q in out_q.items())
    rows += [("unmet_demand_t", expected_unmet, "t over the horizon (expected)"),
             ("emissions_tco2e", em, "tCO2e over the horizon (expected), every stage serving the alliance"),
             ("sites_built", int(len(sol.builds)), "count"),
             ("status", out.status, ""),
             ("mip_gap", out.mip_gap if out.mip_gap is not None else "", "fraction"),
             ("mip_gap_musd", abs(out.objective - out.bound) if out.objective is not None and out.bound is not None
              else "", "MUSD (objective - bound): how far the plan may be from the optimum"),
             ("solve_seconds", round(out.solve_seconds, 3), "s"),
             ("solver_objective_musd", out.objective if out.objective is not None else "", "MUSD"),
             ("max_constraint_violation", run.max_violation, "row units")]
    pv = paid_pv_by_member(data, sol)
    rows += [(f"committed_pv_capex_musd_{a}", pv[a], "MUSD (present value)") for a in data.MEMBERS]
    text, n_excluded = _standards_text(data)
    rows += [("standards", text, "compare with a --standards off run: the total_cost_musd delta is their cost"),
             ("candidates_excluded_by_standards", n_excluded, "count")]
    if allied is None:
        allied = allied_share_table(data, traceability_table(data, sol.flows, sol.trace))
    rows.append(("allied_content_share", _expected_share(data, allied),
                 "share of supply mined and refined in alliance or partner countries (expected, tonnes)"))
    rows += [(f"allied_content_share_{a}", _expected_share(data, allied[allied["member"] == a]), "share")
             for a in data.MEMBERS]
    water = water_table(data, sol.flows)
    prob, years = data.scenarios["probability"].to_dict(), data.periods["years"].to_dict()
    wexp = sum(float(prob[s]) * float(years[t]) * x
               for s, t, x in zip(water["scenario"], water["period"], water["water_m3_per_yr"]))
    rows.append(("water_m3", wexp, "m3 fresh water over the horizon (expected), every site serving the alliance"))
    if data.INACTIVE:
        rows.append(("members_left", ", ".join(data.INACTIVE), "solved as if these members had left"))
    return pd.DataFrame(rows, columns=["key", "value", "unit"])


def run_info_table(run: RunRecord) -> pd.DataFrame:
    import importlib.metadata as md
    import pyomo

    out = run.outcome

    def ver(p):
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return ""

    rows = [("input_file", run.input_file), ("input_sha256", run.input_sha256),
            ("model_definition", run.definition.name), ("model_definition_file", run.definition.source),
            ("model_families", ", ".join(f"{k}={'on' if v else 'off'}" for k, v in run.definition.families.items())),
            ("model_overrides", ", ".join(f"{k}={v}" for k, v in run.definition.overrides.items())),
            ("options", ", ".join(f"{k}={v}" for k, v in run.options.items())),
            ("standards", "on" if run.definition.standards else "off"),
            ("planner_version", __version__), ("pyomo_version", pyomo.__version__),
            ("highspy_version", ver("highspy")), ("highs_version", out.solver_version),
            ("python_version", platform.python_version()), ("status", out.status),
            ("termination", out.termination),
            ("objective_musd", out.objective if out.objective is not None else ""),
            ("bound_musd", out.bound if out.bound is not None else ""),
            ("mip_gap", out.mip_gap if out.mip_gap is not None else ""),
            ("solve_seconds", round(out.solve_seconds, 3)),
            ("max_constraint_violation", run.max_violation),
            ("split_l1_distance", out.hand_over.get("split_l1_distance", "")),
            ("max_constraint_violation_at", run.max_violation_where),
            ("reproducible", "yes" if out.status != "best_found" else
             "no (stopped by Ctrl-C)" if out.hand_over.get("interrupted_by_user") else "no (stopped at a limit)"),
            ("written_utc", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    rows += [(f"hand_over_{k}", v) for k, v in out.hand_over.items() if k != "split_l1_distance"]
    rows += [(f"warning_{i + 1}", w) for i, w in enumerate(run.warnings)]
    return pd.DataFrame(rows, columns=["key", "value"])


# above this many scenarios the sheets with a row per scenario give the expectation over the scenarios
# instead (unless --tables names them): a thousand sampled scenarios would multiply them a thousandfold
SCENARIO_DETAIL_MAX = 50
PER_SCENARIO_KEPT = ("unmet_by_scenario", "scenario_costs")  # a row per scenario by design: always whole


def expected_over_scenarios(df: pd.DataFrame, probability: dict[str, float], keys=None) -> pd.DataFrame:
    """A table with a `scenario` column as its expectation over the scenarios, a row per key (`keys`,
    the table's key columns but `scenario`; by default its text columns and `period`): a number
    that varies between scenarios is weighted by the scenario's probability and summed, a missing
    row counting as 0 (a share too: its expectation); a number the same in every scenario (an
    attribute such as a country's water stress) is kept; other text is the most probable
    scenario's. `scenario` reads 'expected over N scenarios'."""
    if "scenario" not in df.columns or df.empty:
        return df
    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}
    if keys is None:
        keys = [c for c in df.columns if c not in numeric] + (["period"] if "period" in df.columns else [])
    keys = [k for k in keys if k in df.columns and k != "scenario"]
    p = df["scenario"].map(probability).astype(float)
    d = df.assign(_p=p).sort_values("_p", ascending=False, kind="stable")  # the most probable first
    group = d.groupby(keys, sort=False, dropna=False) if keys else d.groupby(lambda _: 0)
    out = group[[]].size().to_frame("_n")
    for c in df.columns:
        if c in keys or c == "scenario":
            continue
        if c in numeric and not (group[c].nunique(dropna=False) <= 1).all():
            out[c] = (d[c] * d["_p"]).groupby([d[k] for k in keys] if keys else (lambda _: 0), sort=False,
                                             dropna=False).sum()
        else:
            out[c] = group[c].first()
    out = out.drop(columns="_n").reset_index() if keys else out.drop(columns="_n").reset_index(drop=True)
    out["scenario"] = f"expected over {len(probability)} scenarios"
    return out[list(df.columns)]


TABLE_NAMES = ("summary", "portfolio", "capex_by_host", "flows", "supply_mix", "unmet_demand", "unmet_by_scenario",
               "supply_mix_chart", "financing", "commitments", "member_totals", "milestones", "screening",
               "scenario_costs", "unmet_risk", "concentration", "stockpiles", "stock_releases", "traceability",
               "allied_share", "emissions", "water", "run_info", "inputs")


def output_tables(data: PlanData, sol: Solution, run: RunRecord) -> dict[str, pd.DataFrame]:
    """Sheet name -> table, in workbook order."""
    portfolio = portfolio_table(data, sol)
    mix = supply_mix_table(data, sol)
    trace = traceability_table(data, sol.flows, sol.trace)
    allied = allied_share_table(data, trace)
    by_scenario = scenario_cost_table(data, sol)
    return {
        "summary": summary_table(data, sol, run, allied, by_scenario),
        "portfolio": portfolio,
        "capex_by_host": capex_by_host_table(portfolio),
        "flows": flows_table(data, sol),
        "supply_mix": mix,
        "unmet_demand": unmet_table(data, sol),
        "unmet_by_scenario": unmet_by_scenario_table(data, sol),
        "supply_mix_chart": supply_mix_chart_table(data, mix, data.PERIODS[-1]),
        "financing": financing_table(data, sol),
        "commitments": commitments_table(data, sol),
        "member_totals": member_totals_table(data, sol),
        "milestones": milestones_table(data, sol),
        "screening": screening_table(data, sol),
        "scenario_costs": by_scenario,
        "unmet_risk": unmet_risk_table(data, sol),
        "concentration": concentration_table(data, mix),
        "stockpiles": stockpile_table(data, sol),
        "stock_releases": release_table(data, sol),
        "traceability": trace,
        "allied_share": allied,
        "emissions": emissions_table(data, sol.flows),
        "water": water_table(data, sol.flows),
        "run_info": run_info_table(run),
        "inputs": data.inputs,  # hidden in the workbook: what `plan compare` reads the input changes from
    }
