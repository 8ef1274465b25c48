"""`plan generate`: a valid, realistic-looking synthetic workbook of the contract, for benchmarks.

Ranges are those of the default workbook (capacities, costs, lead times, risk scores, demand
levels); coordinates are random points on land-free latitudes (the map does not matter here).
The same arguments and seed always give the same workbook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from planner.io.writer import write_rows

MEMBERS = [("US", 39.8, -98.6), ("EU", 50.1, 8.7), ("UK", 52.5, -1.9), ("JP", 35.7, 139.7),
           ("AU", -33.9, 151.2), ("NZ", -36.9, 174.8)]


def generate(path: Path, sites: int, minerals: int, periods: int, scenarios: int, seed: int,
             force: bool = False, supply_arcs: int | None = None) -> Path:
    rng = np.random.default_rng(seed)
    n_countries = 24
    countries = []
    for i in range(n_countries):
        member = MEMBERS[i][0] if i < len(MEMBERS) else ""
        countries.append([f"C{i:02d}", f"Country {i}", member, round(float(rng.uniform(0.15, 0.85)), 3),
                          round(float(rng.uniform(-45, 65)), 2), round(float(rng.uniform(-170, 170)), 2)])
    member_country = {m[0]: f"C{i:02d}" for i, m in enumerate(MEMBERS)}
    mins = [f"M{j:02d}" for j in range(minerals)]
    years = [2030 + 5 * k for k in range(periods)]
    price = {m: float(rng.choice([4_500, 9_500, 16_000, 25_000, 53_000, 60_000])) for m in mins}
    scale = {m: float(rng.uniform(5e3, 3e5)) for m in mins}  # alliance demand per member, t/yr
    rows = []
    for m in mins:
        # market sources and ore in a few third countries, about the alliance's current demand
        for c in rng.choice(range(len(MEMBERS), n_countries), size=4, replace=False):
            rows.append([f"MKT-{m}-C{c:02d}", f"market {m} C{c:02d}", f"C{c:02d}", "market", m, "existing",
                         round(scale[m] * rng.uniform(0.8, 2.0), 1), 0, 0, price[m], None,
                         round(float(rng.uniform(2, 40)), 2), None, 0, None, None])
            rows.append([f"ORE-{m}-C{c:02d}", f"ore {m} C{c:02d}", f"C{c:02d}", "mine", m, "existing",
                         round(scale[m] * rng.uniform(0.5, 1.5), 1), 0, 0, round(0.6 * price[m], 1), None,
                         round(float(rng.uniform(1, 10)), 2), None, 0, None, None])
    stages = rng.choice(["mine", "refinery", "recycling"], size=sites, p=[0.45, 0.45, 0.10])
    for i in range(sites):
        m = mins[int(rng.integers(minerals))]
        st = str(stages[i])
        if st == "recycling":
            c = member_country[MEMBERS[int(rng.integers(len(MEMBERS)))][0]]
        else:
            c = f"C{int(rng.integers(n_countries)):02d}"
        cap = round(scale[m] * rng.uniform(0.02, 0.3), 1)
        capex = round(cap * price[m] * rng.uniform(1.5, 4.0) / 1e6, 2)
        var = round(price[m] * (rng.uniform(0.25, 0.45) if st != "recycling" else rng.uniform(0.3, 0.5)), 1)
        yld = round(float(rng.uniform(0.8, 0.95)), 3) if st in ("refinery", "recycling") else None
        group = f"G{i // 2}" if rng.random() < 0.1 else None
        rows.append([f"S{i:05d}", f"candidate {i}", c, st, m, "candidate", cap, capex, round(0.02 * capex, 3), var,
                     yld, round(float(rng.uniform(1, 20)), 2), round(float(rng.uniform(40, 95)), 1),
                     int(rng.choice([0, 3, 5])), group, None])
    # existing refineries in member countries so that candidate mines have somewhere to send ore
    for m in mins:
        c = member_country[MEMBERS[int(rng.integers(len(MEMBERS)))][0]]
        rows.append([f"REF-{m}", f"refinery {m}", c, "refinery", m, "existing", round(scale[m] * 0.3, 1), 0, 0,
                     round(0.3 * price[m], 1), 0.9, 5.0, None, 0, None, None])
    demand, scrap = [], []
    for a, *_ in MEMBERS:
        w = {"US": 0.45, "EU": 0.33, "UK": 0.06, "JP": 0.08, "AU": 0.03, "NZ": 0.01}[a] * 6
        for m in mins:
            for k, y in enumerate(years):
                demand.append([a, m, y, round(scale[m] * w / 6 * (1 + 0.12 * k) * rng.uniform(0.9, 1.1), 1)])
                scrap.append([a, m, y, round(scale[m] * w / 6 * 0.05 * (1 + k), 1)])
    p = rng.dirichlet(np.ones(scenarios)) if scenarios > 1 else np.array([1.0])
    p = np.round(p, 6)
    p[:-1] = np.maximum(p[:-1], 1e-6)  # none rounded to 0 (thousands of scenarios have some below 5e-7)
    p[-1] = round(1 - p[:-1].sum(), 6)
    if p[-1] < 1e-6:  # the last one's share taken from the likeliest scenario instead
        k = int(np.argmax(p[:-1]))
        p[k] = round(p[k] - (1e-6 - p[-1]), 6)
        p[-1] = 1e-6
    scen = [[f"s{i:02d}", float(p[i]), round(float(rng.uniform(0.9, 1.3)), 3) if i else 1.0] for i in range(scenarios)]
    disr = [[f"s{i:02d}", f"C{int(rng.integers(len(MEMBERS), n_countries)):02d}", None,
             mins[int(rng.integers(minerals))], None, round(float(rng.uniform(0, 0.5)), 2)] for i in range(1, scenarios)]
    # export-stop risks and demand swings for `plan scenarios --sample` (drawn last: the sheets above
    # are the same with or without them)
    risky = rng.choice(range(len(MEMBERS), n_countries), size=min(6, n_countries - len(MEMBERS)), replace=False)
    risks = [[f"C{int(c):02d}", mins[int(rng.integers(minerals))] if rng.random() < 0.5 else None,
              round(float(rng.uniform(0.02, 0.1)), 3), "exponential", round(float(rng.uniform(1, 3)), 2), None,
              round(float(rng.uniform(0, 0.5)), 2), None] for c in risky]
    swings = [[m, round(float(rng.uniform(0.8, 0.95)), 3), round(float(rng.uniform(1.1, 1.3)), 3), 1.0] for m in mins]
    sheets = {
        "settings": [["key", "value"], ["base_year", 2026], ["discount_rate", 0.05],
                     ["unmet_penalty_usd_per_t", 100_000], ["risk_weight_usd_per_t", 10_000],
                     ["carbon_price_usd_per_tco2e", 50], ["max_country_share", 0.8], ["freight_usd_per_t_km", 0.02]]
                    + ([["supply_arcs_per_site", supply_arcs]] if supply_arcs else []),
        "periods": [["period", "years"]] + [[y, 5] for y in years],
        "minerals": [["mineral", "name"]] + [[m, f"Mineral {m}"] for m in mins],
        "countries": [["country", "name", "member", "risk_score", "lat", "lon"]] + countries,
        "members": [["member", "name", "lat", "lon"]] + [[a, a, la, lo] for a, la, lo in MEMBERS],
        "sites": [["site", "name", "country", "stage", "mineral", "status", "capacity_tpy", "capex_musd",
                   "fixed_opex_musd_per_yr", "var_cost_usd_per_t", "yield", "emissions_tco2e_per_t", "esg_score",
                   "lead_time_years", "group", "decision"]] + rows,
        "demand": [["member", "mineral", "period", "demand_tpy"]] + demand,
        "scrap": [["member", "mineral", "period", "scrap_tpy"]] + scrap,
        "scenarios": [["scenario", "probability", "demand_multiplier"]] + scen,
        "disruptions": [["scenario", "country", "site", "mineral", "period", "availability"]] + disr,
        "risks": [["country", "mineral", "yearly_probability", "duration", "duration_years", "duration_max_years",
                   "availability", "group"]] + risks,
        "demand_swings": [["mineral", "low_multiplier", "high_multiplier", "mode_multiplier"]] + swings,
        "sources": [["sheet", "item", "column", "kind", "source_or_rule"],
                    ["all", "all", "all", "judgement estimate",
                     f"synthetic benchmark workbook: plan generate --sites {sites} --minerals {minerals} "
                     f"--periods {periods} --scenarios {scenarios} --seed {seed}"]],
    }
    return write_rows(sheets, path, force)
