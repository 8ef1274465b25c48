"""models/formulation.md, the family registry (planner/model/registry.py), planner/model/formulation.py and the
plain-table checks (planner/results/) stay in step, both ways."""

import dataclasses
import inspect
import re
from pathlib import Path

import pyomo.environ as pyo

from planner.analyses import explain
from planner.model import formulation as model
from planner.results import verify as results
from planner.dataset.data import build_data
from planner.model.definition import OPTIONAL_FAMILIES, ModelDefinition
from planner.model.registry import BY_NAME, FAMILIES, OPTIONAL, OTHER_SECTIONS
from planner.io.reader import read_workbook

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "models" / "formulation.md"


def headings():
    return [h.strip() for h in re.findall(r"^## (.+)$", DOC.read_text(), flags=re.M)]


def test_every_heading_is_a_registry_entry_or_a_named_section_and_back():
    families = {f.heading for f in FAMILIES}
    assert set(headings()) == families | set(OTHER_SECTIONS)
    assert not families & set(OTHER_SECTIONS)
    assert len(headings()) == len(set(headings()))


def test_every_entry_has_its_define_function_with_math_and_every_define_function_an_entry():
    for f in FAMILIES:
        assert f.heading.lower().replace(" ", "_") == f.name
        fn = getattr(model, f"define_{f.name}", None)
        assert fn is not None, f"no define_{f.name} in planner/model/formulation.py"
        assert "\\le" in fn.__doc__ or "\\ge" in fn.__doc__ or "=" in fn.__doc__
    defined = {n[len("define_"):] for n, _ in inspect.getmembers(model, inspect.isfunction) if n.startswith("define_")}
    assert defined - {"sets", "variables", "expressions", "objective"} == set(BY_NAME)


def test_every_constraint_family_has_its_plain_table_check_and_every_check_a_family():
    constraints = {f.name for f in FAMILIES if f.kind == "constraint"}
    assert set(results.CHECKS) == constraints
    for f in FAMILIES:
        if f.kind == "definition":
            assert f.checked_by  # says how the plain tables cover it


def test_definitions_and_the_elastic_messages_read_the_registry():
    assert OPTIONAL_FAMILIES == OPTIONAL == tuple(f.name for f in FAMILIES if f.optional)
    assert {r for f in FAMILIES for r in f.relax} == set(explain.MESSAGES)


def _default_model(**change):
    data = build_data(read_workbook(ROOT / "inputs" / "alliance_2026.xlsx"))
    return model.build_model(data, dataclasses.replace(ModelDefinition(), **change))


def test_the_model_builds_exactly_the_registry_families_it_applies():
    # the default workbook has stockpiles and a CVaR weight of 0; a constraint component is named for
    # its family (a two-sided family as <family>_upper and <family>_lower)
    m = _default_model()
    cons = {c.name.removesuffix("_upper").removesuffix("_lower") for c in m.component_objects(pyo.Constraint)}
    applied = {f.name for f in FAMILIES if f.when != "objective"}
    assert cons <= set(BY_NAME)
    assert {"build_once", "capacity_if_online", "demand_coverage", "financing_balance", "stock_release",
            "budget"} <= cons
    assert cons <= applied


def test_the_elastic_model_relaxes_what_the_registry_says():
    m = _default_model(elastic=True)
    relax = {v.name[len("v_relax_"):] for v in m.component_objects(pyo.Var) if v.name.startswith("v_relax_")}
    assert relax <= {r for f in FAMILIES for r in f.relax} and "budget" in relax


def test_an_optional_family_switched_off_is_not_built():
    for name in OPTIONAL:
        m = _default_model(families={**{f: True for f in OPTIONAL}, name: False})
        assert not any(c.name.removesuffix("_upper").removesuffix("_lower") == name
                       for c in m.component_objects(pyo.Constraint))
