"""Numbers typed as text are read as typed (docs/workbook.md, "Numbers typed as text"): one test
per row of the table of accepted and refused forms, and the message quotes what was typed."""

import pytest

from planner.io.reader import number_from_text

ACCEPTED = [  # (typed, decimal comma declared, share column, the number)
    ("1000", False, False, 1000.0),
    ("-1.5", False, False, -1.5),
    ("1e6", False, False, 1e6),
    (".5", False, False, 0.5),
    ("1,000", False, False, 1000.0),
    ("12,345,678.9", False, False, 12345678.9),
    ("1 000", False, False, 1000.0),
    ("1\u00a0000.5", False, False, 1000.5),  # a no-break space groups thousands too
    ("5%", False, True, 0.05),
    ("2,5", True, False, 2.5),
    ("1.000,5", True, False, 1000.5),
    ("1 000,5", True, False, 1000.5),
    ("1,000", True, False, 1.0),
]

REFUSED = [  # (typed, decimal comma declared, share column, what the message must say)
    ("2,5", False, False, "with a decimal comma it is 2.5, with a thousands comma 25"),
    ("0,5", False, False, "with a decimal comma it is 0.5, with a thousands comma 5"),
    ("12,34,5", False, False, "thousands are grouped in threes"),
    ("1.000,5", False, False, "written with a decimal comma (1000.5)"),
    ("$800", False, False, "type the number alone, in MUSD"),
    ("800 MUSD", False, False, "type the number alone, in MUSD"),
    ("5%", False, False, "is a percentage, but this column is in MUSD"),
    ("1.5", True, False, "ambiguous with the decimal comma this workbook declares: 1,5 or 15"),
]


@pytest.mark.parametrize("typed,comma,share,expected", ACCEPTED)
def test_accepted_forms(typed, comma, share, expected):
    x, why = number_from_text(typed, comma, share, "share" if share else "MUSD")
    assert why == "" and x == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("typed,comma,share,says", REFUSED)
def test_refused_forms_quote_the_text_and_say_why(typed, comma, share, says):
    x, why = number_from_text(typed, comma, share, "share" if share else "MUSD")
    assert x is None
    assert f"'{typed}'" in why and says in why


def test_a_lead_time_typed_2_comma_5_is_named_with_its_cell(tiny_path):
    from planner.dataset.data import validate_workbook
    from wb import site, tiny
    sheets, settings = tiny()
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 100, capex_musd=1, lead_time_years="2,5",
                                **{"yield": 1}))
    problems = validate_workbook(tiny_path(sheets, settings))
    assert len(problems) == 1
    p = problems[0]
    assert (p.sheet, p.column, p.code) == ("sites", "lead_time_years", "E_NOT_A_NUMBER")
    assert "'2,5' is ambiguous" in str(p) and p.row == 3


def test_a_workbook_that_declares_a_decimal_comma_reads_it(tiny_path):
    from planner.dataset.data import load_data
    from wb import site, tiny
    sheets, settings = tiny(decimal_separator="comma")
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 100, capex_musd="1,25", **{"yield": "0,9"}))
    data = load_data(tiny_path(sheets, settings))
    assert data.sites.loc["R1", "capex_musd"] == pytest.approx(1.25)
    assert data.sites.loc["R1", "yield"] == pytest.approx(0.9)
