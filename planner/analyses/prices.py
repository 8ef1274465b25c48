"""`plan prices`: what each rule of the workbook costs.

A rule is a workbook row or setting that constrains the plan: a member-period budget, a financing
rule, a standards row, a country-share cap (the settings, and per mineral), an allied-content
floor, an emissions or water cap, the host share, the syndicate rules, the burden band, the benefit
floor, the ESG screen. For each rule that is on, two solves: the rule dropped, and the rule relaxed by a stated
step (`RELAX`); what each is worth is the base optimum minus the changed one, an interval from the
two solves' bounds and incumbents (`cases.difference`). Rules that are off are listed as off.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import BASE, Case, builds_changed, difference, usable
from planner.dataset.data import PlanData
from planner.io.reader import RawWorkbook

# the stated step of each kind of rule's relaxation: (text, how a value is relaxed)
RELAX = {
    "budget": ("budget +10%", lambda v: v * 1.1),
    "financing_rule": ("max_share +5 points", lambda v: min(1.0, v + 0.05)),
    "share_cap": ("cap +5 points", lambda v: min(1.0, v + 0.05)),
    "allied_floor": ("floor -5 points", lambda v: max(0.0, v - 0.05)),
    "emissions_cap": ("cap +10%", lambda v: v * 1.1),
    "water_cap": ("cap +10%", lambda v: v * 1.1),
    "host_share": ("share -5 points", lambda v: max(0.0, v - 0.05)),
    "syndicate_size": ("one financier more", lambda v: int(v) + 1),
    "syndicate_ticket": ("ticket -5 points", lambda v: max(0.0, v - 0.05)),
    "burden_band": ("tolerance +5 points", lambda v: min(1.0, v + 0.05)),
    "benefit_floor": ("ratio -10%", lambda v: v * 0.9),
    "esg_screen": ("score -5", lambda v: max(0.0, v - 5)),
    "standard": (None, None),  # a standard's bounds have no common unit: dropped only
}
SETTING_RULES = (("max_country_share", "share_cap"), ("max_country_share_refining", "share_cap"),
                 ("max_country_share_mining", "share_cap"), ("host_min_share", "host_share"),
                 ("max_financiers", "syndicate_size"), ("min_ticket_share", "syndicate_ticket"),
                 ("burden_tolerance", "burden_band"), ("min_benefit_ratio", "benefit_floor"),
                 ("min_esg_score", "esg_screen"))


@dataclass(frozen=True)
class Rule:
    """A rule of the workbook: its kind, where it is (sheet, row, column), its value, and the edits
    that drop and relax it (None when it is off or has no relaxation)."""

    kind: str
    label: str
    sheet: str
    row: int | None
    column: str
    value: object
    drop: tuple | None
    relax: tuple | None
    key: tuple = ()  # the model's row key where the rule is one row (a budget: member, period)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v == ""


def rules(raw: RawWorkbook) -> list[Rule]:
    """Every rule the workbook can state, on or off, in sheet order."""
    out: list[Rule] = []
    s, rows = raw.settings, raw.settings_rows
    for name, kind in SETTING_RULES:
        v = s.get(name)
        if _blank(v):
            out.append(Rule(kind, f"settings {name}", "settings", rows.get(name), name, "", None, None))
            continue
        drop = [("setting", name, None)]
        if name == "max_country_share" and not _blank(s.get("max_country_share_refining")):
            drop = None  # the refining cap stands on its own row
        if name == "max_country_share_refining" and not _blank(s.get("max_country_share")):
            drop.append(("setting", "max_country_share", None))  # blank refining falls back to it
        step = RELAX[kind][1]
        out.append(Rule(kind, f"settings {name} = {v:g}", "settings", rows.get(name), name, v,
                        tuple(drop) if drop else None, (("setting", name, step(float(v))),)))
    t = raw.tables
    for _, r in t.get("minerals", pd.DataFrame()).iterrows():
        for col, kind in (("max_country_share", "share_cap"), ("min_allied_share", "allied_floor")):
            v = r.get(col)
            key = ("cell", "minerals", "mineral", r["mineral"], col)
            if _blank(v):
                out.append(Rule(kind, f"minerals {r['mineral']} {col}", "minerals", int(r["_row"]), col, "", None,
                                None))
            else:
                out.append(Rule(kind, f"minerals {r['mineral']} {col} = {v:g}", "minerals", int(r["_row"]), col, v,
                                (key + (None,),), (key + (RELAX[kind][1](float(v)),),)))
    for _, r in t.get("budgets", pd.DataFrame()).iterrows():
        v = float(r["budget_musd"])
        out.append(Rule("budget", f"budget {r['member']} {r['period']} = {v:,.6g} MUSD", "budgets", int(r["_row"]),
                        "budget_musd", v, (("drop_row", "budgets", int(r["_row"])),),
                        (("cell", "budgets", "_row", int(r["_row"]), "budget_musd", RELAX["budget"][1](v)),),
                        (str(r["member"]), int(r["period"]))))
    for _, r in t.get("financing_rules", pd.DataFrame()).iterrows():
        v = float(r["max_share"])
        where = " ".join(x for x in (r["country"], r["site"]) if x) or "everywhere"
        out.append(Rule("financing_rule", f"financing rule {r['member']} {where}: max_share {v:g}", "financing_rules",
                        int(r["_row"]), "max_share", v, (("drop_row", "financing_rules", int(r["_row"])),),
                        (("cell", "financing_rules", "_row", int(r["_row"]), "max_share",
                          RELAX["financing_rule"][1](v)),) if v < 1 else None))
    for _, r in t.get("standards", pd.DataFrame()).iterrows():
        bounds = " ".join(f"{k} {r[k]:g}" for k in ("min", "max") if not _blank(r[k]))
        out.append(Rule("standard", f"standard {r['criterion']} {r['stage'] or 'all stages'} {bounds}".strip(),
                        "standards", int(r["_row"]), "criterion", r["criterion"],
                        (("drop_row", "standards", int(r["_row"])),), None))
    for _, r in t.get("limits", pd.DataFrame()).iterrows():
        scope = r["member"] or r["country"] or "alliance"
        for col, kind in (("emissions_cap_tco2e_per_yr", "emissions_cap"), ("water_cap_m3_per_yr", "water_cap")):
            v = r.get(col)
            label = f"{kind.replace('_', ' ')} {scope} {r['period']}"
            if _blank(v):
                out.append(Rule(kind, label, "limits", int(r["_row"]), col, "", None, None))
            else:
                out.append(Rule(kind, f"{label} = {v:,.0f}", "limits", int(r["_row"]), col, v,
                                (("cell", "limits", "_row", int(r["_row"]), col, None),),
                                (("cell", "limits", "_row", int(r["_row"]), col, RELAX[kind][1](float(v))),)))
    return out


def _key(rule: Rule, what: str) -> str:
    return f"{what}:{rule.sheet}:{rule.row}:{rule.column}"


def price_cases(all_rules: list[Rule]) -> list[Case]:
    out = []
    for r in all_rules:
        if r.drop is not None:
            out.append(Case(_key(r, "drop"), f"{r.label}: dropped", r.drop))
        if r.relax is not None:
            out.append(Case(_key(r, "relax"), f"{r.label}: {RELAX[r.kind][0]}", r.relax))
    return out


def _worth(result: dict | None, base: dict) -> tuple[float, float] | None:
    """The interval of (base optimum - changed optimum): what the change is worth, MUSD."""
    d = difference(result, base) if result else None
    return None if d is None else (-d[1], -d[0])


PRICE_COLUMNS = ["rule", "kind", "sheet", "row", "column", "value", "state",
                 "marginal_value_musd_per_unit", "unit", "holds_from", "holds_to",
                 "drop_status", "drop_worth_low_musd", "drop_worth_high_musd", "drop_width_musd",
                 "drop_public_money_change_musd", "drop_builds_changed",
                 "relax_step", "relax_status", "relax_worth_low_musd", "relax_worth_high_musd", "relax_width_musd",
                 "binding_in_base"]


def marginal_values(data: PlanData, rule: Rule, base: dict) -> dict:
    """For a budget or a cap row: what relaxing it by one unit is worth while this portfolio stands
    (|dual| of its row with the builds fixed, MUSD per unit; a cap summed over its scenarios' rows)
    and the range of its value over which that holds (HiGHS's ranging; a cap: the narrowest of its
    rows'). Empty for other rules, or when the rule's rows do not bind."""
    rows = base.get("rule_rows") or {}
    if rule.kind == "budget" and rule.drop is not None:
        got = [r for r in rows.get("budget", []) if tuple(r[0]) == rule.key]
        unit = "MUSD of budget"
    elif rule.kind in ("emissions_cap", "water_cap") and rule.drop is not None:
        labels = set(data.limits.index[data.limits["_row"] == rule.row])
        got = [r for r in rows.get(rule.kind, []) if r[0][0] in labels]
        unit = "tCO2e/yr" if rule.kind == "emissions_cap" else "m3/yr"
    else:
        return {}
    if not got:
        return {"marginal_value_musd_per_unit": 0.0, "unit": unit}
    los = [r[2] for r in got if r[2] is not None]
    his = [r[3] for r in got if r[3] is not None]
    return {"marginal_value_musd_per_unit": sum(r[1] for r in got), "unit": unit,
            "holds_from": max(los) if los else "", "holds_to": min(his) if his else ""}


def prices_table(all_rules: list[Rule], base: dict, results: dict[str, dict],
                 data: PlanData | None = None) -> pd.DataFrame:
    binding = set(base.get("binding", []))
    # the model's family of each kind of rule (planner/model/registry.py); the share caps of the
    # mining stage are a family of their own
    family = {"budget": "budget", "financing_rule": "financing_cap", "share_cap": "country_share_cap",
              "allied_floor": "allied_share", "emissions_cap": "emissions_cap", "water_cap": "water_cap",
              "host_share": "host_share", "burden_band": "burden_band", "benefit_floor": "benefit_floor",
              "syndicate_size": "syndicate", "syndicate_ticket": "syndicate"}
    rows = []
    for r in all_rules:
        on = r.drop is not None or r.relax is not None
        fam = "mining_share_cap" if r.column == "max_country_share_mining" else family.get(r.kind)
        row = {"rule": r.label, "kind": r.kind, "sheet": r.sheet, "row": r.row or "", "column": r.column,
               "value": r.value, "state": "on" if on else "off",
               "binding_in_base": ("" if fam is None or not on else "yes" if fam in binding else "no")}
        if data is not None:
            row.update(marginal_values(data, r, base))
        for what, present in (("drop", r.drop is not None), ("relax", r.relax is not None)):
            if not present:
                continue
            res = results.get(_key(r, what))
            row[f"{what}_status"] = res["status"] if res else "not solved (interrupted)"
            w = _worth(res, base)
            if w is not None:
                row.update({f"{what}_worth_low_musd": w[0], f"{what}_worth_high_musd": w[1],
                            f"{what}_width_musd": w[1] - w[0]})
                if what == "drop":
                    added, dropped, moved = builds_changed(res, base)
                    row["drop_public_money_change_musd"] = res["public_money_musd"] - base["public_money_musd"]
                    row["drop_builds_changed"] = ", ".join([f"+{a}" for a in added] + [f"-{d}" for d in dropped]
                                                           + moved)
        if r.relax is not None:
            row["relax_step"] = RELAX[r.kind][0]
        rows.append(row)
    return pd.DataFrame(rows, columns=PRICE_COLUMNS)


class Prices(Analysis):
    """`plan prices` on the sweep engine (planner/analyses/sweep.py `run_analysis`)."""

    command = "prices"

    def __init__(self, data: PlanData, raw: RawWorkbook):
        super().__init__(data)
        self.rules = rules(raw)
        self.cases = price_cases(self.rules)

    def run(self, engine, journal, definition, progress=None) -> None:
        # the base with its binding rows' duals and ranges (the same solve as BASE: the same key and edits)
        start = self.solve_base(engine, journal, definition, progress, Case(BASE.key, BASE.label, meta={"duals": True}))
        self.take(engine.run(self.cases, definition, start, journal, progress))

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        table = prices_table(self.rules, self.base, self.results, self.data)
        widths = pd.to_numeric(pd.concat([table["drop_width_musd"], table["relax_width_musd"]]),
                               errors="coerce").dropna()
        return {"prices": table, "summary": self.summary([
            ("rules_on", int((table["state"] == "on").sum()), "count"),
            ("rules_off", int((table["state"] == "off").sum()), "count"),
            ("solves", len(self.cases), "count, besides the base"),
            ("interval_width_max_musd", float(widths.max()) if len(widths) else "", "MUSD"),
            ("interval_width_median_musd", float(widths.median()) if len(widths) else "", "MUSD")])}
