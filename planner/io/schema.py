"""The workbook contract (version 1): every sheet, column, type, unit and range.

This one schema drives the reader, the validation messages and (later) the template and
README sheet, so the contract is written down exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTRACT_VERSION = 1

STAGES = ("mine", "refinery", "recycling", "market")
YES_NO = ("yes", "no")
STATUSES = ("existing", "candidate")
DECISIONS = ("", "force_build", "exclude")

# Plausibility limits: far above any real value, far below where HiGHS treats a number as infinite
# (1e20), so every coefficient the model is built from stays in a range the solver handles.
MAX_TONNES = 1e10  # t/yr: ten billion tonnes a year is more than the world mines of anything
MAX_USD_PER_T = 1e9
MAX_MUSD = 1e9


@dataclass(frozen=True)
class Column:
    """One column of a sheet.

    kind: "str" | "int" | "float" | "choice"
    required: the column must be present in the sheet.
    nonblank: every row must give a value (otherwise `default` is used).
    """

    name: str
    kind: str
    doc: str
    unit: str = ""
    required: bool = True
    nonblank: bool = True
    default: object = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sheet:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    optional: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name, kind, doc, unit="", **kw) -> Column:
    return Column(name=name, kind=kind, doc=doc, unit=unit, **kw)


def _opt(name, kind, doc, unit="", default=None, **kw) -> Column:
    """An optional column whose blank cells take `default`."""
    return Column(name=name, kind=kind, doc=doc, unit=unit, required=False, nonblank=False,
                  default=default, **kw)


# Settings are a key/value sheet; each key has its own type and range.
SETTINGS: dict[str, Column] = {
    s.name: s
    for s in (
        _c("base_year", "int", "year to which all costs are discounted", "year", min=1900, max=2200),
        _c("discount_rate", "float", "real discount rate per year", "1/yr", min=0, max=1),
        _opt("unmet_penalty_usd_per_t", "float", "penalty per tonne of demand not met", "USD/t",
             default=0.0, min=0, max=MAX_USD_PER_T),
        _opt("risk_weight_usd_per_t", "float",
             "cost charged per tonne produced in a country of risk score 1", "USD/t", default=0.0, min=0,
             max=MAX_USD_PER_T),
        _opt("carbon_price_usd_per_tco2e", "float", "carbon price", "USD/tCO2e", default=0.0, min=0, max=1e6),
        _opt("ramp_up_years", "float", "years from a site's first output to its full capacity where the "
             "site gives none (milestones only; the model counts full capacity from the online period)",
             "years", default=1.0, min=0, max=50),
        _opt("private_share", "float", "share of a site's capex private investors carry where the site gives "
             "none (0: the members pay all of it); the objective counts the whole capex, budgets, burden "
             "shares, host shares and financing rules the public part", "share", default=0.0, min=0, max=1),
        _opt("decimal_separator", "choice", "point | comma: the decimal mark of numbers typed as text in this "
             "workbook (numbers Excel stores as numbers need none); with comma, a point or a space groups "
             "thousands", default="point", choices=("point", "comma")),
        _opt("carbon_price_basis", "choice", "shadow | levy: a shadow price values emissions without anyone "
             "paying it (a valuation charge, like the risk charge); a levy is paid (cash)", default="shadow",
             choices=("shadow", "levy")),
        _opt("max_country_share", "float",
             "refining stage: largest share of a member's demand that sites in any single outside country "
             "may supply (blank = off; same as max_country_share_refining)", "share", default=None, min=0, max=1),
        _opt("max_country_share_refining", "float",
             "refining stage: largest share of a member's demand refined (or sold) in any single outside "
             "country (blank = max_country_share)", "share", default=None, min=0, max=1),
        _opt("max_country_share_mining", "float",
             "mining stage: largest share of a member's demand mined in any single outside country "
             "(blank = off)", "share", default=None, min=0, max=1),
        _opt("min_esg_score", "float", "candidates with a lower (or blank) esg_score cannot be built "
             "(blank = off)", "score 0..100", default=None, min=0, max=100),
        _opt("freight_usd_per_t_km", "float", "default transport cost per tonne-kilometre", "USD/(t km)",
             default=0.0, min=0, max=1e3),
        _opt("supply_arcs_per_site", "int",
             "sparse arcs: each mine ships only to the k refineries of its mineral where its ore is cheapest "
             "to move and refine, and each refinery takes ore only from the k mines whose ore is cheapest to "
             "mine and move there; pairs in `transport` always stay (blank = every pair: exact)", "arcs", default=None, min=1, max=100000),
        _opt("host_min_share", "float", "the member hosting a site pays at least this share of its capex "
             "(blank = off)", "share", default=None, min=0, max=1),
        _opt("max_financiers", "int", "at most this many members pay for one site (blank = off)", "members",
             default=None, min=1, max=1000),
        _opt("min_ticket_share", "float", "each member paying for a site pays at least this share of its public "
             "capex (blank = off)", "share", default=None, min=0, max=1),
        _opt("burden_tolerance", "float", "allowed deviation of each member's share of present-value capex "
             "from its burden_share, as a share of the total (blank = off)", "share", default=None, min=0, max=1),
        _opt("min_benefit_ratio", "float", "each member's benefit share >= this x its cost share (blank = off)",
             "ratio", default=None, min=0, max=10),
        _opt("cvar_alpha", "float", "CVaR level: the expected cost of the worst (1 - alpha) share of scenarios "
             "(blank = 0.9 when cvar_weight is set)", "share", default=None, min=0, max=0.999),
        _opt("cvar_weight", "float", "weight of the CVaR of scenario cost added to the expected cost in the "
             "objective (blank = off: risk-neutral)", "x", default=None, min=0, max=1000),
    )
}

SHEETS: dict[str, Sheet] = {
    s.name: s
    for s in (
        Sheet("settings", "model-wide settings, one key per row", (
            _c("key", "str", "setting name"),
            _opt("value", "str", "setting value (type depends on the key)", default=None),
        ), key=("key",)),
        Sheet("periods", "planning periods", (
            _c("period", "int", "first year of the period", "year", min=1900, max=2200),
            _c("years", "int", "length of the period", "years", min=1, max=100),
            _opt("carbon_price_usd_per_tco2e", "float", "carbon price in this period (blank = the setting)",
                 "USD/tCO2e", default=None, min=0, max=1e6),
        ), key=("period",)),
        Sheet("minerals", "minerals modelled", (
            _c("mineral", "str", "mineral id"),
            _opt("name", "str", "display name", default=""),
            _opt("max_country_share", "float", "refining-stage cap for this mineral (blank = the setting)", "share",
                 default=None, min=0, max=1),
            _opt("min_allied_share", "float", "least share of each member's supply of this mineral mined and "
                 "refined in alliance or partner countries (blank = off)", "share", default=None, min=0, max=1),
            _opt("price_usd_per_t", "float", "the mineral's market price, against which the plausibility checks "
                 "judge costs and the value of lost supply (blank: the median cost of its market sites)", "USD/t",
                 default=None, min=0, max=MAX_USD_PER_T),
            _opt("unmet_penalty_usd_per_t", "float", "value of a tonne of this mineral's demand left unmet: the "
                 "value of lost supply (blank = settings.unmet_penalty_usd_per_t)", "USD/t", default=None, min=0,
                 max=MAX_USD_PER_T),
        ), key=("mineral",)),
        Sheet("countries", "countries hosting sites or members", (
            _c("country", "str", "ISO3 code (NA is Namibia, not a missing value)"),
            _opt("name", "str", "display name", default=""),
            _opt("member", "str", "alliance member the country belongs to (blank if none)", default=""),
            _c("risk_score", "float", "supply risk score (0 best .. 1 worst)", "score 0..1", min=0, max=1),
            _c("lat", "float", "latitude", "deg", min=-90, max=90),
            _c("lon", "float", "longitude", "deg", min=-180, max=180),
            _opt("partner", "choice", "yes | no: a partner country outside the alliance whose supply counts as "
                 "allied content", default="no", choices=YES_NO),
            _opt("aggregate", "choice", "yes | no: a group of countries (say, the rest of the world), not one: "
                 "its lat/lon is no place, so the map draws none of its sites or lines, and plan stress labels "
                 "its stop as a block", default="no", choices=YES_NO),
            _opt("water_stress", "float", "baseline water stress of the country (WRI Aqueduct scale 0 low .. 5 "
                 "extremely high; sites without their own value take this)", "score 0..5", default=None,
                 min=0, max=5),
        ), key=("country",)),
        Sheet("members", "alliance members (demand centres)", (
            _c("member", "str", "member id"),
            _opt("name", "str", "display name", default=""),
            _c("lat", "float", "latitude of the demand centre", "deg", min=-90, max=90),
            _c("lon", "float", "longitude of the demand centre", "deg", min=-180, max=180),
            _opt("burden_share", "float", "target share of the alliance's present-value capex (the shares "
                 "given sum to 1)", "share", default=None, min=0, max=1),
            _opt("active", "choice", "yes | no: no solves as if the member had left", default="yes",
                 choices=("yes", "no")),
        ), key=("member",)),
        Sheet("sites", "existing and candidate mines, refineries, recycling plants and market sources", (
            _c("site", "str", "site id"),
            _opt("name", "str", "display name", default=""),
            _c("country", "str", "ISO3 code of the host country"),
            _c("stage", "choice", "mine | refinery | recycling | market", choices=STAGES),
            _c("mineral", "str", "mineral id"),
            _c("status", "choice", "existing | candidate", choices=STATUSES),
            _c("capacity_tpy", "float", "output capacity, tonnes of contained mineral per year", "t/yr",
               min=0, max=MAX_TONNES),
            _opt("capex_musd", "float", "capital cost (candidates only)", "MUSD", default=0.0, min=0, max=MAX_MUSD),
            _opt("private_share", "float", "share of the capex private investors carry (blank: "
                 "settings.private_share); the members pay the rest, the public capex", "share", default=None,
                 min=0, max=1),
            _opt("fixed_opex_musd_per_yr", "float", "fixed operating cost while online", "MUSD/yr",
                 default=0.0, min=0, max=MAX_MUSD),
            _opt("var_cost_usd_per_t", "float", "variable cost per tonne of output", "USD/t", default=0.0,
                 min=0, max=MAX_USD_PER_T),
            _opt("yield", "float", "t out per t in (refinery: refined per raw; recycling: per t scrap)",
                 "t/t", default=None, min=0, max=1, min_exclusive=True),
            _opt("emissions_tco2e_per_t", "float", "emissions per tonne of output", "tCO2e/t",
                 default=0.0, min=0, max=1e6),
            _opt("esg_score", "float", "ESG score (blank = unknown, fails an ESG screen)", "score 0..100",
                 default=None, min=0, max=100),
            _opt("water_m3_per_t", "float", "fresh water withdrawn per tonne of output (blank = 0)", "m3/t",
                 default=0.0, min=0, max=1e7),
            _opt("water_stress", "float", "baseline water stress at the site (blank: the country's; unknown "
                 "fails a water-stress standard)", "score 0..5", default=None, min=0, max=5),
            _opt("tailings_risk", "float", "tailings-facility risk (blank = unknown, fails a tailings standard)",
                 "score 0..5", default=None, min=0, max=5),
            _opt("fpic", "choice", "free, prior and informed consent obtained: yes | no (blank = unknown, fails "
                 "a standard requiring it)", default="", choices=("",) + YES_NO),
            _opt("lead_time_years", "float", "years from build decision to first output", "years",
                 default=0.0, min=0, max=200),
            _opt("construction_years", "float", "years of construction before first output, the end of the "
                 "lead time (blank: construction starts at the investment decision); milestones only", "years",
                 default=None, min=0, max=200),
            _opt("ramp_up_years", "float", "years from first output to full capacity (blank: "
                 "settings.ramp_up_years); milestones only", "years", default=None, min=0, max=50),
            _opt("group", "str", "candidates sharing a group are mutually exclusive", default=""),
            _opt("decision", "choice", "blank | force_build | exclude", default="", choices=DECISIONS),
            _opt("lat", "float", "latitude (blank: the country's)", "deg", default=None, min=-90, max=90),
            _opt("lon", "float", "longitude (blank: the country's)", "deg", default=None, min=-180,
                 max=180),
        ), key=("site",)),
        Sheet("demand", "refined demand per member", (
            _c("member", "str", "member id"),
            _c("mineral", "str", "mineral id"),
            _c("period", "int", "period (first year)", "year"),
            _c("demand_tpy", "float", "refined demand", "t/yr", min=0, max=MAX_TONNES),
        ), key=("member", "mineral", "period")),
        Sheet("scrap", "scrap available to recycling sites in a member's countries", (
            _c("member", "str", "member id"),
            _c("mineral", "str", "mineral id"),
            _c("period", "int", "period (first year)", "year"),
            _c("scrap_tpy", "float", "scrap feed available", "t/yr", min=0, max=MAX_TONNES),
        ), key=("member", "mineral", "period"), optional=True),
        Sheet("transport", "transport cost overrides", (
            _c("origin", "str", "origin site id"),
            _c("destination", "str", "destination site or member id"),
            _c("cost_usd_per_t", "float", "transport cost", "USD/t", min=0, max=MAX_USD_PER_T),
        ), key=("origin", "destination"), optional=True),
        Sheet("scenarios", "scenarios of the two-stage stochastic program", (
            _c("scenario", "str", "scenario id"),
            _c("probability", "float", "probability (all sum to 1)", "share", min=0, max=1),
            _opt("demand_multiplier", "float", "multiplier on all demand", "x", default=1.0, min=0, max=1000),
            _opt("shock_years", "float", "how long within each period the scenario's disruption lasts: a stock "
                 "releases at most stock / shock_years t/yr (blank = the whole period)", "years", default=None,
                 min=0, max=100, min_exclusive=True),
            _opt("description", "str", "what happens in the scenario (documentation only; plan scenarios "
                 "--sample writes it)", default=""),
        ), key=("scenario",), optional=True),
        Sheet("market_tranches", "a supply curve: further tranches of a market site beyond its own capacity, "
              "each at a premium over the market's cost (supply beyond the announced pipeline); each tranche is "
              "a market site of its own, SITE/TRANCHE", (
            _c("site", "str", "the market site"),
            _c("tranche", "str", "tranche id (unique for the site)"),
            _opt("period", "int", "period it is open in (blank = all)", "year", default=None),
            _c("capacity_tpy", "float", "the tranche's capacity", "t/yr", min=0, max=MAX_TONNES),
            _c("premium_usd_per_t", "float", "its price over the market site's var_cost_usd_per_t", "USD/t", min=0,
               max=MAX_USD_PER_T),
            _opt("note", "str", "why (documentation only)", default=""),
        ), key=("site", "tranche", "period"), optional=True),
        Sheet("capacity_by_period", "a site's capacity in given periods, replacing sites.capacity_tpy there (an "
              "outlook's supply per period, a project phased in)", (
            _c("site", "str", "site id"),
            _c("period", "int", "period (first year)", "year"),
            _c("capacity_tpy", "float", "output capacity in the period", "t/yr", min=0, max=MAX_TONNES),
        ), key=("site", "period"), optional=True),
        Sheet("scenario_demand", "a scenario's demand multiplier for one mineral (a demand swing): overrides the "
              "scenario's demand_multiplier for that mineral", (
            _c("scenario", "str", "scenario id"),
            _c("mineral", "str", "mineral id"),
            _c("demand_multiplier", "float", "multiplier on every member's demand of the mineral in the scenario",
               "x", min=0, max=1000),
        ), key=("scenario", "mineral"), optional=True),
        Sheet("risks", "export-stop risks from which plan scenarios --sample draws scenarios: in each period of L "
              "years a row's country stops exporting (its sites of the mineral) with probability "
              "1 - (1 - yearly_probability)^L, for a drawn duration d; the period's availability is then "
              "1 - (min(d, L) / L) (1 - availability)", (
            _c("country", "str", "country whose exports may stop"),
            _opt("mineral", "str", "mineral id (blank = all)", default=""),
            _c("yearly_probability", "float", "probability that a stop starts in any one year", "share",
               min=0, max=1),
            _opt("duration", "choice", "how the stop's length is drawn: fixed | uniform (between duration_years "
                 "and duration_max_years) | exponential (mean duration_years)", default="fixed",
                 choices=("fixed", "uniform", "exponential")),
            _c("duration_years", "float", "the stop's length (fixed), shortest length (uniform) or mean length "
               "(exponential)", "years", min=0, max=100, min_exclusive=True),
            _opt("duration_max_years", "float", "the longest length (uniform only)", "years", default=None,
                 min=0, max=100, min_exclusive=True),
            _c("availability", "float", "share of the country's capacity of the mineral available while stopped",
               "share", min=0, max=1),
            _opt("group", "str", "correlation group: the rows of one group stop together, in the same periods "
                 "(they must share yearly_probability); blank = independent", default=""),
            _opt("note", "str", "why (documentation only)", default=""),
        ), key=("country", "mineral"), optional=True),
        Sheet("demand_swings", "demand swings from which plan scenarios --sample draws each scenario's "
              "demand multiplier per mineral (written to scenario_demand)", (
            _c("mineral", "str", "mineral id"),
            _c("low_multiplier", "float", "the lowest multiplier", "x", min=0, max=100),
            _c("high_multiplier", "float", "the highest multiplier", "x", min=0, max=100),
            _opt("mode_multiplier", "float", "the most likely multiplier (triangular distribution; blank = "
                 "uniform between low and high)", "x", default=None, min=0, max=100),
            _opt("note", "str", "why (documentation only)", default=""),
        ), key=("mineral",), optional=True),
        Sheet("stockpiles", "joint strategic stocks: first-stage levels released to cover shortfalls", (
            _c("mineral", "str", "mineral id"),
            _opt("member", "str", "member holding the stock (blank = alliance-wide, released to any member)",
                 default=""),
            _c("max_t", "float", "largest stock that may be held", "t", min=0, max=MAX_TONNES),
            _opt("holding_cost_usd_per_t_yr", "float", "storage and carrying cost per tonne held per year",
                 "USD/(t yr)", default=0.0, min=0, max=MAX_USD_PER_T),
            _c("acquisition_cost_usd_per_t", "float", "price of a tonne put into the stock (also the cost of "
               "replenishing a tonne released)", "USD/t", min=0, max=MAX_USD_PER_T),
        ), key=("mineral", "member"), optional=True),
        Sheet("disruptions", "reduced availability of sites in scenarios", (
            _opt("scenario", "str", "scenario id (blank = all)", default=""),
            _opt("country", "str", "country (blank = all)", default=""),
            _opt("site", "str", "site id (blank = all)", default=""),
            _opt("mineral", "str", "mineral id (blank = all)", default=""),
            _opt("period", "int", "period (blank = all)", "year", default=None),
            _c("availability", "float", "share of capacity available", "share", min=0, max=1),
        ), optional=True),
        Sheet("budgets", "the most capex each member can commit per period", (
            _c("member", "str", "member id"),
            _c("period", "int", "period (first year)", "year"),
            _c("budget_musd", "float", "capex the member can commit in the period (undiscounted)", "MUSD",
               min=0, max=MAX_MUSD),
        ), key=("member", "period"), optional=True),
        Sheet("financing_rules", "limits on the share of a project's capex a member may carry", (
            _c("member", "str", "member id"),
            _opt("country", "str", "country (blank = all)", default=""),
            _opt("site", "str", "site id (blank = all)", default=""),
            _c("max_share", "float", "largest share of a project's capex (0 = will not finance there)", "share",
               min=0, max=1),
        ), key=("member", "country", "site"), optional=True),
        Sheet("limits", "emissions and water caps, alliance-wide or for one member's or one country's territory", (
            _c("period", "int", "period (first year)", "year"),
            _opt("member", "str", "member whose countries' sites the caps cover (blank = see country)", default=""),
            _opt("country", "str", "country whose sites the caps cover (blank with member blank = every site "
                 "serving the alliance)", default=""),
            _opt("emissions_cap_tco2e_per_yr", "float", "cap on emissions of the covered sites (blank = off)",
                 "tCO2e/yr", default=None, min=0, max=1e13),
            _opt("water_cap_m3_per_yr", "float", "cap on fresh water withdrawn by the covered sites (blank = off)",
                 "m3/yr", default=None, min=0, max=1e15),
        ), key=("period", "member", "country"), optional=True),
        Sheet("standards", "shared environmental and social standards: a candidate failing any cannot be built", (
            _c("criterion", "str", "a numeric sites column (esg_score, emissions_tco2e_per_t, water_m3_per_t, "
               "water_stress, tailings_risk, ...) or fpic"),
            _opt("stage", "choice", "stage it applies to (blank = all)", default="", choices=("",) + STAGES),
            _opt("min", "float", "least value allowed (blank = none)", default=None),
            _opt("max", "float", "largest value allowed (blank = none)", default=None),
            _opt("note", "str", "why the standard exists (documentation only)", default=""),
        ), key=("criterion", "stage"), optional=True),
    )
}

# Plausibility (planner/dataset/plausibility.py): values outside these get a warning naming the cell
# and the likely slip, not an error. The most capital-intensive mines and refineries cost about
# 100,000 USD per tonne of yearly capacity (rare-earth separation; lithium hydroxide 20,000-50,000;
# copper 10,000-30,000): ten times that is a slip, not a project.
CAPEX_PER_TPA_MAX_USD = 1_000_000.0
UNIT_COST_MAX_FACTOR = 50.0
DEMAND_MAX_FACTOR = 100.0
PLAUSIBLE = {
    ("sites", "capex_musd"): f"capex per tonne of yearly capacity at most {CAPEX_PER_TPA_MAX_USD:,.0f} USD "
                             "(above: USD typed for MUSD, or the capacity in kt)",
    ("sites", "var_cost_usd_per_t"): f"at most {UNIT_COST_MAX_FACTOR:g} x the median unit cost of the mineral's "
                                     "market sites (refineries, mines, recycling)",
    ("settings", "unmet_penalty_usd_per_t"): "at least the median unit cost of each mineral's market sites",
    ("demand", "demand_tpy"): f"at most {DEMAND_MAX_FACTOR:g} x the capacity of every site of the mineral",
}

# Sheets that carry documentation only; never warned about.
PASSIVE_SHEETS = ("sources", "readme", "README", "notes")
