"""Read a workbook into typed pandas tables, one per sheet of the contract (no Pyomo here).

Values are read with python-calamine (fast, and it leaves `n/a` or `NA` as the text the user
typed). Formula cells that were never calculated (written by a program, never opened in
Excel) carry no saved value; they are found in the sheet XML and reported by cell.
Every table gets a `_row` column holding the Excel row of each record, so later checks can
point at the cell.
"""

from __future__ import annotations

import contextvars
import dataclasses
import io
import math
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import python_calamine
from defusedxml import ElementTree as SafeET

from planner.errors import InputError, cell_ref, report

_CELL = re.compile(r"[$]?([A-Za-z]{1,3})[$]?(\d+)")


def coordinate_to_tuple(ref: str) -> tuple[int, int]:
    """(row, column) of a cell reference such as "B3" (as openpyxl's, without importing it)."""
    m = _CELL.fullmatch(ref)
    if m is None or int(m.group(2)) == 0:
        raise ValueError(f"Invalid cell coordinates ({ref})")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col
from planner.io.schema import PASSIVE_SHEETS, SETTINGS, SHEETS, Column, Sheet


class Positions(dict):
    """A table's column -> 1-based column number in its sheet, kept in `DataFrame.attrs`. pandas
    deep-copies `attrs` into every row or slice taken from the table; the positions are never
    changed once read, so every copy shares this one."""

    def __deepcopy__(self, memo):
        return self


_MAX_CELL_CHARS = 32_767  # Excel's own limit; longer text is not a real spreadsheet cell
_TOO_LONG = "\x00too-long:"  # marker put in place of over-long text found in the XML


@dataclass
class RawWorkbook:
    """Typed tables as read, before cross-sheet checks."""

    path: Path
    tables: dict[str, pd.DataFrame]
    settings: dict[str, object]
    settings_rows: dict[str, int]
    warnings: list[str] = field(default_factory=list)


MAX_UNCOMPRESSED_BYTES = 1 << 30  # 1 GiB of XML is far beyond any planning workbook
MAX_RATIO = 500  # deflate reaches ~100x on real sheets; 1000x and more is a zip bomb
MAX_FILE_BYTES = 256 << 20


def check_container(path: Path) -> None:
    """Refuse what is not a plain, safe .xlsx before any parser sees it."""
    if not path.exists():
        raise InputError("E_FILE", f"input file '{path}' does not exist")
    if not path.is_file():
        raise InputError("E_FILE", f"'{path}' is not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError("E_FILE_TOO_LARGE", f"'{path.name}' is {size / 2**20:,.0f} MB; the limit is "
                         f"{MAX_FILE_BYTES >> 20} MB")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2 compound file: encrypted .xlsx or legacy .xls
        data = path.read_bytes()
        if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
            raise InputError("E_ENCRYPTED", f"'{path.name}' is password-protected; save an unprotected copy "
                             "(File > Info > Protect Workbook > remove the password)")
        raise InputError("E_OLD_XLS", f"'{path.name}' is an old Excel 97-2003 .xls file; save it as .xlsx")
    if not head.startswith(b"PK"):
        raise InputError("E_FILE_FORMAT", f"'{path.name}' is not an .xlsx workbook (is it a CSV or "
                         "another format renamed .xlsx?)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            for i in infos:
                ratio = i.file_size / max(1, i.compress_size)
                if total > MAX_UNCOMPRESSED_BYTES or (i.file_size > (16 << 20) and ratio > MAX_RATIO):
                    raise InputError("E_ZIP_BOMB", f"'{path.name}' expands to {total / 2**20:,.0f} MB "
                                     f"('{i.filename}' is compressed {ratio:,.0f}:1); refused as a zip bomb")
            for i in infos:
                if i.filename.endswith((".xml", ".rels")):
                    with zf.open(i) as fh:
                        head_xml = fh.read(4096)
                    if b"<!DOCTYPE" in head_xml or b"<!ENTITY" in head_xml:
                        raise InputError("E_XML_UNSAFE", f"'{path.name}' part '{i.filename}' declares a DTD or "
                                         "entities (XML bomb or external-entity attack); refused")
            seen: set[str] = set()
            for i in infos:
                if i.filename in seen:
                    raise InputError("E_FILE_FORMAT", f"'{path.name}' holds two parts named '{i.filename}' (a damaged "
                                     "or tampered file: which one a program reads is not defined); save the workbook "
                                     "again from Excel")
                seen.add(i.filename)
            if "xl/workbook.xml" not in {i.filename for i in infos}:
                raise InputError("E_FILE_FORMAT", f"'{path.name}' is a zip file but not an Excel workbook")
    except zipfile.BadZipFile:
        raise InputError("E_FILE_FORMAT", f"'{path.name}' is damaged or truncated (not a readable .xlsx)") from None
    except (EOFError, zlib.error, OSError) as exc:
        raise InputError("E_FILE_FORMAT", f"'{path.name}' is damaged or truncated ({exc})") from None


EXCEL_ERRORS = ("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!", "#CALC!",
                "#GETTING_DATA")


def _local(tag: str) -> str:
    """An element's name without its namespace: transitional and Strict Open XML read alike."""
    return tag.rsplit("}", 1)[-1]


def _long_shared_strings(zf: zipfile.ZipFile, names: set[str]) -> tuple[dict[str, int], int]:
    """(index (as text) -> length of shared strings longer than Excel's cell limit, how many there are)."""
    long: dict[str, int] = {}
    if "xl/sharedStrings.xml" not in names:
        return long, 0
    i = 0
    with zf.open("xl/sharedStrings.xml") as fh:
        for _event, elem in _parse(fh, "xl/sharedStrings.xml"):
            if _local(elem.tag) == "si":
                n = sum(len(t.text or "") for t in elem.iter() if _local(t.tag) == "t")
                if n > _MAX_CELL_CHARS:
                    long[str(i)] = n
                i += 1
                elem.clear()
    return long, i


class _PartError(Exception):
    """A part of the workbook that is not well-formed XML."""


def _parse(fh, part: str):
    """`iterparse` of one part, its faults raised as _PartError naming the part."""
    try:
        yield from SafeET.iterparse(fh, events=("end",))
    except SafeET.ParseError as exc:
        raise _PartError(f"part '{part}' is not well-formed XML ({exc})") from None


def _xml(zf: zipfile.ZipFile, part: str):
    try:
        return SafeET.fromstring(zf.read(part))
    except SafeET.ParseError as exc:
        raise _PartError(f"part '{part}' is not well-formed XML ({exc})") from None


_SHARED_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?v>(\d+)</(?:\w+:)?v>')
_CELL_REF = re.compile(rb'\br="([A-Z]+\d+)"')
_SHARED_TYPE = re.compile(rb'\bt="s"')


def _broken_shared_refs(raw: bytes, count: int) -> list[tuple[str, int]]:
    """(cell, index) of the cells of a sheet that name a shared string the file does not hold."""
    out = []
    for m in _SHARED_CELL.finditer(raw):
        if _SHARED_TYPE.search(m.group(1)) and int(m.group(2)) >= count:
            ref = _CELL_REF.search(m.group(1))
            out.append((ref.group(1).decode() if ref else "?", int(m.group(2))))
    return out


# Byte patterns that make a sheet worth parsing: a formula element, an error cell, a text run longer
# than Excel's cell limit (namespace prefixes allowed). A sheet with none of them is skipped.
_NEEDS_PARSE = (re.compile(rb"<(?:\w+:)?f[\s>/]"), re.compile(rb"\st=[\"']e[\"']"),
                re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?>[^<]{%d,}" % (_MAX_CELL_CHARS + 1)))


def _scan_sheet_xml(path: Path) -> tuple[dict[str, list[str]], dict[str, dict[str, str]], list[str]]:
    """(sheet -> refs of formula cells with no saved value, sheet -> {ref: error text} of error cells,
    warnings of what is read but unseen in the contract's sheets: `_unseen`).

    Calamine reads both as empty (and cuts text at 32,767 characters); the sheet XML tells them
    apart so the message can name the cell. Over-long text is reported as an error cell too."""
    out: dict[str, list[str]] = {}
    errors: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "xl/workbook.xml" not in names:
            return out, errors, notes
        long_shared, n_shared = _long_shared_strings(zf, names)
        wb = _xml(zf, "xl/workbook.xml")
        rels = _workbook_rels(zf, names)
        linked_book = any(n.startswith("xl/externalLinks/") for n in names)
        for sheet in (e for e in wb.iter() if _local(e.tag) == "sheet"):
            target = rels.get(_rel_id(sheet))
            if not target or target not in names:
                continue
            missing = []
            raw = zf.read(target)
            if sheet.get("name") in SHEETS:
                notes += _unseen(sheet.get("name"), sheet.get("state", "visible"), raw, linked_book)
            broken = _broken_shared_refs(raw, n_shared)
            if broken:
                (ref, k), = broken[:1]
                raise InputError("E_FILE_FORMAT", f"cell {ref} names shared string {k}, which the file does not hold "
                                 f"(it has {n_shared}): the workbook is damaged; save it again from Excel",
                                 sheet=sheet.get("name"))
            if not long_shared and not any(p.search(raw) for p in _NEEDS_PARSE):
                continue  # no formula, error cell or over-long text: nothing for the parser to find
            with io.BytesIO(raw) as fh:
                for _event, elem in _parse(fh, target):
                    if _local(elem.tag) == "c":
                        kids = {_local(k.tag): k for k in elem}
                        f, v = kids.get("f"), kids.get("v")
                        if f is not None and (v is None or v.text is None or v.text == ""):
                            missing.append(elem.get("r"))
                        elif elem.get("t") == "e" and v is not None:
                            errors.setdefault(sheet.get("name"), {})[elem.get("r")] = v.text or "#ERROR"
                        else:
                            n = 0
                            if elem.get("t") == "inlineStr":
                                n = sum(len(t.text or "") for t in elem.iter() if _local(t.tag) == "t")
                            elif elem.get("t") == "s" and v is not None:
                                n = long_shared.get(v.text, 0)
                            if n > _MAX_CELL_CHARS:
                                errors.setdefault(sheet.get("name"), {})[elem.get("r")] = _TOO_LONG + str(n)
                        elem.clear()
            if missing:
                out[sheet.get("name")] = missing
    return out, errors, notes


def _workbook_rels(zf: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Relationship id -> the part it names, from the workbook's relationships."""
    rels = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for rel in _xml(zf, "xl/_rels/workbook.xml.rels"):
            target = rel.get("Target", "")
            rels[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    return rels


def _rel_id(sheet) -> str | None:
    """A sheet element's relationship id (r:id, in the transitional or the Strict namespace)."""
    return next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)


_HIDDEN_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*\bhidden="(?:1|true)"[^>]*>')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_LINKED_CELL = re.compile(rb'<(?:\w+:)?c\b[^>]*\br="([A-Z]+\d+)"[^>]*>(?:(?!</(?:\w+:)?c>).)*?'
                          rb'<(?:\w+:)?f\b[^>]*>[^<]*\[\d+\][^<]*</(?:\w+:)?f>', re.S)


def _unseen(name: str, state: str, raw: bytes, linked_book: bool) -> list[str]:
    """Warnings for what the planner reads in a contract sheet but the user may not see: the sheet
    hidden (or very hidden: only a macro shows it), hidden rows, and cells whose value is cached
    from a link to another workbook (read as saved, never refreshed)."""
    out = []
    if state in ("hidden", "veryHidden"):
        how = "very hidden (only a macro or the VBA editor shows it)" if state == "veryHidden" else "hidden"
        out.append(f"sheet '{name}' is {how} and is read: its rows drive the plan")
    rows = [int(n.group(1)) for n in (_ROW_NUMBER.search(m.group(0)) for m in _HIDDEN_ROW.finditer(raw)) if n]
    if rows:
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        out.append(f"{name}: hidden row(s) {shown} are read like the others")
    cells = [m.group(1).decode() for m in _LINKED_CELL.finditer(raw)] if linked_book else []
    if cells:
        shown = ", ".join(f"{name}!{c}" for c in cells[:10]) + (f" and {len(cells) - 10} more" if len(cells) > 10 else "")
        out.append(f"{shown}: value(s) cached from a link to another workbook, read as last saved (the planner "
                   "never refreshes links): check them or type the values")
    return out


def _is_blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v))


def normalise_text(v) -> str:
    """Text as an id: NFKC-normalised (full-width and look-alike compatibility forms folded),
    whitespace stripped; whole numbers written without '.0'."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = unicodedata.normalize("NFKC", str(v)).strip()
    return re.sub(r"\s+", " ", s)


# whether the workbook declared a decimal comma (settings.decimal_separator = comma): set by
# `read_workbook` while it reads the workbook
DECIMAL_COMMA: contextvars.ContextVar[bool] = contextvars.ContextVar("decimal_comma", default=False)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})


def number_from_text(text: str, decimal_comma: bool = False, share: bool = False,
                     unit: str = "") -> tuple[float | None, str]:
    """A number typed as text, read as typed: (the number, "") or (None, why not, quoting the text).

    With a decimal point (the default): `1000`, `-1.5`, `1e6`, `1,000` and `1 000` (thousands in
    groups of three), `12,345.5`; `5%` in share columns (0.05). Refused, naming both readings where
    there are two: `2,5` (2.5 or 25?), `1.000,5` (a decimal comma), `12,34,5` (bad grouping), units
    and currency signs (`$800`, `800 MUSD`), a percentage outside a share column. With
    `decimal_comma`, the comma is the decimal mark and a point or a space groups thousands."""
    typed = text
    t = re.sub(r" +", " ", unicodedata.normalize("NFKC", text).translate(_SPACES).strip())
    percent = t.endswith("%")
    core = t[:-1].strip() if percent else t
    dec, group = (",", ".") if decimal_comma else (".", ",")
    d, g = re.escape(dec), re.escape(group)
    plain = rf"[+-]?(\d+({d}\d*)?|{d}\d+)(e[+-]?\d+)?"
    grouped = rf"[+-]?\d{{1,3}}(({g}\d{{3}})+|( \d{{3}})+)({d}\d+)?"
    x = None
    if re.fullmatch(plain, core, re.I):
        x = float(core.replace(dec, "."))
    elif re.fullmatch(grouped, core):
        x = float(core.replace(group, "").replace(" ", "").replace(dec, "."))
    if x is not None and percent:
        if share:
            return x / 100.0, ""
        return None, (f"'{typed}' is a percentage, but this column is in {unit or 'plain numbers'}: type the "
                      "number alone")
    if x is not None:
        return x, ""
    if not decimal_comma and re.fullmatch(r"[+-]?\d+,\d+", core):
        a, b = core.split(",")
        whole = str(int(a + b))
        return None, (f"'{typed}' is ambiguous: with a decimal comma it is {a}.{b}, with a thousands comma "
                      f"{whole}; type {a}.{b} (or {whole}), or declare settings.decimal_separator = comma")
    if not decimal_comma and re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+,\d+", core):
        reading = core.replace(".", "").replace(",", ".")
        return None, (f"'{typed}' is written with a decimal comma ({reading}); type {reading}, or declare "
                      "settings.decimal_separator = comma")
    if decimal_comma and re.fullmatch(r"[+-]?\d+\.\d+", core):
        a, b = core.split(".")
        return None, (f"'{typed}' is ambiguous with the decimal comma this workbook declares: {a},{b} or "
                      f"{a}{b}? type {a},{b} (or {a}{b})")
    if re.search(r"[$€£¥]|[A-Za-z]{2,}", core):
        return None, (f"'{typed}' is not a number: type the number alone"
                      + (f", in {unit}" if unit else "") + " (no unit or currency sign)")
    if re.fullmatch(rf"[+-]?\d[\d{g}]*({d}\d+)?", core):
        return None, f"'{typed}' is not a number: thousands are grouped in threes (1{group}000{group}000)"
    return None, f"expected a number, found '{typed}'"


def parse_value(col: Column, v, sheet: str, row: int, colidx: int):
    """Convert one cell to the column's type or raise an InputError naming the cell."""
    where = dict(sheet=sheet, row=row, col=colidx, column=col.name)
    if isinstance(v, str) and (len(v) > _MAX_CELL_CHARS or v.startswith(_TOO_LONG)):
        n = int(v[len(_TOO_LONG):]) if v.startswith(_TOO_LONG) else len(v)
        raise InputError("E_CELL_TOO_LONG", f"cell holds {n:,} characters (Excel's limit is 32,767)",
                         **where)
    if _is_blank(v):
        if col.nonblank:
            raise InputError("E_VALUE_MISSING", "a value is required here", **where)
        return col.default
    if col.kind in ("int", "float"):
        if isinstance(v, bool):
            raise InputError("E_NOT_A_NUMBER", f"expected a number, found {str(v).upper()}", **where)
        if isinstance(v, (int, float)):
            x = float(v)
        else:
            x, why = number_from_text(str(v), DECIMAL_COMMA.get(), col.unit == "share", col.unit)
            if x is None:
                raise InputError("E_NOT_A_NUMBER", why, **where)
        if not math.isfinite(x):
            raise InputError("E_NOT_FINITE", f"expected a finite number, found {x}", **where)
        if col.kind == "int":
            if not float(x).is_integer():
                raise InputError("E_NOT_INTEGER", f"expected a whole number, found {x:g}", **where)
            x = int(x)
        low_bad = col.min is not None and (x <= col.min if col.min_exclusive else x < col.min)
        if low_bad or (col.max is not None and x > col.max):
            lo = "" if col.min is None else (f"> {col.min:g}" if col.min_exclusive else f">= {col.min:g}")
            hi = "" if col.max is None else f"<= {col.max:g}"
            rng = " and ".join(s for s in (lo, hi) if s)
            hint = (f" (a percentage? a share is a fraction: {x:g}% is {x / 100:g})"
                    if col.unit == "share" and 1 < x <= 100 else "")
            raise InputError("E_OUT_OF_RANGE", f"{x:g} is out of range (must be {rng}){hint}", **where)
        return x
    text = normalise_text(v)
    if text.upper() in EXCEL_ERRORS:
        raise InputError("E_CELL_ERROR", f"the cell shows the Excel error {text}; give a value", **where)
    if col.kind == "choice":
        low = text.lower()
        if low not in col.choices:
            allowed = " | ".join(c for c in col.choices if c) or "(blank)"
            raise InputError("E_BAD_CHOICE", f"'{text}' is not one of: {allowed}", **where)
        return low
    return text


def _read_sheet(book, spec: Sheet, formulas: dict[str, list[str]], errors: dict[str, dict[str, str]],
                warn: list[str]) -> pd.DataFrame:
    if spec.name in formulas:
        ref = formulas[spec.name][0]
        m = re.match(r"([A-Z]+)(\d+)", ref or "")
        from openpyxl.utils import column_index_from_string
        raise InputError("E_FORMULA_NO_VALUE",
                         f"cell {ref} holds a formula with no saved value (the workbook was written by a "
                         "program and never recalculated): open and save it in Excel, or type the value",
                         sheet=spec.name, row=int(m.group(2)) if m else None,
                         col=column_index_from_string(m.group(1)) if m else None)
    sheet = book.get_sheet_by_name(spec.name)
    merged = sheet.merged_cell_ranges or []
    if merged:
        (r0, c0), _ = merged[0]
        raise InputError("E_MERGED_CELLS", "merged cells are not allowed in a data table; unmerge them "
                         "and give every row its own value", sheet=spec.name, row=r0 + 1, col=c0 + 1)
    # Stream the rows and keep only those with a value: a stray cell at row 1,048,576 costs a
    # second of scanning, not a million rows in memory. Rows keep their Excel numbers.
    r0, c0 = sheet.start if sheet.start else (0, 0)
    pad = [""] * c0
    kept: dict[int, list] = {}
    for i, values in enumerate(sheet.iter_rows()):
        if values.count("") == len(values):  # fast path for the common all-empty row
            continue
        if not all(_is_blank(v) for v in values):
            kept[r0 + i + 1] = pad + list(values)
    for ref, text in errors.get(spec.name, {}).items():  # show error cells as the text Excel shows
        r, c = coordinate_to_tuple(ref)
        row = kept.setdefault(r, [])
        row.extend([""] * (c - len(row)))
        row[c - 1] = text
    if 1 not in kept:
        raise InputError("E_EMPTY_SHEET" if not kept else "E_HEADER_MISSING",
                         "row 1 must hold the column names" + ("" if kept else " (the sheet is empty)"),
                         sheet=spec.name, row=1)
    header = [normalise_text(h) if not _is_blank(h) else "" for h in kept[1]]
    positions: dict[str, int] = {}
    for j, h in enumerate(header):
        if not h:
            continue
        if INVISIBLE.search(h):
            clean = INVISIBLE.sub("", h)
            warn.append(f"{cell_ref(spec.name, 1, j + 1)}: the column name holds {_invisible_names(h)}; read as "
                        f"'{clean}'")
            h = header[j] = clean
        if h in positions:
            raise InputError("E_DUPLICATE_COLUMN", f"column '{h}' appears twice", sheet=spec.name, row=1,
                             col=j + 1)
        positions[h] = j
    known = {c.name for c in spec.columns}
    unknown = [h for h in positions if h not in known]
    near = {h: _near_column(h, spec, positions) for h in unknown}
    for h, c in near.items():
        if c is not None and not c.required:  # an optional column misspelt would be ignored without a word
            raise InputError("E_COLUMN_MISSPELT", f"'{h}' is not a column of this sheet; it looks like '{c.name}', "
                             f"which would otherwise be ignored: correct the name", sheet=spec.name, row=1,
                             col=positions[h] + 1)
    plain = [h for h in unknown if near[h] is None]
    if plain:
        warn.append(f"{spec.name}: unknown column(s) ignored: {', '.join(plain)}")
    for c in spec.columns:
        if c.required and c.name not in positions:
            misspelt = next((h for h, n in near.items() if n is c), None)
            if misspelt is not None:
                raise InputError("E_COLUMN_MISSING", f"missing column '{c.name}' in the header row; '{misspelt}' "
                                 "looks like a misspelling of it", sheet=spec.name, row=1, col=positions[misspelt] + 1,
                                 column=c.name)
            title = _header_below(kept, spec)
            if title is not None:
                raise InputError("E_HEADER_ROW", f"row {title} holds the column names, not row 1 (a title above "
                                 f"the table?): delete the row(s) above the names", sheet=spec.name, row=1)
            raise InputError("E_COLUMN_MISSING", f"missing column '{c.name}' in the header row",
                             sheet=spec.name, row=1, column=c.name)
    records = []
    for i in sorted(kept):
        if i == 1:
            continue
        values = kept[i]
        rec = {"_row": i}
        for c in spec.columns:
            j = positions.get(c.name)
            v = values[j] if j is not None and j < len(values) else None
            if isinstance(v, str) and INVISIBLE.search(v):
                clean = INVISIBLE.sub("", v)
                warn.append(f"{cell_ref(spec.name, i, j + 1)} ({c.name}): '{clean}' holds {_invisible_names(v)}; "
                            "read without it")
                v = clean
            try:
                rec[c.name] = parse_value(c, v, spec.name, i, (j + 1) if j is not None else None)
            except InputError as err:  # recorded when validating; raised when solving
                report(err)
                rec[c.name] = c.default
        records.append(rec)
    cols = ["_row"] + [c.name for c in spec.columns]
    df = pd.DataFrame.from_records(records, columns=cols)
    df.attrs["positions"] = Positions({k: v + 1 for k, v in positions.items()})
    if spec.key and len(df):
        dup = df.duplicated(list(spec.key), keep="first")
        if dup.any():
            r = df[dup].iloc[0]
            first = df[(df[list(spec.key)] == r[list(spec.key)]).all(axis=1)].iloc[0]
            key = ", ".join(f"{k}={r[k]}" for k in spec.key)
            raise InputError("E_DUPLICATE", f"duplicate {key} (first given in row {first['_row']})",
                             sheet=spec.name, row=int(r["_row"]), col=positions[spec.key[0]] + 1,
                             column=spec.key[0])
    return df


# characters that show as nothing (zero-width spaces and joiners, direction marks, the byte-order
# mark, the soft hyphen): an id or a column name holding one differs from the same text typed again
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def _invisible_names(text: str) -> str:
    chars = sorted(set(INVISIBLE.findall(text)))
    return ", ".join(f"the invisible character U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in chars)


def damerau_levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _near_column(name: str, spec: Sheet, positions: dict) -> Column | None:
    """The sheet's column (not given) that `name` is a near-miss of: at most 2 edits and at most a
    quarter of its length."""
    low = name.lower()
    for c in spec.columns:
        if c.name in positions:
            continue
        dist = damerau_levenshtein(low, c.name)
        if 0 < dist <= min(2, len(c.name) // 4) or (dist == 0 and name != c.name):
            return c
    return None


def _header_below(kept: dict, spec: Sheet) -> int | None:
    """The row (2 to 6) holding every required column's name, when row 1 does not: a title above."""
    required = {c.name for c in spec.columns if c.required}
    for r in range(2, 7):
        if r in kept and required <= {normalise_text(v) for v in kept[r] if not _is_blank(v)}:
            return r
    return None


def _settings(df: pd.DataFrame) -> tuple[dict[str, object], dict[str, int], list[str]]:
    vals: dict[str, object] = {}
    rows: dict[str, int] = {}
    warn = []
    kcol = df.attrs["positions"]["key"]
    vcol = df.attrs["positions"].get("value")
    for _, r in df.iterrows():
        key = r["key"]
        if key not in SETTINGS:
            warn.append(f"settings row {r['_row']}: unknown setting '{key}' ignored")
            continue
        rows[key] = int(r["_row"])
        try:
            vals[key] = parse_value(SETTINGS[key], r["value"], "settings", int(r["_row"]), vcol)
        except InputError as err:
            report(err)
            vals[key] = SETTINGS[key].default
    for key, spec in SETTINGS.items():
        if key not in vals:
            if spec.nonblank:
                report(InputError("E_SETTING_MISSING", f"setting '{key}' is required (add a row with key "
                                  f"'{key}')", sheet="settings", col=kcol, column="key"))
            vals[key] = spec.default
    return vals, rows, warn


def read_workbook(path: str | Path) -> RawWorkbook:
    path = Path(path)
    check_container(path)
    try:
        formulas, cell_errors, unseen = _scan_sheet_xml(path)
    except _PartError as exc:
        raise InputError("E_FILE_FORMAT", f"'{path.name}' is damaged: {exc}; save it again from Excel") from None
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise InputError("E_FILE_FORMAT", f"'{path.name}' could not be read as .xlsx ({exc})") from None
    present = list(book.sheet_names)
    warn: list[str] = list(unseen)
    renamed = _near_sheet_names(present)
    for name, real in renamed.items():
        warn.append(f"sheet '{real}' read as '{name}' (the names differ only in case or spaces)")
    extra = [s for s in present if s not in SHEETS and s not in PASSIVE_SHEETS and s not in renamed.values()]
    if extra:
        warn.append(f"unknown sheet(s) ignored: {', '.join(extra)}")
    tables: dict[str, pd.DataFrame] = {}
    token = DECIMAL_COMMA.set(_declares_decimal_comma(book, present, renamed.get("settings", "settings")))
    try:  # the decimal mark is known before any number is read
        _read_sheets(book, present, formulas, cell_errors, warn, tables, renamed)
    finally:
        DECIMAL_COMMA.reset(token)
    if "settings" not in tables:  # only reachable while validating: the sheet was broken
        return RawWorkbook(path=path, tables=tables, settings={}, settings_rows={}, warnings=warn)
    settings, settings_rows, w = _settings(tables.pop("settings"))
    warn.extend(w)
    return RawWorkbook(path=path, tables=tables, settings=settings, settings_rows=settings_rows,
                       warnings=warn)


def _near_sheet_names(present: list[str]) -> dict[str, str]:
    """Contract sheet name -> the workbook's sheet whose name differs from it only in case or spaces
    (`Sites`, `sites `), where the workbook has no sheet of the exact name."""
    found = {}
    for real in present:
        key = re.sub(r"\s+", " ", real).strip().lower()
        if key != real and key in SHEETS and key not in present and key not in found:
            found[key] = real
    return found


def _read_sheets(book, present: list[str], formulas, cell_errors, warn: list[str], tables: dict,
                 renamed: dict[str, str] | None = None) -> None:
    """Every sheet of the contract into `tables` (a broken one, while validating, is recorded and
    skipped); `renamed`: contract name -> the workbook's near name (`_near_sheet_names`)."""
    renamed = renamed or {}
    for name, spec in SHEETS.items():
        real = renamed.get(name, name)
        if real not in present:
            if spec.optional:
                continue
            raise InputError("E_SHEET_MISSING", f"the workbook has no sheet '{name}'", sheet=name)
        if real != name:  # messages name the sheet as the workbook spells it
            spec = dataclasses.replace(spec, name=real)
        try:
            tables[name] = _read_sheet(book, spec, formulas, cell_errors, warn)
        except InputError as err:
            report(err)  # in validation, a broken sheet is recorded and skipped
            continue
        except Exception as exc:  # calamine's own errors: a sheet part it cannot parse
            report(InputError("E_FILE_FORMAT", f"the sheet is damaged and cannot be read ({type(exc).__name__}: "
                              f"{exc}): save the workbook again from Excel", sheet=spec.name))
            continue
        if not spec.optional and name != "settings" and tables[name].empty:
            report(InputError("E_EMPTY_TABLE", "the table is empty: add at least one row below the header",
                              sheet=spec.name, row=2))


def _declares_decimal_comma(book, present: list[str], settings: str = "settings") -> bool:
    """Whether the settings sheet says `decimal_separator` = comma (read before the numbers are)."""
    if settings not in present:
        return False
    try:
        rows = book.get_sheet_by_name(settings).to_python()
    except Exception:  # noqa: BLE001 - a broken settings sheet is reported when it is read
        return False
    for r in rows[1:]:
        if len(r) >= 2 and str(r[0]).strip().lower() == "decimal_separator":
            return str(r[1]).strip().lower() == "comma"
    return False
