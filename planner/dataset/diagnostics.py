"""Checks before building that explain, in the workbook's terms and units, what the model will not
be able to do. The model itself stays feasible (unmet demand is a priced slack), so these are
warnings that say why demand will go unmet, with the numbers, before the user reads the output."""

from __future__ import annotations

from collections import defaultdict

from planner.dataset.data import PlanData


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def supply_bounds(data: PlanData) -> dict:
    """(mineral, period, scenario) -> (capacity by country of sources that deliver to members,
    the part of it that is refining, what the mines can feed refineries at the best yield), t/yr.

    A source counts when it is existing, or an eligible candidate that can be online in the
    period, at its available capacity; recycling is also limited by its member's scrap."""
    sites = data.sites
    rows = []
    for f, r in sites.iterrows():
        runs = {t for t in data.PERIODS} if r["status"] == "existing" else (
            {t for t in data.PERIODS if data.ONLINE_LINKS.get((f, t))} if r["eligible"] else set())
        rows.append((f, r["stage"], r["mineral"], r["country"], float(r["yield"]), r["host_member"], runs))
    scrap = data.scrap["scrap_tpy"].astype(float).to_dict()
    best_yield: dict[str, float] = {}
    for f, stage, mi, _, y, _, _ in rows:
        if stage == "refinery":
            best_yield[mi] = max(best_yield.get(mi, 0.0), y)
    out = {}
    for t in data.PERIODS:
        for s in data.SCENARIOS:
            by_country: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            refining: dict[str, float] = defaultdict(float)
            feed: dict[str, float] = defaultdict(float)
            for f, stage, mi, c, y, host, runs in rows:
                if t not in runs:
                    continue
                avail = data.avail(s, f, t) * data.capacity(f, t)
                if stage == "mine":
                    feed[mi] += avail
                    continue
                if stage == "recycling":
                    key = (host, mi, t)
                    avail = min(avail, scrap.get(key, 0.0) * y)
                elif stage == "refinery":
                    refining[mi] += avail
                by_country[mi][c] += avail
            for mi in data.MINERALS:
                out[(mi, t, s)] = (dict(by_country[mi]), refining[mi], feed[mi] * best_yield.get(mi, 1.0))
    return out


def reachable_supply(bounds: dict, data: PlanData, member: str, mineral: str, period: int, scenario: str) -> float:
    """An upper bound on what can reach `member` of `mineral` in a period and scenario, t/yr: the
    smaller of (1) the sum over countries of their capacity, each outside country capped at
    the mineral's refining-stage share cap x demand when set, and (2) all non-refinery capacity plus what the mines can
    feed the refineries. Capacity is not split between members, so the bound is loose when members
    compete for the same sources."""
    by_country, refining, feedable = bounds[(mineral, period, scenario)]
    sigma = data.sigma_by_mineral.get(mineral)
    demand = data.demand_tpy[(member, mineral, period)] * data.demand_multiplier(scenario, mineral)
    own = data.member_countries(member)
    capped = sum(min(v, float(sigma) * demand) if sigma is not None and c not in own else v
                 for c, v in by_country.items())
    fed = sum(by_country.values()) - refining + min(refining, feedable)
    return max(0.0, min(capped, fed))


def unreachable_demand(data: PlanData) -> list[str]:
    """One message per (member, mineral, period) whose demand exceeds what can reach it in some
    scenario; the scenario with the largest shortfall is named."""
    bounds = supply_bounds(data)
    names = data.minerals["name"].to_dict()
    out = []
    for (a, mi, t) in data.demand.index:
        worst = None
        for s in data.SCENARIOS:
            need = data.demand_tpy[(a, mi, t)] * data.demand_multiplier(s, mi)
            can = reachable_supply(bounds, data, a, mi, t, s)
            if need > 0 and can < need * (1 - 1e-9) and (worst is None or need - can > worst[2] - worst[1]):
                worst = (s, can, need)
        if worst:
            s, can, need = worst
            scen = "" if len(data.SCENARIOS) == 1 else f" (scenario {s})"
            out.append(f"{names.get(mi) or mi} for {a} in {t}{scen}: at most {_fmt(can)} t/yr can reach {a}, "
                       f"demand is {_fmt(need)} t/yr; the rest will be unmet")
    return out
