"""Build small workbooks of the contract for tests (written with openpyxl, values typed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from openpyxl import Workbook

# `python tests/golden.py --collect` sets this: every workbook the tests write is also appended to
# that file as one JSON line, so that the fingerprints of their models can be kept (tests/golden.py)
COLLECT = "PLANNER_GOLDEN_COLLECT"


def write_workbook(path: Path, sheets: dict[str, list[dict]], settings: dict | None = None) -> Path:
    """sheets: name -> list of records (dicts, column order from the first record's keys and
    any later new keys). settings: key -> value, written as the settings sheet."""
    wb = Workbook()
    wb.remove(wb.active)
    if settings is not None:
        ws = wb.create_sheet("settings")
        ws.append(["key", "value"])
        for k, v in settings.items():
            ws.append([k, v])
    for name, records in sheets.items():
        ws = wb.create_sheet(name)
        cols: list[str] = []
        for r in records:
            for k in r:
                if k not in cols:
                    cols.append(k)
        ws.append(cols)
        for r in records:
            ws.append([r.get(c) for c in cols])
    wb.save(path)
    if os.environ.get(COLLECT):
        try:
            line = json.dumps({"sheets": sheets, "settings": settings}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):  # a deliberately odd cell (a date, NaN): not a model to keep
            line = None
        if line is not None:
            with open(os.environ[COLLECT], "a", encoding="utf-8") as f:
                f.write(line + "\n")
    return Path(path)


def tiny(**settings_override) -> tuple[dict[str, list[dict]], dict]:
    """A one-mineral, one-member, one-period base case, to be edited by each test.

    Member AA (country AAA) demands 100 t/yr of mineral X in period 2030 (1 year long,
    base year 2030, discount rate 0, so every weight is 1 and costs are easy to add by hand).
    Supply: an existing market site M1 in country CCC (capacity 1000, 500 USD/t).
    Everything else (candidates, mines, refineries) is added by the tests."""
    settings = {"base_year": 2030, "discount_rate": 0, "unmet_penalty_usd_per_t": 1_000_000,
                "risk_weight_usd_per_t": 0, "carbon_price_usd_per_tco2e": 0, "max_country_share": None,
                "min_esg_score": None, "freight_usd_per_t_km": 0}
    settings.update(settings_override)
    sheets = {
        "periods": [{"period": 2030, "years": 1}],
        "minerals": [{"mineral": "X", "name": "Mineral X"}],
        "countries": [
            {"country": "AAA", "name": "A-land", "member": "AA", "risk_score": 0.1, "lat": 0, "lon": 0},
            {"country": "BBB", "name": "B-land", "member": "", "risk_score": 0.5, "lat": 0, "lon": 10},
            {"country": "CCC", "name": "C-land", "member": "", "risk_score": 0.9, "lat": 0, "lon": 20},
        ],
        "members": [{"member": "AA", "name": "Member A", "lat": 0, "lon": 0}],
        "sites": [site("M1", "CCC", "market", "existing", 1000, var_cost_usd_per_t=500)],
        "demand": [{"member": "AA", "mineral": "X", "period": 2030, "demand_tpy": 100}],
    }
    return sheets, settings


def site(site_id, country, stage, status, capacity, **kw) -> dict:
    rec = {"site": site_id, "name": f"Site {site_id}", "country": country, "stage": stage, "mineral": "X",
           "status": status, "capacity_tpy": capacity, "capex_musd": 0, "fixed_opex_musd_per_yr": 0,
           "var_cost_usd_per_t": 0, "yield": None, "emissions_tco2e_per_t": 0, "esg_score": None,
           "lead_time_years": 0, "group": None, "decision": None}
    rec.update(kw)
    return rec



def embargo(sheets: dict) -> dict:
    """Two scenarios of probability 0.5: `calm`, and `embargo`, in which C-land (CCC) exports nothing."""
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "embargo", "probability": 0.5, "demand_multiplier": 1}]
    sheets["disruptions"] = [{"scenario": "embargo", "country": "CCC", "availability": 0}]
    return sheets
