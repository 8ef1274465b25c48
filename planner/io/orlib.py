"""OR-Library capacitated warehouse location instances (Beasley's `cap*` files) as planner workbooks:
an external yardstick with published optima (`plan import-orlib`, bench/orlib.py).

Encoding in the workbook contract: one existing mine with free raw supply, each warehouse a
candidate refinery of yield 1 (capacity, capex = its fixed cost in MUSD), each customer a member
demanding its demand in t/yr, and the per-tonne transport from warehouse i to customer j the
file's cost of serving all of j from i divided by j's demand. One 1-year period, discount rate 0,
so the planner's objective in MUSD is the file's cost / 1e6. Unmet demand is penalised far above
any assignment cost, so an optimal plan serves every customer.

Format (Beasley): `m n`; m lines `capacity fixed_cost` (capa/b/c write the word `capacity`, to be
replaced by a value given in capopt.txt); then per customer its demand followed by m costs, over
as many lines as needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNMET_PENALTY_USD_PER_T = 1e8  # far above any per-tonne assignment cost in the OR-Library files


@dataclass
class CapInstance:
    name: str
    capacity: list[float]
    fixed_cost: list[float]
    demand: list[float]
    cost: list[list[float]]  # cost[j][i]: serving all of customer j from warehouse i


def read_cap(path: str | Path, capacity: float | None = None) -> CapInstance:
    """Parse a `cap*.txt` file; `capacity` replaces the word `capacity` (capa, capb, capc)."""
    path = Path(path)
    tokens = path.read_text().split()
    m, n = int(tokens[0]), int(tokens[1])
    k = 2
    caps, fixed = [], []
    for _ in range(m):
        c = tokens[k]
        if c == "capacity":
            if capacity is None:
                raise ValueError(f"{path.name} leaves warehouse capacities open: give --capacity (capopt.txt "
                                 "lists the optimum for each value)")
            caps.append(float(capacity))
        else:
            caps.append(float(c))
        fixed.append(float(tokens[k + 1]))
        k += 2
    demand, cost = [], []
    for _ in range(n):
        demand.append(float(tokens[k]))
        cost.append([float(x) for x in tokens[k + 1:k + 1 + m]])
        k += 1 + m
    return CapInstance(path.stem, caps, fixed, demand, cost)


def published_optimum(capopt: str | Path, name: str, capacity: float | None = None) -> float | None:
    """The optimum capopt.txt lists for `name` (and, for capa/b/c, the given capacity)."""
    current = None
    for line in Path(capopt).read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] in ("Data", "Note"):
            continue
        if not parts[0][0].isdigit():
            current, parts = parts[0], parts[1:]
        if current != name or not parts:
            continue
        if "(capacity" in line:
            if capacity is not None and float(line.split("(capacity")[1].strip(" )")) == float(capacity):
                return float(parts[0])
        else:
            return float(parts[0])
    return None


def cap_sheets(inst: CapInstance) -> tuple[dict[str, list[dict]], dict]:
    """The workbook (sheet -> records, settings) encoding the instance."""
    m, n = len(inst.capacity), len(inst.demand)
    settings = {"base_year": 2030, "discount_rate": 0, "unmet_penalty_usd_per_t": UNMET_PENALTY_USD_PER_T,
                "freight_usd_per_t_km": 0}
    sheets = {
        "periods": [{"period": 2030, "years": 1}],
        "minerals": [{"mineral": "X", "name": "demand unit"}],
        "countries": [{"country": "ORL", "name": "OR-Library", "member": "", "risk_score": 0, "lat": 0, "lon": 0}],
        "members": [{"member": f"C{j + 1}", "lat": 0, "lon": 0} for j in range(n)],
        "sites": [{"site": "SUPPLY", "country": "ORL", "stage": "mine", "mineral": "X", "status": "existing",
                   "capacity_tpy": sum(inst.demand)}]
        + [{"site": f"W{i + 1}", "country": "ORL", "stage": "refinery", "mineral": "X", "status": "candidate",
            "capacity_tpy": inst.capacity[i], "capex_musd": inst.fixed_cost[i] / 1e6, "yield": 1}
           for i in range(m)],
        "demand": [{"member": f"C{j + 1}", "mineral": "X", "period": 2030, "demand_tpy": inst.demand[j]}
                   for j in range(n)],
        "transport": [{"origin": f"W{i + 1}", "destination": f"C{j + 1}",
                       "cost_usd_per_t": inst.cost[j][i] / inst.demand[j] if inst.demand[j] else 0.0}
                      for j in range(n) for i in range(m)],
    }
    return sheets, settings


def write_cap_workbook(inst: CapInstance, out: str | Path, force: bool = False) -> Path:
    from planner.io.writer import write_rows
    sheets, settings = cap_sheets(inst)
    rows: dict[str, list[list]] = {"settings": [["key", "value"]] + [[k, v] for k, v in settings.items()]}
    for name, records in sheets.items():
        cols: list[str] = []
        for r in records:
            cols += [c for c in r if c not in cols]
        rows[name] = [cols] + [[r.get(c) for c in cols] for r in records]
    return write_rows(rows, Path(out), force=force)
