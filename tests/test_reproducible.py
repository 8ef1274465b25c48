"""Same input and options -> the same plan, also with the rows and columns of every sheet shuffled."""

import random
from pathlib import Path

import pytest
from openpyxl import load_workbook

from planner.dataset.data import content_hash
from planner.pipeline import solve_workbook
from planner.io.reader import read_workbook

DEFAULT = Path(__file__).resolve().parent.parent / "inputs" / "alliance_2026.xlsx"


def shuffled_copy(src: Path, dst: Path, seed: int) -> Path:
    rnd = random.Random(seed)
    wb = load_workbook(src)
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        if len(rows) < 2:
            continue
        header, body = rows[0], rows[1:]
        rnd.shuffle(body)
        order = list(range(len(header)))
        rnd.shuffle(order)
        ws.delete_rows(1, ws.max_row)
        for r in [header] + body:
            ws.append([r[j] for j in order])
    wb.save(dst)
    return dst


def test_content_hash_ignores_row_and_column_order_but_not_values(tmp_path):
    a = content_hash(read_workbook(DEFAULT))
    b = content_hash(read_workbook(shuffled_copy(DEFAULT, tmp_path / "s.xlsx", 1)))
    assert a == b
    wb = load_workbook(DEFAULT)
    wb["demand"]["D2"] = float(wb["demand"]["D2"].value) + 1
    wb.save(tmp_path / "changed.xlsx")
    assert content_hash(read_workbook(tmp_path / "changed.xlsx")) != a


def test_shuffled_default_gives_the_same_plan(tmp_path):
    ref = solve_workbook(DEFAULT, write=False)
    other = solve_workbook(shuffled_copy(DEFAULT, tmp_path / "s.xlsx", 7), write=False)
    assert other.costs["total_cost_musd"] == pytest.approx(ref.costs["total_cost_musd"], rel=1e-9)
    key = lambda r: sorted(zip(r.solution.builds["site"], r.solution.builds["build_period"]))
    assert key(other) == key(ref)
