"""`plan scenarios INPUT --sample N --seed S -o OUT.xlsx`: the workbook with its scenarios replaced
by N scenarios drawn from its `risks` and `demand_swings` sheets (planner/dataset/sampling.py). The
rest of the workbook is kept as it is, so every command reads the result like any workbook."""

from __future__ import annotations

from pathlib import Path

from planner.dataset.data import build_data
from planner.dataset.sampling import sample
from planner.errors import InputError
from planner.io.reader import read_workbook
from planner.io.writer import check_target, replace_sheets

SAMPLED_SHEETS = ("scenarios", "disruptions", "scenario_demand")


def write_sampled(input_path: Path, output: Path, n: int, seed: int, force: bool = False) -> dict:
    """Check INPUT as `plan validate` does, draw N scenarios with `seed` and write OUT (never over
    INPUT; over an existing OUT only with `force`). Returns what was drawn, for the command's line."""
    input_path, output = Path(input_path), Path(output)
    check_target(output, force, inputs=[input_path])
    raw = read_workbook(input_path)
    data = build_data(raw)
    risks, swings = raw.tables.get("risks"), raw.tables.get("demand_swings")
    if (risks is None or not len(risks)) and (swings is None or not len(swings)):
        raise InputError("E_NO_RISKS", "plan scenarios --sample draws from the risks sheet (export stops) and the "
                         "demand_swings sheet (demand multipliers): the workbook has neither; `plan template` "
                         "shows their columns", sheet="risks")
    tables = sample(risks, swings, data.periods, n, seed)
    replace_sheets(input_path, tables, output, force=force)
    calm = int(tables["scenarios"]["shock_years"].isna().sum())
    return {"scenarios": n, "with_stops": n - calm, "disruption_rows": len(tables["disruptions"])}
