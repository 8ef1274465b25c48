"""Who receives each site's output: member a's share o_{f,a} of site f's expected output over the
horizon, traced to the members (models/formulation.md, "Benefit split"). No Pyomo here.

A site that delivers to members (a refinery, a recycler, a market) gives each member what it
delivers to it; a mine gives each member its ore shipped to a refinery times that refinery's yield
and share of deliveries to the member in the same period and scenario (mass balance: the ore is
split as the refinery's output is). Tonnes are weighted by p_s L_t. A site with no expected output
(below FLOW_EPS t/yr over the horizon) takes the burden targets (equal shares when none is given).
"""

from __future__ import annotations

from collections import defaultdict

from planner.dataset.data import PlanData
from planner.results.solution import FLOW_EPS


def output_shares(data: PlanData, flows) -> dict[str, dict[str, float]]:
    """site -> member -> share of its expected output (sums to 1 over the active members), for every
    site that delivers or ships anything, and for every candidate (the burden targets where it
    ships nothing)."""
    prob = data.scenarios["probability"].astype(float).to_dict()
    years = data.periods["years"].astype(float).to_dict()
    yld = data.sites["yield"].astype(float).to_dict()
    delivered: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # (site, t, s) -> member
    tonnes: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    dl = flows[flows["kind"] == "delivery"]
    for o, a, t, s, x in zip(dl["origin"], dl["destination"], dl["period"], dl["scenario"], dl["flow_tpy"]):
        delivered[(o, t, s)][a] += float(x)
        tonnes[o][a] += prob[s] * years[t] * float(x)
    sup = flows[flows["kind"] == "supply"]
    for o, k, t, s, x in zip(sup["origin"], sup["destination"], sup["period"], sup["scenario"], sup["flow_tpy"]):
        out = delivered.get((k, t, s))
        total = sum(out.values()) if out else 0.0
        if total <= 0:
            continue
        for a, y in out.items():
            tonnes[o][a] += prob[s] * years[t] * float(x) * yld[k] * y / total
    horizon = float(sum(years.values()))
    target = data.financing.burden_target or {a: 1.0 / len(data.MEMBERS) for a in data.MEMBERS}
    shares: dict[str, dict[str, float]] = {}
    for f in set(tonnes) | set(data.CANDIDATES):
        got = {a: v for a, v in tonnes.get(f, {}).items() if a in data.MEMBERS}
        total = sum(got.values())
        # below FLOW_EPS t/yr over the horizon is the solver's arithmetic, not output
        shares[f] = ({a: got.get(a, 0.0) / total for a in data.MEMBERS} if total > FLOW_EPS * horizon
                     else dict(target))
    return shares
