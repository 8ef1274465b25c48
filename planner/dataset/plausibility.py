"""Plausibility: values the contract accepts but nobody means, each a warning naming its cell and
the slip it most likely is (USD typed for MUSD, kt for t). Errors stay for values that cannot be
meant (a negative capacity, a yield above 1); these are warnings, so benchmark, generated and
hand-solved workbooks still solve.

    capex per tonne of yearly capacity   above CAPEX_PER_TPA_MAX_USD: USD for MUSD, or kt for t
    a unit cost against its mineral's    above UNIT_COST_MAX_FACTOR x the median of the mineral's
      market price                       market sites' unit costs (the workbook's own price level)
    the unmet-demand penalty             below a mineral's market price: leaving demand unmet is
                                         cheaper than buying
    demand against capacity              a member's demand for a mineral above DEMAND_MAX_FACTOR x
                                         every site's capacity for it: t for kt, or kg for t
"""

from __future__ import annotations

import pandas as pd

from planner.errors import cell_ref
from planner.io.schema import CAPEX_PER_TPA_MAX_USD, DEMAND_MAX_FACTOR, UNIT_COST_MAX_FACTOR


def _cell(df: pd.DataFrame, sheet: str, row, column: str) -> str:
    col = df.attrs.get("positions", {}).get(column)
    return cell_ref(sheet, int(row) if row is not None else None, col)


def market_prices(sites: pd.DataFrame, minerals: pd.DataFrame | None = None) -> dict[str, float]:
    """Per mineral, its price, USD/t: `minerals.price_usd_per_t` where given, else the median unit
    cost of its market sites (those with a cost; a market's tranches, dearer by design, left out)."""
    m = sites[(sites["stage"] == "market") & (pd.to_numeric(sites["var_cost_usd_per_t"], errors="coerce") > 0)]
    if "tranche_of" in m:
        m = m[m["tranche_of"].fillna("") == ""]
    out = {k: float(v) for k, v in m.groupby("mineral")["var_cost_usd_per_t"].median().items()}
    if minerals is not None and "price_usd_per_t" in minerals:
        out.update({k: float(v) for k, v in minerals["price_usd_per_t"].items() if v is not None and not pd.isna(v)})
    return out


def plausibility_warnings(s: dict, settings_rows: dict, sites: pd.DataFrame, demand: pd.DataFrame,
                          minerals: pd.DataFrame | None = None) -> list[str]:
    out = []
    for f, r in sites.iterrows():
        cap, capex = float(r["capacity_tpy"] or 0), float(r.get("capex_musd") or 0)
        if r["status"] == "candidate" and cap > 0 and capex > 0 and capex * 1e6 / cap > CAPEX_PER_TPA_MAX_USD:
            out.append(f"{_cell(sites, 'sites', r['_row'], 'capex_musd')} (capex_musd of {f}): {capex:,.6g} MUSD "
                       f"for {cap:,.6g} t/yr is {capex * 1e6 / cap:,.0f} USD per tonne of yearly capacity, far "
                       "above any mine or refinery (about 1,000 to 100,000): capex typed in USD instead of MUSD, "
                       "or the capacity in kt instead of t?")
    prices = market_prices(sites, minerals)
    for f, r in sites.iterrows():
        price = prices.get(r["mineral"])
        cost = float(r.get("var_cost_usd_per_t") or 0)
        if price and r["stage"] != "market" and cost > UNIT_COST_MAX_FACTOR * price:
            out.append(f"{_cell(sites, 'sites', r['_row'], 'var_cost_usd_per_t')} (var_cost_usd_per_t of {f}): "
                       f"{cost:,.6g} USD/t is more than {UNIT_COST_MAX_FACTOR:g} times the market price of "
                       f"{r['mineral']} in this workbook ({price:,.6g} USD/t: minerals.price_usd_per_t, else the "
                       "median of its market sites): "
                       "a slip of units (USD/t expected)?")
    penalty = float(s.get("unmet_penalty_usd_per_t") or 0)
    own = minerals["unmet_penalty_usd_per_t"] if minerals is not None and "unmet_penalty_usd_per_t" in minerals else {}
    mine = {m: float(v) for m, v in dict(own).items() if v is not None and not pd.isna(v)}
    for m, v in sorted(mine.items()):  # a mineral's own value of lost supply below its price
        if m in prices and 0 < v < prices[m]:
            out.append(f"{_cell(minerals, 'minerals', minerals.loc[m, '_row'], 'unmet_penalty_usd_per_t')} "
                       f"(unmet_penalty_usd_per_t of {m}): {v:,.6g} USD/t is below its market price in this workbook "
                       f"({prices[m]:,.6g} USD/t): leaving that demand unmet is cheaper than buying it")
    cheap = sorted(m for m, p in prices.items() if m not in mine and 0 < penalty < p)
    if cheap:
        row = settings_rows.get("unmet_penalty_usd_per_t")
        where = f"settings!B{row}" if row else "settings (unmet_penalty_usd_per_t)"
        out.append(f"{where}: unmet_penalty_usd_per_t ({penalty:,.6g}) is below the market price of "
                   f"{', '.join(cheap)} in this workbook: leaving that demand unmet is cheaper than buying it")
    if len(demand) and len(sites):
        capacity = sites.groupby("mineral")["capacity_tpy"].sum()
        d = demand.reset_index()
        for (a, mi, t), v, row in zip(zip(d["member"], d["mineral"], d["period"]), d["demand_tpy"], d["_row"]):
            cap = float(capacity.get(mi, 0.0))
            if cap > 0 and float(v) > DEMAND_MAX_FACTOR * cap:
                out.append(f"{_cell(demand, 'demand', row, 'demand_tpy')} (demand of {a} for {mi} in {t}): "
                           f"{float(v):,.6g} t/yr is more than {DEMAND_MAX_FACTOR:g} times every site's capacity "
                           f"for {mi} ({cap:,.6g} t/yr): demand in kg, or capacities in kt?")
    return out
