"""What the commands on the sweep engine share (planner/analyses/sweep.py `run_analysis`): the base
solve first, the results kept as they finish (`take`, also from an interrupted batch), the batch's
options, and the rows every `summary` sheet starts and ends with."""

from __future__ import annotations

import pandas as pd

from planner.analyses.cases import BASE, Case, base_start
from planner.dataset.data import PlanData


class Analysis:
    """A batch command: `run(engine, journal, definition, progress)` solves, `tables()` reads what
    has finished (all of it, or what an interrupted batch left)."""

    command = ""

    def __init__(self, data: PlanData):
        self.data = data
        self.base: dict | None = None
        self.results: dict[str, dict] = {}
        self.options: dict = {}

    def solve_base(self, engine, journal, definition, progress=None, case: Case = BASE, also=()) -> frozenset:
        """Solve the workbook as it is (and the cases `also`, side by side with it); its builds, the
        start of the batch's other solves."""
        s = definition.solver
        self.options = {"mip_gap": s.mip_gap, "mip_abs_gap_musd": s.mip_abs_gap, "time_limit_s": s.time_limit_s or "",
                        "workers": engine.scheduler or engine.workers}
        self.take(engine.run([case, *also], definition, None, journal, progress))
        return base_start(self.base)

    def take(self, done: dict[str, dict]) -> None:
        """Keep finished solves (the base apart)."""
        self.base = done.get("base", self.base)
        self.results.update({k: v for k, v in done.items() if k != "base"})

    def summary(self, rows: list[tuple]) -> pd.DataFrame:
        """The `summary` sheet: the base's cost and bound, `rows`, the workbook's hash and the batch's
        options."""
        head = [("base_objective_musd", self.base["objective_musd"], "MUSD (incumbent)"),
                ("base_bound_musd", self.base["bound_musd"], "MUSD (dual bound)"),
                ("base_public_money_musd", self.base.get("public_money_musd"), "MUSD (present value)")]
        tail = [("input_sha256", self.data.content_sha256, "")]
        tail += [(k, v, "batch option") for k, v in self.options.items()]
        return pd.DataFrame(head + rows + tail, columns=["key", "value", "unit"])


def builds_table(data: PlanData, builds: dict[str, int]) -> pd.DataFrame:
    """A plan's builds, one row per site in sheet order: what, where and when."""
    s = data.sites
    rows = [{"site": f, "name": s.loc[f, "name"], "country": s.loc[f, "country"], "stage": s.loc[f, "stage"],
             "mineral": s.loc[f, "mineral"], "build_period": builds[f], "capacity_tpy": float(s.loc[f, "capacity_tpy"]),
             "capex_musd": float(s.loc[f, "capex_musd"])} for f in s.index if f in builds]
    return pd.DataFrame(rows, columns=["site", "name", "country", "stage", "mineral", "build_period", "capacity_tpy",
                                       "capex_musd"])
