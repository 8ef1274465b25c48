"""models/formulation.md and planner/model.py stay in step: every constraint-family heading has a
`define_<heading>` function carrying math in its docstring, and every such function a heading."""

import inspect
import re
from pathlib import Path

from planner import model

DOC = Path(__file__).resolve().parent.parent / "models" / "formulation.md"
NOT_FAMILIES = {"sets and indices", "parameters", "variables and expressions", "objective",
                "verification of a reported solution", "where later issues plug in", "membership what-if",
                "stress test and value of the stochastic solution", "cost-risk frontier"}


def headings():
    return [h.strip().lower() for h in re.findall(r"^## (.+)$", DOC.read_text(), flags=re.M)]


def test_every_family_heading_has_a_define_function_with_math():
    fams = [h for h in headings() if h not in NOT_FAMILIES]
    assert len(fams) >= 8
    for h in fams:
        fn = getattr(model, "define_" + h.replace(" ", "_"), None)
        assert fn is not None, f"no define_{h.replace(' ', '_')} in planner/model.py"
        assert "\\le" in fn.__doc__ or "\\ge" in fn.__doc__ or "=" in fn.__doc__


def test_every_define_function_has_a_heading():
    names = {n[len("define_"):].replace("_", " ") for n, f in inspect.getmembers(model, inspect.isfunction)
             if n.startswith("define_")}
    names -= {"sets", "variables", "expressions"}
    assert names <= set(headings()) | {"objective"}


def test_constraint_components_are_named_for_their_family():
    from planner.definition import ModelDefinition
    from planner.data import build_data
    from planner.reader import read_workbook
    import pyomo.environ as pyo
    m = model.build_model(build_data(read_workbook(DOC.parent.parent / "inputs" / "alliance_2026.xlsx")),
                          ModelDefinition())
    cons = {c.name for c in m.component_objects(pyo.Constraint)}
    fams = {h.replace(" ", "_") for h in headings() if h not in NOT_FAMILIES}
    # a two-sided family is written as <family>_upper and <family>_lower
    cons = {c.removesuffix("_upper").removesuffix("_lower") for c in cons}
    assert cons <= fams and {"build_once", "capacity_if_online", "demand_coverage", "financing_balance"} <= cons
