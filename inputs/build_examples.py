"""Write the small illustrative workbooks in inputs/ (numbers are made up for teaching; each
example's optimum is worked out by hand in its `sources` sheet)."""

from __future__ import annotations

import sys
from pathlib import Path

from planner.io.writer import write_rows

HERE = Path(__file__).resolve().parent


def hedge() -> dict[str, list[list]]:
    """Member AA needs 100 t/yr of X in one 1-year period (r = 0). A market in CCC sells at
    500 USD/t; a candidate refinery R1 at home costs 0.1 MUSD + 100 USD/t, fed by a free mine.
    Calm world only: buy (0.05 MUSD). With a 50% chance that CCC stops exporting and a penalty of
    5,000 USD/t unmet: not building costs 0.5 x 0.05 + 0.5 x 0.5 = 0.275 MUSD, building 0.11 MUSD,
    so the optimum builds R1 (total 0.11 MUSD)."""
    site_cols = ["site", "name", "country", "stage", "mineral", "status", "capacity_tpy", "capex_musd",
                 "var_cost_usd_per_t", "yield", "lead_time_years"]
    return {
        "settings": [["key", "value"], ["base_year", 2030], ["discount_rate", 0],
                     ["unmet_penalty_usd_per_t", 5000], ["risk_weight_usd_per_t", 0],
                     ["carbon_price_usd_per_tco2e", 0], ["freight_usd_per_t_km", 0]],
        "periods": [["period", "years"], [2030, 1]],
        "minerals": [["mineral", "name"], ["X", "Mineral X"]],
        "countries": [["country", "name", "member", "risk_score", "lat", "lon"],
                      ["AAA", "A-land", "AA", 0.1, 0, 0], ["CCC", "C-land", None, 0.9, 0, 20]],
        "members": [["member", "name", "lat", "lon"], ["AA", "Member A", 0, 0]],
        "sites": [site_cols,
                  ["M1", "Market in C-land", "CCC", "market", "X", "existing", 1000, 0, 500, None, 0],
                  ["N1", "Home mine", "AAA", "mine", "X", "existing", 1000, 0, 0, None, 0],
                  ["R1", "Home refinery", "AAA", "refinery", "X", "candidate", 100, 0.1, 100, 1, 0]],
        "demand": [["member", "mineral", "period", "demand_tpy"], ["AA", "X", 2030, 100]],
        "scenarios": [["scenario", "probability", "demand_multiplier"], ["calm", 0.5, 1], ["embargo", 0.5, 1]],
        "disruptions": [["scenario", "country", "site", "mineral", "period", "availability"],
                        ["embargo", "CCC", None, None, None, 0]],
        "sources": [["sheet", "item", "column", "kind", "source_or_rule"],
                    ["all", "all", "all", "judgement estimate",
                     "illustrative numbers for teaching; " + " ".join(hedge.__doc__.split())]],
    }


def main() -> int:
    write_rows(hedge(), HERE / "example_hedge.xlsx", force=True)
    print(f"wrote {HERE / 'example_hedge.xlsx'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
