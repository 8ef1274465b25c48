"""Errors a user can cause, each tied to a place in the workbook."""

from __future__ import annotations

import contextlib
import contextvars



def get_column_letter(col: int) -> str:
    """Excel's letters of column `col` (1 -> A, 27 -> AA); openpyxl is not imported for this."""
    letters = ""
    while col > 0:
        col, r = divmod(col - 1, 26)
        letters = chr(65 + r) + letters
    return letters

_COLLECTOR: contextvars.ContextVar[list | None] = contextvars.ContextVar("planner_error_collector", default=None)


def report(err: "InputError") -> None:
    """Raise `err`, or, inside `collecting()`, record it and let the caller carry on (`plan validate`
    lists every problem at once; `plan solve` stops at the first)."""
    bucket = _COLLECTOR.get()
    if bucket is None:
        raise err
    bucket.append(err)


@contextlib.contextmanager
def collecting():
    bucket: list = []
    token = _COLLECTOR.set(bucket)
    try:
        yield bucket
    finally:
        _COLLECTOR.reset(token)


def cell_ref(sheet: str, row: int | None = None, col: int | None = None) -> str:
    """Excel coordinates: `sites!F12`, `sites!F` (whole column), `sites!12` (row) or `sites`."""
    if row is None and col is None:
        return sheet
    if col is None:
        return f"{sheet}!{row}"
    letter = get_column_letter(col)
    return f"{sheet}!{letter}{row}" if row is not None else f"{sheet}!{letter}"


class InputError(Exception):
    """A problem in the user's workbook. `code` is stable and tested; `where` is `sheet!A1`."""

    def __init__(self, code: str, message: str, sheet: str | None = None, row: int | None = None,
                 col: int | None = None, column: str | None = None):
        self.code = code
        self.sheet = sheet
        self.row = row
        self.col = col
        self.column = column
        self.message = message
        super().__init__(str(self))

    @property
    def where(self) -> str:
        return cell_ref(self.sheet, self.row, self.col) if self.sheet else ""

    def __str__(self) -> str:
        loc = self.where
        colname = f" (column '{self.column}')" if self.column else ""
        return f"{loc}{colname}: {self.message} [{self.code}]" if loc else f"{self.message} [{self.code}]"


class DefinitionError(Exception):
    """A problem in a model definition (models/*.toml) or in command-line options."""


class OutputExistsError(Exception):
    """The output file exists and --force was not given."""


class OutputWriteError(Exception):
    """Writing the workbook failed after a successful solve (the JSON copy holds the solution)."""


class NothingWrittenError(Exception):
    """Writing failed after a successful solve before anything was kept: the result is lost."""
