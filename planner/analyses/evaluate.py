"""`plan evaluate INPUT PORTFOLIO [PORTFOLIO ...]` on the sweep engine: saved portfolios judged on
the workbook's scenarios (its own, or many drawn by `plan scenarios --sample`).

Each portfolio's first stage (its builds, from the `portfolio` sheet, and its stock levels, from
`stockpiles`) is fixed and the flows of each scenario are solved on their own: the workbook
restricted to that scenario at probability 1 (`data.scenario_data`), the same model with the plan
fixed by bounds. A scenario's cost is then the plan's whole cost if that scenario happens (first
stage included), and the expected cost is their probability-weighted mean: on the workbook's own
scenarios it is the portfolio's objective without a CVaR term, and each scenario's cost its
`scenario_costs` row.

Where the scenarios are a sample (every probability equal, at least SAMPLE_MIN = 10 of them, as
`plan scenarios --sample` writes them), each figure comes with a 95% interval:
the mean's normal interval (1.96 standard errors) for expected costs and tonnes, Wilson's interval
for the probability of a shortfall, and a percentile bootstrap (1,000 resamples of the scenarios,
drawn by the planner's own SplitMix64 from a fixed seed) for the CVaR. Portfolios are evaluated
on the same scenarios, so their differences are paired (common random numbers): the interval of
the mean of the per-scenario differences, much narrower than the two intervals apart. Otherwise
the scenarios are the distribution itself: figures are exact, without intervals.

`--wait-and-see` also solves each scenario with its own builds (a MIP each): WS = sum_s p_s z_s.
E[cost of a portfolio] - WS bounds the expected value of perfect information from above, and
equals it for the portfolio that is the workbook's optimum (RP). The wait-and-see MIPs stop at a
gap, so the bound reported is E - sum p_s bound_s (guaranteed), with E - sum p_s incumbent_s
beside it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import Case, usable
from planner.dataset.data import PlanData
from planner.dataset.sampling import SplitMix64
from planner.errors import InputError
from planner.io.reader import check_container
from planner.io.writer import read_portfolio
from planner.results.risk import DEFAULT_CVAR_ALPHA
from planner.results.solution import cvar

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20261208
SCENARIO_DETAIL_MAX = 50  # more scenarios than this: the per-scenario table only with --per-scenario
SAMPLE_MIN = 10  # equally likely scenarios from this many on are read as a sample (with intervals)


def read_plan(path: Path, data: PlanData) -> tuple[tuple, tuple]:
    """A saved portfolio's first stage: its builds ((site, build period), ...) from the `portfolio`
    sheet and its stock levels ((stockpile, period, stock_t, added_t), ...) from `stockpiles`, each
    checked against the workbook (a build it cannot make, a stockpile it lacks: refused, naming the
    portfolio's cell)."""
    path = Path(path)
    if not path.exists():
        raise InputError("E_FILE", f"the portfolio '{path}' does not exist")
    check_container(path)
    sheets = read_portfolio(path)
    if "portfolio" not in sheets or not {"site", "build_period"} <= set(sheets["portfolio"].columns):
        raise InputError("E_NOT_PORTFOLIO", f"'{path.name}' has no portfolio sheet with site and build_period: not a "
                         "portfolio written by plan solve", sheet="portfolio")
    options = set(data.BUILD_OPTIONS)
    builds = []
    for i, (f, t) in enumerate(zip(sheets["portfolio"]["site"], sheets["portfolio"]["build_period"]), start=2):
        try:
            t = int(t)
        except (TypeError, ValueError):
            raise InputError("E_NOT_PORTFOLIO", f"in '{path.name}': build period {t!r} is not a year",
                             sheet="portfolio", row=i, column="build_period") from None
        if (str(f), t) not in options:
            raise InputError("E_PLAN_NOT_IN_WORKBOOK", f"in '{path.name}': site {f} cannot be built in {t} in this "
                             "workbook (not a candidate, screened out, or not open then): evaluate it on the workbook "
                             "it was solved for", sheet="portfolio", row=i, column="site")
        builds.append((str(f), t))
    stocks = []
    st = sheets.get("stockpiles")
    columns = ("stockpile", "period", "stock_t", "added_t")
    if data.STOCKPILES and (st is None or not set(columns) <= set(st.columns)):
        raise InputError("E_NOT_PORTFOLIO", f"'{path.name}' has no stockpiles sheet with {', '.join(columns)} while "
                         "this workbook has stockpiles: the plan's stock levels are unknown (a portfolio written "
                         "with --tables leaving it out?)", sheet="stockpiles")
    if st is not None and len(st) and set(columns) <= set(st.columns):
        for i, (p, t, x, a) in enumerate(zip(*(st[c] for c in columns)), start=2):
            try:
                t, x, a = int(t), float(x), float(a)
            except (TypeError, ValueError):
                raise InputError("E_NOT_PORTFOLIO", f"in '{path.name}': stockpile row {i} has a blank or non-number "
                                 "period, stock_t or added_t", sheet="stockpiles", row=i) from None
            if str(p) not in data.STOCKPILES or t not in data.PERIODS:
                raise InputError("E_PLAN_NOT_IN_WORKBOOK", f"in '{path.name}': stockpile {p} in {t} is not one of "
                                 "this workbook's", sheet="stockpiles", row=i, column="stockpile")
            stocks.append((str(p), t, x, a))
    return tuple(sorted(builds)), tuple(sorted(stocks))


def mean_interval(x: np.ndarray) -> tuple[float, float]:
    """The normal 95% interval of the mean of equally likely values."""
    if len(x) < 2:
        return float("nan"), float("nan")
    half = Z95 * float(np.std(x, ddof=1)) / math.sqrt(len(x))
    m = float(np.mean(x))
    return m - half, m + half


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval of a probability seen k times in n."""
    if n == 0:
        return float("nan"), float("nan")
    p, z2 = k / n, Z95 * Z95
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def cvar_equal(x: np.ndarray, alpha: float) -> float:
    """CVaR at `alpha` of equally likely values (`results.solution.cvar`)."""
    keys = [str(i) for i in range(len(x))]
    return cvar(dict(zip(keys, x.tolist())), dict.fromkeys(keys, 1.0 / len(x)), alpha)


def bootstrap_cvar(x: np.ndarray, alpha: float, paired: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the CVaR of equally likely values `x` (of the difference
    CVaR(x) - CVaR(paired) where `paired` is given, resampling the scenarios together)."""
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    rng = SplitMix64(BOOTSTRAP_SEED)
    stats = []
    for _ in range(BOOTSTRAP):
        idx = np.fromiter((int(rng.random() * n) for _ in range(n)), dtype=int, count=n)
        v = cvar_equal(x[idx], alpha)
        stats.append(v - cvar_equal(paired[idx], alpha) if paired is not None else v)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


class Evaluate(Analysis):
    """`plan evaluate` on the sweep engine: every (portfolio, scenario) an LP with the plan fixed, and
    with `wait_and_see` every scenario a MIP with its own builds."""

    command = "evaluate"

    def __init__(self, data: PlanData, plans: dict[str, tuple[tuple, tuple]], shortfall_t: float = 0.0,
                 wait_and_see: bool = False, per_scenario: bool = False):
        super().__init__(data)
        self.plans, self.shortfall_t, self.ws = plans, float(shortfall_t), wait_and_see
        self.per_scenario = per_scenario or len(data.SCENARIOS) <= SCENARIO_DETAIL_MAX
        prob = data.scenarios["probability"].astype(float)
        self.sampled = len(data.SCENARIOS) >= SAMPLE_MIN and bool(np.allclose(prob, 1.0 / len(data.SCENARIOS), rtol=1e-9))
        self.alpha = data.cvar_alpha if data.cvar_alpha is not None else DEFAULT_CVAR_ALPHA

    def cases(self) -> list[Case]:
        out = []
        for name, (builds, stocks) in self.plans.items():
            fixed = ("fix_plan", builds, stocks)
            out += [Case(f"{name}|{s}", f"{name} in {s}", model=(fixed, ("scenario", s)),
                         meta={"report": ["unmet"]}) for s in self.data.SCENARIOS]
        if self.ws:
            out += [Case(f"ws|{s}", f"{s} with its own builds", model=(("scenario", s),)) for s in self.data.SCENARIOS]
        return out

    def run(self, engine, journal, definition, progress=None) -> None:
        s = definition.solver
        self.options = {"mip_gap": s.mip_gap, "mip_abs_gap_musd": s.mip_abs_gap, "time_limit_s": s.time_limit_s or "",
                        "workers": engine.scheduler or engine.workers}
        self.take(engine.run(self.cases(), definition, None, journal, progress))

    def _of(self, name: str) -> dict[str, dict]:
        return {s: self.results.get(f"{name}|{s}") for s in self.data.SCENARIOS}

    def scenario_table(self) -> pd.DataFrame:
        """One row per (portfolio, scenario): its cost (MUSD, the plan's whole cost if the scenario
        happens), cash, valuation and tonnes unmet over the horizon."""
        prob = self.data.scenarios["probability"].astype(float).to_dict()
        rows = []
        for name in self.plans:
            for s, r in self._of(name).items():
                ok = usable(r)
                rows.append({"portfolio": name, "scenario": s, "probability": prob[s],
                             "status": r["status"] if r else "not solved (interrupted)",
                             "cost_musd": r["objective_musd"] if ok else None,
                             "cash_cost_musd": r["cash_cost_musd"] if ok else None,
                             "valuation_cost_musd": r["valuation_cost_musd"] if ok else None,
                             "unmet_demand_t": r["expected_unmet_t"] if ok else None})  # one scenario, p = 1
        return pd.DataFrame(rows, columns=["portfolio", "scenario", "probability", "status", "cost_musd",
                                           "cash_cost_musd", "valuation_cost_musd", "unmet_demand_t"])

    def _figures(self, t: pd.DataFrame) -> dict:
        """A portfolio's figures over the scenarios it was solved in."""
        p = t["probability"].to_numpy(dtype=float)
        p = p / p.sum()
        out = {}
        for col, key in (("cost_musd", "expected_cost_musd"), ("cash_cost_musd", "expected_cash_musd"),
                         ("valuation_cost_musd", "expected_valuation_musd"), ("unmet_demand_t", "expected_unmet_t")):
            x = t[col].to_numpy(dtype=float)
            out[key] = float(p @ x)
            lo, hi = mean_interval(x) if self.sampled else (None, None)
            out[f"{key}_low"], out[f"{key}_high"] = lo, hi
        x = t["cost_musd"].to_numpy(dtype=float)
        out["cvar_musd"] = cvar(dict(zip(t["scenario"], x)), dict(zip(t["scenario"], p)), self.alpha)
        out["cvar_musd_low"], out["cvar_musd_high"] = bootstrap_cvar(x, self.alpha) if self.sampled else (None, None)
        out["worst_cost_musd"] = float(x.max())
        short = t["unmet_demand_t"].to_numpy(dtype=float) > self.shortfall_t
        out["shortfall_probability"] = float(p @ short)
        out["shortfall_probability_low"], out["shortfall_probability_high"] = (
            wilson(int(short.sum()), len(short)) if self.sampled else (None, None))
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        per = self.scenario_table()
        n = len(self.data.SCENARIOS)
        rows, solved = [], {}
        for name, (builds, _) in self.plans.items():
            t = per[per["portfolio"] == name]
            ok = t[t["cost_musd"].notna()]
            solved[name] = ok
            row = {"portfolio": name, "sites_built": len(builds), "scenarios_solved": len(ok), "scenarios": n}
            if len(ok):
                row.update(self._figures(ok))
            rows.append(row)
        evaluation = pd.DataFrame(rows)
        tables = {"evaluation": evaluation, "differences": self.differences(solved),
                  "unmet_by_member_mineral": self.unmet_table()}
        summary = [("scenarios", n, "scenarios each portfolio is judged on"),
                   ("intervals", "95%, the scenarios a sample (equally likely)" if self.sampled else
                    "none: the workbook's scenarios with their probabilities (exact figures)", ""),
                   ("cvar_alpha", self.alpha, "CVaR level (settings.cvar_alpha, else 0.9)"),
                   ("shortfall_t", self.shortfall_t, "a scenario is a shortfall when more than this many tonnes of "
                    "demand go unmet over the horizon")]
        if self.ws:
            ws, ws_rows = self.wait_and_see(evaluation)
            tables["wait_and_see"] = ws_rows
            summary += ws
        if self.per_scenario:
            tables["scenario_results"] = per
        summary.append(("input_sha256", self.data.content_sha256, ""))
        summary += [(k, v, "batch option") for k, v in self.options.items()]
        return {"summary": pd.DataFrame(summary, columns=["key", "value", "unit"]), **tables}

    def differences(self, solved: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Each portfolio against the first, on the scenarios both were solved in: expected cost and
        CVaR differences, paired (intervals where the scenarios are a sample)."""
        names = list(self.plans)
        cols = ["portfolio", "against", "scenarios", "cost_difference_musd", "cost_difference_low_musd",
                "cost_difference_high_musd", "cvar_difference_musd", "cvar_difference_low_musd",
                "cvar_difference_high_musd", "unmet_difference_t", "unmet_difference_low_t", "unmet_difference_high_t"]
        rows = []
        ref = solved[names[0]].set_index("scenario")
        for name in names[1:]:
            t = solved[name].set_index("scenario")
            common = [s for s in t.index if s in ref.index]
            if not common:
                continue
            p = t.loc[common, "probability"].to_numpy(dtype=float)
            p = p / p.sum()
            a, b = t.loc[common, "cost_musd"].to_numpy(dtype=float), ref.loc[common, "cost_musd"].to_numpy(dtype=float)
            ua = t.loc[common, "unmet_demand_t"].to_numpy(dtype=float)
            ub = ref.loc[common, "unmet_demand_t"].to_numpy(dtype=float)
            pa, pb = dict(zip(common, a)), dict(zip(common, b))
            pr = dict(zip(common, p))
            row = {"portfolio": name, "against": names[0], "scenarios": len(common),
                   "cost_difference_musd": float(p @ (a - b)),
                   "cvar_difference_musd": cvar(pa, pr, self.alpha) - cvar(pb, pr, self.alpha),
                   "unmet_difference_t": float(p @ (ua - ub))}
            if self.sampled:
                row["cost_difference_low_musd"], row["cost_difference_high_musd"] = mean_interval(a - b)
                row["cvar_difference_low_musd"], row["cvar_difference_high_musd"] = bootstrap_cvar(a, self.alpha, b)
                row["unmet_difference_low_t"], row["unmet_difference_high_t"] = mean_interval(ua - ub)
            rows.append(row)
        return pd.DataFrame(rows, columns=cols)

    def unmet_table(self) -> pd.DataFrame:
        """Per portfolio, member and mineral: tonnes unmet over the horizon, expected (with its
        interval where the scenarios are a sample) and in the worst scenario."""
        prob = self.data.scenarios["probability"].astype(float).to_dict()
        rows = []
        for name in self.plans:
            solved = [s for s, r in self._of(name).items() if usable(r)]
            if not solved:
                continue
            # every pair asked for, 0 in a scenario where nothing of it is unmet (the solve lists only what is)
            by = {(a, mi): dict.fromkeys(solved, 0.0) for a, mi, _ in self.data.demand.index}
            for s in solved:
                for a, mi, x in self.results[f"{name}|{s}"].get("unmet_by_member_mineral_t", []):
                    by[(a, mi)][s] = x
            for (a, mi), xs in sorted(by.items()):
                x = np.array(list(xs.values()))
                p = np.array([prob[s] for s in xs])
                lo, hi = mean_interval(x) if self.sampled else (None, None)
                rows.append({"portfolio": name, "member": a, "mineral": mi, "expected_unmet_t": float(p @ x / p.sum()),
                             "expected_unmet_low_t": lo, "expected_unmet_high_t": hi, "worst_unmet_t": float(x.max())})
        return pd.DataFrame(rows, columns=["portfolio", "member", "mineral", "expected_unmet_t", "expected_unmet_low_t",
                                           "expected_unmet_high_t", "worst_unmet_t"])

    def wait_and_see(self, evaluation: pd.DataFrame) -> tuple[list[tuple], pd.DataFrame]:
        """The wait-and-see solves (each scenario with its own builds): their table, WS, and per
        portfolio E[cost] - WS, an upper bound of the expected value of perfect information."""
        prob = self.data.scenarios["probability"].astype(float).to_dict()
        rows = []
        for s in self.data.SCENARIOS:
            r = self.results.get(f"ws|{s}")
            ok = usable(r)
            rows.append({"scenario": s, "probability": prob[s], "status": r["status"] if r else "not solved (interrupted)",
                         "cost_musd": r["objective_musd"] if ok else None, "bound_musd": r["bound_musd"] if ok else None,
                         "sites_built": len(r["builds"]) if ok else None})
        table = pd.DataFrame(rows, columns=["scenario", "probability", "status", "cost_musd", "bound_musd",
                                            "sites_built"])
        if table["cost_musd"].isna().any():
            return [("wait_and_see_status", "not every scenario has a plan with its own builds: no WS", "")], table
        p = table["probability"].to_numpy(dtype=float)
        ws, ws_bound = float(p @ table["cost_musd"].to_numpy(dtype=float)), float(p @ table["bound_musd"].to_numpy(dtype=float))
        out = [("wait_and_see_musd", ws, "MUSD: sum_s p_s (scenario s solved with its own builds), incumbents"),
               ("wait_and_see_bound_musd", ws_bound, "MUSD: the same with the solves' bounds")]
        for _, r in evaluation.iterrows():
            if r.get("scenarios_solved") == r.get("scenarios") and "expected_cost_musd" in r:
                e = float(r["expected_cost_musd"])
                out += [(f"evpi_upper_musd[{r['portfolio']}]", e - ws_bound, "MUSD: E[cost of the portfolio] - the "
                         "bound of WS: an upper bound of the expected value of perfect information (RP - WS, RP at "
                         "most any portfolio's expected cost; equal to E - WS for the workbook's optimum solved to gap "
                         "0)"),
                        (f"evpi_upper_incumbents_musd[{r['portfolio']}]", e - ws, "MUSD: E[cost] - WS from the "
                         "wait-and-see incumbents (below the row above by the solves' gaps)")]
        return out, table
