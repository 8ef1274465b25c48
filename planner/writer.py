"""Write plain tables to an Excel workbook (atomically) and read a saved portfolio back.

User text is always written as text (a name starting with `=` stays a string, never a formula).
The file appears at its target only complete: it is written to a temporary file in the same
folder, flushed to disk and renamed. An existing target is replaced only with `force=True`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .errors import OutputExistsError

_HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")


def _number_format(column: str) -> str | None:
    if column.endswith("_musd"):
        return "#,##0.00"
    if column.endswith("_tpy") or column.endswith("_t"):
        return "#,##0"
    if column in ("share", "probability", "share_of_project") or column.endswith("_share"):
        return "0.0%"
    return None


def _cell_value(v):
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    return v


def _write_table(ws, df: pd.DataFrame) -> None:
    for j, col in enumerate(df.columns, start=1):
        c = ws.cell(row=1, column=j, value=str(col))
        c.font = Font(bold=True)
        c.fill = _HEADER_FILL
        c.data_type = "s"
    widths = [max(10, len(str(c)) + 2) for c in df.columns]
    fmts = [_number_format(str(c)) for c in df.columns]
    for i, rec in enumerate(df.itertuples(index=False), start=2):
        for j, v in enumerate(rec, start=1):
            v = _cell_value(v)
            c = ws.cell(row=i, column=j, value=v)
            if isinstance(v, str):
                c.data_type = "s"  # user text stays text, even when it starts with = + - @
                widths[j - 1] = min(60, max(widths[j - 1], len(v) + 2))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                if fmts[j - 1]:
                    c.number_format = fmts[j - 1]
                widths[j - 1] = max(widths[j - 1], 14)
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    ws.freeze_panes = "A2"


def _stacked_chart(ws, df: pd.DataFrame, title: str, kind: str, grouping: str, height: float) -> None:
    """A stacked bar chart of a table: categories in column A, one series per further column."""
    if df.empty or len(df.columns) < 2:
        return
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap, chart.title = kind, grouping, 100, title
    n = len(df)
    chart.add_data(Reference(ws, min_col=2, max_col=len(df.columns), min_row=1, max_row=n + 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
    chart.height, chart.width = height, 18
    ws.add_chart(chart, f"{get_column_letter(len(df.columns) + 2)}2")


def _capex_chart(ws, df: pd.DataFrame) -> None:
    _stacked_chart(ws, df, "Capex of built sites by host member and stage (MUSD, undiscounted)", "col", "stacked", 9)


def _share_chart(ws, df: pd.DataFrame) -> None:
    """100% stacked bars: each member's supply of each mineral by origin country."""
    _stacked_chart(ws, df, "Supply mix by origin country (share of each member's supply)", "bar",
                   "percentStacked", max(8, 0.5 * len(df)))


def check_target(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputExistsError(f"'{path}' exists; use --force to replace it or -o to choose another file")


def atomic_save(save, path: Path, force: bool) -> None:
    """Call save(tmp_path), fsync, then rename onto `path` (never a partial file at `path`)."""
    path = Path(path)
    check_target(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        check_target(path, force)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cost_chart(ws, df: pd.DataFrame) -> None:
    """Bars of the cost components listed in the summary (rows named *_musd after the total)."""
    rows = [i for i, k in enumerate(df["key"], start=2) if str(k) in COST_COMPONENT_KEYS]
    if not rows:
        return
    chart = BarChart()
    chart.type = "bar"
    chart.title = "Cost components (MUSD, present value)"
    chart.legend = None
    chart.add_data(Reference(ws, min_col=2, min_row=rows[0], max_row=rows[-1]), titles_from_data=False)
    chart.set_categories(Reference(ws, min_col=1, min_row=rows[0], max_row=rows[-1]))
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, "E2")


def _frontier_chart(ws, df: pd.DataFrame) -> None:
    """Expected cost against CVaR, one marker per frontier point (points without a plan are skipped)."""
    cols = list(df.columns)
    ok = [i for i, v in enumerate(df.get("cvar_musd", []), start=2) if isinstance(v, (int, float))]
    if len(ok) < 2:
        return
    chart = ScatterChart()
    chart.title = "Cost-risk frontier"
    chart.style = 13
    chart.x_axis.title = "CVaR of scenario cost (MUSD)"
    chart.y_axis.title = "Expected cost (MUSD)"
    chart.legend = None
    x = Reference(ws, min_col=cols.index("cvar_musd") + 1, min_row=ok[0], max_row=ok[-1])
    y = Reference(ws, min_col=cols.index("expected_cost_musd") + 1, min_row=ok[0], max_row=ok[-1])
    series = Series(y, x, title="frontier")
    series.marker.symbol = "circle"
    chart.series.append(series)
    chart.height, chart.width = 9, 16
    ws.add_chart(chart, f"{get_column_letter(len(cols) + 2)}2")


def _summary_formats(ws, df: pd.DataFrame) -> None:
    """A key/value sheet holds quantities of several units: format each value by its key."""
    for i, key in enumerate(df["key"].astype(str), start=2):
        fmt = ("#,##0.00" if key.endswith("_musd") else "#,##0" if key.endswith(("_t", "_tco2e"))
               else "0.0000%" if key == "mip_gap" else None)
        if fmt and isinstance(ws.cell(row=i, column=2).value, (int, float)):
            ws.cell(row=i, column=2).number_format = fmt


COST_COMPONENT_KEYS = ("capex_musd", "fixed_opex_musd", "stock_musd", "variable_cost_musd", "carbon_musd",
                       "risk_charge_musd", "transport_musd", "unmet_penalty_musd", "stock_replenish_musd",
                       "cvar_weighted_musd")  # planner.results.COMPONENTS (the writer needs no solver imports)


def write_tables(tables: dict[str, pd.DataFrame], path: str | Path, force: bool = False,
                 image: Path | None = None) -> Path:
    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in tables.items():
        ws = wb.create_sheet(title=name[:31])
        _write_table(ws, df)
        if name == "capex_by_host":
            _capex_chart(ws, df)
        if name == "supply_mix_chart":
            _share_chart(ws, df)
        if name == "frontier":
            _frontier_chart(ws, df)
        if name == "summary":
            _summary_formats(ws, df)
            _cost_chart(ws, df)
        if name in ("summary", "run_info"):
            ws.column_dimensions["B"].width = 40
            for row in ws.iter_rows(min_row=2, min_col=2, max_col=2):
                for c in row:
                    c.alignment = Alignment(horizontal="left")
    if image is not None and Path(image).exists():
        from openpyxl.drawing.image import Image
        ws = wb.create_sheet(title="map")
        ws["A1"] = "Map of the sites built and their deliveries (also saved beside this workbook as PNG)"
        ws.add_image(Image(str(image)), "A3")
    atomic_save(wb.save, path, force)
    return path


def read_portfolio(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a saved portfolio back into plain tables (text kept as typed, blanks as '')."""
    sheets = pd.read_excel(path, sheet_name=None, engine="calamine", keep_default_na=False, na_values=[])
    return sheets


JSON_FORMAT = "planner-portfolio/1"


def json_path(xlsx: Path) -> Path:
    """The JSON copy of a portfolio sits beside it: `run.xlsx` -> `run.json`."""
    return Path(xlsx).with_suffix(".json")


def _json_value(v):
    v = _cell_value(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_json(tables: dict[str, pd.DataFrame], path: str | Path, force: bool = False) -> Path:
    """Save the output tables as JSON (written first: if the Excel writer fails, no solve is lost)."""
    doc = {"format": JSON_FORMAT,
           "tables": {name: {"columns": [str(c) for c in df.columns],
                             "rows": [[_json_value(v) for v in rec] for rec in df.itertuples(index=False)]}
                      for name, df in tables.items()}}

    def save(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False)

    atomic_save(save, Path(path), force)
    return Path(path)


def read_json(path: str | Path) -> dict[str, pd.DataFrame]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format") != JSON_FORMAT:
        raise ValueError(f"'{path}' is not a planner portfolio JSON (format {doc.get('format')!r})")
    return {name: pd.DataFrame(t["rows"], columns=t["columns"]) for name, t in doc["tables"].items()}


def write_comparison(cmp, path: str | Path, force: bool = False) -> Path:
    """The comparison workbook: kpis side by side (deltas coloured on a scale centred on zero),
    sites added/dropped/changed, then every shared sheet compared row by row."""
    from openpyxl.formatting.rule import ColorScaleRule

    notes = pd.DataFrame({"item": ["same input content", "same model definition"]
                          + [f"differs: {k}" for k, _ in cmp.run_info_differences] + cmp.missing,
                          "value": ["yes" if cmp.same_input else "no", "yes" if cmp.same_model else "no"]
                          + [" | ".join(f"{n}={v}" for n, v in zip(cmp.names, vals)) for _, vals in cmp.run_info_differences]
                          + ["" for _ in cmp.missing]})
    tables = {"kpis": cmp.kpis, "sites": cmp.sites, "about": notes}
    tables.update({f"{k}_delta"[:31]: v for k, v in cmp.tables.items()})
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in tables.items():
        ws = wb.create_sheet(title=name[:31])
        _write_table(ws, df)
        for j, col in enumerate(df.columns, start=1):
            if str(col).startswith("delta") and len(df):
                letter = get_column_letter(j)
                ws.conditional_formatting.add(
                    f"{letter}2:{letter}{len(df) + 1}",
                    ColorScaleRule(start_type="min", start_color="63BE7B", mid_type="num", mid_value=0,
                                   mid_color="FFFFFF", end_type="max", end_color="F8696B"))
    atomic_save(wb.save, Path(path), force)
    return Path(path)


def write_rows(sheets: dict[str, list[list]], path: str | Path, force: bool = False) -> Path:
    """An input workbook from plain rows (first row of each sheet the header), written atomically."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        ws.freeze_panes = "A2"
    atomic_save(wb.save, Path(path), force)
    return Path(path)
