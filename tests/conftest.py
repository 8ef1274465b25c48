import pytest

from planner.pipeline import solve_workbook
from wb import write_workbook


@pytest.fixture
def solve_tiny(tmp_path):
    """Write (sheets, settings) to a workbook in tmp_path and solve it without writing output."""
    counter = {"n": 0}

    def _solve(sheets, settings, model=None, **kw):
        counter["n"] += 1
        path = write_workbook(tmp_path / f"case{counter['n']}.xlsx", sheets, settings)
        return solve_workbook(path, model=model, write=False, **kw)

    return _solve


@pytest.fixture
def tiny_path(tmp_path):
    """Write (sheets, settings) and return the path."""
    def _write(sheets, settings, name="tiny.xlsx"):
        return write_workbook(tmp_path / name, sheets, settings)

    return _write
