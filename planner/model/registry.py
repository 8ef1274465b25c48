"""The registry of the model's constraint families: one entry per heading of `models/formulation.md`
that the model builds, in the order `model.build_model` builds them.

Each entry says what everything else needs to know about a family, so that nothing keeps a list of
its own: its `define_<name>` function in `planner/model/formulation.py` (math in its docstring), its heading,
whether a model definition may switch it off (`[constraints] name = false`), whether the elastic
re-solve may relax it and in what unit the relaxation is priced, how the plain tables check a
reported plan (`planner/results/`, `CHECKS[name]`), and the scale of the tolerance a violation
is measured against. Headings that define a quantity rather than restrict the plan (a total, a
deviation, the CVaR's excess) are `kind="definition"`: their `checked_by` says how the plain tables
cover them. Model definitions, the verification, the elastic re-solve's messages, the CLI's help
and the formulation-doc test read this table.

Adding a family = its section in `formulation.md` + its `define_<name>` function and entry here +
its plain-table check (`results.CHECKS`) + its hand-solved test.

No Pyomo here: the CLI, the model definitions and the verification read it without importing the
model.
"""

from __future__ import annotations

from dataclasses import dataclass

# what a family's rows are measured in, for the tolerance of a violation (1e-6 of the largest
# number of that kind in the input: `solver.checked.violation_tolerance`)
SCALES = ("tonnes", "money", "emissions", "water", "count")


@dataclass(frozen=True)
class Family:
    name: str  # the constraint component, `define_<name>`, `[constraints] <name>`, the check's name
    heading: str  # its section in models/formulation.md
    kind: str = "constraint"  # "constraint" or "definition"
    optional: bool = False  # a model definition may switch it off
    when: str = "always"  # built: "always", "stockpiles" (the workbook has some), "trace" (a mineral with
    # an origin rule), "objective" (by define_objective, with a CVaR weight)
    relax: tuple[str, ...] = ()  # the elastic re-solve's slack variables (`v_relax_<name>`)
    relax_unit: str = ""  # what a unit of relaxation is (the slack's unit)
    scale: str = "tonnes"  # tolerance scale (SCALES)
    checked_by: str = ""  # for a definition: how the plain tables cover it

    def __post_init__(self):
        assert self.kind in ("constraint", "definition") and self.scale in SCALES
        assert self.when in ("always", "stockpiles", "trace", "objective")
        assert bool(self.relax) == bool(self.relax_unit)
        assert (self.kind == "definition") == bool(self.checked_by)


FAMILIES: tuple[Family, ...] = (
    Family("build_once", "Build once", scale="count"),
    Family("capacity_if_online", "Capacity if online"),
    Family("refinery_input", "Refinery input"),
    Family("demand_coverage", "Demand coverage"),
    Family("stock_build_up", "Stock build up", when="stockpiles"),
    Family("stock_release", "Stock release", when="stockpiles"),
    Family("scrap_limit", "Scrap limit", optional=True),
    Family("country_share_cap", "Country share cap", optional=True),
    Family("exclusive_group", "Exclusive group", optional=True, scale="count"),
    Family("emissions_cap", "Emissions cap", optional=True, scale="emissions"),
    Family("water_cap", "Water cap", optional=True, scale="water"),
    Family("traced_input", "Traced input", when="trace"),
    Family("traced_delivery", "Traced delivery", when="trace"),
    Family("mining_share_cap", "Mining share cap", optional=True),
    Family("allied_share", "Allied share", optional=True),
    Family("financing_balance", "Financing balance", scale="money"),
    Family("paid_total", "Paid total", kind="definition", scale="money",
           checked_by="the burden band and benefit floor checks recompute the total from the payments"),
    Family("burden_target", "Burden target", kind="definition", scale="money",
           checked_by="it measures the deviation from the target shares (not a restriction); the burden band "
                      "check recomputes each member's share from the payments"),
    Family("budget", "Budget", optional=True, relax=("budget",), relax_unit="MUSD", scale="money"),
    Family("host_share", "Host share", optional=True, relax=("host_share",), relax_unit="MUSD", scale="money"),
    Family("financing_cap", "Financing cap", optional=True, scale="money"),
    Family("burden_band", "Burden band", optional=True, relax=("burden_band_upper", "burden_band_lower"),
           relax_unit="MUSD (present value)", scale="money"),
    Family("benefit_floor", "Benefit floor", optional=True, relax=("benefit_floor",),
           relax_unit="MUSD (present value)", scale="money"),
    Family("syndicate", "Syndicate", optional=True, scale="count"),  # payers counted, tickets as shares
    Family("benefit_split", "Benefit split", kind="definition", scale="money",
           checked_by="it measures the distance of payments from output shares (not a restriction); the "
                      "financing sheet shows both shares and run_info the distance, recomputed from the plain "
                      "tables"),
    Family("cvar_excess", "Cvar excess", kind="definition", when="objective", scale="money",
           checked_by="the cost check recomputes the CVaR of scenario cost from the plain tables "
                      "(results.cost_components)"),
)

BY_NAME = {f.name: f for f in FAMILIES}
OPTIONAL = tuple(f.name for f in FAMILIES if f.optional)

# the other sections of formulation.md: what they are (no family of rows of their own)
OTHER_SECTIONS = {
    "Sets and indices": "the sets the families are indexed over",
    "Parameters": "the numbers the families read",
    "Variables and expressions": "define_variables and define_expressions",
    "Membership what-if": "members left out before the model is built (data.py)",
    "Objective": "define_objective",
    "Stress test and value of the stochastic solution": "plan stress (stress.py)",
    "Cost-risk frontier": "plan frontier (frontier.py)",
    "Verification of a reported solution": "results.verify_solution, which reads this registry",
    "Reports beside the model": "tables computed from the plan (trace.py, risk.py)",
}


def built(family: Family, definition, data) -> bool:
    """Whether `build_model` builds `family`'s rows for this data and definition (`when`, and
    `definition.on` for an optional family); "objective" families are built by define_objective."""
    if family.optional and not definition.on(family.name):
        return False
    if family.when == "stockpiles":
        return bool(data.STOCKPILES)
    if family.when == "trace":
        return bool(data.TRACE)
    return family.when == "always"
