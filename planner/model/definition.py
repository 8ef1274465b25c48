"""Named model definitions (`models/NAME.toml`): which optional constraint families are on,
objective settings that override the workbook, and solver limits. Every key is checked."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import DefinitionError
from planner.model.registry import OPTIONAL

# Constraint families that a definition may switch off (the registry's optional ones; the others always apply)
OPTIONAL_FAMILIES = OPTIONAL
OVERRIDABLE_SETTINGS = ("unmet_penalty_usd_per_t", "risk_weight_usd_per_t", "carbon_price_usd_per_tco2e",
                        "max_country_share", "min_esg_score", "freight_usd_per_t_km", "discount_rate",
                        "host_min_share", "max_financiers", "min_ticket_share", "burden_tolerance",
                        "min_benefit_ratio", "max_country_share_refining",
                        "max_country_share_mining", "supply_arcs_per_site")
START_HEURISTICS = ("auto", "none", "greedy", "expected_value")
# "auto" (the default): the expected-value start where HiGHS alone cannot close the gap in its time --
# from this many flow variables (arcs x periods x scenarios) with two scenarios or more -- else none.
# Chosen on the benchmark ladder (bench/results.md): large (1.24 million flows) 1.9-2.1% -> 1.3% gap at
# 600 s; medium (0.18 million) is proven optimal without it in about 60 s.
AUTO_EV_FLOWS = 500_000
# from this many flow variables the model is built and compiled in a short-lived process of its own
# (planner/pipeline.py `builds_apart`): the Pyomo objects of its build never enter the planner
BUILD_APART_FLOWS = 500_000
START_SHARE = 0.4  # of the time limit, at most, for the start heuristic (the MIP gets the rest)
EV_START_GAP = 1e-3  # the expected-value start solves its one-scenario problem to this gap, whatever the run's


@dataclass(frozen=True)
class SolverOptions:
    time_limit_s: float | None = None
    mip_gap: float = 1e-4
    # HiGHS stops when the relative gap (mip_gap, of the objective) or the absolute one (MUSD) is
    # reached, whichever comes first; None: no absolute gap
    mip_abs_gap: float | None = None
    threads: int | None = None
    seed: int = 0
    presolve: str = "choose"  # HiGHS presolve: choose | on | off
    heuristic_effort: float | None = None  # HiGHS mip_heuristic_effort (0..1; blank = HiGHS's 0.05)
    # our own first plan for HiGHS (planner/solver/heuristic.py): "greedy" (add/drop/swap on the builds,
    # at most START_SHARE of the time limit), "expected_value" (the builds of the one-scenario
    # expected-value problem, solved within START_SHARE of the time limit; `plan solve` only), "none",
    # or "auto" (expected_value for large stochastic models, see AUTO_EV_FLOWS; else none)
    start_heuristic: str = "auto"
    # `plan solve` only: the main MIP search runs lean (one HiGHS thread unless `threads` is given,
    # the root LP presolved once: planner/solver/solve.py, `low_memory_search`)
    low_memory: bool = False

    def check(self) -> None:
        if self.presolve not in ("choose", "on", "off"):
            raise DefinitionError(f"presolve must be choose, on or off, got {self.presolve!r}")
        if self.start_heuristic not in START_HEURISTICS:
            raise DefinitionError(f"start heuristic must be one of {', '.join(START_HEURISTICS)}, "
                                  f"got {self.start_heuristic!r}")
        if self.heuristic_effort is not None and not (0 <= self.heuristic_effort <= 1):
            raise DefinitionError(f"heuristic effort must be a fraction in [0, 1], got {self.heuristic_effort}")
        if self.time_limit_s is not None and not (self.time_limit_s > 0):
            raise DefinitionError(f"time limit must be > 0 seconds, got {self.time_limit_s}")
        if not (0 <= self.mip_gap < 1):
            raise DefinitionError(f"MIP gap must be a fraction in [0, 1), got {self.mip_gap}")
        if self.mip_abs_gap is not None and not (isinstance(self.mip_abs_gap, (int, float))
                                                 and 0 <= self.mip_abs_gap < float("inf")):
            raise DefinitionError(f"absolute MIP gap must be a number of MUSD >= 0, got {self.mip_abs_gap!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise DefinitionError(f"threads must be a whole number >= 1, got {self.threads}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise DefinitionError(f"seed must be a whole number >= 0, got {self.seed}")
        if not isinstance(self.low_memory, bool):
            raise DefinitionError(f"low_memory must be true or false, got {self.low_memory!r}")


@dataclass(frozen=True)
class ModelDefinition:
    name: str = "baseline"
    description: str = ""
    families: dict[str, bool] = field(default_factory=lambda: {f: True for f in OPTIONAL_FAMILIES})
    overrides: dict[str, float | None] = field(default_factory=dict)
    solver: SolverOptions = field(default_factory=SolverOptions)
    source: str = ""
    # apply the workbook's `standards` sheet (plan solve --standards off, or [screens] standards = false)
    standards: bool = True
    # Set only by the pipeline after an infeasible solve: the financing rows get penalised slack so
    # the smallest relaxations that restore feasibility can be reported (never from a .toml file).
    elastic: bool = False

    def on(self, family: str) -> bool:
        return self.families.get(family, True)


def models_dir() -> Path:
    """The project's `models/` folder (beside the package), or `./models`."""
    here = Path(__file__).resolve().parents[2] / "models"
    return here if here.is_dir() else Path.cwd() / "models"


def load_definition(name_or_path: str | None) -> ModelDefinition:
    if name_or_path is None:
        name_or_path = "baseline"
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = models_dir() / f"{name_or_path}.toml"
    if not p.is_file():
        avail = sorted(x.stem for x in models_dir().glob("*.toml"))
        raise DefinitionError(f"no model definition '{name_or_path}' (looked for {p}); available: "
                              f"{', '.join(avail) or 'none'}")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{p}: not valid TOML ({exc})") from None
    allowed = {"name", "description", "constraints", "objective", "solver", "screens"}
    bad = set(doc) - allowed
    if bad:
        raise DefinitionError(f"{p}: unknown section(s) {sorted(bad)}; allowed: {sorted(allowed)}")
    fams = {f: True for f in OPTIONAL_FAMILIES}
    for k, v in doc.get("constraints", {}).items():
        if k not in OPTIONAL_FAMILIES:
            raise DefinitionError(f"{p}: [constraints] unknown family '{k}'; allowed: {list(OPTIONAL_FAMILIES)}")
        if not isinstance(v, bool):
            raise DefinitionError(f"{p}: [constraints] {k} must be true or false")
        fams[k] = v
    overrides = {}
    for k, v in doc.get("objective", {}).items():
        if k not in OVERRIDABLE_SETTINGS:
            raise DefinitionError(f"{p}: [objective] unknown setting '{k}'; allowed: {list(OVERRIDABLE_SETTINGS)}")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise DefinitionError(f"{p}: [objective] {k} must be a number >= 0")
        if k == "supply_arcs_per_site" and (v != int(v) or v < 1):
            raise DefinitionError(f"{p}: [objective] {k} must be a whole number >= 1")
        overrides[k] = float(v)
    screens = doc.get("screens", {})
    if set(screens) - {"standards"} or not isinstance(screens.get("standards", True), bool):
        raise DefinitionError(f"{p}: [screens] takes only standards = true or false")
    sol = doc.get("solver", {})
    known = {"time_limit_s", "mip_gap", "mip_abs_gap", "threads", "seed", "presolve", "heuristic_effort", "start_heuristic",
             "low_memory"}
    if set(sol) - known:
        raise DefinitionError(f"{p}: [solver] unknown option(s) {sorted(set(sol) - known)}; allowed: {sorted(known)}")
    solver = SolverOptions(**sol)
    try:
        solver.check()
    except DefinitionError as exc:
        raise DefinitionError(f"{p}: [solver] {exc}") from None
    return ModelDefinition(name=doc.get("name", p.stem), description=doc.get("description", ""),
                           families=fams, overrides=overrides, solver=solver, source=str(p),
                           standards=screens.get("standards", True))


def resolve_definition(model: str | None, time_limit: float | None = None, mip_gap: float | None = None,
                       solver_overrides: dict | None = None, standards: bool | None = None) -> ModelDefinition:
    """The named model definition with the command line's solver limits and options and its
    standards switch applied (a run without the definition's standards is named `-standards-off`)."""
    definition = load_definition(model)
    changes = {"time_limit_s": time_limit, "mip_gap": mip_gap, **(solver_overrides or {})}
    solver = dataclasses.replace(definition.solver, **{k: v for k, v in changes.items() if v is not None})
    solver.check()
    definition = dataclasses.replace(definition, solver=solver)
    if standards is not None and standards != definition.standards:
        suffix = "standards-on" if standards else "standards-off"
        definition = dataclasses.replace(definition, standards=standards, name=f"{definition.name}-{suffix}")
    return definition
