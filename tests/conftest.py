import signal

import pytest

from planner.pipeline import solve_workbook
from wb import write_workbook

# A run started where SIGINT is ignored (a background job of a non-interactive shell) would turn no
# Ctrl-C into KeyboardInterrupt; the tests that press Ctrl-C need Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def solve_tiny(tmp_path):
    """Write (sheets, settings) to a workbook in tmp_path and solve it without writing output. The
    run must end with the status `expect` (optimal unless the test says otherwise); a plan it
    reports must pass the plain-table check with no violation above the tolerance."""
    counter = {"n": 0}

    def _solve(sheets, settings, model=None, expect="optimal", **kw):
        counter["n"] += 1
        path = write_workbook(tmp_path / f"case{counter['n']}.xlsx", sheets, settings)
        res = solve_workbook(path, model=model, write=False, **kw)
        if expect is not None:
            assert res.outcome.status == expect, (res.outcome.status, res.outcome.message)
        if res.solution is not None and res.outcome.usable:
            assert res.max_violation <= 1e-6 * max(1.0, abs(res.outcome.objective or 0.0)), res.max_violation
        return res

    return _solve


@pytest.fixture
def tiny_path(tmp_path):
    """Write (sheets, settings) and return the path."""
    def _write(sheets, settings, name="tiny.xlsx"):
        return write_workbook(tmp_path / name, sheets, settings)

    return _write
