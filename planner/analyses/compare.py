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


def kpi_table(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> pd.DataFrame:
    """Numeric summary rows of every run, with delta and delta % against the first."""
    summaries = [_kv(r.get("summary")) for r in runs]
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
        rows.append(row)
    return pd.DataFrame(rows)


def sites_table(runs: list[dict[str, pd.DataFrame]], names: list[str]) -> pd.DataFrame:
    """Every site built in any run: its build period and capacity per run, financing, and whether it
    was added, dropped, changed or is the same as in the reference."""
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
                same = cur is not None and ref is not None and cur[:2] == ref[:2] and (not both or cur[2] == ref[2])
                row[f"status_{n}"] = ("same" if same else "added" if ref is None else "dropped" if cur is None
                                      else "changed")
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
    cmp = Comparison(names=names, same_input=len(hashes) == 1 and None not in hashes,
                     same_model=len(models) == 1, run_info_differences=diffs, missing=missing,
                     kpis=kpi_table(runs, names), sites=sites_table(runs, names))
    cost = standards_cost(runs, names, infos)
    if cost:
        cmp.kpis = pd.concat([cmp.kpis, pd.DataFrame([cost])], ignore_index=True)
    for name in KEYS:
        t = table_deltas(name, runs, names)
        if t is not None:
            cmp.tables[name] = t
    return cmp


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
