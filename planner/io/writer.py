"""Write plain tables to an Excel workbook (atomically) and read a saved portfolio back.

User text is always written as text (a name starting with `=` stays a string, never a formula).
The file appears at its target only complete: it is written to a temporary file in the same
folder, flushed to disk and renamed. An existing target is replaced only with `force=True`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd
import xlsxwriter

from planner.errors import OutputExistsError

_HEADER = {"bold": True, "bg_color": "#DDE5F0"}
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384  # xlsxwriter would silently drop cells beyond these
# user text is never a formula, number or link: `=1+1` stays the text `=1+1`
_BOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
                 "nan_inf_to_errors": True}


def _number_format(column: str) -> str | None:
    if column.endswith("_musd"):
        return "#,##0.00"
    if column.endswith("_tpy") or column.endswith("_t"):
        return "#,##0"
    if column in ("share", "probability", "public_share_paid") or column.endswith("_share"):
        return "0.0%"
    return None


def _rows(df: pd.DataFrame) -> list[list]:
    """The table's rows as plain Python values (numpy scalars unboxed), blanks (None, NaN, NaT) as
    None: one conversion per table instead of a test per cell."""
    if df.empty:
        return []
    return df.astype(object).where(df.notna(), None).to_numpy().tolist()


class _Book:
    """An xlsxwriter workbook with its cell formats made once each (xlsxwriter streams the file:
    about twice as fast as openpyxl on the medium benchmark's 178k cells, 4.1 -> 2.0 s)."""

    def __init__(self, path: str):
        self.wb = xlsxwriter.Workbook(path, _BOOK_OPTIONS)
        self._formats: dict[tuple, object] = {}

    def format(self, **props):
        key = tuple(sorted(props.items()))
        if not key:
            return None
        if key not in self._formats:
            self._formats[key] = self.wb.add_format(dict(props))
        return self._formats[key]

    def close(self) -> None:
        try:
            self.wb.close()
        except BaseException as exc:  # a full disk, a file-size limit: the message, not the zip's noise later
            _release_zip_files(exc.__traceback__)
            raise


def _release_zip_files(tb) -> None:
    """Close, quietly, the zip files a failed save left open in the frames of its traceback: a ZipFile
    whose file could not be written fails again when the collector closes it ("Exception ignored
    in ZipFile.__del__"), after the one message the user should see."""
    import zipfile
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, zipfile.ZipFile) and value.fp is not None:
                fp, value.fp = value.fp, None
                try:
                    fp.close()
                except OSError:
                    pass
        tb = tb.tb_next


def _write_table(book: _Book, name: str, df: pd.DataFrame, value_format=None, align_b_left: bool = False,
                 ws=None):
    """One table on a new sheet: bold shaded header, frozen below it, numbers formatted by their
    column's unit (or by `value_format(row_index, column_index)` where given), text always text."""
    if len(df) + 1 > EXCEL_ROWS or len(df.columns) > EXCEL_COLUMNS:
        raise ValueError(f"table '{name}' has {len(df):,} rows and {len(df.columns)} columns; an Excel sheet "
                         f"holds at most {EXCEL_ROWS - 1:,} rows below its header and {EXCEL_COLUMNS:,} columns")
    ws = ws if ws is not None else book.wb.add_worksheet(name[:31])  # or the sheet made for it earlier
    header = book.format(**_HEADER)
    notes = df.attrs.get("notes") or {}  # column -> what it means, as a comment on its header cell
    for j, col in enumerate(df.columns):
        ws.write_string(0, j, str(col), header)
        if col in notes:
            ws.write_comment(0, j, str(notes[col]), {"x_scale": 2.5, "y_scale": 1.5})
    widths = [max(10, len(str(c)) + 2) for c in df.columns]
    align = [{"align": "left"} if align_b_left and j == 1 else {} for j in range(len(df.columns))]
    text_fmt = [book.format(**a) for a in align]  # made once per column, not per cell

    def number_fmt(j: int, fmt: str | None):
        return book.format(**({"num_format": fmt} if fmt else {}), **align[j])
    col_fmt = [number_fmt(j, _number_format(str(c))) for j, c in enumerate(df.columns)]
    for i, rec in enumerate(_rows(df), start=1):
        for j, v in enumerate(rec):
            if v is None:
                continue
            if isinstance(v, str):
                ws.write_string(i, j, v, text_fmt[j])
                widths[j] = min(60, max(widths[j], len(v) + 2))
            elif isinstance(v, bool):
                ws.write_boolean(i, j, v, text_fmt[j])
            elif isinstance(v, (int, float)):
                ws.write_number(i, j, v, number_fmt(j, value_format(i - 1, j)) if value_format else col_fmt[j])
                widths[j] = max(widths[j], 14)
            else:
                ws.write_string(i, j, str(v), text_fmt[j])
    for j, w in enumerate(widths):
        ws.set_column(j, j, 40 if align_b_left and j == 1 else w)
    ws.freeze_panes(1, 0)
    return ws


_CM = 37.8  # pixels per centimetre (openpyxl's chart sizes were in cm)


def _stacked_chart(book: _Book, ws, df: pd.DataFrame, title: str, kind: str, subtype: str, height_cm: float):
    """A stacked bar chart of a table: categories in column A, one series per further column."""
    if df.empty or len(df.columns) < 2:
        return
    chart = book.wb.add_chart({"type": kind, "subtype": subtype})
    n, sheet = len(df), ws.get_name()
    for k in range(1, len(df.columns)):
        chart.add_series({"name": [sheet, 0, k], "categories": [sheet, 1, 0, n, 0], "values": [sheet, 1, k, n, k],
                          "overlap": 100})
    chart.set_title({"name": title})
    chart.set_size({"width": 18 * _CM, "height": height_cm * _CM})
    ws.insert_chart(1, len(df.columns) + 1, chart)


def _capex_chart(book, ws, df: pd.DataFrame) -> None:
    _stacked_chart(book, ws, df, "Capex of built sites by host member and stage (MUSD, undiscounted)", "column",
                   "stacked", 9)


def _share_chart(book, ws, df: pd.DataFrame) -> None:
    """One chart per scenario (the table's blocks of rows by `scenario`): 100% stacked bars, each
    member's supply of each mineral by origin (allied first, then the largest other countries)."""
    if df.empty or "scenario" not in df or len(df.columns) < 3:
        return
    sheet, top, series = ws.get_name(), 1, range(2, len(df.columns))
    scenarios = df["scenario"].astype(str).tolist()
    for sc in dict.fromkeys(scenarios):
        rows = [i + 1 for i, s in enumerate(scenarios) if s == sc]  # sheet rows of the block (header is 0)
        first, last = rows[0], rows[-1]
        chart = book.wb.add_chart({"type": "bar", "subtype": "percent_stacked"})
        for k in series:
            chart.add_series({"name": [sheet, 0, k], "categories": [sheet, first, 1, last, 1],
                              "values": [sheet, first, k, last, k], "overlap": 100})
        chart.set_title({"name": f"Supply mix, scenario {sc} (share of each member's supply; allied first)"})
        height = max(7, 0.5 * len(rows) + 3)
        chart.set_size({"width": 18 * _CM, "height": height * _CM})
        ws.insert_chart(top, len(df.columns) + 1, chart)
        top += int(height * _CM / 20) + 2  # rows of 20 px: the next chart below this one


def _write_brief(book: _Book, df: pd.DataFrame, ws=None) -> None:
    """The brief: its lines in one column of a fixed-width font (its small tables stay aligned),
    printed landscape on one page (A4, fitted to one page wide and tall)."""
    ws = ws if ws is not None else book.wb.add_worksheet("brief")
    text = book.format(font_name="Consolas", font_size=9)
    bold = book.format(font_name="Consolas", font_size=9, bold=True)
    for i, line in enumerate(df["brief"].astype(str).tolist()):
        ws.write_string(i, 0, line, bold if line and not line.startswith(" ") else text)
    ws.set_column(0, 0, 160)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 1)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.activate()


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a file is written (`atomic_save`): xlsxwriter keeps
    every cell until the workbook is closed, tens of thousands of small objects in no reference
    cycle, and the collector would otherwise pass over them and everything else the process holds
    many times."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def check_target(path: Path, force: bool, inputs=()) -> None:
    """Refuse to write `path` when it is one of the files the command reads (`inputs`: whatever the
    path's spelling, a symbolic or hard link, or a case variant where the file system ignores case),
    even with `force`; or when it exists and `force` is not given."""
    path = Path(path)
    _check_writable(path)
    for src in inputs:
        if src is not None and _same_file(path, Path(src)):
            suggestion = path.with_name(f"{path.stem}_out{path.suffix or '.xlsx'}")
            raise OutputExistsError(f"'{path}' is the file '{src}' this command reads: the planner never writes "
                                    f"over its inputs, even with --force; choose another name, e.g. '{suggestion}'")
    if path.exists() and not force:
        raise OutputExistsError(f"'{path}' exists; use --force to replace it or -o to choose another file")


def _check_writable(path: Path) -> None:
    """Refuse, before any work, a path that cannot be written: one through a file, into a folder
    the user may not write, or with a name longer than the file system allows."""
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputExistsError(f"'{path}' goes through '{existing}', which is a file, not a folder: choose another "
                                "path")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise OutputExistsError(f"'{existing}' cannot be written (no permission): choose a folder you can write to")
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(path.name.encode()) > longest:
        raise OutputExistsError(f"the file name '{path.name[:40]}...' is {len(path.name.encode())} bytes long; this "
                                f"file system allows at most {longest}: choose a shorter name")


def _umask() -> int:
    """The process's umask (read by setting it and setting it back: there is no other way to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file: the same path once links and `..` are resolved (`sub/../x`
    is `x` even where `sub` does not exist yet: the writer would create it), or, both existing, the
    same file (hard links; case variants where the file system ignores case)."""
    try:
        if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def atomic_save(save, path: Path, force: bool) -> None:
    """Call save(tmp_path), fsync, then rename onto `path` (never a partial file at `path`)."""
    path = Path(path)
    check_target(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".planner-", suffix=".part", dir=path.parent)  # a short name, always allowed
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only: give it the user's normal permissions
    try:
        with _collector_paused():
            save(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        check_target(path, force)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cost_chart(book, ws, df: pd.DataFrame) -> None:
    """Bars of cash, valuation, public money and the cost components listed in the summary (the rows
    from `cash_cost_musd` to the last component), on a logarithmic scale: the capex the alliance
    decides is a fraction of a percent of the total and would not show on a linear one."""
    rows = [i for i, k in enumerate(df["key"], start=1) if str(k) in COST_CHART_KEYS]
    if not rows:
        return
    chart = book.wb.add_chart({"type": "bar"})
    sheet = ws.get_name()
    chart.add_series({"categories": [sheet, rows[0], 0, rows[-1], 0], "values": [sheet, rows[0], 1, rows[-1], 1],
                      "data_labels": {"value": True, "num_format": "#,##0"}})
    chart.set_title({"name": "Cash, valuation, public money and cost components (MUSD, present value, log scale)"})
    chart.set_x_axis({"log_base": 10, "num_format": "#,##0"})
    chart.set_y_axis({"reverse": True})  # the first row on top, as in the sheet
    chart.set_legend({"none": True})
    chart.set_size({"width": 18 * _CM, "height": 10 * _CM})
    ws.insert_chart("E2", chart)


def _frontier_chart(book, ws, df: pd.DataFrame) -> None:
    """Expected cost against CVaR, one marker per frontier point (points without a plan are skipped)."""
    cols = list(df.columns)
    ok = [i for i, v in enumerate(df.get("cvar_musd", []), start=1) if isinstance(v, (int, float))]
    if len(ok) < 2:
        return
    chart = book.wb.add_chart({"type": "scatter"})
    sheet, x, y = ws.get_name(), cols.index("cvar_musd"), cols.index("expected_cost_musd")
    chart.add_series({"name": "frontier", "categories": [sheet, ok[0], x, ok[-1], x],
                      "values": [sheet, ok[0], y, ok[-1], y], "marker": {"type": "circle"}})
    chart.set_title({"name": "Cost-risk frontier"})
    chart.set_x_axis({"name": "CVaR of scenario cost (MUSD)"})
    chart.set_y_axis({"name": "Expected cost (MUSD)"})
    chart.set_legend({"none": True})
    chart.set_style(13)
    chart.set_size({"width": 16 * _CM, "height": 9 * _CM})
    ws.insert_chart(1, len(cols) + 1, chart)


def _tornado_chart(book, ws, df: pd.DataFrame) -> None:
    """The change of the total cost from the base at each varied name's least and most, widest first."""
    if not len(df):
        return
    cols, n, sheet = list(df.columns), len(df), ws.get_name()
    chart = book.wb.add_chart({"type": "bar"})
    for col, label in (("total_change_min_musd", "least"), ("total_change_max_musd", "most")):
        j = cols.index(col)
        chart.add_series({"name": f"total cost change, {label} (MUSD)", "categories": [sheet, 1, 0, n, 0],
                          "values": [sheet, 1, j, n, j]})
    chart.set_title({"name": "Total cost change from the base, one setting at a time"})
    chart.set_x_axis({"name": "MUSD (present value)"})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 16 * _CM, "height": max(6, 1.2 * n + 3) * _CM})
    ws.insert_chart(1, len(cols) + 1, chart)


def _summary_format(df: pd.DataFrame):
    """A key/value sheet holds quantities of several units: format each value by its key."""
    keys = df["key"].astype(str).tolist()

    def fmt(i: int, j: int) -> str | None:
        key = keys[i]
        return ("#,##0.00" if key.endswith("_musd") else "#,##0" if key.endswith(("_t", "_tco2e"))
                else "0.0000%" if key == "mip_gap" else None)
    return fmt


COST_COMPONENT_KEYS = ("capex_musd", "fixed_opex_musd", "stock_musd", "variable_cost_musd", "carbon_musd",
                       "risk_charge_musd", "transport_musd", "unmet_penalty_musd", "stock_replenish_musd",
                       "cvar_weighted_musd")  # planner.results.COMPONENTS (the writer needs no solver imports)
COST_CHART_KEYS = ("cash_cost_musd", "valuation_cost_musd", "public_money_musd") + COST_COMPONENT_KEYS


def write_tables(tables: dict[str, pd.DataFrame | None], path: str | Path, force: bool = False,
                 image=None, late=None, progress=None) -> Path:
    """Write `tables` as an Excel workbook (atomically). `image`: a PNG to show on a `map` sheet, or a
    function giving one (or None), called once the tables are written (the map may still be drawn
    meanwhile). A table given as None is written later, in its place among the sheets: `late()`
    gives those tables once the others are written (the caller's last work meanwhile overlaps this
    writing). `progress(name, rows, k, of)` after each sheet."""
    path = Path(path)
    told = progress or (lambda name, rows, k, of: None)

    def save(tmp):
        book = _Book(tmp)
        pending, k = {}, 0
        for name, df in tables.items():
            if df is None:  # its sheet now, in its place; its content from `late()`
                pending[name] = book.wb.add_worksheet(name[:31])
                continue
            _write_sheet(book, name, df)
            k += 1
            told(name, len(df), k, len(tables))
        if pending:
            given = late() if late is not None else {}
            for name, ws in pending.items():
                _write_sheet(book, name, given[name], ws)
                k += 1
                told(name, len(given[name]), k, len(tables))
        png = image() if callable(image) else image
        if png is not None and Path(png).exists():
            ws = book.wb.add_worksheet("map")
            ws.write_string(0, 0, "Map of the sites built and their deliveries (also saved beside this workbook as PNG)")
            ws.insert_image("A3", str(png))
        book.close()

    atomic_save(save, path, force)
    return path


def _write_sheet(book: _Book, name: str, df: pd.DataFrame, ws=None) -> None:
    """One output table on its sheet, with the chart or settings its name calls for."""
    if name == "brief":
        _write_brief(book, df, ws)
        return
    ws = _write_table(book, name, df, _summary_format(df) if name == "summary" else None,
                      align_b_left=name in ("summary", "run_info"), ws=ws)
    if name == "capex_by_host":
        _capex_chart(book, ws, df)
    if name == "supply_mix_chart":
        _share_chart(book, ws, df)
    if name == "frontier":
        _frontier_chart(book, ws, df)
    if name == "summary":
        _cost_chart(book, ws, df)
    if name == "tornado":
        _tornado_chart(book, ws, df)
    if name == "inputs":
        ws.hide()  # the run's input cells, for plan compare; not for reading


def read_portfolio(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a saved portfolio back into plain tables (text kept as typed, blanks as '')."""
    sheets = pd.read_excel(path, sheet_name=None, engine="calamine", keep_default_na=False, na_values=[])
    if "brief" in sheets:  # lines of text without a header row (`_write_brief`)
        lines = pd.read_excel(path, sheet_name="brief", engine="calamine", header=None, keep_default_na=False,
                              na_values=[], dtype=str)
        sheets["brief"] = pd.DataFrame({"brief": lines.iloc[:, 0].tolist() if lines.shape[1] else []})
    return sheets


JSON_FORMAT = "planner-portfolio/1"


def json_path(xlsx: Path) -> Path:
    """The JSON copy of a portfolio sits beside it: `run.xlsx` -> `run.json`."""
    return Path(xlsx).with_suffix(".json")


def _json_rows(df: pd.DataFrame) -> list[list]:
    """Rows for JSON: as `_rows`, and a float that is not finite (JSON has no inf) as None."""
    rows = _rows(df)
    for r in rows:
        for j, v in enumerate(r):
            if isinstance(v, float) and not math.isfinite(v):
                r[j] = None
    return rows


def write_json(tables: dict[str, pd.DataFrame], path: str | Path, force: bool = False) -> Path:
    """Save the output tables as JSON (written first: if the Excel writer fails, no solve is lost)."""
    doc = {"format": JSON_FORMAT,
           "tables": {name: {"columns": [str(c) for c in df.columns],
                             "rows": _json_rows(df)}
                      for name, df in tables.items()}}

    def save(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, ensure_ascii=False))  # one string: the C encoder (json.dump streams in Python)

    atomic_save(save, Path(path), force)
    return Path(path)


def read_json(path: str | Path) -> dict[str, pd.DataFrame]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format") != JSON_FORMAT:
        raise ValueError(f"'{path}' is not a planner portfolio JSON (format {doc.get('format')!r})")
    return {name: pd.DataFrame(t["rows"], columns=t["columns"]) for name, t in doc["tables"].items()}


def write_comparison(cmp, path: str | Path, force: bool = False) -> Path:
    """The comparison workbook: the input cells that differ first, kpis side by side (deltas coloured
    on a scale centred on zero), sites added, dropped or changed (and how), what the runs were
    (`about`: inputs, model, options, solver figures), then every shared sheet compared row by row."""
    notes = pd.DataFrame({"item": ["same input content", "same model definition"]
                          + [f"differs: {k}" for k, _ in cmp.run_info_differences] + cmp.missing + cmp.notes,
                          "value": ["yes" if cmp.same_input else "no", "yes" if cmp.same_model else "no"]
                          + [" | ".join(f"{n}={v}" for n, v in zip(cmp.names, vals)) for _, vals in cmp.run_info_differences]
                          + ["" for _ in cmp.missing] + ["" for _ in cmp.notes]})
    about = pd.concat([notes, cmp.about.rename(columns={"key": "item"})], ignore_index=True) if len(cmp.about) else notes
    tables = {"input_changes": cmp.inputs, "kpis": cmp.kpis, "sites": cmp.sites, "about": about}
    tables.update({f"{k}_delta"[:31]: v for k, v in cmp.tables.items()})

    def save(tmp):
        book = _Book(tmp)
        for name, df in tables.items():
            ws = _write_table(book, name, df)
            for j, col in enumerate(df.columns):
                if str(col).startswith("delta") and len(df):
                    ws.conditional_format(1, j, len(df), j, {
                        "type": "3_color_scale", "min_color": "#63BE7B", "mid_type": "num", "mid_value": 0,
                        "mid_color": "#FFFFFF", "max_color": "#F8696B"})
        book.close()

    atomic_save(save, Path(path), force)
    return Path(path)


def write_rows(sheets: dict[str, list[list]], path: str | Path, force: bool = False) -> Path:
    """An input workbook from plain rows (first row of each sheet the header), written atomically."""
    from openpyxl import Workbook
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        ws.freeze_panes = "A2"
    atomic_save(wb.save, Path(path), force)
    return Path(path)


def replace_sheets(src: Path, tables: dict[str, pd.DataFrame], out: Path, force: bool = False) -> Path:
    """A copy of the workbook `src` with the sheets named in `tables` replaced by those tables (header
    row, then the rows; a blank cell for None or NaN; text always text), in the place of the sheet
    they replace or at the end; every other sheet as it was. `src` is untouched."""
    from openpyxl import load_workbook
    wb = load_workbook(src)
    for name, df in tables.items():
        at = wb.sheetnames.index(name) if name in wb.sheetnames else len(wb.sheetnames)
        if name in wb.sheetnames:
            wb.remove(wb[name])
        ws = wb.create_sheet(name, at)
        ws.append([str(c) for c in df.columns])
        for i, rec in enumerate(_rows(df), start=2):
            for j, v in enumerate(rec, start=1):
                if v is None or v == "":
                    continue
                cell = ws.cell(row=i, column=j, value=v)
                if isinstance(v, str):
                    cell.data_type = "s"  # `=1+1` stays the text `=1+1`
        ws.freeze_panes = "A2"
    atomic_save(wb.save, Path(out), force)
    return Path(out)
