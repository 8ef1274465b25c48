"""`plan fairness`: who gains from the alliance, as a cooperative game between its members.

Every coalition S of the active members is solved as if the others had left (`--without`): their
demand is gone, candidates they would host are screened out, the existing sites of their countries
serve them, not S (capacity 0 for S), and the **world supply** -- every existing site in a country
of no active member (markets, and mines and refineries abroad) -- is available to S only pro rata
to S's share of the alliance's demand for its mineral (tonnes over the horizon, `world_shares`).
So the coalitions of any split of the members share exactly the capacity that exists: without the
rule a smaller coalition would be handed the others' purchases or production for free, and
leaving would pay.

The cost of S, c(S), is its optimum (the incumbent; the interval to its bound is reported).
Savings are v(S) = sum of c({i}) for i in S - c(S). The Shapley value of v splits the grand
coalition's savings v(N) between the members (the shares sum to v(N)); each member's Shapley cost
is then c({i}) - its share. The core of the cost game is the set of allocations y with
sum y = c(N) and sum over S of y <= c(S) for every coalition S: (a) whether it is empty is the
least-core LP (minimise e such that every coalition pays at most c(S) + e; empty iff e > 0);
(b) whether the Shapley costs are in it; (c) whether the plan's own allocation is, and if not (and
the core is not empty) the core allocation nearest to it (least total side payment, an LP) and the
side payments that reach it.

The plan's own allocation (the member's cost in the plan): the public money the member pays in
the grand coalition's plan, plus the rest of the plan's cost (purchases, operations, transport,
stocks and the valuation charges) in proportion to the member's share of the alliance's demand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import Case, usable
from planner.dataset.data import PlanData

CORE_TOL_MUSD = 1e-6  # besides the solves' gaps (reported), what the core tests forgive


def coalitions(members: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty coalition, smallest first, members in sheet order."""
    return [c for k in range(1, len(members) + 1) for c in itertools.combinations(members, k)]


def name(coalition: tuple[str, ...]) -> str:
    return "+".join(coalition)


def world_shares(data: PlanData, coalition: tuple[str, ...]) -> dict[str, float]:
    """Per mineral, the coalition's share of the alliance's demand (tonnes over the horizon)."""
    years = data.periods["years"].astype(float).to_dict()
    d = data.demand.reset_index()
    d = d.assign(t=[years[p] * x for p, x in zip(d["period"], d["demand_tpy"])])
    total = d.groupby("mineral")["t"].sum()
    own = d[d["member"].isin(coalition)].groupby("mineral")["t"].sum()
    return {m: float(own.get(m, 0.0) / total[m]) if total.get(m, 0.0) > 0 else 0.0 for m in data.MINERALS}


def coalition_case(data: PlanData, coalition: tuple[str, ...]) -> Case:
    """The workbook as coalition `coalition` alone would solve it (module docstring)."""
    others = [a for a in data.MEMBERS if a not in coalition]
    theirs = set(data.countries.index[data.countries["member"].isin(others)])
    share = world_shares(data, coalition)
    edits = [("without", a) for a in others]
    s = data.sites
    member_of = data.countries["member"].to_dict()
    tranche_of = s["tranche_of"].to_dict() if "tranche_of" in s else {}
    for f in s.index[s["status"] == "existing"]:
        if tranche_of.get(f):  # a market's tranche: scaled with its market, below
            continue
        country = s.loc[f, "country"]
        if country in theirs:  # the members gone keep their own countries' output
            factor = 0.0
        elif member_of.get(country) in coalition:  # the coalition's own: all of it
            continue
        else:  # the rest of the world: pro rata to the coalition's share of the alliance's demand
            factor = share.get(s.loc[f, "mineral"], 0.0)
        if factor < 1.0:
            edits.append(("cell", "sites", "site", f, "capacity_tpy", float(s.loc[f, "capacity_tpy"]) * factor))
            # its capacity in given periods, and a market's tranches, likewise (an absent sheet: no edit)
            edits.append(("scale_rows", "capacity_by_period", "site", f, "capacity_tpy", factor))
            if f in set(tranche_of.values()):
                edits.append(("scale_rows", "market_tranches", "site", f, "capacity_tpy", factor))
    return Case(f"coalition:{name(coalition)}", f"{name(coalition)} alone", tuple(edits), {"coalition": coalition})


def shapley(members: tuple[str, ...], value: dict[frozenset, float]) -> dict[str, float]:
    """The Shapley value of the game `value` (coalition -> worth; the empty coalition worth 0)."""
    n = len(members)
    out = dict.fromkeys(members, 0.0)
    for i in members:
        rest = [a for a in members if a != i]
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for s in itertools.combinations(rest, k):
                s_ = frozenset(s)
                out[i] += weight * (value[s_ | {i}] - value.get(s_, 0.0))
    return out


def _rows(members, cost):
    """The core's inequalities: for every proper non-empty coalition S, (indicator of S, c(S))."""
    out = []
    for c in coalitions(members)[:-1]:
        out.append((np.array([1.0 if a in c else 0.0 for a in members]), cost[frozenset(c)]))
    return out


def least_core(members: tuple[str, ...], cost: dict[frozenset, float]) -> tuple[float, dict[str, float]]:
    """(e*, an allocation): the least e such that some allocation with sum c(N) charges every
    proper coalition at most c(S) + e. The core is empty iff e* > 0."""
    from scipy.optimize import linprog
    n = len(members)
    rows = _rows(members, cost)
    a_ub = np.array([np.append(ind, -1.0) for ind, _ in rows]) if rows else np.zeros((0, n + 1))
    b_ub = np.array([c for _, c in rows])
    res = linprog(np.append(np.zeros(n), 1.0), A_ub=a_ub, b_ub=b_ub, A_eq=np.array([np.append(np.ones(n), 0.0)]),
                  b_eq=[cost[frozenset(members)]], bounds=[(None, None)] * (n + 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the least-core LP failed: {res.message}")
    return float(res.x[-1]), dict(zip(members, map(float, res.x[:n])))


def worst_excess(members, cost, alloc: dict[str, float]) -> tuple[float, str]:
    """The largest amount by which a proper coalition pays more than going alone would cost it, and
    which coalition (an allocation is in the core iff this is <= 0 and it sums to c(N))."""
    worst, who = -math.inf, ""
    for c in coalitions(members)[:-1]:
        e = sum(alloc[a] for a in c) - cost[frozenset(c)]
        if e > worst:
            worst, who = e, name(c)
    return worst, who


def nearest_core_point(members, cost, target: dict[str, float]) -> dict[str, float] | None:
    """The core allocation with the least total |y - target| (None if the core is empty)."""
    from scipy.optimize import linprog
    n = len(members)
    # variables: y (n), d (n) with d >= |y - target|
    c = np.append(np.zeros(n), np.ones(n))
    a_ub, b_ub = [], []
    for ind, cs in _rows(members, cost):
        a_ub.append(np.append(ind, np.zeros(n)))
        b_ub.append(cs)
    for i, a in enumerate(members):
        e = np.zeros(2 * n)
        e[i], e[n + i] = 1.0, -1.0
        a_ub.append(e.copy())
        b_ub.append(target[a])
        e[i] = -1.0
        a_ub.append(e)
        b_ub.append(-target[a])
    res = linprog(c, A_ub=np.array(a_ub), b_ub=np.array(b_ub), A_eq=np.array([np.append(np.ones(n), np.zeros(n))]),
                  b_eq=[cost[frozenset(members)]], bounds=[(None, None)] * n + [(0, None)] * n, method="highs")
    return dict(zip(members, map(float, res.x[:n]))) if res.status == 0 else None


class Fairness(Analysis):
    """`plan fairness` on the sweep engine (planner/analyses/sweep.py `run_analysis`)."""

    command = "fairness"

    def __init__(self, data: PlanData):
        super().__init__(data)
        self.members = tuple(data.MEMBERS)
        if len(self.members) < 2:
            raise ValueError(f"plan fairness needs two active members or more; the workbook has "
                             f"{', '.join(self.members) or 'none'}")
        self.cases = [coalition_case(data, c) for c in coalitions(self.members)[:-1]]

    def run(self, engine, journal, definition, progress=None) -> None:
        self.solve_base(engine, journal, definition, progress)  # the grand coalition
        self.take(engine.run(self.cases, definition, None, journal, progress))

    def _result(self, coalition: tuple[str, ...]) -> dict | None:
        if len(coalition) == len(self.members):
            return self.base
        return self.results.get(f"coalition:{name(coalition)}")

    def tables(self) -> dict[str, pd.DataFrame]:
        if not usable(self.base):
            return {}
        rows, cost = [], {}
        for c in coalitions(self.members):
            r = self._result(c)
            ok = usable(r)
            if ok:
                cost[frozenset(c)] = r["objective_musd"]
            rows.append({"coalition": name(c), "members": len(c),
                         "status": r["status"] if r else "not solved (interrupted)",
                         "cost_musd": r["objective_musd"] if ok else "", "bound_musd": r["bound_musd"] if ok else "",
                         "gap_musd": r["objective_musd"] - r["bound_musd"] if ok else "",
                         "public_money_musd": r["public_money_musd"] if ok else "",
                         "expected_unmet_t": r["expected_unmet_t"] if ok else ""})
        table = pd.DataFrame(rows)
        tables = {"coalitions": table}
        complete = len(cost) == len(rows)
        if complete:
            singles = {a: cost[frozenset([a])] for a in self.members}
            table["savings_musd"] = [sum(singles[a] for a in c) - cost[frozenset(c)] for c in coalitions(self.members)]
            savings = {frozenset(c): sum(singles[a] for a in c) - cost[frozenset(c)] for c in coalitions(self.members)}
            phi = shapley(self.members, savings)
            shap_cost = {a: singles[a] - phi[a] for a in self.members}
            eps, _ = least_core(self.members, cost)
            tol = CORE_TOL_MUSD + max(float(x) for x in table["gap_musd"])
            plan = self._plan_allocation()
            nearest = nearest_core_point(self.members, cost, plan) if eps <= tol else None
            shap_excess = worst_excess(self.members, cost, shap_cost)
            plan_excess = worst_excess(self.members, cost, plan)
            tables["fairness"] = self._members_table(singles, phi, shap_cost, plan, nearest)
            summary = [("grand_coalition_savings_musd", savings[frozenset(self.members)],
                        "MUSD: sum of the members' costs alone - the alliance's"),
                       ("shapley_sum_musd", sum(phi.values()), "MUSD: equals the savings"),
                       ("least_core_excess_musd", eps, "MUSD: the core is empty iff this is > 0"),
                       ("core", "empty" if eps > tol else "not empty", f"at a tolerance of {tol:,.4g} MUSD "
                        "(the widest gap of the solves)"),
                       ("shapley_in_core", "yes" if shap_excess[0] <= tol else f"no: {shap_excess[1]} would pay "
                        f"{shap_excess[0]:,.4g} MUSD more than alone", ""),
                       ("plan_allocation_in_core", "yes" if plan_excess[0] <= tol else f"no: {plan_excess[1]} "
                        f"pays {plan_excess[0]:,.4g} MUSD more than alone", ""),
                       ("side_payments_total_musd", "" if nearest is None else
                        sum(abs(nearest[a] - plan[a]) for a in self.members) / 2, "MUSD moved between members")]
        else:
            summary = [("coalitions_solved", len(cost), f"of {len(rows)}: the game needs every one")]
        summary += [("supply_rule", "a coalition keeps its own countries' sites; the members gone keep theirs; "
                     "the rest of the world's pro rata to the coalition's share of the alliance's demand per mineral",
                     "")]
        tables["summary"] = self.summary(summary)
        return tables

    def _plan_allocation(self) -> dict[str, float]:
        """Each member's cost in the grand plan (module docstring)."""
        public = self.base.get("public_money_by_member_musd", {})
        rest = self.base["objective_musd"] - sum(public.values())
        share = self.data.benefit_share
        return {a: public.get(a, 0.0) + rest * share.get(a, 0.0) for a in self.members}

    def _members_table(self, singles, phi, shap_cost, plan, nearest) -> pd.DataFrame:
        rows = []
        for a in self.members:
            alone = self._result((a,))
            rows.append({"member": a, "cost_alone_musd": singles[a], "shapley_savings_musd": phi[a],
                         "shapley_cost_musd": shap_cost[a], "plan_cost_musd": plan[a],
                         "core_cost_nearest_plan_musd": "" if nearest is None else nearest[a],
                         "side_payment_received_musd": "" if nearest is None else plan[a] - nearest[a],
                         "public_money_paid_musd": self.base.get("public_money_by_member_musd", {}).get(a, 0.0),
                         "secured_from_built_sites_t": self.base.get("secured_by_member_t", {}).get(a, 0.0),
                         "unmet_expected_alliance_t": self.base.get("unmet_expected_by_member_t", {}).get(a, 0.0),
                         "unmet_worst_alliance_t": self.base.get("unmet_worst_by_member_t", {}).get(a, 0.0),
                         "unmet_expected_alone_t": alone.get("unmet_expected_by_member_t", {}).get(a, 0.0),
                         "unmet_worst_alone_t": alone.get("unmet_worst_by_member_t", {}).get(a, 0.0)})
        return pd.DataFrame(rows)
