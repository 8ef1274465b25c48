"""Chain of custody from plain tables: where every tonne delivered to a member was mined and refined,
the allied-content share, and emissions attributed to the supply each member receives.

Origins are countries, not sites (formulation.md, "Traced input"). For minerals with an origin rule
(`min_allied_share`, `max_country_share_mining`) the allocation is the model's own tagged flows
(`Solution.trace`); for the others it is the pro-rata (mass-balance) allocation: the output of a
refining country's refineries to each member carries the origin mix of the ore those refineries
refined. Both are exact: per refining country they add up to its deliveries and to its refined
ore of each origin. Recycled supply has origin `recycled`; supply bought on the market has origin
`market` (its mine country is unknown, so it never counts as allied). No Pyomo here.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from planner.dataset.data import PlanData

RECYCLED = "recycled"
MARKET = "market"
TRACE_COLUMNS = ["member", "mineral", "period", "scenario", "mine_country", "refining_country", "tonnes_per_yr",
                 "share", "allied", "basis"]


def refined_by_origin(data: PlanData, flows: pd.DataFrame) -> dict[tuple, float]:
    """(mineral, mine country, refining country, period, scenario) -> refined t/yr from that ore."""
    out: dict[tuple, float] = defaultdict(float)
    sup = flows[flows["kind"] == "supply"]
    country, yld = data.sites["country"].to_dict(), data.sites["yield"].to_dict()
    for o, d, mi, t, s, x in zip(sup["origin"], sup["destination"], sup["mineral"], sup["period"], sup["scenario"],
                                 sup["flow_tpy"]):
        out[(mi, country[o], country[d], t, s)] += float(yld[d]) * float(x)
    return dict(out)


def delivered_by_country(data: PlanData, flows: pd.DataFrame) -> dict[tuple, float]:
    """(mineral, refining country, member, period, scenario) -> t/yr delivered by that country's refineries."""
    out: dict[tuple, float] = defaultdict(float)
    dl = flows[flows["kind"] == "delivery"]
    country, stage = data.sites["country"].to_dict(), data.sites["stage"].to_dict()
    for o, a, mi, t, s, x in zip(dl["origin"], dl["destination"], dl["mineral"], dl["period"], dl["scenario"],
                                 dl["flow_tpy"]):
        if stage[o] == "refinery":
            out[(mi, country[o], a, t, s)] += float(x)
    return dict(out)


def traceability_table(data: PlanData, flows: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """One row per (member, mineral, period, scenario, mine country, refining country) with tonnes,
    the share of the member's supply of that mineral, whether the chain is allied, and the basis."""
    rows = []
    if flows.empty:
        return pd.DataFrame(columns=TRACE_COLUMNS)
    traced = set(data.TRACED_MINERALS)
    # tagged (model) allocation
    for o, k, a, mi, t, s, x in trace.itertuples(index=False):
        if mi in traced:
            rows.append((a, mi, t, s, o, k, float(x), "model"))
    # pro-rata allocation for the other minerals
    inputs: dict[tuple, dict[str, float]] = defaultdict(dict)
    for (mi, o, k, t, s), x in refined_by_origin(data, flows).items():
        if mi not in traced:
            inputs[(mi, k, t, s)][o] = x
    for (mi, k, a, t, s), x in delivered_by_country(data, flows).items():
        if mi in traced:
            continue
        mix = inputs.get((mi, k, t, s), {})
        total = sum(mix.values())
        for o, y in sorted(mix.items()):
            if total > 0:
                rows.append((a, mi, t, s, o, k, x * y / total, "pro rata"))
    # recycling and market deliveries
    dl = flows[flows["kind"] == "delivery"]
    country, stage = data.sites["country"].to_dict(), data.sites["stage"].to_dict()
    for o, a, mi, t, s, x in zip(dl["origin"], dl["destination"], dl["mineral"], dl["period"], dl["scenario"],
                                 dl["flow_tpy"]):
        if stage[o] == "recycling":
            rows.append((a, mi, t, s, RECYCLED, country[o], float(x), "recycling"))
        elif stage[o] == "market":
            rows.append((a, mi, t, s, MARKET, country[o], float(x), "market"))
    df = pd.DataFrame(rows, columns=["member", "mineral", "period", "scenario", "mine_country", "refining_country",
                                     "tonnes_per_yr", "basis"])
    df = df.groupby(["member", "mineral", "period", "scenario", "mine_country", "refining_country", "basis"],
                    as_index=False)["tonnes_per_yr"].sum()
    df = df[df["tonnes_per_yr"] > 1e-9]
    total = df.groupby(["member", "mineral", "period", "scenario"])["tonnes_per_yr"].transform("sum")
    df["share"] = df["tonnes_per_yr"] / total
    df["allied"] = ["yes" if is_allied(data, o, k) else "no" for o, k in zip(df["mine_country"], df["refining_country"])]
    return df[TRACE_COLUMNS].sort_values(["member", "mineral", "period", "scenario", "mine_country",
                                          "refining_country"]).reset_index(drop=True)


def is_allied(data: PlanData, mine_country: str, refining_country: str) -> bool:
    """A chain is allied when it was mined (or recycled) and refined in alliance or partner countries."""
    if mine_country == MARKET:
        return False
    return refining_country in data.ALLIED and (mine_country == RECYCLED or mine_country in data.ALLIED)


def allied_share_table(data: PlanData, trace_table: pd.DataFrame) -> pd.DataFrame:
    """Per member, mineral, period and scenario: supply, allied-content supply, its share and the rule."""
    cols = ["member", "mineral", "period", "scenario", "supply_tpy", "allied_tpy", "allied_share", "min_allied_share"]
    if trace_table.empty:
        return pd.DataFrame(columns=cols)
    t = trace_table.assign(allied_t=trace_table["tonnes_per_yr"].where(trace_table["allied"] == "yes", 0.0))
    g = t.groupby(["member", "mineral", "period", "scenario"], as_index=False).agg(
        supply_tpy=("tonnes_per_yr", "sum"), allied_tpy=("allied_t", "sum"))
    g["allied_share"] = g["allied_tpy"] / g["supply_tpy"]
    rule = data.minerals["min_allied_share"].to_dict()
    g["min_allied_share"] = [rule.get(mi) if rule.get(mi) is not None and not pd.isna(rule.get(mi)) else ""
                             for mi in g["mineral"]]
    return g[cols]


def emissions_table(data: PlanData, flows: pd.DataFrame) -> pd.DataFrame:
    """Emissions attributed to the supply each member receives, by stage, period and scenario
    (tCO2e/yr): a refinery's own emissions and those of the ore it refined are shared among the
    members it delivers to in proportion to tonnes (per refinery, so the attribution is exact and
    the rows add up to the emissions of every site serving the alliance); recycling and market
    supply carry their own emissions. Also the territorial emissions of each member's countries."""
    cols = ["basis", "member", "stage", "period", "scenario", "emissions_tco2e_per_yr"]
    if flows.empty:
        return pd.DataFrame(columns=cols)
    em, stage = data.sites["emissions_tco2e_per_t"].astype(float).to_dict(), data.sites["stage"].to_dict()
    out: dict[tuple, float] = defaultdict(float)
    ore: dict[tuple, float] = defaultdict(float)  # (refinery, t, s) -> mine emissions of its ore
    sup = flows[flows["kind"] == "supply"]
    for o, d, t, s, x in zip(sup["origin"], sup["destination"], sup["period"], sup["scenario"], sup["flow_tpy"]):
        ore[(d, t, s)] += em[o] * float(x)
    dl = flows[flows["kind"] == "delivery"]
    refined = dl.groupby(["origin", "period", "scenario"])["flow_tpy"].sum().to_dict()
    for o, a, t, s, x in zip(dl["origin"], dl["destination"], dl["period"], dl["scenario"], dl["flow_tpy"]):
        out[("supply", a, stage[o], t, s)] += em[o] * float(x)
        if stage[o] == "refinery" and refined[(o, t, s)] > 0:
            out[("supply", a, "mine", t, s)] += ore.get((o, t, s), 0.0) * float(x) / refined[(o, t, s)]
    host = data.sites["host_member"].to_dict()
    for (f, t, s), q in flows.groupby(["origin", "period", "scenario"])["flow_tpy"].sum().items():
        if host.get(f) in data.MEMBERS:
            out[("territorial", host[f], stage[f], t, s)] += em[f] * float(q)
    rows = [k + (v,) for k, v in sorted(out.items()) if v > 0]
    return pd.DataFrame(rows, columns=cols)


def water_table(data: PlanData, flows: pd.DataFrame) -> pd.DataFrame:
    """Fresh water withdrawn per country, period and scenario (m3/yr), with the country's water stress
    and any water cap covering exactly that country."""
    cols = ["country", "period", "scenario", "water_m3_per_yr", "water_stress", "water_cap_m3_per_yr"]
    if flows.empty:
        return pd.DataFrame(columns=cols)
    w, country = data.sites["water_m3_per_t"].astype(float).to_dict(), data.sites["country"].to_dict()
    out: dict[tuple, float] = defaultdict(float)
    for (f, t, s), q in flows.groupby(["origin", "period", "scenario"])["flow_tpy"].sum().items():
        if w[f]:
            out[(country[f], t, s)] += w[f] * float(q)
    caps = {}
    for _, r in data.limits.iterrows():
        v = r["water_cap_m3_per_yr"]
        if r["country"] and v is not None and not pd.isna(v):
            caps[(r["country"], int(r["period"]))] = float(v)
    stress = data.countries["water_stress"].to_dict()
    rows = [(c, t, s, v, stress.get(c) if stress.get(c) is not None and not pd.isna(stress.get(c)) else "",
             caps.get((c, t), "")) for (c, t, s), v in sorted(out.items())]
    return pd.DataFrame(rows, columns=cols)
