"""Generator of malformed and hostile workbooks, each with the one error it must produce.

`CASES` maps a case name to (builder, error code, location): the builder writes the workbook
into a folder and returns its path; the location (e.g. `sites!G2`) must appear in the message.
Every case is a real file a user (or an attacker) could hand to `plan solve`. (openpyxl cuts
text at Excel's 32,767 characters, so the over-long cell is written into the XML directly.)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Callable

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from wb import site, tiny, write_workbook

# Columns of tiny()'s sites sheet, in order (for Excel letters).
SITE_COLS = list(site("x", "AAA", "market", "existing", 1).keys())
# the cell of a setting tiny() does not set (written after its own, in column B)
NEW_SETTING = f"settings!B{len(tiny()[1]) + 2}"


def col(sheet: str, column: str, row: int) -> str:
    """Excel reference of `column` at Excel row `row` in a sheet written by tiny()."""
    from openpyxl.utils import get_column_letter
    sheets, _ = tiny()
    if sheet == "sites":
        cols = SITE_COLS
    else:
        cols = []
        for r in sheets[sheet]:
            cols += [k for k in r if k not in cols]
    return f"{sheet}!{get_column_letter(cols.index(column) + 1)}{row}"


def _edit(mutator: Callable[[dict, dict], None], settings_over=None):
    def build(folder: Path) -> Path:
        sheets, settings = tiny(**(settings_over or {}))
        mutator(sheets, settings)
        return write_workbook(folder / "in.xlsx", sheets, settings)
    return build


def _post(mutator: Callable, cell_edit: Callable):
    """Write a valid workbook, then edit it with openpyxl (formulas, merges, ...)."""
    def build(folder: Path) -> Path:
        p = _edit(mutator)(folder)
        wb = load_workbook(p)
        cell_edit(wb)
        wb.save(p)
        return p
    return build


def _zip_rewrite(transform: Callable[[str, bytes], bytes]):
    """Write a valid workbook, then rewrite parts of its zip."""
    def build(folder: Path) -> Path:
        p = _edit(lambda s, t: None)(folder)
        parts = {}
        with zipfile.ZipFile(p) as z:
            for i in z.infolist():
                parts[i.filename] = z.read(i)
        out = folder / "in.xlsx"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in parts.items():
                z.writestr(name, transform(name, data))
        return out
    return build


def _raw(data_fn: Callable[[Path], bytes], name="in.xlsx"):
    def build(folder: Path) -> Path:
        p = folder / name
        p.write_bytes(data_fn(folder))
        return p
    return build


def _set(sheet, i, key, value):
    def m(s, t):
        s[sheet][i][key] = value
    return m


def _add_site(**kw):
    return _edit(lambda s, t: s["sites"].append(site(**kw)))


def _encrypted(folder: Path) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile
    p = _edit(lambda s, t: None)(folder)
    out = io.BytesIO()
    with open(p, "rb") as fh:
        OOXMLFile(fh).encrypt("secret", out)
    return out.getvalue()


def _old_xls(folder: Path) -> bytes:
    import xlwt
    wb = xlwt.Workbook()
    ws = wb.add_sheet("settings")
    ws.write(0, 0, "key")
    ws.write(0, 1, "value")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_bomb(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b" " * (64 << 20))  # 64 MB of blanks, ~64 KB compressed
    return buf.getvalue()


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _inject(prefix: bytes, part_suffix: str):
    def transform(name: str, data: bytes) -> bytes:
        if name.endswith(part_suffix):
            body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
            return prefix + body
        return data
    return transform


def _zip_only() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return buf.getvalue()


def _dup_header(s, t):
    for r in s["demand"]:
        r["demand_tpy "] = 1  # normalises to 'demand_tpy': the same column twice


STRICT_NS = ((b"http://schemas.openxmlformats.org/spreadsheetml/2006/main", b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
             (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
              b"http://purl.oclc.org/ooxml/officeDocument/relationships"))


def _strict(b: bytes) -> bytes:
    """A part in the Strict Open XML namespaces."""
    for old, new in STRICT_NS:
        b = b.replace(old, new)
    return b


def _strict_with_formula(name: str, b: bytes) -> bytes:
    """Strict namespaces, and the market's capacity (sites!G2) a formula with no saved value."""
    if name == "xl/worksheets/sheet6.xml":
        b = b.replace(b'<c r="G2" t="n"><v>1000</v></c>', b'<c r="G2"><f>500*2</f></c>')
    return _strict(b)


def _duplicated_part(folder: Path) -> bytes:
    """A valid workbook with its sites sheet stored twice (the second copy edited)."""
    import warnings
    p = _edit(lambda s, t: None)(folder)
    with zipfile.ZipFile(p) as z:
        parts = [(i.filename, z.read(i)) for i in z.infolist()]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is asked to write
        for n, b in parts + [("xl/worksheets/sheet6.xml", dict(parts)["xl/worksheets/sheet6.xml"])]:
            z.writestr(n, b)
    return buf.getvalue()


CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    # structure
    "missing_sheet": (_edit(lambda s, t: s.pop("demand")), "E_SHEET_MISSING", "demand"),
    "missing_settings_sheet": (_post(lambda s, t: None, lambda wb: wb.remove(wb["settings"])),
                               "E_SHEET_MISSING", "settings"),
    "missing_column": (_edit(lambda s, t: [r.pop("capacity_tpy") for r in s["sites"]]), "E_COLUMN_MISSING",
                       "sites!1"),
    "duplicate_column": (_edit(_dup_header), "E_DUPLICATE_COLUMN", "demand!E1"),
    "empty_sheet": (_post(lambda s, t: None, lambda wb: wb["members"].delete_rows(1, 5)), "E_EMPTY_SHEET",
                    "members!1"),
    "header_not_in_row_1": (_post(lambda s, t: None, lambda wb: wb["members"].insert_rows(1, 2)),
                            "E_HEADER_MISSING", "members!1"),
    "merged_cells": (_post(lambda s, t: None, lambda wb: wb["demand"].merge_cells("A2:B2")), "E_MERGED_CELLS",
                     "demand!A2"),
    "formula_without_saved_value": (_post(lambda s, t: None, lambda wb: wb["demand"].__setitem__("D2", "=50*2")),
                                    "E_FORMULA_NO_VALUE", "demand!D2"),
    # values
    "missing_value": (_edit(_set("sites", 0, "country", None)), "E_VALUE_MISSING", col("sites", "country", 2)),
    "text_in_number": (_edit(_set("sites", 0, "capacity_tpy", "lots")), "E_NOT_A_NUMBER",
                       col("sites", "capacity_tpy", 2)),
    "n/a_in_number": (_edit(_set("demand", 0, "demand_tpy", "n/a")), "E_NOT_A_NUMBER", "demand!D2"),
    "#N/A_in_number": (_edit(_set("demand", 0, "demand_tpy", "#N/A")), "E_NOT_A_NUMBER", "demand!D2"),
    "NA_in_number": (_edit(_set("demand", 0, "demand_tpy", "NA")), "E_NOT_A_NUMBER", "demand!D2"),
    "TRUE_in_number": (_edit(_set("demand", 0, "demand_tpy", True)), "E_NOT_A_NUMBER", "demand!D2"),
    "inf_text_in_number": (_edit(_set("demand", 0, "demand_tpy", "inf")), "E_NOT_A_NUMBER", "demand!D2"),
    "overflow_to_infinity": (_edit(_set("demand", 0, "demand_tpy", "1e999")), "E_NOT_FINITE", "demand!D2"),
    "excel_error_in_text": (_edit(_set("sites", 0, "name", "#DIV/0!")), "E_CELL_ERROR", col("sites", "name", 2)),
    "cell_of_32768_chars": (_zip_rewrite(lambda n, d: d.replace(b"Site M1", b"x" * 32_768)), "E_CELL_TOO_LONG",
                            col("sites", "name", 2)),
    "negative_capacity": (_edit(_set("sites", 0, "capacity_tpy", -5)), "E_OUT_OF_RANGE",
                          col("sites", "capacity_tpy", 2)),
    "risk_score_above_1": (_edit(_set("countries", 1, "risk_score", 1.5)), "E_OUT_OF_RANGE", "countries!D3"),
    "latitude_95": (_edit(_set("members", 0, "lat", 95)), "E_OUT_OF_RANGE", "members!C2"),
    "yield_zero": (_add_site(site_id="R1", country="AAA", stage="refinery", status="existing", capacity=10,
                             **{"yield": 0}), "E_OUT_OF_RANGE", col("sites", "yield", 3)),
    "demand_beyond_solver_range": (_edit(_set("demand", 0, "demand_tpy", 8.3e19)), "E_OUT_OF_RANGE", "demand!D2"),
    "fractional_period": (_edit(_set("periods", 0, "years", 1.5)), "E_NOT_INTEGER", "periods!B2"),
    "negative_transport_cost": (_edit(lambda s, t: s.__setitem__("transport", [
        {"origin": "M1", "destination": "AA", "cost_usd_per_t": -1}])), "E_OUT_OF_RANGE", "transport!C2"),
    "bad_stage": (_edit(_set("sites", 0, "stage", "smelter")), "E_BAD_CHOICE", col("sites", "stage", 2)),
    "bad_decision": (_edit(_set("sites", 0, "decision", "maybe")), "E_BAD_CHOICE", col("sites", "decision", 2)),
    "setting_missing": (_edit(lambda s, t: t.pop("discount_rate")), "E_SETTING_MISSING", "settings"),
    "setting_not_a_number": (_edit(lambda s, t: t.__setitem__("discount_rate", "five percent")), "E_NOT_A_NUMBER",
                             "settings!B3"),
    "probability_above_1": (_edit(lambda s, t: s.__setitem__("scenarios", [
        {"scenario": "a", "probability": 1.2, "demand_multiplier": 1}])), "E_OUT_OF_RANGE", "scenarios!B2"),
    "probabilities_not_summing_to_1": (_edit(lambda s, t: s.__setitem__("scenarios", [
        {"scenario": "a", "probability": 0.5, "demand_multiplier": 1},
        {"scenario": "b", "probability": 0.4, "demand_multiplier": 1}])), "E_PROBABILITY", "scenarios!B3"),
    # references and ids
    "unknown_country": (_edit(_set("sites", 0, "country", "ZZZ")), "E_UNKNOWN_REF", col("sites", "country", 2)),
    "unknown_mineral_in_demand": (_edit(_set("demand", 0, "mineral", "Y")), "E_UNKNOWN_REF", "demand!B2"),
    "unknown_member_in_demand": (_edit(_set("demand", 0, "member", "ZZ")), "E_UNKNOWN_REF", "demand!A2"),
    "unknown_period_in_demand": (_edit(_set("demand", 0, "period", 2031)), "E_UNKNOWN_REF", "demand!C2"),
    "unknown_member_of_country": (_edit(_set("countries", 1, "member", "QQ")), "E_UNKNOWN_REF", "countries!C3"),
    "unknown_site_in_transport": (_edit(lambda s, t: s.__setitem__("transport", [
        {"origin": "M9", "destination": "AA", "cost_usd_per_t": 1}])), "E_UNKNOWN_REF", "transport!A2"),
    "unknown_destination_in_transport": (_edit(lambda s, t: s.__setitem__("transport", [
        {"origin": "M1", "destination": "XX", "cost_usd_per_t": 1}])), "E_UNKNOWN_REF", "transport!B2"),
    "unknown_scenario_in_disruptions": (_edit(lambda s, t: s.__setitem__("disruptions", [
        {"scenario": "war", "country": None, "site": None, "mineral": None, "period": None, "availability": 0}])),
        "E_UNKNOWN_REF", "disruptions!A2"),
    "unknown_site_in_disruptions": (_edit(lambda s, t: s.__setitem__("disruptions", [
        {"scenario": None, "country": None, "site": "NOPE", "mineral": None, "period": None, "availability": 0}])),
        "E_UNKNOWN_REF", "disruptions!C2"),
    "cyrillic_lookalike_country": (_edit(_set("sites", 0, "country", "\u0421CC")), "E_UNKNOWN_REF",
                                   col("sites", "country", 2)),
    "duplicate_site_id": (_edit(lambda s, t: s["sites"].append(dict(s["sites"][0]))), "E_DUPLICATE",
                          col("sites", "site", 3)),
    "fullwidth_duplicate_site_id": (_edit(lambda s, t: s["sites"].append(dict(s["sites"][0], site="\uff2d1"))),
                                    "E_DUPLICATE", col("sites", "site", 3)),
    "duplicate_demand_key": (_edit(lambda s, t: s["demand"].append(dict(s["demand"][0]))), "E_DUPLICATE",
                             "demand!A3"),
    "overlapping_periods": (_edit(lambda s, t: s.__setitem__("periods", [{"period": 2030, "years": 5},
                                                                         {"period": 2032, "years": 5}])),
                            "E_OVERLAP", "periods!A3"),
    # contradictions
    "refinery_without_yield": (_add_site(site_id="R1", country="AAA", stage="refinery", status="existing",
                                         capacity=10), "E_VALUE_MISSING", col("sites", "yield", 3)),
    "recycling_outside_members": (_add_site(site_id="Y1", country="BBB", stage="recycling", status="existing",
                                            capacity=10, **{"yield": 0.9}), "E_RECYCLING_OUTSIDE",
                                  col("sites", "country", 3)),
    "force_build_failing_esg": (_edit(lambda s, t: s["sites"].append(site(
        "R1", "AAA", "refinery", "candidate", 10, esg_score=40, decision="force_build", **{"yield": 1})),
        {"min_esg_score": 50}), "E_CONTRADICTION", col("sites", "decision", 3)),
    "two_force_builds_in_a_group": (_edit(lambda s, t: s["sites"].extend(
        site(i, "AAA", "refinery", "candidate", 10, group="G", decision="force_build", **{"yield": 1})
        for i in ("R1", "R2"))), "E_CONTRADICTION", col("sites", "decision", 4)),
    "force_build_beyond_horizon": (_add_site(site_id="R1", country="AAA", stage="refinery", status="candidate",
                                             capacity=10, lead_time_years=8, decision="force_build",
                                             **{"yield": 1}), "E_CONTRADICTION", col("sites", "decision", 3)),
    # standards and limits
    "unknown_standard_criterion": (_edit(lambda s, t: s.__setitem__("standards", [
        {"criterion": "esg", "stage": None, "min": 50, "max": None}])), "E_UNKNOWN_REF", "standards!A2"),
    "standard_min_above_max": (_edit(lambda s, t: s.__setitem__("standards", [
        {"criterion": "water_stress", "stage": "mine", "min": 4, "max": 3}])), "E_CONTRADICTION", "standards!D2"),
    "standard_without_bounds": (_edit(lambda s, t: s.__setitem__("standards", [
        {"criterion": "tailings_risk", "stage": "mine", "min": None, "max": None}])), "E_VALUE_MISSING",
        "standards!C2"),
    "fpic_standard_with_a_bound": (_edit(lambda s, t: s.__setitem__("standards", [
        {"criterion": "fpic", "stage": None, "min": 1, "max": None}])), "E_CONTRADICTION", "standards!C2"),
    "bad_standard_stage": (_edit(lambda s, t: s.__setitem__("standards", [
        {"criterion": "esg_score", "stage": "smelter", "min": 50, "max": None}])), "E_BAD_CHOICE", "standards!B2"),
    "force_build_failing_a_standard": (_edit(lambda s, t: (s["sites"].append(site(
        "R1", "AAA", "refinery", "candidate", 10, esg_score=40, decision="force_build", **{"yield": 1})),
        s.__setitem__("standards", [{"criterion": "esg_score", "stage": None, "min": 50, "max": None}]))),
        "E_CONTRADICTION", col("sites", "decision", 3)),
    "limit_for_member_and_country": (_edit(lambda s, t: s.__setitem__("limits", [
        {"period": 2030, "member": "AA", "country": "AAA", "emissions_cap_tco2e_per_yr": 1}])), "E_CONTRADICTION",
        "limits!C2"),
    "limit_unknown_country": (_edit(lambda s, t: s.__setitem__("limits", [
        {"period": 2030, "member": None, "country": "ZZZ", "water_cap_m3_per_yr": 1}])), "E_UNKNOWN_REF",
        "limits!C2"),
    "allied_share_above_one": (_edit(lambda s, t: s["minerals"][0].__setitem__("min_allied_share", 1.5)),
                               "E_OUT_OF_RANGE", "minerals!C2"),
    "water_stress_out_of_scale": (_edit(lambda s, t: s["countries"][0].__setitem__("water_stress", 7)),
                                  "E_OUT_OF_RANGE", "countries!G2"),
    # stockpiles, shocks and CVaR
    "stockpile_unknown_mineral": (_edit(lambda s, t: s.__setitem__("stockpiles", [
        {"mineral": "Y", "member": None, "max_t": 10, "acquisition_cost_usd_per_t": 1}])), "E_UNKNOWN_REF",
        "stockpiles!A2"),
    "stockpile_negative_size": (_edit(lambda s, t: s.__setitem__("stockpiles", [
        {"mineral": "X", "member": None, "max_t": -10, "acquisition_cost_usd_per_t": 1}])), "E_OUT_OF_RANGE",
        "stockpiles!C2"),
    "stockpile_twice_for_a_holder": (_edit(lambda s, t: s.__setitem__("stockpiles", [
        {"mineral": "X", "member": "AA", "max_t": 10, "acquisition_cost_usd_per_t": 1},
        {"mineral": "X", "member": "AA", "max_t": 20, "acquisition_cost_usd_per_t": 1}])), "E_DUPLICATE",
        "stockpiles!A3"),
    "shock_of_zero_years": (_edit(lambda s, t: s.__setitem__("scenarios", [
        {"scenario": "base", "probability": 1, "demand_multiplier": 1, "shock_years": 0}])), "E_OUT_OF_RANGE",
        "scenarios!D2"),
    "cvar_level_of_one": (_edit(lambda s, t: t.__setitem__("cvar_alpha", 1)), "E_OUT_OF_RANGE",
                          f"settings!B{list(tiny()[1]).index('freight_usd_per_t_km') + 3}"),
    # files
    "csv_renamed_xlsx": (_raw(lambda f: b"site,country\nM1,CCC\n"), "E_FILE_FORMAT", ""),
    "truncated_file": (_raw(lambda f: _edit(lambda s, t: None)(f).read_bytes()[:3000]), "E_FILE_FORMAT", ""),
    "zip_not_a_workbook": (_raw(lambda f: _zip_only()), "E_FILE_FORMAT", ""),
    "encrypted_workbook": (_raw(_encrypted), "E_ENCRYPTED", ""),
    "old_xls": (_raw(_old_xls, name="in.xls"), "E_OLD_XLS", ""),
    "zip_bomb": (_raw(_zip_bomb), "E_ZIP_BOMB", ""),
    "billion_laughs": (_zip_rewrite(_inject(BILLION_LAUGHS, "worksheets/sheet2.xml")), "E_XML_UNSAFE", ""),
    "external_entity": (_zip_rewrite(_inject(XXE, "xl/workbook.xml")), "E_XML_UNSAFE", ""),
    # headers, shares, file faults (the messages name the cell or the part)
    "title_row_above_the_names": (_post(lambda s, t: None, lambda wb: (wb["sites"].insert_rows(1),
                                                                       wb["sites"].__setitem__("A1", "Sites, 2026"))),
                                  "E_HEADER_ROW", "sites!1"),
    "misspelt_optional_column": (_edit(lambda s, t: s["sites"][0].__setitem__("privat_share", 0.5)),
                                 "E_COLUMN_MISSPELT", "sites!Q1"),
    "misspelt_optional_column_of_minerals": (_edit(lambda s, t: s["minerals"][0].__setitem__("min_alied_share", 0.5)),
                                             "E_COLUMN_MISSPELT", "minerals!C1"),
    "misspelt_required_column": (_edit(lambda s, t: [r.__setitem__("capcity_tpy", r.pop("capacity_tpy"))
                                                     for r in s["sites"]]), "E_COLUMN_MISSING", "sites!P1"),
    "share_typed_as_a_percentage": (_edit(lambda s, t: t.__setitem__("max_country_share", 80)), "E_OUT_OF_RANGE",
                                    f"settings!B{list(tiny()[1]).index('max_country_share') + 2}"),
    "mineral_cap_typed_as_a_percentage": (_edit(lambda s, t: s["minerals"][0].__setitem__("max_country_share", 60)),
                                          "E_OUT_OF_RANGE", "minerals!C2"),
    "burden_shares_not_summing_to_one": (_edit(lambda s, t: s["members"][0].__setitem__("burden_share", 0.8)),
                                         "E_BURDEN_SHARES", "members!E2"),
    "two_parts_of_one_name": (_raw(lambda f: _duplicated_part(f)), "E_FILE_FORMAT", "two parts named"),
    "malformed_workbook_part": (_zip_rewrite(lambda n, b: b[: len(b) // 2] if n == "xl/workbook.xml" else b),
                                "E_FILE_FORMAT", "part 'xl/workbook.xml' is not well-formed XML"),
    "shared_string_the_file_lacks": (_zip_rewrite(lambda n, b: b.replace(
        b'<c r="A2" t="inlineStr"><is><t>M1</t></is></c>', b'<c r="A2" t="s"><v>9999</v></c>')),
        "E_FILE_FORMAT", "cell A2 names shared string 9999"),
    "strict_xml_uncalculated_formula": (_zip_rewrite(_strict_with_formula), "E_FORMULA_NO_VALUE", "sites!G2"),
    "malformed_sheet_part": (_zip_rewrite(lambda n, b: b[:-40] if n == "xl/worksheets/sheet6.xml" else b),
                             "E_FILE_FORMAT", "the sheet is damaged"),
    "strict_xml_malformed_sheet": (_zip_rewrite(lambda n, b: _strict(b)[:-40] if n == "xl/worksheets/sheet6.xml"
                                                else _strict(b)), "E_FILE_FORMAT", "the sheet is damaged"),
    # numbers as typed (the message quotes the text and names both readings where there are two)
    "decimal_comma_in_a_lead_time": (_add_site(site_id="R1", country="AAA", stage="refinery", status="candidate",
                                               capacity=10, lead_time_years="2,5", **{"yield": 1}),
                                     "E_NOT_A_NUMBER", col("sites", "lead_time_years", 3)),
    "decimal_comma_in_a_yield": (_add_site(site_id="R1", country="AAA", stage="refinery", status="existing",
                                           capacity=10, **{"yield": "0,9"}), "E_NOT_A_NUMBER",
                                 col("sites", "yield", 3)),
    "thousands_grouped_wrongly": (_edit(_set("demand", 0, "demand_tpy", "12,34,5")), "E_NOT_A_NUMBER", "demand!D2"),
    "european_thousands_and_decimals": (_edit(_set("demand", 0, "demand_tpy", "1.000,5")), "E_NOT_A_NUMBER",
                                        "demand!D2"),
    "currency_sign_in_capex": (_edit(_set("sites", 0, "capex_musd", "$800")), "E_NOT_A_NUMBER",
                               col("sites", "capex_musd", 2)),
    "unit_after_a_capex": (_edit(_set("sites", 0, "capex_musd", "800 MUSD")), "E_NOT_A_NUMBER",
                           col("sites", "capex_musd", 2)),
    "percentage_in_a_capacity": (_edit(_set("sites", 0, "capacity_tpy", "50%")), "E_NOT_A_NUMBER",
                                 col("sites", "capacity_tpy", 2)),
    "percentage_above_100_in_a_share": (_edit(lambda s, t: t.__setitem__("max_country_share", "150%")),
                                        "E_OUT_OF_RANGE",
                                        f"settings!B{list(tiny()[1]).index('max_country_share') + 2}"),
    # invisible characters and ids
    "letter_in_a_period": (_edit(_set("demand", 0, "period", "2030a")), "E_NOT_A_NUMBER", "demand!C2"),
    "duplicate_member": (_edit(lambda s, t: s["members"].append(dict(s["members"][0]))), "E_DUPLICATE",
                         "members!A3"),
    "duplicate_country": (_edit(lambda s, t: s["countries"].append(dict(s["countries"][2]))), "E_DUPLICATE",
                          "countries!A5"),
    "duplicate_mineral": (_edit(lambda s, t: s["minerals"].append(dict(s["minerals"][0]))), "E_DUPLICATE",
                          "minerals!A3"),
    "duplicate_transport_pair": (_edit(lambda s, t: s.__setitem__("transport", [
        {"origin": "M1", "destination": "AA", "cost_usd_per_t": 1},
        {"origin": "M1", "destination": "AA", "cost_usd_per_t": 2}])), "E_DUPLICATE", "transport!A3"),
    # financing and syndicates
    "syndicate_of_no_financier": (_edit(lambda s, t: t.__setitem__("max_financiers", 0)), "E_OUT_OF_RANGE",
                                  NEW_SETTING),
    "syndicate_of_two_and_a_half": (_edit(lambda s, t: t.__setitem__("max_financiers", 2.5)), "E_NOT_INTEGER",
                                    NEW_SETTING),
    "ticket_above_the_whole": (_edit(lambda s, t: t.__setitem__("min_ticket_share", 1.2)), "E_OUT_OF_RANGE",
                               NEW_SETTING),
    "host_share_typed_as_a_percentage": (_edit(lambda s, t: t.__setitem__("host_min_share", 20)), "E_OUT_OF_RANGE",
                                         NEW_SETTING),
    "private_share_above_one": (_edit(_set("sites", 0, "private_share", 1.5)), "E_OUT_OF_RANGE",
                                f"sites!{get_column_letter(len(SITE_COLS) + 1)}2"),
    "negative_budget": (_edit(lambda s, t: s.__setitem__("budgets", [
        {"member": "AA", "period": 2030, "budget_musd": -1}])), "E_OUT_OF_RANGE", "budgets!C2"),
    "budget_for_a_period_not_planned": (_edit(lambda s, t: s.__setitem__("budgets", [
        {"member": "AA", "period": 2031, "budget_musd": 1}])), "E_UNKNOWN_REF", "budgets!B2"),
    "financing_rule_for_an_unknown_site": (_edit(lambda s, t: s.__setitem__("financing_rules", [
        {"member": "AA", "country": None, "site": "R9", "max_share": 0.5}])), "E_UNKNOWN_REF", "financing_rules!C2"),
    "financing_rule_above_one": (_edit(lambda s, t: s.__setitem__("financing_rules", [
        {"member": "AA", "country": None, "site": None, "max_share": 1.5}])), "E_OUT_OF_RANGE", "financing_rules!D2"),
    "negative_burden_share": (_edit(lambda s, t: s["members"][0].__setitem__("burden_share", -0.5)),
                              "E_OUT_OF_RANGE", "members!E2"),
    # scenarios and disruptions
    "negative_demand_multiplier": (_edit(lambda s, t: s.__setitem__("scenarios", [
        {"scenario": "a", "probability": 1, "demand_multiplier": -1}])), "E_OUT_OF_RANGE", "scenarios!C2"),
    "availability_above_one": (_edit(lambda s, t: s.__setitem__("disruptions", [
        {"scenario": None, "country": "CCC", "site": None, "mineral": None, "period": None, "availability": 1.5}])),
        "E_OUT_OF_RANGE", "disruptions!F2"),
    "stockpile_for_an_unknown_member": (_edit(lambda s, t: s.__setitem__("stockpiles", [
        {"mineral": "X", "member": "ZZ", "max_t": 10, "acquisition_cost_usd_per_t": 1}])), "E_UNKNOWN_REF",
        "stockpiles!B2"),
}
