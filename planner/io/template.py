"""`plan template` (a blank workbook of the contract, documented from the same schema the reader
uses) and `plan validate --annotate` (a copy of the user's workbook with every bad cell marked)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from planner.errors import InputError
from planner.io.schema import PLAUSIBLE, SETTINGS, SHEETS, Column
from planner.io.writer import atomic_save

# Id columns that refer to another sheet: a drop-down lists that sheet's ids.
REFERENCES = {"member": ("members", "A"), "country": ("countries", "A"), "mineral": ("minerals", "A")}
TEMPLATE_SETTINGS = {"base_year": 2026, "discount_rate": 0.05}  # the two required settings, typical values
_BAD = PatternFill("solid", fgColor="FFC7CE")


def _range(c: Column) -> str:
    if c.choices:
        return " | ".join(x or "(blank)" for x in c.choices)
    lo = "" if c.min is None else (f"> {c.min:g}" if c.min_exclusive else f">= {c.min:g}")
    hi = "" if c.max is None else f"<= {c.max:g}"
    return " and ".join(x for x in (lo, hi) if x)


def readme_rows() -> list[list]:
    rows = [["sheet", "column", "unit", "type", "required", "default when blank", "range", "meaning",
             "plausible (a warning outside)"]]
    for sh in SHEETS.values():
        if sh.name == "settings":
            for c in SETTINGS.values():
                rows.append(["settings", f"key = {c.name}", c.unit, c.kind, "yes" if c.nonblank else "no",
                             "" if c.default is None else str(c.default) if c.default != "" else "(blank)",
                             _range(c), c.doc, PLAUSIBLE.get(("settings", c.name), "")])
            continue
        for c in sh.columns:
            rows.append([sh.name + (" (optional sheet)" if sh.optional else ""), c.name, c.unit, c.kind,
                         "yes" if c.nonblank else "column optional" if not c.required else "no",
                         "" if c.default is None else str(c.default) if c.default != "" else "(blank)",
                         _range(c), c.doc, PLAUSIBLE.get((sh.name, c.name), "")])
    return rows


def write_template(path: Path, force: bool = False) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet("README")
    for r in readme_rows():
        ws.append(r)
    for sh in SHEETS.values():
        ws = wb.create_sheet(sh.name)
        ws.append([c.name for c in sh.columns])
        if sh.name == "settings":
            for k in SETTINGS:
                ws.append([k, TEMPLATE_SETTINGS.get(k)])
        for j, c in enumerate(sh.columns, start=1):
            letter = get_column_letter(j)
            formula = None
            if c.choices:
                formula = '"' + ",".join(x for x in c.choices if x) + '"'
            elif c.kind == "str" and c.name in REFERENCES and sh.name != REFERENCES[c.name][0]:
                other, col = REFERENCES[c.name]
                formula = f"{other}!${col}$2:${col}$1000"
            if formula:
                dv = DataValidation(type="list", formula1=formula, allow_blank=not c.nonblank)
                dv.error, dv.errorTitle = f"{c.name}: {c.doc}", "Not allowed here"
                ws.add_data_validation(dv)
                dv.add(f"{letter}2:{letter}1000")
            ws.column_dimensions[letter].width = max(12, len(c.name) + 2)
    for w in wb.worksheets:
        for cell in w[1]:
            cell.font = Font(bold=True)
        w.freeze_panes = "A2"
    wb["README"].column_dimensions["H"].width = 80
    atomic_save(wb.save, Path(path), force)
    return Path(path)


def annotate(src: Path, problems: list[InputError], out: Path, force: bool = False) -> Path:
    """A copy of `src` with each bad cell filled and commented (one comment per cell, all its
    problems in it); problems without a cell are commented on the sheet's A1. `src` is untouched."""
    wb = load_workbook(src)
    notes: dict[tuple[str, str], list[str]] = {}
    for p in problems:
        if not p.sheet:
            continue
        if p.sheet not in wb.sheetnames:
            wb.create_sheet(p.sheet)
        ref = f"{get_column_letter(p.col)}{p.row}" if p.col and p.row else (
            f"A{p.row}" if p.row else f"{get_column_letter(p.col)}1" if p.col else "A1")
        notes.setdefault((p.sheet, ref), []).append(f"{p.message} [{p.code}]")
    for (sheet, ref), msgs in notes.items():
        cell = wb[sheet][ref]
        cell.fill = _BAD
        cell.comment = Comment("\n".join(msgs), "plan validate")
    atomic_save(wb.save, Path(out), force)
    return Path(out)
