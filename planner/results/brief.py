"""The one-page brief of a run: public money, the sites chosen and who receives their output,
supply security with and without the portfolio, the decisions not proven, and what the run knows
of what rules cost.

It is written from a run's plain output tables alone (`summary`, `portfolio`, `financing`,
`flows`, `unmet_by_scenario`, `run_info`), never from the model or a solver: the `brief` sheet of
`plan solve` and `plan brief RUN` give the same text, and a run saved before the brief existed is
briefed from what it holds (a figure it lacks is said to be missing, never invented).
"""

from __future__ import annotations

import pandas as pd

MAX_SITES = 15  # sites listed by name; the rest are counted
MAX_UNPROVEN = 6


def _kv(df: pd.DataFrame | None) -> dict:
    if df is None or not len(df) or "key" not in df or "value" not in df:
        return {}
    return dict(zip(df["key"].astype(str), df["value"]))


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x else None


def _musd(v) -> str:
    x = _num(v)
    if x is None:
        return "n/a"
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:,.4f}"


def _t(v) -> str:
    x = _num(v)
    return "n/a" if x is None else f"{x:,.0f} t"


def brief_lines(tables: dict[str, pd.DataFrame], prices: dict[str, pd.DataFrame] | None = None) -> list[str]:
    """The brief as lines of text (at most about one printed page). `prices`: the tables of a
    `plan prices` run, whose rules' worth is then given."""
    s, info = _kv(tables.get("summary")), _kv(tables.get("run_info"))
    lines = [f"BRIEF: {info.get('input_file', 'a saved run')}, model {info.get('model_definition', 'n/a')}, "
             f"status {s.get('status', info.get('status', 'n/a'))}, written {info.get('written_utc', 'n/a')}", ""]
    lines += _money(s)
    lines += [""] + _public_money(tables.get("financing"))
    lines += [""] + _sites(tables)
    lines += [""] + _security(s, tables.get("unmet_by_scenario"))
    lines += [""] + _decisions(info)
    lines += [""] + (_priced(prices, s.get("input_sha256", info.get("input_sha256"))) if prices else _rules(info))
    return lines


def brief_table(tables: dict[str, pd.DataFrame], prices: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The `brief` sheet: one line of text per row."""
    return pd.DataFrame({"brief": brief_lines(tables, prices)})


MAX_PRICED = 6


def read_prices(path) -> dict[str, pd.DataFrame]:
    """The tables of a `plan prices` output (its workbook), or an InputError naming the file."""
    from pathlib import Path

    from planner.errors import InputError
    from planner.io.writer import read_portfolio
    path = Path(path)
    if not path.is_file():
        raise InputError("E_FILE", f"--prices '{path}' does not exist")
    try:
        tables = read_portfolio(path)
    except Exception as exc:  # not a workbook, damaged
        raise InputError("E_FILE_FORMAT", f"--prices '{path}' could not be read ({type(exc).__name__}: {exc})") from None
    if "prices" not in tables or "drop_worth_low_musd" not in tables["prices"].columns:
        raise InputError("E_NOT_PRICES", f"--prices '{path}' has no prices sheet: give a workbook written by "
                                          "plan prices")
    return tables


def _priced(prices: dict[str, pd.DataFrame], input_sha: str | None) -> list[str]:
    """What the rules cost, from a `plan prices` run: the rules whose dropping is worth most."""
    t = prices["prices"]
    p = _kv(prices.get("summary"))
    on = t[t["state"] == "on"].copy()
    on["_low"] = [_num(v) if _num(v) is not None else float("-inf") for v in on["drop_worth_low_musd"]]
    on = on.sort_values("_low", ascending=False)
    out = [f"What rules cost (a prices run: each rule dropped, the worth an interval, MUSD; "
           f"{len(on)} rules on, the {min(MAX_PRICED, len(on))} worth most):"]
    if input_sha and p.get("input_sha256") and p["input_sha256"] != input_sha:
        out.append("  (the prices run is of another workbook: its figures are that workbook's)")
    for _, r in on.head(MAX_PRICED).iterrows():
        low, high = _num(r["drop_worth_low_musd"]), _num(r["drop_worth_high_musd"])
        worth = f"{_musd(low)} to {_musd(high)}" if low is not None else str(r["drop_status"] or "not dropped alone")
        out.append(f"  {r['rule']}: {worth}")
    return out


def _money(s: dict) -> list[str]:
    if _num(s.get("cash_cost_musd")) is None:
        return [f"Cost (present value): total {_musd(s.get('total_cost_musd'))} MUSD (this run has no cash / "
                "valuation split: it was written before the planner reported one)"]
    return [f"Cost (present value, MUSD): total {_musd(s.get('total_cost_musd'))} = cash "
            f"{_musd(s.get('cash_cost_musd'))} (money paid by anyone) + valuation "
            f"{_musd(s.get('valuation_cost_musd'))} (risk, shortfall and other charges nobody pays).",
            f"Public money: {_musd(s.get('public_money_musd'))} MUSD present value, the capex the members pay: "
            "the alliance's own outlay."]


def _public_money(fin: pd.DataFrame | None) -> list[str]:
    if fin is None or not len(fin) or not {"member", "build_period", "paid_musd"} <= set(fin.columns):
        return ["Public money by member and period: none (no site built)."]
    f = fin.assign(paid_musd=pd.to_numeric(fin["paid_musd"], errors="coerce").fillna(0.0))
    table = f.pivot_table(index="member", columns="build_period", values="paid_musd", aggfunc="sum", fill_value=0.0)
    periods = list(table.columns)
    out = ["Public money by member and period (MUSD, undiscounted, by build period):",
           "  " + f"{'member':<8}" + "".join(f"{p!s:>12}" for p in periods) + f"{'total':>12}"]
    for member, row in table.iterrows():
        out.append("  " + f"{member!s:<8}" + "".join(f"{row[p]:>12,.1f}" for p in periods) + f"{row.sum():>12,.1f}")
    return out


def _probabilities(tables) -> dict:
    ub = tables.get("unmet_by_scenario")
    if ub is None or not len(ub) or "probability" not in ub:
        return {}
    return dict(zip(ub["scenario"], pd.to_numeric(ub["probability"], errors="coerce").fillna(0.0)))


def _sites(tables) -> list[str]:
    port, flows = tables.get("portfolio"), tables.get("flows")
    if port is None or not len(port):
        return ["Sites chosen: none."]
    prob = _probabilities(tables)
    last = None
    if flows is not None and len(flows) and "period" in flows:
        last = pd.to_numeric(flows["period"], errors="coerce").max()
    port = port.assign(capex=pd.to_numeric(port.get("capex_musd"), errors="coerce").fillna(0.0))
    port = port.sort_values("capex", ascending=False)
    out = [f"Sites chosen ({len(port)}, largest capex first; tonnes: expected over the scenarios in {last:.0f}):"
           if last is not None else f"Sites chosen ({len(port)}, largest capex first):"]
    for r in port.head(MAX_SITES).itertuples(index=False):
        text = (f"  {r.site} {str(r.name)[:40]} ({r.country}, {r.stage} {r.mineral}): build {r.build_period}, "
                f"{_num(r.capacity_tpy) or 0:,.0f} t/yr, capex {r.capex:,.1f} MUSD")
        out.append(text + _receivers(flows, r.site, last, prob))
    if len(port) > MAX_SITES:
        out.append(f"  ... and {len(port) - MAX_SITES} more (sheet portfolio)")
    return out


def _receivers(flows, site, period, prob: dict) -> str:
    if flows is None or not len(flows) or period is None or not prob:
        return ""
    f = flows[(flows["origin"] == site) & (pd.to_numeric(flows["period"], errors="coerce") == period)]
    if not len(f):
        return f"; ships nothing in {period:.0f}"
    # a row of a sheet summed over many scenarios ('expected over N scenarios') is already the expectation
    weight = f["scenario"].map(prob).where(~f["scenario"].astype(str).str.startswith("expected over"), 1.0)
    w = weight.fillna(0.0) * pd.to_numeric(f["flow_tpy"], errors="coerce").fillna(0.0)
    by = w.groupby(f["destination"].astype(str)).sum().sort_values(ascending=False)
    total = float(by.sum())
    if total <= 0:
        return f"; ships nothing in {period:.0f}"
    kind = "delivers" if (f["kind"] == "delivery").any() else "ships ore"
    parts = ", ".join(f"{d} {x / total:.0%}" for d, x in by.head(4).items())
    return f"; {kind} {total:,.0f} t/yr to {parts}"


def _security(s: dict, ub) -> list[str]:
    out = ["Supply security (tonnes of demand unmet over the horizon):"]
    worst = ""
    if ub is not None and len(ub) and "unmet_demand_t" in ub:
        u = pd.to_numeric(ub["unmet_demand_t"], errors="coerce").fillna(0.0)
        i = int(u.idxmax())
        worst = f"; worst scenario {ub.loc[i, 'scenario']}: {_t(u.loc[i])}"
    out.append(f"  with this portfolio: {_t(s.get('unmet_demand_t'))} expected{worst}")
    if _num(s.get("unmet_demand_t_without_builds")) is not None:
        out.append(f"  with no new site built: {_t(s.get('unmet_demand_t_without_builds'))} expected; worst scenario "
                   f"{s.get('worst_scenario_without_builds', 'n/a')}: {_t(s.get('worst_unmet_demand_t_without_builds'))}")
    else:
        out.append("  with no new site built: not in this run")
    share = _num(s.get("allied_content_share"))
    out.append(f"  allied content (mined and refined in alliance or partner countries): "
               f"{'n/a' if share is None else f'{share:.0%}'} of supply (expected)")
    return out


def _decisions(info: dict) -> list[str]:
    tested = info.get("hand_over_decisions_tested")
    if _num(tested) is None:
        return [f"Decisions: not tested in this run ({tested})." if tested else
                "Decisions: not tested in this run (written before decisions were tested)."]
    proven = int(_num(info.get("hand_over_decisions_proven")) or 0)
    left = [v for k, v in info.items() if k.startswith("hand_over_decision_unproven_")]
    out = [f"Decisions: {proven} of {int(_num(tested))} build decisions proven (reversed, every plan costs more)."]
    if left:
        out.append(f"  Not proven ({len(left)}; reversed, a plan might cost less, within the gap):")
        out += [f"    {v}" for v in left[:MAX_UNPROVEN]]
        if len(left) > MAX_UNPROVEN:
            out.append(f"    ... and {len(left) - MAX_UNPROVEN} more (run_info)")
    return out


def _rules(info: dict) -> list[str]:
    known = [(k[len("hand_over_rule_value_"):], v) for k, v in info.items() if k.startswith("hand_over_rule_value_")]
    if not known:
        return ["What rules cost: not computed by this run."]
    return ["What rules cost (marginal value with the builds fixed, from the LP re-solve):"] + [
        f"  {name}: {value}" for name, value in known]
