"""The model HiGHS receives keeps its golden fingerprints (tests/golden.py, `make golden`): every
test workbook, the shipped default (under several definitions) and example workbooks, and the
small and medium benchmark instances, compiled by the project's walker and by Pyomo's own compiler."""

import json

import pytest

import golden
from planner.solver.digest import changed_families
from planner.solver.solve import compile_model, compiled_digests

STORED = json.loads(golden.DIGESTS.read_text(encoding="utf-8"))


def test_every_case_has_a_fingerprint_and_every_fingerprint_a_case():
    assert set(golden.cases()) == set(STORED)
    assert len(STORED) > 250  # the test workbooks are kept (tests/golden/workbooks.jsonl)


@pytest.mark.parametrize("case", golden.cases())
def test_the_model_keeps_its_fingerprint(case):
    m = golden.build(case)
    walked = compiled_digests(compile_model(m))
    assert changed_families(STORED[case], walked) == []
    if case not in golden.SLOW:
        assert changed_families(STORED[case], compiled_digests(compile_model(m, with_pyomo=True))) == []


def test_a_changed_coefficient_is_named_by_its_family():
    m = golden.build("example_hedge")
    c = compile_model(m)
    c.A.data[0] *= 1.001
    changed = changed_families(STORED["example_hedge"], compiled_digests(c))
    assert len(changed) == 1 and changed[0].startswith("row ")
