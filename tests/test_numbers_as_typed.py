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


def test_settings_a_modeller_rarely_means_are_warned_with_their_cell(tiny_path):
    # no unmet penalty while AA has demand; a country share cap of 0; a limits row capping
    # emissions at 0; and (below) every candidate screened out
    from planner.dataset.data import load_data
    from wb import site, tiny
    sheets, settings = tiny(unmet_penalty_usd_per_t=0, max_country_share=0)
    sheets["limits"] = [{"period": 2030, "member": "AA", "emissions_cap_tco2e_per_yr": 0}]
    sheets["sites"].append(site("R1", "AAA", "refinery", "candidate", 100, capex_musd=1, esg_score=10,
                                **{"yield": 1}))
    settings["min_esg_score"] = 50  # R1's ESG score 10 screens it out: the only candidate
    w = load_data(tiny_path(sheets, settings)).warnings
    assert any(x.startswith("settings!B") and "unmet_penalty_usd_per_t is 0 while members have demand" in x
               for x in w), w
    assert any("max_country_share is 0" in x and x.startswith("settings!B") for x in w), w
    assert any(x.startswith("limits!row 2 (emissions_cap_tco2e_per_yr): a cap of 0") for x in w), w
    assert any("every one of the 1 candidates is screened out" in x for x in w), w
    # none of them on a workbook that means what it says
    clean = load_data(tiny_path(*tiny(), name="clean.xlsx")).warnings
    assert not [x for x in clean if "is 0" in x or "screened out" in x or "a cap of 0" in x], clean


def test_sheet_names_that_differ_only_in_case_or_spaces_are_read_and_said(tiny_path):
    # "Sites" and "demand " are the contract's sites and demand: read, with a warning each; a
    # mistake in them is named with the sheet as the workbook spells it
    from planner.dataset.data import load_data, validate_workbook
    from wb import tiny
    sheets, settings = tiny()
    sheets["Sites"] = sheets.pop("sites")
    sheets["demand "] = sheets.pop("demand")
    data = load_data(tiny_path(sheets, settings))
    assert list(data.sites.index) == ["M1"] and len(data.demand) == 1
    assert "sheet 'Sites' read as 'sites' (the names differ only in case or spaces)" in data.warnings
    assert "sheet 'demand ' read as 'demand' (the names differ only in case or spaces)" in data.warnings
    assert not any("unknown sheet" in w for w in data.warnings)
    sheets["Sites"][0]["capacity_tpy"] = "2,5"
    problems = validate_workbook(tiny_path(sheets, settings, name="bad.xlsx"))
    assert [(p.sheet, p.column) for p in problems] == [("Sites", "capacity_tpy")]
