"""`plan compare`: saved portfolios side by side, from their plain tables (never re-solves).

The first run is the reference; every other run is compared with it. Runs saved by older versions
that lack a sheet are compared on what they share, and the missing sheets are listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# Sheets compared row by row, with the columns that identify a row.
KEYS: dict[str, tuple[str, ...]] = {
    "supply_mix": ("member", "mineral", "period", "scenario", "origin_country"),
    "flows": ("origin", "destination", "period", "scenario"),
    "unmet_demand": ("member", "mineral", "period", "scenario"),
    "unmet_by_scenario": ("scenario",),
    "capex_by_host": ("member",),
    "financing": ("site", "member", "build_period"),
    "commitments": ("member", "period"),
    "member_totals": ("member",),
    "milestones": ("site",),
    "traceability": ("member", "mineral", "period", "scenario", "mine_country", "refining_country"),
    "allied_share": ("member", "mineral", "period", "scenario"),
    "emissions": ("basis", "member", "stage", "period", "scenario"),
    "water": ("country", "period", "scenario"),
    "scenario_costs": ("scenario",),
    "unmet_risk": ("member", "mineral"),
    "concentration": ("member", "mineral", "period", "scenario"),
    "stockpiles": ("stockpile", "period"),
    "stock_releases": ("stockpile", "member", "period", "scenario"),
}
RUN_INFO_COMPARED = ("input_sha256", "model_definition", "model_families", "model_overrides", "options", "standards",
                     "planner_version", "highs_version")


@dataclass
class Comparison:
    names: list[str]
    same_input: bool
    same_model: bool
    run_info_differences: list[tuple[str, list]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kpis: pd.DataFrame = field(default_factory=pd.DataFrame)
    sites: pd.DataFrame = field(default_factory=pd.DataFrame)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # the input cells that differ from the reference's (sheet, key, column, each run's value; blank
    # where a run has no such cell), and the runs saved without their inputs (older runs)
    inputs: pd.DataFrame = field(default_factory=pd.DataFrame)
    inputs_missing: list[str] = field(default_factory=list)
    about: pd.DataFrame = field(default_factory=pd.DataFrame)  # solver figures: time, gap, violation
    notes: list[str] = field(default_factory=list)  # what a reader must know to read the deltas


def _kv(df: pd.DataFrame | None) -> dict:
    if df is None or "key" not in df or "value" not in df:
        return {}
    return dict(zip(df["key"].astype(str), df["value"]))


def _num(v):
    try:
        x = float(v)
        return x if x == x else None
    except (TypeError, ValueError):
        return None


POLICY_ROWS = ("total_cost_musd", "cash_cost_musd", "valuation_cost_musd", "public_money_musd", "unmet_demand_t",
               "allied_content_share", "sites_built")
MAX_POLICY_ROWS = 10  # the headline rows printed: POLICY_ROWS, then the members' public money that moved most


def policy_rows(kpis: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The rows a briefing starts from: POLICY_ROWS present, then each member's public money
    (`committed_pv_capex_musd_<member>`) with the largest change, up to MAX_POLICY_ROWS in all."""
    if not len(kpis):
        return kpis
    head = kpis[kpis["key"].isin(POLICY_ROWS)]
    head = head.set_index("key").loc[[k for k in POLICY_ROWS if k in set(head["key"])]].reset_index()
    members = kpis[kpis["key"].astype(str).str.startswith("committed_pv_capex_musd_")].copy()
    if len(members) and len(names) > 1:
        moved = sum(pd.to_numeric(members[f"delta_{n}"], errors="coerce").abs().fillna(0) for n in names[1:])
        members = members.assign(_moved=moved).sort_values("_moved", ascending=False).drop(columns="_moved")
    return pd.concat([head, members.head(MAX_POLICY_ROWS - len(head))], ignore_index=True)


def kpi_table(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> pd.DataFrame:
    """Numeric summary rows of every run, with delta and delta % against the first. A money row
    (`*_musd`) whose delta is within the two runs' MIP gaps (`mip_gap_musd` added) is marked "within
    the gaps" in `note_<run>`: the solver did not separate the two figures."""
    summaries = [_kv(r.get("summary")) for r in runs]
    gaps = [_num(s.get("mip_gap_musd")) for s in summaries]
    # derived headline: the largest single-country share of any member's supply in any period/scenario
    for r, s in zip(runs, summaries):
        mix = r.get("supply_mix")
        if mix is not None and len(mix) and "share" in mix:
            s["largest_country_share"] = float(pd.to_numeric(mix["share"], errors="coerce").max())
    keys: list[str] = []
    for s in summaries:
        keys += [k for k, v in s.items() if k not in keys and _num(v) is not None]
    rows = []
    for k in keys:
        row = {"key": k}
        ref = _num(summaries[0].get(k))
        for i, (n, s) in enumerate(zip(names, summaries)):
            x = _num(s.get(k))
            row[n] = x if x is not None else ""
            if i:
                d = (x - ref) if x is not None and ref is not None else None
                row[f"delta_{n}"] = d if d is not None else ""
                row[f"delta_pct_{n}"] = (d / abs(ref)) if d is not None and ref else ""
                within = (d is not None and d != 0 and k.endswith("_musd") and k not in RUN_DIAGNOSTICS
                          and gaps[0] is not None and gaps[i] is not None and abs(d) <= gaps[0] + gaps[i])
                row[f"note_{n}"] = "within the gaps" if within else ""
        rows.append(row)
    return pd.DataFrame(rows)


def sites_table(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> pd.DataFrame:
    """Every site built in any run: its build period and capacity per run, financing, and how it
    differs from the reference: added, dropped, build period, capacity, financing or same; and
    whether either run left the site's build decision unproven."""
    def info(r):
        p = r.get("portfolio")
        out = {}
        if p is None:
            return out
        fin = r.get("milestones")
        payers = dict(zip(fin["site"], fin["financing_members"])) if fin is not None and "financing_members" in fin else {}
        for _, row in p.iterrows():
            out[row["site"]] = (row.get("build_period"), row.get("capacity_tpy"), payers.get(row["site"], ""),
                                row.get("name", ""))
        return out

    infos = [info(r) for r in runs]
    has_fin = ["milestones" in r for r in runs]
    # the sites whose build decisions a run did not prove (run_info decision_unproven_*: "SITE ...")
    unproven = [{str(v).split(" ")[0] for k, v in _kv(r.get("run_info")).items()
                 if k.startswith("hand_over_decision_unproven_")} for r in runs]
    all_sites = sorted(set().union(*[set(i) for i in infos]))
    rows = []
    for f in all_sites:
        ref = infos[0].get(f)
        row = {"site": f, "name": next((i[f][3] for i in infos if f in i), "")}
        for i, (n, inf) in enumerate(zip(names, infos)):
            cur = inf.get(f)
            row[f"build_period_{n}"] = cur[0] if cur else ""
            row[f"capacity_tpy_{n}"] = cur[1] if cur else ""
            row[f"financing_{n}"] = cur[2] if cur else ""
            if i:
                # financing counts only where both runs record it (older runs may not)
                both = has_fin[0] and has_fin[i]
                row[f"status_{n}"] = ("added" if ref is None else "dropped" if cur is None
                                      else "build period" if cur[0] != ref[0]
                                      else "capacity" if cur[1] != ref[1]
                                      else "financing" if both and cur[2] != ref[2] else "same")
                unsure = [m for m, u in ((names[0], unproven[0]), (n, unproven[i])) if f in u]
                row[f"unproven_{n}"] = ("decision not proven in " + ", ".join(unsure)) if unsure else ""
        rows.append(row)
    return pd.DataFrame(rows)


def table_deltas(name: str, runs: list[dict[str, pd.DataFrame]], names: list[str]) -> pd.DataFrame | None:
    """Outer join of one sheet across runs on its keys; numeric columns get per-run values and deltas."""
    keys = list(KEYS[name])
    frames = [r.get(name) for r in runs]
    present = [(n, f) for n, f in zip(names, frames) if f is not None and set(keys) <= set(f.columns)]
    if len(present) < 2 or present[0][0] != names[0]:
        return None
    ref_cols = [c for c in present[0][1].columns if c not in keys]
    numeric = [c for c in ref_cols if pd.to_numeric(present[0][1][c], errors="coerce").notna().any()
               or present[0][1][c].empty]
    merged = None
    for n, f in present:
        g = f[keys + [c for c in numeric if c in f.columns]].copy()
        for c in numeric:
            if c in g:
                g[c] = pd.to_numeric(g[c], errors="coerce")
        g = g.groupby(keys, as_index=False).sum(numeric_only=True)
        g = g.rename(columns={c: f"{c}_{n}" for c in numeric})
        merged = g if merged is None else merged.merge(g, on=keys, how="outer")
    ref = names[0]
    for n, _ in present[1:]:
        for c in numeric:
            a, b = f"{c}_{ref}", f"{c}_{n}"
            if a in merged and b in merged:
                merged[f"delta_{c}_{n}"] = merged[b].fillna(0) - merged[a].fillna(0)
    return merged.sort_values(keys).reset_index(drop=True)


def standards_cost(runs: list[dict[str, pd.DataFrame]], names: list[str], infos: list[dict]) -> dict:
    """The KPI row `cost_of_standards_musd`: for each run that differs from the reference only in
    whether the standards were applied (same input, families and overrides), total cost with the
    standards minus total cost without them."""
    ref = infos[0]
    row = {"key": "cost_of_standards_musd", **{n: "" for n in names}, **{f"delta_pct_{n}": "" for n in names[1:]}}
    for n, r, i in zip(names[1:], runs[1:], infos[1:]):
        same = all(str(i.get(k)) == str(ref.get(k)) for k in ("input_sha256", "model_families", "model_overrides"))
        if not same or ref.get("standards") not in ("on", "off") or i.get("standards") == ref.get("standards"):
            continue
        a, b = _num(_kv(runs[0].get("summary")).get("total_cost_musd")), _num(_kv(r.get("summary")).get("total_cost_musd"))
        if a is not None and b is not None:
            row[f"delta_{n}"] = (a - b) if ref.get("standards") == "on" else (b - a)
    return row if any(k.startswith("delta_") and not k.startswith("delta_pct_") for k in row) else {}


def compare_runs(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> Comparison:
    infos = [_kv(r.get("run_info")) for r in runs]
    diffs = []
    for k in RUN_INFO_COMPARED:
        vals = [str(i.get(k, "")) for i in infos]
        if len(set(vals)) > 1:
            diffs.append((k, vals))
    hashes = {i.get("input_sha256") for i in infos}
    models = {(i.get("model_definition"), i.get("model_families"), i.get("model_overrides")) for i in infos}
    all_sheets = set().union(*[set(r) for r in runs])
    missing = [f"{n} lacks sheet '{s}'" for s in sorted(all_sheets) for n, r in zip(names, runs) if s not in r]
    kpis = kpi_table(runs, names)
    solver = kpis["key"].isin(RUN_DIAGNOSTICS) if len(kpis) else pd.Series(dtype=bool)
    cmp = Comparison(names=names, same_input=len(hashes) == 1 and None not in hashes,
                     same_model=len(models) == 1, run_info_differences=diffs, missing=missing,
                     kpis=kpis[~solver].reset_index(drop=True) if len(kpis) else kpis,
                     about=kpis[solver].reset_index(drop=True) if len(kpis) else kpis,
                     sites=sites_table(runs, names))
    cost = standards_cost(runs, names, infos)
    if cost:
        cmp.kpis = pd.concat([cmp.kpis, pd.DataFrame([cost])], ignore_index=True)
    for name in KEYS:
        t = table_deltas(name, runs, names)
        if t is not None:
            cmp.tables[name] = t
    cmp.inputs, cmp.inputs_missing = input_changes(runs, names)
    cmp.notes = members_left_notes(runs, names)
    return cmp


def members_left_notes(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> list[str]:
    """For a run solved without members the reference has: their share of the reference's demand
    (not served there, so a lower cost is no saving) and the public money of the members who stay
    in both runs."""
    ref_left = {m.strip() for m in str(_kv(runs[0].get("summary")).get("members_left", "")).split(",") if m.strip()}
    ref_totals = runs[0].get("member_totals")
    shares = dict(zip(ref_totals["member"], ref_totals["demand_share"])) if ref_totals is not None and \
        {"member", "demand_share"} <= set(ref_totals.columns) else {}
    notes = []
    for n, r in zip(names[1:], runs[1:]):
        s = _kv(r.get("summary"))
        left = [m.strip() for m in str(s.get("members_left", "")).split(",") if m.strip() and m.strip() not in ref_left]
        if not left:
            continue
        share = sum(_num(shares.get(m)) or 0.0 for m in left)
        stay = [k[len("committed_pv_capex_musd_"):] for k in s if k.startswith("committed_pv_capex_musd_")]
        ref_pay = sum(_num(_kv(runs[0].get("summary")).get(f"committed_pv_capex_musd_{m}")) or 0.0 for m in stay)
        pay = sum(_num(s.get(f"committed_pv_capex_musd_{m}")) or 0.0 for m in stay)
        notes.append(f"{n} was solved without {', '.join(left)}: their demand ({share:.1%} of the alliance's in "
                     f"{names[0]}) is not served there, so its lower cost is no saving; the members who stay pay "
                     f"{pay:,.1f} MUSD present value there against {ref_pay:,.1f} in {names[0]}")
    return notes


def input_changes(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Every input cell whose value differs between the reference and another run, in the order of
    the reference's cells (new cells after): (sheet, key, column, value per run), and the runs that
    hold no input cells (saved before runs kept them)."""
    keys = ["sheet", "key", "column"]
    have = [(n, r["inputs"]) for n, r in zip(names, runs)
            if r.get("inputs") is not None and set(keys + ["value"]) <= set(r["inputs"].columns)]
    missing = [n for n, r in zip(names, runs) if n not in {h[0] for h in have}]
    if len(have) < 2 or have[0][0] != names[0]:
        return pd.DataFrame(columns=keys + names), missing
    merged = None
    for n, t in have:
        g = t[keys + ["value"]].astype(str).drop_duplicates(keys).rename(columns={"value": n})
        merged = g if merged is None else merged.merge(g, on=keys, how="outer", sort=False)
    merged = merged.fillna("")
    value_cols = [n for n, _ in have]
    differs = (merged[value_cols].ne(merged[value_cols[0]], axis=0)).any(axis=1)
    return merged[differs].reset_index(drop=True)[keys + value_cols], missing


def run_names(paths: list[Path]) -> list[str]:
    """Short unique labels for the runs: file stems, numbered when two are alike."""
    names: list[str] = []
    for p in paths:
        n = p.stem[:24]
        k, base = 2, n
        while n in names:
            n = f"{base}_{k}"
            k += 1
        names.append(n)
    return names


RUN_DIAGNOSTICS = ("solve_seconds", "mip_gap", "mip_gap_musd", "max_constraint_violation", "solver_objective_musd")


def has_differences(cmp: Comparison, rel: float = 1e-9) -> bool:
    """True when a headline figure (not a run diagnostic such as solve time) or a site differs."""
    k = cmp.kpis[~cmp.kpis["key"].isin(RUN_DIAGNOSTICS)] if len(cmp.kpis) else cmp.kpis
    for n in cmp.names[1:]:
        col = f"delta_{n}"
        if col in k:
            ref = pd.to_numeric(k[cmp.names[0]], errors="coerce").abs().fillna(0)
            d = pd.to_numeric(k[col], errors="coerce").abs().fillna(0)
            if (d > rel * ref.clip(lower=1)).any():
                return True
        st = f"status_{n}"
        if st in cmp.sites and (cmp.sites[st] != "same").any():
            return True
    return False
