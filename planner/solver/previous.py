"""`plan solve --start-from PORTFOLIO`: the builds of a portfolio written earlier, as the start of a
new solve: a variant re-solved from the previous plan.

A modeller edits the workbook (a demand, a cost, a member leaving) and solves again; the last plan
is usually close to the new optimum, and on large models HiGHS's own first plans are far from it.
The portfolio's `portfolio` sheet (columns `site` and `build_period`, as `plan solve` writes it) is
read back; the plan that makes those builds, its flows re-solved as an LP under the new workbook, is
HiGHS's first incumbent (`heuristic.plan_start`). It replaces the start heuristic for that run.
Builds the new workbook cannot make (the site is not a candidate in the new workbook, or that build period is not
open to it) are left out, each with a warning. No plain-table data from the portfolio is used
beyond the builds: the flows, costs and checks all come from the new solve.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import python_calamine

from planner.dataset.data import PlanData
from planner.errors import InputError
from planner.io.reader import check_container

SHEET = "portfolio"
COLUMNS = ("site", "build_period")


def _read(path: Path) -> tuple[list, list[list]]:
    """The portfolio sheet's header and rows, after the same container checks as an input workbook."""
    if not path.exists():
        raise InputError("start_from_missing", f"the portfolio to start from, '{path}', does not exist")
    check_container(path)  # not a workbook, encrypted, a zip or XML bomb: refused, as for an input
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise InputError("start_from_unreadable",
                         f"'{path}' is not a readable workbook ({type(exc).__name__}: {exc})") from None
    if SHEET not in book.sheet_names:
        raise InputError("start_from_not_portfolio",
                         f"'{path}' has no sheet '{SHEET}': not a portfolio written by plan solve")
    rows = book.get_sheet_by_name(SHEET).to_python()
    return (list(rows[0]) if rows else []), rows[1:]


def _period(value, path: Path, row: int, col: int) -> int:
    """A build period as plan solve writes it: a whole number (a year)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value != int(value)):
        raise InputError("start_from_bad_period", f"in '{path}': build period {value!r} is not a whole number "
                                                  "(a year)", sheet=SHEET, row=row, col=col, column="build_period")
    return int(value)


def previous_builds(path: str | Path, data: PlanData) -> tuple[frozenset, list[str]]:
    """The (candidate, build period) pairs of the portfolio at `path` that `data` can build, and a
    warning for each one it cannot (left out of the start). InputError (naming the portfolio's
    sheet, row and column) if the file is not a portfolio written by plan solve."""
    path = Path(path)
    header, rows = _read(path)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError("start_from_not_portfolio", f"in '{path}': no column '{missing[0]}' (a portfolio "
                                                     "written by plan solve has site and build_period)",
                         sheet=SHEET, row=1)
    col = {c: header.index(c) + 1 for c in COLUMNS}
    options = set(data.BUILD_OPTIONS)
    builds, warnings = set(), []
    for i, values in enumerate(rows):
        site, period = values[col["site"] - 1], values[col["build_period"] - 1]
        row = i + 2  # header on row 1
        site = str(site).strip()
        if not site:
            raise InputError("start_from_blank_site", f"in '{path}': no site named", sheet=SHEET, row=row,
                             col=col["site"], column="site")
        t = _period(period, path, row, col["build_period"])
        if site not in data.sites.index:
            warnings.append(f"start from '{path.name}': site {site} ({SHEET} row {row}) is not a site in this "
                            "workbook; left out of the start")
        elif (site, t) not in options:
            warnings.append(f"start from '{path.name}': site {site} cannot be built in {t} in this workbook "
                            f"({SHEET} row {row}); left out of the start")
        else:
            builds.add((site, t))
    return frozenset(builds), warnings
