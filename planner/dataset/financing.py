"""Financing tables: budgets, financing rules, burden shares, and the checks that turn
the common causes of an unfinanceable plan into messages in spreadsheet terms. No Pyomo here.

Old workbooks without these sheets keep working: financing is then unconstrained (any active
member may pay any share of any project)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from planner.errors import InputError

SHARE_TOLERANCE = 1e-6


@dataclass
class Financing:
    budgets: dict[tuple[str, int], float] = field(default_factory=dict)  # (member, period) -> MUSD
    budget_rows: dict[tuple[str, int], int] = field(default_factory=dict)
    caps: dict[tuple[str, str], float] = field(default_factory=dict)  # (member, site) -> max share < 1
    burden_target: dict[str, float] = field(default_factory=dict)  # member -> share (sums to 1) or {}
    burden_given: bool = False
    host_min_share: float | None = None
    max_financiers: int | None = None  # syndicates: at most this many payers per site
    min_ticket_share: float | None = None  # and each at least this share of its public capex
    burden_tolerance: float | None = None
    min_benefit_ratio: float | None = None


def _m(x: float) -> str:
    """MUSD for a message: 1,650 or 0.025."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.4g}"


def _cell(df, idx, column, sheet):
    return dict(sheet=sheet, row=int(df.loc[idx, "_row"]), col=df.attrs.get("positions", {}).get(column),
                column=column)


def burden_shares_sum(all_members: pd.DataFrame) -> pd.Series:
    """The burden shares given (by member), after checking they sum to 1."""
    given = all_members["burden_share"].dropna() if "burden_share" in all_members else pd.Series(dtype=float)
    if len(given):
        total = float(given.sum())
        if abs(total - 1) > SHARE_TOLERANCE:
            last = all_members.loc[given.index[-1]]
            raise InputError("E_BURDEN_SHARES", f"burden shares sum to {total:.6g}, not 1",
                             sheet="members", row=int(last["_row"]),
                             col=all_members.attrs.get("positions", {}).get("burden_share"), column="burden_share")
    return given


def read_financing(tables: dict, settings: dict, all_members: pd.DataFrame, members: pd.DataFrame,
                   countries: pd.DataFrame, sites: pd.DataFrame, periods: tuple[int, ...],
                   inactive: tuple[str, ...], check_refs) -> Financing:
    fin = Financing(host_min_share=settings.get("host_min_share"),
                    max_financiers=None if settings.get("max_financiers") is None else int(settings["max_financiers"]),
                    min_ticket_share=settings.get("min_ticket_share") or None,
                    burden_tolerance=settings.get("burden_tolerance"),
                    min_benefit_ratio=settings.get("min_benefit_ratio"))
    # burden shares: the shares given sum to 1; members that left drop out and the rest are rescaled
    given = burden_shares_sum(all_members)
    if len(given):
        active = {a: float(v) for a, v in given.items() if a in members.index}
        norm = sum(active.values())
        fin.burden_given = True
        fin.burden_target = {a: (active.get(a, 0.0) / norm if norm > 0 else 0.0) for a in members.index}
    if fin.burden_tolerance is not None and not fin.burden_given:
        raise InputError("E_VALUE_MISSING", "burden_tolerance is set but no member has a burden_share",
                         sheet="members", col=all_members.attrs.get("positions", {}).get("burden_share"),
                         column="burden_share")

    b = tables.get("budgets")
    if b is not None:
        check_refs(b, "budgets", "member", all_members.index, "member")
        check_refs(b, "budgets", "period", periods, "period")
        for idx, r in b.iterrows():
            if r["member"] in inactive:
                continue
            fin.budgets[(r["member"], int(r["period"]))] = float(r["budget_musd"])
            fin.budget_rows[(r["member"], int(r["period"]))] = int(r["_row"])

    rules = tables.get("financing_rules")
    if rules is not None:
        check_refs(rules, "financing_rules", "member", all_members.index, "member")
        check_refs(rules, "financing_rules", "country", countries.index, "country", allow_blank=True)
        check_refs(rules, "financing_rules", "site", sites.index, "site", allow_blank=True)
        for idx, r in rules.iterrows():
            if r["site"] and r["country"] and sites.loc[r["site"], "country"] != r["country"]:
                raise InputError("E_CONTRADICTION", f"site '{r['site']}' is in {sites.loc[r['site'], 'country']}, "
                                 f"not {r['country']}", **_cell(rules, idx, "country", "financing_rules"))
        # the most specific rule wins: site, then country, then member-wide
        specificity = {}
        for _, r in rules.iterrows():
            if r["member"] in inactive:
                continue
            level = 2 if r["site"] else 1 if r["country"] else 0
            specificity.setdefault(r["member"], []).append((level, r["site"], r["country"], float(r["max_share"])))
        cand = sites[sites["status"] == "candidate"]
        for a, rs in specificity.items():
            for f, c in zip(cand.index, cand["country"]):
                best = None
                for level, site, country, share in rs:
                    applies = (site == f) if level == 2 else (country == c) if level == 1 else True
                    if applies and (best is None or level > best[0]):
                        best = (level, share)
                if best is not None and best[1] < 1:
                    fin.caps[(a, f)] = best[1]
    return fin


def unfinanceable(fin: Financing, members: tuple[str, ...], site: str, host: str, public_capex: float = 1.0) -> str:
    """Why a candidate cannot be financed in full under the rules ('' if it can; a site with no
    public capex needs no payer)."""
    if public_capex <= 0:
        return ""
    total = sum(fin.caps.get((a, site), 1.0) for a in members)
    if total < 1 - 1e-9:
        return f"financing rules let the members carry at most {total:.0%} of its capex"
    if fin.max_financiers or fin.min_ticket_share:
        # a syndicate: at most max_financiers payers, each able to take at least the minimum ticket
        able = sorted((c for c in (fin.caps.get((a, site), 1.0) for a in members)
                       if c >= (fin.min_ticket_share or 0.0) - 1e-9 and c > 0), reverse=True)
        most = sum(able[:fin.max_financiers] if fin.max_financiers else able)
        if most < 1 - 1e-9:
            return (f"financing rules with at most {fin.max_financiers or len(able)} payers (max_financiers), each "
                    f"paying at least {fin.min_ticket_share or 0:.0%} (min_ticket_share), let the members carry at "
                    f"most {most:.0%} of its capex")
    h = fin.host_min_share
    if h and host in members and fin.caps.get((host, site), 1.0) < h - 1e-9:
        return (f"host {host} must pay at least {h:.0%} (host_min_share) but its financing rule allows "
                f"{fin.caps[(host, site)]:.0%}")
    return ""


def check_forced_budgets(fin: Financing, sites: pd.DataFrame, forced: tuple[str, ...],
                         build_periods: dict[str, list[int]], members: tuple[str, ...], budget_table) -> None:
    """Forced builds the budgets cannot pay for are input errors, with the numbers."""
    if not fin.budgets:
        return
    budgeted = {a for a, _ in fin.budgets}
    # (1) each host must carry host_min_share of its forced builds within its budgets
    if fin.host_min_share:
        need: dict[str, float] = {}
        for f in forced:
            host = sites.loc[f, "host_member"]
            if host in budgeted:
                need[host] = need.get(host, 0.0) + fin.host_min_share * float(sites.loc[f, "public_capex_musd"])
        for a, n in sorted(need.items()):
            ps = sorted({t for f in forced if sites.loc[f, "host_member"] == a for t in build_periods[f]})
            if any((a, t) not in fin.budgets for t in ps):
                continue  # a period without a budget row is unconstrained
            have = sum(fin.budgets[(a, t)] for t in ps)
            if n > have + 1e-6:
                row = fin.budget_rows[(a, ps[0])]
                per = ", ".join(f"{t}: {_m(fin.budgets[(a, t)])}" for t in ps)
                raise InputError("E_BUDGET_TOO_SMALL", f"{a} budget ({per} MUSD; {_m(have)} in all) is below the "
                                 f"{_m(n)} MUSD that forced builds hosted in {a} need under host_min_share "
                                 f"{fin.host_min_share:g}", sheet="budgets", row=row,
                                 col=budget_table.attrs.get("positions", {}).get("budget_musd"),
                                 column="budget_musd")
    # (2) all forced builds together within all budgets, when every member has every period budgeted
    ps = sorted({t for f in forced for t in build_periods[f]})
    if forced and all((a, t) in fin.budgets for a in members for t in ps):
        need_all = sum(float(sites.loc[f, "public_capex_musd"]) for f in forced)
        have_all = sum(fin.budgets[(a, t)] for a in members for t in ps)
        if need_all > have_all + 1e-6:
            raise InputError("E_BUDGET_TOO_SMALL", f"forced builds need {_m(need_all)} MUSD of public capex but all "
                             f"members' budgets together give {_m(have_all)} MUSD", sheet="budgets",
                             col=budget_table.attrs.get("positions", {}).get("budget_musd"), column="budget_musd")


def benefit_shares(demand: pd.DataFrame, periods: pd.DataFrame, scenarios: pd.DataFrame,
                   members: tuple[str, ...], mineral_multiplier: dict | None = None) -> dict[str, float]:
    """Each member's share of the alliance's expected demand over the horizon, in tonnes
    (sum over minerals, periods L_t and scenarios p_s mu_{s,m}): the benefit the plan secures.
    `mineral_multiplier`: (scenario, mineral) -> mu_{s,m} where it is not the scenario's own."""
    prob = scenarios["probability"].astype(float).to_dict()
    own = scenarios["demand_multiplier"].astype(float).to_dict()
    over = mineral_multiplier or {}
    mult: dict[str, float] = {}
    tot: dict[str, float] = {a: 0.0 for a in members}
    for (a, mi, t), d in demand["demand_tpy"].items():
        if a in tot:
            if mi not in mult:
                mult[mi] = sum(p * over.get((s, mi), own[s]) for s, p in prob.items())
            tot[a] += float(d) * float(periods.loc[t, "years"]) * mult[mi]
    s = sum(tot.values())
    return {a: (v / s if s > 0 else 0.0) for a, v in tot.items()} if s > 0 else {a: 0.0 for a in members}

