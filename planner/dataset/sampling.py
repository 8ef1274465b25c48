"""Sampled disruption scenarios: N scenarios drawn from the `risks` and `demand_swings` sheets, as
the rows of the `scenarios`, `disruptions` and `scenario_demand` sheets (`plan scenarios --sample`).

Each scenario has probability 1/N. In each period of L years (in period order), each correlation
group of risks rows (a row without a group is a group of its own) stops with probability
1 - (1 - p)^L, p its yearly probability: at least one stop starts within the period. A stopped
row draws its length d (fixed, uniform between its shortest and longest, or exponential with its
mean) and gives its country's sites of its mineral (every mineral where blank) the period's
availability 1 - (min(d, L) / L)(1 - a), a the availability during the stop; two stops of one
country and mineral in a period keep the smaller availability, as disruptions rows do. The
scenario's `shock_years` (how long a stock's release is spread over) is the longest min(d, L) of
its stops. Each demand_swings row then draws the scenario's multiplier for its mineral: uniform
between low and high, or triangular with the row's mode.

The numbers come from SplitMix64 (Steele, Lea and Flood 2014), written here so that one seed gives
one workbook whatever the versions of numpy or Python: the draws are made in a fixed order
(scenario, group, period: one draw for the stop and one per row of the group for its length,
drawn whether or not the stop happens; then one per demand swing in mineral order), so that
editing one row's numbers changes no other row's draws."""

from __future__ import annotations

import math

import pandas as pd

_MASK = (1 << 64) - 1


class SplitMix64:
    """The SplitMix64 generator: 64-bit state, uniform doubles in [0, 1) from the top 53 bits."""

    def __init__(self, seed: int):
        self.state = int(seed) & _MASK

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self.next_u64() >> 11) * 2.0 ** -53


def draw_duration(row, u: float) -> float:
    """A stop's length in years from the uniform draw u (inverse of the row's distribution)."""
    d = float(row["duration_years"])
    if row["duration"] == "uniform":
        return d + (float(row["duration_max_years"]) - d) * u
    if row["duration"] == "exponential":
        return -d * math.log1p(-u)
    return d


def draw_swing(row, u: float) -> float:
    """A demand multiplier from the uniform draw u: uniform on [low, high], or triangular with the mode."""
    lo, hi, mode = float(row["low_multiplier"]), float(row["high_multiplier"]), row["mode_multiplier"]
    if mode is None or pd.isna(mode) or hi <= lo:
        return lo + (hi - lo) * u
    c = float(mode)
    if u < (c - lo) / (hi - lo):
        return lo + math.sqrt(u * (hi - lo) * (c - lo))
    return hi - math.sqrt((1 - u) * (hi - lo) * (hi - c))


def _groups(risks: pd.DataFrame) -> list[list]:
    """The risks rows by correlation group: named groups in name order, then each ungrouped row on its
    own, in (country, mineral) order."""
    rows = [r for _, r in risks.sort_values(["country", "mineral"]).iterrows()]
    named: dict[str, list] = {}
    alone = []
    for r in rows:
        if r["group"]:
            named.setdefault(str(r["group"]), []).append(r)
        else:
            alone.append([r])
    return [named[g] for g in sorted(named)] + alone


def sample(risks: pd.DataFrame | None, swings: pd.DataFrame | None, periods: pd.DataFrame, n: int,
           seed: int) -> dict[str, pd.DataFrame]:
    """N scenarios drawn from `risks` and `swings` (the typed sheets; either may be None) over
    `periods` (index period, column years): the tables `scenarios`, `disruptions` and
    `scenario_demand` of a workbook."""
    rng = SplitMix64(seed)
    groups = _groups(risks) if risks is not None and len(risks) else []
    swing_rows = [r for _, r in swings.sort_values("mineral").iterrows()] if swings is not None else []
    horizon = [(int(t), float(years)) for t, years in periods["years"].items()]
    width = max(3, len(str(n)))
    scen, disr, dem = [], [], []
    for k in range(n):
        avail: dict[tuple[str, str, int], float] = {}
        stops, shock = [], 0.0
        for group in groups:
            p = float(group[0]["yearly_probability"])
            for t, length in horizon:
                u = rng.random()
                lengths = [draw_duration(r, rng.random()) for r in group]
                if u >= 1.0 - (1.0 - p) ** length:
                    continue
                for r, d in zip(group, lengths):
                    within = min(d, length)
                    key = (str(r["country"]), str(r["mineral"]), t)
                    a = 1.0 - within / length * (1.0 - float(r["availability"]))
                    avail[key] = min(avail.get(key, 1.0), a)
                    shock = max(shock, within)
                    stops.append((key, d, float(r["availability"])))
        mult = {str(r["mineral"]): draw_swing(r, rng.random()) for r in swing_rows}
        tags = [f"{c}-{mi or 'all'}-{t}" for (c, mi, t), _, _ in stops]
        name = f"s{k + 1:0{width}d}_" + ("calm" if not tags else "+".join(tags[:2])
                                          + (f"+{len(tags) - 2}more" if len(tags) > 2 else ""))
        said = [f"{c} {mi or 'all minerals'} stopped in {t} for {d:.1f} y at {a:.0%}" for (c, mi, t), d, a in stops]
        if mult:
            said.append("demand " + ", ".join(f"{mi} x{x:.3f}" for mi, x in mult.items()))
        scen.append({"scenario": name, "probability": 1.0 / n, "demand_multiplier": 1.0,
                     "shock_years": round(shock, 4) if stops else None,
                     "description": "; ".join(said) if said else "no stop"})
        disr += [{"scenario": name, "country": c, "site": "", "mineral": mi, "period": t,
                  "availability": round(a, 6)} for (c, mi, t), a in sorted(avail.items())]
        dem += [{"scenario": name, "mineral": mi, "demand_multiplier": round(x, 6)} for mi, x in mult.items()]
    return {"scenarios": pd.DataFrame(scen, columns=["scenario", "probability", "demand_multiplier", "shock_years",
                                                      "description"]),
            "disruptions": pd.DataFrame(disr, columns=["scenario", "country", "site", "mineral", "period",
                                                        "availability"]),
            "scenario_demand": pd.DataFrame(dem, columns=["scenario", "mineral", "demand_multiplier"])}
