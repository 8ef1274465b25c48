"""Faults of the file itself, each one message with its code and no traceback: two zip parts of one
name, a malformed part, a shared-string reference the file does not hold, and a Strict Open XML
workbook read like a transitional one (an uncalculated formula named, not read as 0)."""

import re
import zipfile

import pytest
from click.testing import CliRunner

from planner.cli import cli
from wb import tiny, write_workbook

STRICT = ((b"http://schemas.openxmlformats.org/spreadsheetml/2006/main", b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
          (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
           b"http://purl.oclc.org/ooxml/officeDocument/relationships"))


def parts(path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def rezip(path, items) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in items:
            zf.writestr(n, b)


def _by_name(items, sheet: str) -> str:
    """The part holding `sheet` (the workbook's n-th sheet is sheet n's part in these files)."""
    wb = dict(items)["xl/workbook.xml"].decode()
    names = re.findall(r'<sheet [^>]*name="([^"]+)"', wb)
    return f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"


@pytest.fixture
def book(tmp_path):
    return write_workbook(tmp_path / "w.xlsx", *tiny())


def check(path, *says):
    for args in (["validate", str(path)], ["solve", str(path), "-o", str(path.with_name("out.xlsx"))]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
        for s in says:
            assert s in res.output, res.output
    assert not path.with_name("out.xlsx").exists()


def test_two_parts_of_one_name(book):
    import warnings
    items = parts(book)
    name = _by_name(items, "sites")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is asked to write
        rezip(book, items + [(name, dict(items)[name])])
    check(book, "two parts named", name, "[E_FILE_FORMAT]")


def test_a_malformed_part(book):
    items = [(n, b[: len(b) // 2] if n == "xl/workbook.xml" else b) for n, b in parts(book)]
    rezip(book, items)
    check(book, "part 'xl/workbook.xml' is not well-formed XML", "[E_FILE_FORMAT]")


def test_a_shared_string_the_file_does_not_hold(book):
    items = parts(book)
    name = _by_name(items, "sites")
    part = dict(items)[name]
    # the site id M1 (A2) made a reference to shared string 9999, in a file that holds none
    old = b'<c r="A2" t="inlineStr"><is><t>M1</t></is></c>'
    assert old in part
    broken = part.replace(old, b'<c r="A2" t="s"><v>9999</v></c>')
    rezip(book, [(n, broken if n == name else b) for n, b in items])
    check(book, "cell A2 names shared string 9999", "[E_FILE_FORMAT]")


def test_strict_open_xml_names_an_uncalculated_formula(book):
    # the same workbook in the Strict namespaces, the market's capacity a formula with no saved value:
    # refused naming the cell, exactly as in a transitional file
    items = parts(book)
    name = _by_name(items, "sites")
    part = dict(items)[name]
    cap = re.search(rb'<c r="(G2)"[^>]*><v>1000</v></c>', part)
    part = part[:cap.start()] + b'<c r="G2"><f>500*2</f></c>' + part[cap.end():]
    out = []
    for n, b in items:
        b = part if n == name else b
        for old, new in STRICT:
            b = b.replace(old, new)
        out.append((n, b))
    rezip(book, out)
    check(book, "sites!G2", "[E_FORMULA_NO_VALUE]")


def test_strict_open_xml_reads(book, tmp_path):
    items = []
    for n, b in parts(book):
        for old, new in STRICT:
            b = b.replace(old, new)
        items.append((n, b))
    rezip(book, items)
    res = CliRunner().invoke(cli, ["validate", str(book)])
    assert res.exit_code == 0 and "no problems found" in res.output, res.output
