"""Validated, typed planning data and the sparse index sets the model is built on.

`load_data(path)` reads the workbook, checks every cross-sheet reference and contradiction
(naming the cell), and computes once the sparse sets (arcs, build options, online links,
availabilities) that `build_model` only iterates over. No Pyomo here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError, cell_ref, collecting, report
from planner.dataset.financing import (Financing, benefit_shares, burden_shares_sum, check_forced_budgets, read_financing,
                                       unfinanceable)
from planner.io.reader import RawWorkbook, read_workbook
from planner.dataset.plausibility import plausibility_warnings
from planner.dataset.standards import Standard, failures, read_standards, screen

EARTH_RADIUS_KM = 6371.0
PROBABILITY_TOLERANCE = 1e-6


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance (haversine, Earth radius 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_matrix_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distances (km) between every row of `a` and every row of `b` (lat, lon in degrees):
    the same formula as `haversine_km`, vectorised."""
    p1, p2 = np.radians(a[:, :1]), np.radians(b[:, 0][None, :])
    dp, dl = p2 - p1, np.radians(b[:, 1][None, :] - a[:, 1:2])
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def _cheapest_pairs(for_mine: np.ndarray, for_refinery: np.ndarray, km: np.ndarray, k: int | None) -> np.ndarray:
    """Mine x refinery pairs kept as arcs: all (k None), else each mine's k cheapest refineries by
    `for_mine` (transport + the refinery's unit cost per tonne of ore) and each refinery's k cheapest
    mines by `for_refinery` (the mine's unit cost + transport); ties go to the nearer, then to the
    first in the sheet."""
    keep = np.zeros(km.shape, dtype=bool)
    if k is None or k >= max(km.shape):
        keep[:] = True
        return keep
    for c, d, transpose in ((for_mine, km, False), (for_refinery.T, km.T, True)):
        if k >= c.shape[1]:
            chosen = np.ones(c.shape, dtype=bool)
        else:
            order = np.lexsort((d, c), axis=1)[:, :k]
            chosen = np.zeros(c.shape, dtype=bool)
            np.put_along_axis(chosen, order, True, axis=1)
        keep |= chosen.T if transpose else chosen
    return keep


@dataclass
class PlanData:
    """Everything `build_model` needs, as plain Python and pandas (sorted, reproducible)."""

    settings: dict[str, object]
    periods: pd.DataFrame  # index period: years, discount (delta_t), weight (L_t * delta_t)
    minerals: pd.DataFrame  # index mineral
    countries: pd.DataFrame  # index country
    members: pd.DataFrame  # index member
    sites: pd.DataFrame  # index site; + host_member, risk_score, yield filled, eligible
    demand: pd.DataFrame  # index (member, mineral, period): demand_tpy
    scrap: pd.DataFrame  # index (member, mineral, period): scrap_tpy
    scenarios: pd.DataFrame  # index scenario: probability, demand_multiplier
    limits: pd.DataFrame  # one row per cap: period, member, country, emissions/water caps, _row
    arcs: pd.DataFrame  # index arc (0..n-1): origin, destination, kind, mineral, cost_usd_per_t
    # sparse sets
    PERIODS: tuple[int, ...] = ()
    SCENARIOS: tuple[str, ...] = ()
    SITES: tuple[str, ...] = ()
    CANDIDATES: tuple[str, ...] = ()
    MEMBERS: tuple[str, ...] = ()
    MINERALS: tuple[str, ...] = ()
    BUILD_OPTIONS: tuple[tuple[str, int], ...] = ()
    ONLINE_LINKS: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    availability: dict[tuple[str, str, int], float] = field(default_factory=dict)
    # (scenario, mineral) -> the scenario's demand multiplier for that mineral, where scenario_demand sets one
    mineral_multiplier: dict[tuple[str, str], float] = field(default_factory=dict)
    # (site, period) -> capacity in t/yr, where capacity_by_period sets one (else sites.capacity_tpy)
    period_capacity: dict[tuple[str, int], float] = field(default_factory=dict)
    out_arcs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    in_arcs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    member_in_arcs: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    SHARE_CAP_INDEX: dict[tuple[str, str, str], tuple[int, ...]] = field(default_factory=dict)
    RECYCLING_POOLS: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    GROUPS: dict[str, tuple[str, ...]] = field(default_factory=dict)
    FORCED: tuple[str, ...] = ()
    financing: Financing = field(default_factory=Financing)
    FINANCE: tuple[tuple[str, str, int], ...] = ()  # (candidate, member, build period) a member may finance
    INACTIVE: tuple[str, ...] = ()  # members treated as having left (--without, active = no)
    benefit_share: dict[str, float] = field(default_factory=dict)
    # standards and environment
    standards: tuple[Standard, ...] = ()
    standards_on: bool = True
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # site x standard label: pass/fail/''
    LIMIT_SITES: dict[int, tuple[str, ...]] = field(default_factory=dict)  # limits row label -> sites covered
    # traceability (chain of custody): origins are countries; see formulation.md "Traced input"
    ALLIED: frozenset = frozenset()  # countries of active members and partners
    COUNTRY_IN: dict[tuple[str, str, str], tuple[tuple[int, float], ...]] = field(default_factory=dict)
    COUNTRY_OUT: dict[tuple[str, str, str], tuple[int, ...]] = field(default_factory=dict)
    TRACED_MINERALS: tuple[str, ...] = ()
    TRACE: tuple[tuple[str, str, str, str], ...] = ()  # (mine country, refining country, member, mineral)
    sigma_refining: float | None = None
    sigma_mining: float | None = None
    sigma_by_mineral: dict[str, float] = field(default_factory=dict)  # refining cap per mineral (None = off)
    # emergency response: stockpiles and shocks
    stockpiles: pd.DataFrame = field(default_factory=pd.DataFrame)  # index stockpile id: mineral, member, ...
    STOCKPILES: tuple[str, ...] = ()
    RELEASE: tuple[tuple[str, str, int, str], ...] = ()  # (stockpile, member, period, scenario) of a release
    shock_years: dict[tuple[str, int], float] = field(default_factory=dict)  # (shock scenario, period) -> d_{s,t}
    cvar_alpha: float | None = None
    cvar_weight: float | None = None
    warnings: list[str] = field(default_factory=list)
    source_path: str = ""
    content_sha256: str = ""
    # every non-blank input cell as read (sheet, key, column, value as text): kept with each run so that
    # `plan compare` can name the cells two runs' inputs differ in
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @functools.cached_property
    def running(self) -> frozenset[tuple[str, int]]:
        """(site, period) where the site can operate: existing sites in every period, candidates in
        the periods a build option has them online."""
        existing = self.sites.index[self.sites["status"] == "existing"]
        return frozenset({(f, t) for f in existing for t in self.PERIODS}
                         | {k for k, links in self.ONLINE_LINKS.items() if links})

    @functools.cached_property
    def demand_tpy(self) -> dict[tuple[str, str, int], float]:
        return {k: float(v) for k, v in self.demand["demand_tpy"].items()}

    @functools.cached_property
    def multiplier(self) -> dict[str, float]:
        return {s: float(v) for s, v in self.scenarios["demand_multiplier"].items()}

    @functools.cached_property
    def unmet_penalty(self) -> dict[str, float]:
        """theta_m, USD per tonne of mineral m's demand left unmet: the mineral's
        unmet_penalty_usd_per_t, else the setting (which a model definition may override)."""
        default = float(self.settings.get("unmet_penalty_usd_per_t") or 0.0)
        own = self.minerals["unmet_penalty_usd_per_t"] if "unmet_penalty_usd_per_t" in self.minerals else {}
        return {m: (default if own is None or m not in own or own[m] is None or pd.isna(own[m]) else float(own[m]))
                for m in self.minerals.index}

    @functools.cached_property
    def site_capacity(self) -> dict[str, float]:
        return {f: float(v) for f, v in self.sites["capacity_tpy"].items()}

    def capacity(self, site: str, period: int) -> float:
        """K_{f,t}: the site's capacity in the period (capacity_by_period, else sites.capacity_tpy), t/yr."""
        got = self.period_capacity.get((site, period))
        return self.site_capacity[site] if got is None else got

    def demand_multiplier(self, scenario: str, mineral: str) -> float:
        """mu_{s,m}: the scenario's multiplier on demand for the mineral (scenario_demand), else the
        scenario's demand_multiplier."""
        return self.mineral_multiplier.get((scenario, mineral), self.multiplier[scenario])

    def avail(self, scenario: str, site: str, period: int) -> float:
        return self.availability.get((scenario, site, period), 1.0)

    @functools.cached_property
    def _countries_of_member(self) -> dict[str, frozenset[str]]:
        groups = self.countries.groupby("member").groups
        return {m: frozenset(ix) for m, ix in groups.items()}

    def member_countries(self, member: str) -> frozenset[str]:
        """The countries that are `member`'s territory (computed once per plan)."""
        return self._countries_of_member.get(member, frozenset())


def _err(code, msg, df, idx, column, sheet):
    """InputError at the cell of `column` in the record `idx` of table `df`."""
    row = int(df.loc[idx, "_row"]) if idx is not None else None
    col = df.attrs.get("positions", {}).get(column)
    return InputError(code, msg, sheet=sheet, row=row, col=col, column=column)


def _check_refs(df: pd.DataFrame, sheet: str, column: str, allowed, what: str, allow_blank=False):
    allowed = set(allowed)
    for idx, v in df[column].items():
        if allow_blank and (v is None or v == ""):
            continue
        if v not in allowed:
            hint = ""
            low = {a.lower(): a for a in allowed if isinstance(a, str)}
            if isinstance(v, str) and v.lower() in low:
                hint = f" (did you mean '{low[v.lower()]}'?)"
            elif isinstance(v, str) and not v.isascii():
                ch = next(c for c in v if not c.isascii())
                hint = (f" (it contains the non-ASCII character '{ch}' U+{ord(ch):04X} "
                        f"{unicodedata.name(ch, 'unnamed')}, a look-alike of a Latin letter?)")
            report(_err("E_UNKNOWN_REF", f"unknown {what} '{v}'{hint}", df, idx, column, sheet))


def content_hash(raw: RawWorkbook) -> str:
    """SHA-256 of the workbook's data content (not its bytes): two saves of the same data agree."""
    h = hashlib.sha256()
    items = sorted(raw.settings.items())
    h.update(repr(items).encode())
    for name in sorted(raw.tables):
        df = raw.tables[name].drop(columns="_row")
        # row order and column order are not content: sort both so shuffled copies hash the same
        cols = sorted(df.columns)
        df = df[cols]
        text = df.astype(object).where(df.notna(), "nan").astype(str)  # pandas 3 keeps NaN through astype(str)
        keys = list(zip(*(text[c].tolist() for c in cols))) if cols else [()] * len(df)
        df = df.iloc[sorted(range(len(df)), key=keys.__getitem__)]
        h.update(name.encode())
        h.update(df.to_csv(index=False).encode())
    return h.hexdigest()


INPUT_COLUMNS = ["sheet", "key", "column", "value"]


def input_cells(raw: RawWorkbook) -> pd.DataFrame:
    """Every non-blank cell of the workbook as read: (sheet, the row's key, column, value as text). A
    row's key is its key columns' values joined by '|' (the sheet's key in the schema), else its row
    number; settings are keyed by name. Values are text as Python writes them (2.5, 2030, 'yes')."""
    from planner.io.schema import SHEETS
    rows = [("settings", k, "value", _text(v)) for k, v in sorted(raw.settings.items()) if _text(v) != ""]
    by_name = SHEETS  # sheet name -> its schema
    for name, df in raw.tables.items():
        spec = by_name.get(name)
        key_cols = list(spec.key) if spec is not None and spec.key and set(spec.key) <= set(df.columns) else []
        cols = [c for c in df.columns if c != "_row"]
        for rec in df.to_dict("records"):
            key = "|".join(_text(rec[c]) for c in key_cols) if key_cols else f"row {rec['_row']}"
            rows += [(name, key, c, t) for c in cols if (t := _text(rec[c])) != ""]
    return pd.DataFrame(rows, columns=INPUT_COLUMNS)


def _text(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _own_penalties(demand: pd.DataFrame, minerals: pd.DataFrame) -> bool:
    """Whether every mineral with demand has its own value of lost supply."""
    if "unmet_penalty_usd_per_t" not in minerals:
        return False
    own = minerals["unmet_penalty_usd_per_t"]
    asked = {mi for (_, mi, _) in demand.index}
    return all(mi in own and own[mi] is not None and not pd.isna(own[mi]) and float(own[mi]) > 0 for mi in asked)


def _modeller_warnings(s: dict, settings_rows: dict, demand: pd.DataFrame, sites: pd.DataFrame, build_options,
                       limits: pd.DataFrame, warnings: list[str], minerals: pd.DataFrame) -> None:
    """Settings a modeller rarely means, each named by its cell: no price on unmet demand while there
    is demand (the plan may then deliver nothing, at no cost), every candidate screened out, caps of
    zero."""
    def cell(key: str) -> str:
        row = settings_rows.get(key)
        return f"settings!B{row}" if row else f"settings ({key} not given)"

    if len(demand) and float(demand["demand_tpy"].astype(float).sum()) > 0 \
            and not float(s.get("unmet_penalty_usd_per_t") or 0.0) and not _own_penalties(demand, minerals):
        warnings.append(f"{cell('unmet_penalty_usd_per_t')}: unmet_penalty_usd_per_t is 0 while members have "
                        "demand: leaving demand unmet costs nothing, so the plan may deliver nothing")
    if "unmet_penalty_usd_per_t" in minerals and len(demand):
        asked = {mi for (_, mi, _), v in demand["demand_tpy"].items() if float(v) > 0}
        for mi, v in minerals["unmet_penalty_usd_per_t"].items():
            if mi in asked and v is not None and not pd.isna(v) and float(v) == 0:
                col = minerals.attrs.get("positions", {}).get("unmet_penalty_usd_per_t")
                warnings.append(f"{cell_ref('minerals', int(minerals.at[mi, '_row']), col)}: unmet_penalty_usd_per_t of "
                                f"{mi} is 0 while members have demand for it: leaving it unmet costs nothing")
    candidates = sites.index[sites["status"] == "candidate"]
    if len(candidates) and not build_options:
        warnings.append(f"every one of the {len(candidates)} candidates is screened out (see the screening sheet): "
                        "the plan can only use existing sites")
    for key in ("max_country_share", "max_country_share_refining", "max_country_share_mining"):
        v = s.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and float(v) == 0.0:
            warnings.append(f"{cell(key)}: {key} is 0: no supply at all may come from outside a member's own "
                            "countries (blank switches the cap off)")
    for col, what in (("emissions_cap_tco2e_per_yr", "emissions"), ("water_cap_m3_per_yr", "fresh water")):
        if col in limits:
            for r, v in zip(limits["_row"], limits[col]):
                if v is not None and not (isinstance(v, float) and math.isnan(v)) and float(v) == 0.0:
                    warnings.append(f"limits!row {int(r)} ({col}): a cap of 0 allows no {what} at all from the "
                                    "sites it covers (blank means no cap)")


def _public_capex(sites: pd.DataFrame, s: dict) -> None:
    """`private_share` (the site's, else settings.private_share) and `public_capex_musd`: the part of
    the capex the members pay, which budgets, burden shares, host shares and financing rules count
    (the objective counts the whole capex)."""
    default = float(s.get("private_share") or 0.0)
    given = sites["private_share"] if "private_share" in sites else pd.Series(None, index=sites.index)
    share = [default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in given]
    sites["private_share"] = share
    sites["public_capex_musd"] = sites["capex_musd"].astype(float) * (1.0 - pd.Series(share, index=sites.index))


def load_data(path: str | Path, overrides: dict | None = None, without: tuple[str, ...] = (),
              standards: bool = True) -> PlanData:
    return build_data(read_workbook(path), overrides, without, standards)


def build_data(raw: RawWorkbook, overrides: dict | None = None, without: tuple[str, ...] = (),
               standards: bool = True) -> PlanData:
    """Check references and contradictions and compute the sparse sets. `overrides` (from a
    model definition) replace workbook settings before anything is derived from them; members in
    `without` (and those marked active = no) are treated as having left the alliance: their
    demand, scrap, budgets, financing and hosting rights go. `standards=False` solves as if the
    `standards` sheet were empty (its verdicts are still reported). One function per group of
    derived tables and sets, in the order they depend on each other."""
    t = raw.tables
    s = dict(raw.settings)
    s.update(overrides or {})
    warnings = list(raw.warnings)
    periods = _periods(t["periods"], s, warnings)
    PERIODS = tuple(int(p) for p in periods.index)
    minerals = t["minerals"].set_index("mineral", drop=False).sort_index()
    all_members, members, inactive = _members(t["members"], without, warnings)
    countries = t["countries"]
    _check_refs(countries, "countries", "member", all_members.index, "member", allow_blank=True)
    countries = countries.set_index("country", drop=False).sort_index()
    plain_sites, tranche_capacity = _tranches(t["sites"], t.get("market_tranches"), PERIODS)
    sites = _sites(plain_sites, countries, minerals, warnings)
    rules = read_standards(t.get("standards"))
    verdicts = screen(sites.set_index("site", drop=False), rules)
    failed = failures(verdicts) if standards else {}
    _yields_and_places(sites, countries, warnings)
    _public_capex(sites, s)
    _screen(sites, s, PERIODS, inactive, failed, raw.settings_rows, warnings)
    fin = read_financing(t, s, all_members, members, countries, sites.set_index("site", drop=False), PERIODS,
                         inactive, _check_refs)
    _screen_financing(sites, fin, members)
    groups = _groups(sites)
    sites = sites.set_index("site", drop=False).sort_index()
    build_options, online, forced = _build_options(sites, PERIODS)
    build_periods: dict[str, list[int]] = defaultdict(list)
    for f, tb in build_options:
        build_periods[f].append(tb)
    check_forced_budgets(fin, sites, forced, build_periods, tuple(members.index), t.get("budgets"))
    finance_index = tuple((f, a, tb) for f, tb in build_options for a in members.index
                          if fin.caps.get((a, f), 1.0) > 0)
    demand = _keyed(t, "demand", "demand_tpy", ("member", "mineral", "period"), all_members, inactive, minerals,
                    PERIODS)
    scrap = _keyed(t, "scrap", "scrap_tpy", ("member", "mineral", "period"), all_members, inactive, minerals, PERIODS)
    scenarios = _scenarios(t.get("scenarios"))
    SCENARIOS = tuple(scenarios.index)
    availability = _availability(t.get("disruptions"), sites, countries, minerals, SCENARIOS, PERIODS)
    mineral_multiplier = _scenario_demand(t.get("scenario_demand"), SCENARIOS, minerals)
    period_capacity = {**tranche_capacity, **_period_capacity(t.get("capacity_by_period"), sites, PERIODS)}
    _risks(t.get("risks"), t.get("demand_swings"), countries, minerals)
    limits, limit_sites = _limits(t.get("limits"), PERIODS, all_members, inactive, countries, sites, warnings)
    arcs_df = _arcs(t, s, sites, members, all_members, minerals, periods, warnings)
    lookups = _arc_lookups(arcs_df, sites, countries)
    pools = defaultdict(list)
    for f, row in sites[sites["stage"] == "recycling"].iterrows():
        pools[(row["host_member"], row["mineral"])].append(f)
    sigma_ref, sigma_mine = _share_caps(s, raw.settings_rows)
    sigma_by_mineral = {mi: (float(v) if v is not None and not pd.isna(v) else sigma_ref)
                        for mi, v in minerals["max_country_share"].items()}
    shock = {(sc_, p): min(float(d), float(periods.loc[p, "years"])) for sc_, d in scenarios["shock_years"].items()
             if d is not None and not pd.isna(d) for p in PERIODS}
    mineral_of = sites["mineral"].to_dict()
    disrupted = {(sc_, mineral_of[f], p) for (sc_, f, p), x in availability.items() if x < 1 and (sc_, p) in shock}
    stockpiles, release = _stockpiles(t.get("stockpiles"), minerals, all_members, members, inactive, demand, warnings,
                                      disrupted)
    weight = s.get("cvar_weight")
    alpha = s.get("cvar_alpha")
    if weight is not None and alpha is None:
        alpha = 0.9
    allied, country_in, country_out, traced, trace = _trace_sets(arcs_df, sites, countries, members, minerals,
                                                                 sigma_mine)

    _modeller_warnings(s, raw.settings_rows, demand, sites, build_options, limits, warnings, minerals)
    warnings.extend(plausibility_warnings(s, raw.settings_rows, sites, demand, minerals))
    # Cell positions are needed only for the messages above; pandas deep-copies attrs on every
    # scalar .loc access, which made each lookup ~100x slower in the model, results and report.
    for df in (periods, minerals, countries, members, sites, demand, scrap, scenarios, limits, arcs_df, stockpiles):
        df.attrs = {}
    return PlanData(
        settings=s, periods=periods, minerals=minerals, countries=countries, members=members,
        sites=sites, demand=demand, scrap=scrap, scenarios=scenarios, limits=limits, arcs=arcs_df,
        PERIODS=PERIODS, SCENARIOS=SCENARIOS, SITES=tuple(sites.index),
        CANDIDATES=tuple(sites.index[sites["status"] == "candidate"]), MEMBERS=tuple(members.index),
        MINERALS=tuple(minerals.index), BUILD_OPTIONS=tuple(build_options), ONLINE_LINKS=online,
        availability=availability, mineral_multiplier=mineral_multiplier, period_capacity=period_capacity, **lookups,
        RECYCLING_POOLS={k: tuple(sorted(v)) for k, v in sorted(pools.items())},
        GROUPS={g: tuple(sorted(v)) for g, v in sorted(groups.items())},
        FORCED=forced, financing=fin, FINANCE=finance_index, INACTIVE=inactive,
        benefit_share=benefit_shares(demand, periods, scenarios, tuple(members.index), mineral_multiplier),
        standards=rules, standards_on=standards, verdicts=verdicts, LIMIT_SITES=limit_sites,
        ALLIED=allied, COUNTRY_IN=country_in, COUNTRY_OUT=country_out, TRACED_MINERALS=traced, TRACE=trace,
        sigma_refining=sigma_ref, sigma_mining=sigma_mine, sigma_by_mineral=sigma_by_mineral,
        stockpiles=stockpiles, STOCKPILES=tuple(stockpiles.index), RELEASE=release, shock_years=shock,
        cvar_alpha=None if alpha is None else float(alpha), cvar_weight=None if weight is None else float(weight),
        warnings=warnings, source_path=str(raw.path), content_sha256=content_hash(raw), inputs=input_cells(raw),
    )


def _periods(periods: pd.DataFrame, s: dict, warnings: list[str] | None = None) -> pd.DataFrame:
    """Periods in order, checked not to overlap or start before base_year, with each period's
    discount factor, weight (years x discount) and carbon price."""
    periods = periods.sort_values("period")
    if periods.empty:
        raise InputError("E_EMPTY_TABLE", "at least one period is required", sheet="periods", row=2)
    base_year, r = int(s["base_year"]), float(s["discount_rate"])
    for idx, row in periods.iterrows():
        if row["period"] < base_year:
            raise _err("E_OUT_OF_RANGE", f"period {row['period']} starts before base_year {base_year}",
                       periods, idx, "period", "periods")
    ends = periods["period"] + periods["years"]
    for (i1, a), (i2, b) in zip(list(ends.items())[:-1], list(periods["period"].items())[1:]):
        if b < a:
            raise _err("E_OVERLAP", f"period {b} starts before the previous period ends ({a})",
                       periods, i2, "period", "periods")
        if b > a and warnings is not None:
            col = periods.attrs.get("positions", {}).get("period")
            warnings.append(f"{cell_ref('periods', int(periods.loc[i2, '_row']), col)}: period {b} starts "
                            f"{b - a:g} year(s) after the previous one ends ({a:g}): the years between are not "
                            "planned (no demand, output or cost is counted in them)")
    periods = periods.set_index("period", drop=False)
    periods["discount"] = [(1 + r) ** -(p - base_year) for p in periods["period"]]
    periods["weight"] = periods["years"] * periods["discount"]
    carbon = float(s.get("carbon_price_usd_per_tco2e") or 0.0)
    periods["carbon_price"] = [carbon if v is None or pd.isna(v) else float(v)
                               for v in periods["carbon_price_usd_per_tco2e"]]
    return periods


def _members(members: pd.DataFrame, without: tuple[str, ...], warnings: list[str]):
    """(all members, the active ones, those left: `without` and active = no)."""
    members = members.set_index("member", drop=False).sort_index()
    unknown = [a for a in without if a not in members.index]
    if unknown:
        raise InputError("E_UNKNOWN_MEMBER", f"--without names unknown member(s) {', '.join(unknown)}; members "
                         f"are {', '.join(members.index)}", sheet="members")
    inactive = tuple(sorted(set(without) | set(members.index[members["active"] == "no"])))
    for a in inactive:
        warnings.append(f"member {a} is treated as having left the alliance: its demand, scrap, budgets, "
                        "financing and hosting rights are removed")
    active = members[~members.index.isin(inactive)]
    if active.empty:
        raise InputError("E_EMPTY_TABLE", "no active member is left", sheet="members", row=2)
    return members, active, inactive


def _sites(sites: pd.DataFrame, countries: pd.DataFrame, minerals: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Sites checked against countries and minerals, with their host member, risk score and water
    stress (the country's unless given)."""
    if sites.empty:
        raise InputError("E_EMPTY_TABLE", "at least one site is required", sheet="sites", row=2)
    _check_refs(sites, "sites", "country", countries.index, "country")
    _check_refs(sites, "sites", "mineral", minerals.index, "mineral")
    sites = sites.copy()
    sites["host_member"] = [countries.loc[c, "member"] for c in sites["country"]]
    sites["risk_score"] = [float(countries.loc[c, "risk_score"]) for c in sites["country"]]
    sites["water_stress"] = [countries.loc[c, "water_stress"] if v is None or pd.isna(v) else v
                             for v, c in zip(sites["water_stress"], sites["country"])]
    return sites


def _yields_and_places(sites: pd.DataFrame, countries: pd.DataFrame, warnings: list[str]) -> None:
    """Each site's yield (1 for mines and markets; refineries and recycling must give one) and
    coordinates (the country's unless both are given); recycling only in a member's country. After
    the standards are screened: a standard on `yield` reads the workbook's values."""
    ylds = []
    for idx, row in sites.iterrows():
        y = row["yield"]
        if row["stage"] in ("refinery", "recycling"):
            if y is None or (isinstance(y, float) and math.isnan(y)):
                raise _err("E_VALUE_MISSING", f"{row['stage']} sites need a yield in (0, 1]", sites, idx,
                           "yield", "sites")
        else:
            y = 1.0 if y is None or (isinstance(y, float) and math.isnan(y)) else y
        ylds.append(float(y))
        if row["stage"] == "recycling" and not row["host_member"]:
            raise _err("E_RECYCLING_OUTSIDE", f"recycling site '{row['site']}' must be in a member's "
                       f"country ('{row['country']}' belongs to no member)", sites, idx, "country", "sites")
        if (pd.isna(row["lat"])) != (pd.isna(row["lon"])):
            warnings.append(f"sites row {row['_row']}: only one of lat/lon given; both taken from the "
                            "country")
    sites["yield"] = ylds
    both = sites["lat"].notna() & sites["lon"].notna()
    sites["lat"] = [float(la) if b else float(countries.loc[c, "lat"])
                    for la, b, c in zip(sites["lat"], both, sites["country"])]
    sites["lon"] = [float(lo) if b else float(countries.loc[c, "lon"])
                    for lo, b, c in zip(sites["lon"], both, sites["country"])]


def _screen(sites: pd.DataFrame, s: dict, PERIODS: tuple[int, ...], inactive, failed: dict, settings_rows: dict,
            warnings: list[str]) -> None:
    """Each site's `eligible` and `screen_reason`: a candidate is out if its host member left, it is
    excluded, its ESG score fails min_esg_score, it fails a standard, or it cannot come online within
    the horizon; a force_build contradicting a screen is an error."""
    min_esg = s.get("min_esg_score")
    last_year = PERIODS[-1]
    eligible, reasons = [], []
    for idx, row in sites.iterrows():
        ok, why = True, ""
        if row["status"] == "candidate":
            if row["host_member"] in inactive:
                ok, why = False, f"host member {row['host_member']} left the alliance"
                if row["decision"] == "force_build":
                    warnings.append(f"sites row {row['_row']}: force_build of '{row['site']}' dropped: its host "
                                    f"member {row['host_member']} left the alliance")
            elif row["decision"] == "exclude":
                ok, why = False, "excluded by decision"
            elif min_esg is not None and (row["esg_score"] is None or pd.isna(row["esg_score"])
                                          or row["esg_score"] < min_esg):
                ok, why = False, f"esg_score below min_esg_score {min_esg:g}"
                if row["decision"] == "force_build":
                    raise _err("E_CONTRADICTION", f"site '{row['site']}' is force_build but its esg_score "
                               f"({row['esg_score']}) fails min_esg_score {min_esg:g} (settings row "
                               f"{settings_rows.get('min_esg_score')})", sites, idx, "decision", "sites")
            elif row["site"] in failed:
                ok, why = False, "fails standard " + "; ".join(failed[row["site"]])
                if row["decision"] == "force_build":
                    raise _err("E_CONTRADICTION", f"site '{row['site']}' is force_build but fails the standard "
                               f"{failed[row['site']][0]} (standards sheet)", sites, idx, "decision", "sites")
            elif PERIODS[0] + row["lead_time_years"] > last_year:
                ok, why = False, "cannot come online within the horizon"
                if row["decision"] == "force_build":
                    raise _err("E_CONTRADICTION", f"site '{row['site']}' is force_build but with lead time "
                               f"{row['lead_time_years']:g} years it cannot come online by {last_year}",
                               sites, idx, "decision", "sites")
        else:
            if row["site"] in failed:
                why = "existing site: fails standard " + "; ".join(failed[row["site"]]) + " (reported, not removed)"
            for c in ("decision", "group"):
                if row[c]:
                    warnings.append(f"sites row {row['_row']}: '{c}' applies to candidates only; ignored "
                                    f"for existing site '{row['site']}'")
        eligible.append(ok)
        reasons.append(why)
    sites["eligible"] = eligible
    sites["screen_reason"] = reasons
    n_existing = sum(1 for f in failed if (sites.loc[sites["site"] == f, "status"] == "existing").any())
    if n_existing:
        warnings.append(f"{n_existing} existing site(s) fail a standard; they are reported in the screening sheet, "
                        "not removed")


def _screen_financing(sites: pd.DataFrame, fin, members: pd.DataFrame) -> None:
    """Financing rules can make a candidate unfinanceable: a screen like the others."""
    for idx, row in sites.iterrows():
        if row["status"] == "candidate" and sites.loc[idx, "eligible"]:
            why = unfinanceable(fin, tuple(members.index), row["site"], row["host_member"],
                                float(row["public_capex_musd"]))
            if why:
                if row["decision"] == "force_build":
                    raise _err("E_CONTRADICTION", f"site '{row['site']}' is force_build but {why}", sites, idx,
                               "decision", "sites")
                sites.loc[idx, "eligible"] = False
                sites.loc[idx, "screen_reason"] = why


def _groups(sites: pd.DataFrame) -> dict[str, list[str]]:
    """Exclusive groups of candidates; two force_build sites in one group are a contradiction."""
    groups: dict[str, list[str]] = defaultdict(list)
    for idx, row in sites.iterrows():
        if row["status"] == "candidate" and row["group"]:
            groups[row["group"]].append(row["site"])
    forced_by_group: dict[str, tuple] = {}
    for idx, row in sites.iterrows():
        if row["status"] == "candidate" and row["decision"] == "force_build" and row["group"]:
            if row["group"] in forced_by_group:
                other = forced_by_group[row["group"]]
                raise _err("E_CONTRADICTION", f"sites '{other[0]}' (row {other[1]}) and '{row['site']}' are "
                           f"both force_build in exclusive group '{row['group']}'", sites, idx, "decision",
                           "sites")
            forced_by_group[row["group"]] = (row["site"], row["_row"])
    return groups


def _build_options(sites: pd.DataFrame, PERIODS: tuple[int, ...]):
    """(build options: (candidate, build period) pairs that come online within the horizon; online
    links: (candidate, period) -> the build periods that have it online then; forced candidates)."""
    last_year = PERIODS[-1]
    build_options, online = [], {}
    for f, row in sites[sites["status"] == "candidate"].iterrows():
        if not row["eligible"]:
            continue
        lead = float(row["lead_time_years"])
        for tb in PERIODS:
            if tb + lead <= last_year:
                build_options.append((f, tb))
        for tt in PERIODS:
            online[(f, tt)] = tuple(tb for tb in PERIODS if tb + lead <= tt)
    forced = tuple(sorted(sites.index[(sites["status"] == "candidate") & (sites["decision"] == "force_build")
                                      & sites["eligible"]]))
    return build_options, online, forced


def _keyed(t: dict, name: str, value_col: str, keys, all_members, inactive, minerals, PERIODS) -> pd.DataFrame:
    """A (member, mineral, period) table (demand, scrap) checked and without members who left."""
    df = t.get(name)
    if df is None:
        return pd.DataFrame(columns=list(keys) + [value_col]).set_index(list(keys))
    _check_refs(df, name, "member", all_members.index, "member")
    df = df[~df["member"].isin(inactive)]
    _check_refs(df, name, "mineral", minerals.index, "mineral")
    _check_refs(df, name, "period", PERIODS, "period")
    return df.set_index(list(keys)).sort_index()


def _scenarios(sc: pd.DataFrame | None) -> pd.DataFrame:
    """The scenarios, their probabilities summing to 1; one `base` scenario when there are none."""
    if sc is not None and len(sc):
        total = float(sc["probability"].sum())
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            first, last = int(sc["_row"].min()), int(sc["_row"].max())
            col = sc.attrs["positions"]["probability"]
            raise InputError("E_PROBABILITY", f"probabilities in rows {first}-{last} sum to {total:.6g}, "
                             "not 1", sheet="scenarios", row=last, col=col, column="probability")
        return sc.set_index("scenario", drop=False).sort_index()
    return pd.DataFrame({"scenario": ["base"], "probability": [1.0], "demand_multiplier": [1.0],
                         "shock_years": [None], "_row": [0]}).set_index("scenario", drop=False)


TRANCHE_SEP = "/"  # a tranche's site id: MARKET/TRANCHE


def _tranches(sites: pd.DataFrame, tranches: pd.DataFrame | None, PERIODS) -> tuple[pd.DataFrame, dict]:
    """The sites with each market tranche as a market site of its own (`SITE/TRANCHE`: the market's
    row, its cost plus the premium, the tranche's capacity; `tranche_of` names the market), and the
    capacity of tranches open in given periods only ((site, period) -> t/yr, 0 in the others)."""
    sites = sites.copy()
    sites["tranche_of"] = ""
    if tranches is None or not len(tranches):
        return sites, {}
    by_id = {str(f): i for i, f in zip(sites.index, sites["site"])}
    markets = {f for f, i in by_id.items() if sites.at[i, "stage"] == "market"}
    _check_refs(tranches, "market_tranches", "site", markets, "market site")
    rows, capacity, cost, kinds = {}, {}, {}, {}
    for idx, r in tranches.iterrows():
        f, k = str(r["site"]), str(r["tranche"])
        new = f"{f}{TRANCHE_SEP}{k}"
        if new in by_id:
            report(_err("E_DUPLICATE", f"the tranche {new} has the id of a site", tranches, idx, "tranche",
                        "market_tranches"))
        period = r["period"]
        if period is not None and not pd.isna(period) and int(period) not in PERIODS:
            report(_err("E_UNKNOWN_REF", f"unknown period '{period}'", tranches, idx, "period", "market_tranches"))
            continue
        premium = float(r["premium_usd_per_t"])
        if new in cost and abs(cost[new] - premium) > 1e-9:
            report(_err("E_CONTRADICTION", f"tranche {new} has two premiums ({cost[new]:g} and {premium:g} USD/t): "
                        "one per tranche", tranches, idx, "premium_usd_per_t", "market_tranches"))
        cost[new] = premium
        every = period is None or pd.isna(period)
        if kinds.setdefault(new, every) != every:
            report(_err("E_CONTRADICTION", f"tranche {new} has a row for every period and rows for given periods: "
                        "give one or the other", tranches, idx, "period", "market_tranches"))
        open_in = PERIODS if every else (int(period),)
        for t in open_in:
            capacity[(new, t)] = float(r["capacity_tpy"])
        if new not in rows:
            row = sites.loc[by_id[f]].copy()
            row["site"], row["tranche_of"] = new, f
            row["name"] = f"{row['name'] or f} ({k} tranche)"
            row["var_cost_usd_per_t"] = float(row["var_cost_usd_per_t"] or 0.0) + premium
            rows[new] = row
    extra = pd.DataFrame(list(rows.values()))
    for new in rows:  # periods a tranche is not open in: no capacity
        for t in PERIODS:
            capacity.setdefault((new, t), 0.0)
    extra["capacity_tpy"] = 0.0
    out = pd.concat([sites, extra], ignore_index=True)
    out.attrs = sites.attrs  # the cells of the sites sheet, for messages
    return out, capacity


def _period_capacity(d: pd.DataFrame | None, sites: pd.DataFrame, PERIODS) -> dict[tuple[str, int], float]:
    """(site, period) -> capacity, from the capacity_by_period sheet."""
    if d is None or not len(d):
        return {}
    _check_refs(d, "capacity_by_period", "site", sites.index, "site")
    for idx, v in d["period"].items():
        if int(v) not in PERIODS:
            report(_err("E_UNKNOWN_REF", f"unknown period '{v}'", d, idx, "period", "capacity_by_period"))
    return {(str(f), int(t)): float(x) for f, t, x in zip(d["site"], d["period"], d["capacity_tpy"])}


def _scenario_demand(d: pd.DataFrame | None, SCENARIOS, minerals) -> dict[tuple[str, str], float]:
    """(scenario, mineral) -> demand multiplier, from the scenario_demand sheet."""
    if d is None or not len(d):
        return {}
    _check_refs(d, "scenario_demand", "scenario", SCENARIOS, "scenario")
    _check_refs(d, "scenario_demand", "mineral", minerals.index, "mineral")
    return {(str(s), str(mi)): float(x) for s, mi, x in zip(d["scenario"], d["mineral"], d["demand_multiplier"])}


def _risks(risks: pd.DataFrame | None, swings: pd.DataFrame | None, countries, minerals) -> None:
    """The risks and demand_swings sheets (read by `plan scenarios --sample`, not by the model):
    references, a uniform duration's range, one probability per correlation group, a swing's low <=
    mode <= high."""
    if risks is not None and len(risks):
        _check_refs(risks, "risks", "country", countries.index, "country")
        _check_refs(risks, "risks", "mineral", minerals.index, "mineral", allow_blank=True)
        first: dict[str, tuple] = {}
        for idx, row in risks.iterrows():
            lo, hi = float(row["duration_years"]), row["duration_max_years"]
            if row["duration"] == "uniform" and (hi is None or pd.isna(hi) or float(hi) < lo):
                report(_err("E_CONTRADICTION", f"a uniform duration needs duration_max_years of at least "
                            f"duration_years ({lo:g})", risks, idx, "duration_max_years", "risks"))
            g = row["group"]
            if g:
                p = float(row["yearly_probability"])
                if g in first and abs(first[g][0] - p) > 1e-12:
                    report(_err("E_CONTRADICTION", f"group '{g}' stops together, so its rows share one "
                                f"yearly_probability: {p:g} here, {first[g][0]:g} in row {first[g][1]}", risks, idx,
                                "yearly_probability", "risks"))
                first.setdefault(g, (p, int(row["_row"])))
    if swings is not None and len(swings):
        _check_refs(swings, "demand_swings", "mineral", minerals.index, "mineral")
        for idx, row in swings.iterrows():
            lo, hi, mode = float(row["low_multiplier"]), float(row["high_multiplier"]), row["mode_multiplier"]
            if hi < lo:
                report(_err("E_CONTRADICTION", f"high_multiplier {hi:g} is below low_multiplier {lo:g}", swings, idx,
                            "high_multiplier", "demand_swings"))
            elif mode is not None and not pd.isna(mode) and not lo <= float(mode) <= hi:
                report(_err("E_CONTRADICTION", f"mode_multiplier {float(mode):g} is outside [{lo:g}, {hi:g}]", swings,
                            idx, "mode_multiplier", "demand_swings"))


def _availability(d: pd.DataFrame | None, sites, countries, minerals, SCENARIOS, PERIODS) -> dict:
    """(scenario, site, period) -> availability: the smallest of 1 and every disruptions row matching."""
    availability: dict[tuple[str, str, int], float] = {}
    if d is None:
        return availability
    _check_refs(d, "disruptions", "scenario", SCENARIOS, "scenario", allow_blank=True)
    _check_refs(d, "disruptions", "country", countries.index, "country", allow_blank=True)
    _check_refs(d, "disruptions", "site", sites.index, "site", allow_blank=True)
    _check_refs(d, "disruptions", "mineral", minerals.index, "mineral", allow_blank=True)
    for idx, v in d["period"].items():
        if v is not None and not pd.isna(v) and int(v) not in PERIODS:
            raise _err("E_UNKNOWN_REF", f"unknown period '{v}'", d, idx, "period", "disruptions")
    for _, row in d.iterrows():
        m = pd.Series(True, index=sites.index)
        if row["country"]:
            m &= sites["country"] == row["country"]
        if row["site"]:  # a market's tranches with it
            m &= (sites.index == row["site"]) | (sites["tranche_of"] == row["site"])
        if row["mineral"]:
            m &= sites["mineral"] == row["mineral"]
        scs = [row["scenario"]] if row["scenario"] else SCENARIOS
        pers = [int(row["period"])] if row["period"] is not None and not pd.isna(row["period"]) else PERIODS
        for f in sites.index[m]:
            for sc_ in scs:
                for p in pers:
                    k = (sc_, f, p)
                    availability[k] = min(availability.get(k, 1.0), float(row["availability"]))
    return availability


def _arcs(t: dict, s: dict, sites, members, all_members, minerals, periods, warnings: list[str]) -> pd.DataFrame:
    """The arcs: mine -> refinery of the same mineral (all pairs, or the `supply_arcs_per_site`
    cheapest per site) and refinery / recycling / market -> member, each priced by the `transport`
    override or freight x great-circle km."""
    overrides = {}
    if "transport" in t:
        tr = t["transport"]
        _check_refs(tr, "transport", "origin", sites.index, "origin site")
        _check_refs(tr, "transport", "destination", set(sites.index) | set(all_members.index),
                    "destination site or member")
        overrides = {(o, d): float(c) for o, d, c in zip(tr["origin"], tr["destination"], tr["cost_usd_per_t"])}
    freight = float(s.get("freight_usd_per_t_km") or 0.0)
    k_arcs = s.get("supply_arcs_per_site")
    k_arcs = None if k_arcs is None or pd.isna(k_arcs) else int(k_arcs)
    where = sites[["lat", "lon"]].to_numpy(dtype=float)
    pos = {f: i for i, f in enumerate(sites.index)}
    where_member = members[["lat", "lon"]].to_numpy(dtype=float)
    pieces = []
    used_overrides = set()

    def priced(origins, dests, dest_xy):
        """Cost (origins x destinations): the `transport` override, else freight x km; the distances;
        and which pairs were overridden."""
        km = haversine_matrix_km(where[[pos[o] for o in origins]], dest_xy)
        cost = freight * km if freight else np.zeros(km.shape)
        given = np.zeros(cost.shape, dtype=bool)
        if overrides:
            row, col = {o: i for i, o in enumerate(origins)}, {d_: j for j, d_ in enumerate(dests)}
            for (o, d_), c in overrides.items():
                if o in row and d_ in col:
                    cost[row[o], col[d_]] = c
                    given[row[o], col[d_]] = True
                    used_overrides.add((o, d_))
        return cost, km, given

    # what a tonne costs at a site, averaged over the periods (for ranking sparse arcs only)
    unit = (sites["var_cost_usd_per_t"].astype(float)
            + float(periods["carbon_price"].mean()) * sites["emissions_tco2e_per_t"].astype(float)
            + float(s.get("risk_weight_usd_per_t") or 0.0) * sites["risk_score"].astype(float)).fillna(0.0)
    by_stage_mineral = {k: list(g.index) for k, g in sites.groupby(["stage", "mineral"])}
    for mineral in minerals.index:
        mines = by_stage_mineral.get(("mine", mineral), [])
        refineries = by_stage_mineral.get(("refinery", mineral), [])
        if mines and refineries:
            cost, km, given = priced(mines, refineries, where[[pos[r] for r in refineries]])
            at_mine = unit[mines].to_numpy()[:, None]
            at_refinery = (unit[refineries] * sites.loc[refineries, "yield"].astype(float)).to_numpy()[None, :]
            keep = _cheapest_pairs(cost + at_refinery, at_mine + cost, km, k_arcs) | given
            i, j = np.nonzero(keep)
            pieces.append(pd.DataFrame({"origin": np.asarray(mines, dtype=object)[i],
                                        "destination": np.asarray(refineries, dtype=object)[j],
                                        "kind": "supply", "mineral": mineral, "cost_usd_per_t": cost[i, j]}))
        suppliers = sorted(refineries + by_stage_mineral.get(("recycling", mineral), [])
                           + by_stage_mineral.get(("market", mineral), []))
        if suppliers and len(members):
            cost, _, _ = priced(suppliers, list(members.index), where_member)
            i, j = np.indices(cost.shape).reshape(2, -1)
            pieces.append(pd.DataFrame({"origin": np.asarray(suppliers, dtype=object)[i],
                                        "destination": np.asarray(members.index, dtype=object)[j],
                                        "kind": "delivery", "mineral": mineral, "cost_usd_per_t": cost[i, j]}))
    for k in overrides:
        if k not in used_overrides:
            warnings.append(f"transport: no flow can go from '{k[0]}' to '{k[1]}' (stage or mineral "
                            "mismatch); override ignored")
    columns = ["origin", "destination", "kind", "mineral", "cost_usd_per_t"]
    arcs_df = (pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns))[columns]
    arcs_df["cost_usd_per_t"] = arcs_df["cost_usd_per_t"].astype(float)
    arcs_df.index.name = "arc"
    return arcs_df


def _arc_lookups(arcs_df: pd.DataFrame, sites: pd.DataFrame, countries: pd.DataFrame) -> dict:
    """Arcs by origin, by refinery fed, by (member, mineral) served, and by (member, mineral, outside
    country) for the country share cap."""
    out_arcs, in_arcs, member_in = defaultdict(list), defaultdict(list), defaultdict(list)
    share_idx = defaultdict(list)
    member_of = countries["member"].to_dict()
    country_of = sites["country"].to_dict()
    for a, (o, d_, kind, mineral) in enumerate(zip(arcs_df["origin"], arcs_df["destination"],
                                                   arcs_df["kind"], arcs_df["mineral"])):
        out_arcs[o].append(a)
        if kind == "supply":
            in_arcs[d_].append(a)
        else:
            member_in[(d_, mineral)].append(a)
            c = country_of[o]
            if member_of.get(c) != d_:
                share_idx[(d_, mineral, c)].append(a)
    return {"out_arcs": {k: tuple(v) for k, v in out_arcs.items()}, "in_arcs": {k: tuple(v) for k, v in in_arcs.items()},
            "member_in_arcs": {k: tuple(v) for k, v in member_in.items()},
            "SHARE_CAP_INDEX": {k: tuple(v) for k, v in sorted(share_idx.items())}}


def _trace_sets(arcs_df, sites, countries, members, minerals, sigma_mine):
    """(allied countries, country-level arcs in and out, minerals traced by origin, the trace index
    (mine country, refining country, member, mineral))."""
    allied = frozenset(countries.index[countries["member"].isin(members.index) | (countries["partner"] == "yes")])
    country_in, country_out = _country_arcs(arcs_df, sites)
    allied_rule = {mi: v for mi, v in minerals["min_allied_share"].items() if v is not None and not pd.isna(v)}
    traced = tuple(mi for mi in minerals.index if sigma_mine is not None or mi in allied_rule)
    by_k: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (mi, k, a) in country_out:
        by_k[(mi, k)].append(a)
    trace = tuple((o, k, a, mi) for (mi, o, k) in sorted(country_in) if mi in traced for a in sorted(by_k[(mi, k)]))
    return allied, country_in, country_out, traced, trace


def _limits(lim: pd.DataFrame | None, PERIODS, all_members, inactive, countries, sites, warnings):
    """The caps of the `limits` sheet, each with the sites it covers: a member's countries, one
    country, or (both blank) every site. Returns the kept rows (index = label used by the model)
    and label -> covered sites."""
    cols = ["period", "member", "country", "emissions_cap_tco2e_per_yr", "water_cap_m3_per_yr", "_row"]
    if lim is None or lim.empty:
        return pd.DataFrame(columns=cols), {}
    _check_refs(lim, "limits", "period", PERIODS, "period")
    _check_refs(lim, "limits", "member", all_members.index, "member", allow_blank=True)
    _check_refs(lim, "limits", "country", countries.index, "country", allow_blank=True)
    keep, covered = [], {}
    for idx, r in lim.iterrows():
        if r["member"] and r["country"]:
            raise _err("E_CONTRADICTION", "give a member or a country, not both (a cap covers one territory)",
                       lim, idx, "country", "limits")
        if r["member"] in inactive:
            warnings.append(f"limits row {r['_row']}: member {r['member']} left the alliance; its cap is dropped")
            continue
        if r["member"]:
            mask = sites["country"].isin(countries.index[countries["member"] == r["member"]])
        elif r["country"]:
            mask = sites["country"] == r["country"]
        else:
            mask = pd.Series(True, index=sites.index)
        label = len(keep)
        keep.append(r[cols])
        covered[label] = tuple(sites.index[mask])
    return pd.DataFrame(keep, columns=cols).reset_index(drop=True), covered


def _stockpiles(df, minerals, all_members, members, inactive, demand, warnings, disrupted):
    """The stockpile rows (index: id `mineral:member` or `mineral:alliance`) and the (stockpile, member,
    period, scenario) a release may serve: the holder, or every active member for an alliance-wide
    stock, wherever that member has demand for the mineral, in the (scenario, mineral, period) of
    `disrupted`: scenarios with a shock whose disruptions touch the mineral in that period. A stock
    bridges a shock; it is not released against shortfalls no disruption caused."""
    cols = ["mineral", "member", "max_t", "holding_cost_usd_per_t_yr", "acquisition_cost_usd_per_t", "_row"]
    if df is None or df.empty:
        return pd.DataFrame(columns=cols), ()
    _check_refs(df, "stockpiles", "mineral", minerals.index, "mineral")
    _check_refs(df, "stockpiles", "member", all_members.index, "member", allow_blank=True)
    keep = []
    for _, r in df.iterrows():
        if r["member"] in inactive:
            warnings.append(f"stockpiles row {r['_row']}: member {r['member']} left the alliance; its stock is dropped")
            continue
        keep.append(r[cols])
    sp = pd.DataFrame(keep, columns=cols)
    sp.index = [f"{mi}:{a or 'alliance'}" for mi, a in zip(sp["mineral"], sp["member"])]
    sp = sp.sort_index()
    release = []
    for p, r in sp.iterrows():
        who = [r["member"]] if r["member"] else list(members.index)
        for (a, mi, t) in demand.index:
            if mi == r["mineral"] and a in who:
                release += [(p, a, int(t), sc_) for (sc_, m_, tt) in sorted(disrupted) if m_ == mi and tt == t]
    return sp, tuple(sorted(release))


def _share_caps(s: dict, rows: dict) -> tuple[float | None, float | None]:
    """(refining-stage, mining-stage) country share caps; max_country_share is the refining one's old name."""
    old, ref = s.get("max_country_share"), s.get("max_country_share_refining")
    if old is not None and ref is not None and float(old) != float(ref):
        raise InputError("E_CONTRADICTION", f"max_country_share ({old:g}) and max_country_share_refining "
                         f"({ref:g}) both set the refining-stage cap and disagree; keep one",
                         sheet="settings", row=rows.get("max_country_share_refining"), col=2, column="value")
    ref = ref if ref is not None else old
    mine = s.get("max_country_share_mining")
    return (None if ref is None else float(ref)), (None if mine is None else float(mine))


def _country_arcs(arcs: pd.DataFrame, sites: pd.DataFrame):
    """Country-level chain of custody: (mineral, mine country, refining country) -> supply arcs with the
    refinery's yield (refined tonnes per raw tonne on that arc); (mineral, refining country, member) ->
    delivery arcs from refineries in that country."""
    country, yld, stage = sites["country"].to_dict(), sites["yield"].to_dict(), sites["stage"].to_dict()
    cin, cout = defaultdict(list), defaultdict(list)
    for a, (o, d, kind, mi) in enumerate(zip(arcs["origin"], arcs["destination"], arcs["kind"], arcs["mineral"])):
        if kind == "supply":
            cin[(mi, country[o], country[d])].append((a, float(yld[d])))
        elif stage[o] == "refinery":
            cout[(mi, country[o], d)].append(a)
    return ({k: tuple(v) for k, v in sorted(cin.items())}, {k: tuple(v) for k, v in sorted(cout.items())})


def validate_workbook(path: str | Path) -> list[InputError]:
    """Every problem in the workbook, each with its cell (not only the first): cell-level problems
    and unknown references are all listed; a contradiction found while deriving the model's sets is
    listed once the cells are clean."""
    with collecting() as found:
        try:
            raw = read_workbook(path)
        except InputError as err:  # the file itself cannot be read
            return [err]
        # every dangling reference and every sum across rows, whatever the cells said (a row whose
        # cells were refused is not checked again: its refused cell is its message)
        refused = {(e.sheet, e.row) for e in found}
        _reference_checks(raw, skip=refused)
        _sum_checks(raw)
        if not found:  # the contradictions found while deriving the model's sets need clean cells
            try:
                build_data(raw)
            except InputError as err:
                found.append(err)
            except Exception as exc:  # a table broken beyond what the checks above reported
                if not found:
                    found.append(InputError("E_INVALID", f"the workbook could not be checked further ({exc})"))
    seen, out = set(), []
    for e in found:
        key = (e.code, e.sheet, e.row, e.col, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _sum_checks(raw: RawWorkbook) -> None:
    """The sums across rows (scenario probabilities, burden shares), each reported."""
    sc, members = raw.tables.get("scenarios"), raw.tables.get("members")
    try:
        if sc is not None and len(sc) and "probability" in sc:
            _scenarios(sc)
    except InputError as err:
        report(err)
    try:
        if members is not None and len(members) and "member" in members:
            burden_shares_sum(members.set_index("member", drop=False))
    except InputError as err:
        report(err)


def _reference_checks(raw: RawWorkbook, skip: set = frozenset()) -> None:
    """All id references between sheets, each reported (used by validation to list them all); rows
    in `skip` ((sheet, row) pairs) are left out."""
    t = {name: df[[(name, int(r)) not in skip for r in df["_row"]]] if "_row" in df and len(df) else df
         for name, df in raw.tables.items()}
    ids = {name: set(t[name][col]) for name, col in (("members", "member"), ("countries", "country"),
                                                      ("minerals", "mineral"), ("sites", "site"),
                                                      ("periods", "period")) if name in t}
    refs = [("countries", "member", "members", True), ("sites", "country", "countries", False),
            ("sites", "mineral", "minerals", False)]
    for name in ("demand", "scrap"):
        refs += [(name, "member", "members", False), (name, "mineral", "minerals", False),
                 (name, "period", "periods", False)]
    refs += [("transport", "origin", "sites", False), ("disruptions", "country", "countries", True),
             ("disruptions", "site", "sites", True), ("disruptions", "mineral", "minerals", True),
             ("limits", "period", "periods", False), ("limits", "member", "members", True),
             ("stockpiles", "mineral", "minerals", False), ("stockpiles", "member", "members", True),
             ("limits", "country", "countries", True), ("budgets", "member", "members", False),
             ("budgets", "period", "periods", False), ("financing_rules", "member", "members", False),
             ("financing_rules", "country", "countries", True), ("financing_rules", "site", "sites", True)]
    for sheet, col, target, blank_ok in refs:
        if sheet in t and target in ids:
            _check_refs(t[sheet], sheet, col, ids[target], target.rstrip("s") if target != "countries" else "country",
                        allow_blank=blank_ok)


EV_SCENARIO = "expected_value"


def expected_value_data(data: PlanData) -> PlanData:
    """The expected-value problem: one scenario with the probability-weighted demand multipliers (the
    scenario's, and each mineral's where scenario_demand sets one) and availabilities; stocks may be released in it for the mean length of the scenarios' shocks. Used by
    `plan stress` (the value of the stochastic solution) and by the expected-value start (a first plan
    for HiGHS). Its own list of warnings, so nothing said about it reaches the plan's."""
    prob = data.scenarios["probability"].astype(float).to_dict()
    mu = sum(prob[s] * data.multiplier[s] for s in data.SCENARIOS)
    swung = sorted({mi for _, mi in data.mineral_multiplier})  # minerals with their own multipliers somewhere
    mineral_mu = {(EV_SCENARIO, mi): sum(prob[s] * data.demand_multiplier(s, mi) for s in data.SCENARIOS)
                  for mi in swung}
    keys = {(f, t) for (_, f, t) in data.availability}
    avail = {(EV_SCENARIO, f, t): sum(prob[s] * data.avail(s, f, t) for s in data.SCENARIOS) for f, t in keys}
    shocked = sorted({s for s, _ in data.shock_years})
    p_shock = sum(prob[s] for s in shocked)
    shock = {(EV_SCENARIO, t): sum(prob[s] * data.shock_years[(s, t)] for s in shocked) / p_shock
             for t in data.PERIODS} if p_shock > 0 else {}
    release = tuple(sorted({(p, a, t, EV_SCENARIO) for p, a, t, _ in data.RELEASE}))
    sc = pd.DataFrame({"scenario": [EV_SCENARIO], "probability": [1.0], "demand_multiplier": [mu],
                       "shock_years": [None], "_row": [0]}).set_index("scenario", drop=False)
    return dataclasses.replace(data, scenarios=sc, SCENARIOS=(EV_SCENARIO,), availability=avail, shock_years=shock,
                               mineral_multiplier=mineral_mu,
                               RELEASE=release, warnings=list(data.warnings))


def scenario_data(data: PlanData, scenario: str) -> PlanData:
    """The workbook restricted to one of its scenarios, at probability 1 and without a CVaR term (the
    cost of a plan if that scenario happens): what `plan evaluate` solves for each scenario, with the
    plan fixed or (wait-and-see) free. Its own list of warnings."""
    if scenario not in data.SCENARIOS:
        raise KeyError(scenario)
    sc = data.scenarios.loc[[scenario]].copy()
    sc["probability"] = 1.0
    return dataclasses.replace(
        data, scenarios=sc, SCENARIOS=(scenario,),
        availability={k: v for k, v in data.availability.items() if k[0] == scenario},
        shock_years={k: v for k, v in data.shock_years.items() if k[0] == scenario},
        mineral_multiplier={k: v for k, v in data.mineral_multiplier.items() if k[0] == scenario},
        RELEASE=tuple(k for k in data.RELEASE if k[3] == scenario), cvar_weight=None, warnings=list(data.warnings))
