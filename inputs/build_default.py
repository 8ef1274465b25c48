"""Build the shipped default workbook `inputs/alliance_2026.xlsx` from the sourced reference
tables in `../shared/data/` (read its README). Run by maintainers only (`make default-workbook`);
`plan` never reads `../shared` at run time.

Every number written is either read from a named table (kind `sourced`), calculated from
sourced numbers by a rule stated here and in the `sources` sheet (`derived estimate`), or a
judgement (`judgement estimate`), and the `sources` sheet says which for each sheet, column
and item.

Units: tonnes of contained mineral (t Li, t Ni, t Co, t graphite, t magnet REE, t Cu) per year.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
LCE_PER_LI = 5.323  # t LCE per t Li (shared/data README)
LIOH_PER_LI = 41.96 / 6.94  # t LiOH.H2O per t Li (molar masses)

MINERALS = {  # id: (IEA / shared name, display name, unit note)
    "LI": ("Lithium", "Lithium (t Li content)"),
    "NI": ("Nickel", "Nickel (t Ni)"),
    "CO": ("Cobalt", "Cobalt (t Co)"),
    "GRA": ("Graphite", "Graphite (t graphite)"),
    "REE": ("Rare Earth Elements", "Magnet rare earths Nd+Pr+Dy+Tb (t)"),
    "CU": ("Copper", "Copper (t Cu)"),
}
CSV_MINERAL = {"Lithium": "LI", "Nickel": "NI", "Cobalt": "CO", "Graphite": "GRA", "Rare earths": "REE",
               "Copper": "CU"}

MEMBERS = {  # id: (name, shared-data name, demand centre lat, lon)
    "US": ("United States", "United States", 39.83, -98.58),
    "EU": ("European Union", "European Union", 50.11, 8.68),
    "UK": ("United Kingdom", "United Kingdom", 52.49, -1.89),
    "JP": ("Japan", "Japan", 35.68, 139.69),
    "AU": ("Australia", "Australia", -33.87, 151.21),
    "NZ": ("New Zealand", "New Zealand", -36.85, 174.76),
}
MEMBER_CENTRES_NOTE = ("judgement estimate: demand centre = geographic centre of the contiguous US; "
                       "Frankfurt (EU); Birmingham (UK); Tokyo (JP); Sydney (AU); Auckland (NZ)")

# ISO3 -> (name, member or "", approx. centroid lat, lon). Centroids: judgement estimates
# (approximate geographic centre, +/- 2 deg), used only for default transport distances.
COUNTRIES = {
    "USA": ("United States", "US", 39.8, -98.6), "CAN": ("Canada", "", 56.1, -106.3),
    "AUS": ("Australia", "AU", -25.3, 133.8), "NZL": ("New Zealand", "NZ", -41.5, 172.8),
    "JPN": ("Japan", "JP", 36.2, 138.3), "GBR": ("United Kingdom", "UK", 54.0, -2.0),
    "DEU": ("Germany", "EU", 51.2, 10.4), "FRA": ("France", "EU", 46.6, 2.2),
    "FIN": ("Finland", "EU", 64.0, 26.0), "SWE": ("Sweden", "EU", 62.0, 15.0),
    "ESP": ("Spain", "EU", 40.4, -3.7), "PRT": ("Portugal", "EU", 39.6, -8.0),
    "CZE": ("Czechia", "EU", 49.8, 15.5), "EST": ("Estonia", "EU", 58.6, 25.0),
    "BEL": ("Belgium", "EU", 50.5, 4.5), "POL": ("Poland", "EU", 52.0, 19.1),
    "NOR": ("Norway", "", 60.5, 8.5), "GRL": ("Greenland", "", 72.0, -40.0),
    "SRB": ("Serbia", "", 44.0, 20.9), "CHN": ("China", "", 35.9, 104.2),
    "CHL": ("Chile", "", -35.7, -71.5), "ARG": ("Argentina", "", -38.4, -63.6),
    "COD": ("Congo, Dem. Rep.", "", -4.0, 21.8), "PER": ("Peru", "", -9.2, -75.0),
    "RUS": ("Russian Federation", "", 61.5, 105.3), "IND": ("India", "", 20.6, 79.0),
    "IDN": ("Indonesia", "", -0.8, 113.9), "PHL": ("Philippines", "", 12.9, 121.8),
    "NCL": ("New Caledonia", "", -20.9, 165.6), "ZWE": ("Zimbabwe", "", -19.0, 29.2),
    "MOZ": ("Mozambique", "", -18.7, 35.5), "MDG": ("Madagascar", "", -18.8, 46.9),
    "BRA": ("Brazil", "", -14.2, -51.9), "TZA": ("Tanzania", "", -6.4, 34.9),
    "MMR": ("Myanmar", "", 21.9, 95.9), "MYS": ("Malaysia", "", 4.2, 101.9),
    "XRW": ("Rest of world (aggregate)", "", 0.0, 20.0),
}
IEA_TO_ISO = {"Chile": "CHL", "Democratic Republic of Congo": "COD", "Peru": "PER", "China": "CHN",
              "Russia": "RUS", "United States": "USA", "Japan": "JPN", "India": "IND", "Indonesia": "IDN",
              "Australia": "AUS", "Finland": "FIN", "Canada": "CAN", "Zimbabwe": "ZWE", "Argentina": "ARG",
              "Philippines": "PHL", "New Caledonia": "NCL", "Mozambique": "MOZ", "Madagascar": "MDG",
              "Brazil": "BRA", "Tanzania": "TZA", "Sweden": "SWE", "Germany": "DEU", "Myanmar": "MMR",
              "Malaysia": "MYS", "Rest of world": "XRW"}
NAME_TO_ISO = {v[0]: k for k, v in COUNTRIES.items()} | {"Czechia": "CZE"}

# Baseline water stress by country, WRI Aqueduct scale 0 (low) .. 5 (extremely high). shared/data has
# no water-stress table: these are the modeller's recollection of WRI Aqueduct 4.0 country rankings,
# rounded to 0.5 (flagged recall - VERIFY in the sources sheet); GRL, NCL and XRW are judgement.
WATER_STRESS = {"USA": 2.5, "CAN": 0.5, "AUS": 1.5, "NZL": 0.5, "JPN": 2.0, "GBR": 1.5, "DEU": 2.0, "FRA": 2.0,
                "FIN": 0.5, "SWE": 0.5, "ESP": 3.5, "PRT": 3.5, "CZE": 2.0, "EST": 0.5, "BEL": 4.0, "POL": 2.5,
                "NOR": 0.5, "SRB": 1.5, "CHN": 3.0, "CHL": 4.0, "ARG": 2.0, "COD": 0.5, "PER": 2.5, "RUS": 1.0,
                "IND": 4.0, "IDN": 1.5, "PHL": 1.5, "ZWE": 2.5, "MOZ": 0.5, "MDG": 1.0, "BRA": 1.0, "TZA": 1.0,
                "MMR": 0.5, "MYS": 0.5, "GRL": 0.0, "NCL": 0.5, "XRW": 2.0}
WATER_STRESS_NOTE = ("judgement estimate (recall - VERIFY): WRI Aqueduct 4.0 country baseline water stress, "
                     "from memory, rounded to 0.5; no water-stress table in shared/data")
WATER_STRESS_JUDGEMENT = {"GRL": "judgement estimate: ice-sheet territory without an Aqueduct score, taken as low",
                          "NCL": "judgement estimate: small island territory without an Aqueduct score",
                          "XRW": "judgement estimate: middle of the scale for the rest-of-world aggregate"}
# Fresh water per t of contained output, m3/t, by (mineral, stage).
WATER = {
    ("LI", "mine"): (2000.0, "sourced (order of magnitude): brine evaporation ~2,000 m3 water per t Li "
                     "(mostly evaporated brine), emissions_intensity.csv (biologyinsights.com); applied to every "
                     "lithium mine, an upper estimate for hard rock"),
    ("LI", "refinery"): (round(170 * LIOH_PER_LI, 1), "derived estimate: hard-rock -> LiOH 170 m3 per t LiOH "
                         "(emissions_intensity.csv, biologyinsights.com) x 6.05 t LiOH per t Li"),
    ("NI", "mine"): (250.0, "judgement estimate (no sourced nickel water intensity in shared/data)"),
    ("NI", "refinery"): (100.0, "judgement estimate (no sourced nickel water intensity in shared/data)"),
    ("CO", "mine"): (500.0, "judgement estimate (no sourced cobalt water intensity in shared/data)"),
    ("CO", "refinery"): (200.0, "judgement estimate (no sourced cobalt water intensity in shared/data)"),
    ("GRA", "mine"): (50.0, "judgement estimate (no sourced graphite water intensity in shared/data)"),
    ("GRA", "refinery"): (100.0, "judgement estimate (no sourced graphite water intensity in shared/data)"),
    ("REE", "mine"): (500.0, "judgement estimate (no sourced rare-earth water intensity in shared/data)"),
    ("REE", "refinery"): (500.0, "judgement estimate (no sourced rare-earth water intensity in shared/data)"),
    ("CU", "mine"): (100.0, "judgement estimate (no sourced copper water intensity in shared/data)"),
    ("CU", "refinery"): (20.0, "judgement estimate (no sourced copper water intensity in shared/data)"),
    ("*", "recycling"): (50.0, "judgement estimate: hydrometallurgical recycling, no sourced figure"),
    ("*", "market"): (0.0, "judgement estimate: market supply's water is used outside the modelled chain (not "
                      "counted)"),
}

# Market prices, USD per t contained: judgement estimates (2024-25 spot levels as recalled by the
# modeller; shared/data has no price table). The US DoD NdPr floor (US$110/kg, export_controls.csv)
# is an upper reference for REE.
PRICE = {"LI": 53_000, "NI": 16_000, "CO": 25_000, "GRA": 4_500, "REE": 60_000, "CU": 9_500}
PRICE_NOTE = ("judgement estimate of 2024-25 market prices per t contained: Li 10,000 USD/t LCE x 5.323 = "
              "53,000; Ni 16,000; Co 25,000; battery-grade graphite 4,500; NdPr 60,000 (below the US DoD "
              "floor of 110,000 in export_controls.csv); Cu 9,500")

# Unit operating costs by stage, USD per t contained output.
OPEX = {
    ("LI", "mine"): (3_400 * LCE_PER_LI, "derived estimate: facility_defaults_derived.csv hard-rock Li opex "
                     "3,400 USD/t LCE x 5.323"),
    ("LI", "refinery"): (3_900 * LIOH_PER_LI, "derived estimate: facility_defaults_derived.csv spodumene->LiOH "
                         "opex 3,900 USD/t LiOH x 6.05 t LiOH per t Li"),
    ("NI", "mine"): (6_000, "judgement estimate (no sourced Ni mining/HPAL opex in shared/data)"),
    ("NI", "refinery"): (2_000, "judgement estimate (no sourced Ni refining opex in shared/data)"),
    ("CO", "mine"): (15_000, "judgement estimate (no sourced Co mining opex in shared/data)"),
    ("CO", "refinery"): (3_000, "judgement estimate (no sourced Co refining opex in shared/data)"),
    ("GRA", "mine"): (460 / 0.95, "derived estimate: facility_defaults_derived.csv graphite mine 460 USD/t "
                      "concentrate / 0.95 t graphite per t concentrate"),
    ("GRA", "refinery"): (3_000, "sourced: facility_defaults_derived.csv AAM plant opex central 3,000 USD/t"),
    ("REE", "mine"): (10_000, "judgement estimate (no sourced REE mining opex)"),
    ("REE", "refinery"): (40_660, "sourced: facility_defaults_derived.csv REE separation opex 40,660 USD/t "
                          "NdPr (Nolans)"),
    ("CU", "mine"): (3_000, "sourced: facility_defaults_derived.csv copper mine opex central 3,000 USD/t"),
    ("CU", "refinery"): (500, "judgement estimate (smelting/refining charges; no sourced opex)"),
}
# Capex per t/yr of contained output capacity (USD), central values.
CAPEX_PER_TPY = {
    ("LI", "mine"): (9_000 * LCE_PER_LI, "derived estimate: hard-rock Li mine 9,000 USD per annual t LCE x 5.323"),
    ("LI", "refinery"): (25_000 * LIOH_PER_LI, "derived estimate: spodumene->LiOH 25,000 USD per annual t LiOH x 6.05"),
    ("NI", "mine"): (20_000, "derived estimate: HPAL 32,000 USD per annual t Ni (facility_defaults_derived.csv) "
                     "split 60% mine+leach / 40% refinery (judgement)"),
    ("NI", "refinery"): (8_000, "sourced: Ni refinery brownfield 8,000 USD per annual t Ni (facility_defaults_derived.csv)"),
    ("CO", "mine"): (30_000, "judgement estimate (no sourced Co mine capex)"),
    ("CO", "refinery"): (15_000, "sourced: Co refinery 15,000 USD per annual t Co (facility_defaults_derived.csv)"),
    ("GRA", "mine"): (2_600 / 0.95, "derived estimate: graphite mine 2,600 USD per annual t concentrate / 0.95"),
    ("GRA", "refinery"): (15_600, "sourced: AAM plant 15,600 USD per annual t (facility_defaults_derived.csv)"),
    ("REE", "mine"): (69_000, "sourced: REE mine expansion 69,000 USD per annual t NdPr-eq (facility_defaults_derived.csv)"),
    ("REE", "refinery"): (63_000, "sourced: REE cracking+separation 63,000 USD per annual t (facility_defaults_derived.csv)"),
    ("CU", "mine"): (16_000, "sourced: copper mine 16,000 USD per annual t Cu (facility_defaults_derived.csv)"),
    ("CU", "refinery"): (5_700, "sourced: copper smelter 5,700 USD per annual t cathode (facility_defaults_derived.csv)"),
}
# Emissions, tCO2e per t contained output, by stage.
EMISSIONS = {
    ("LI", "mine"): (9 * LCE_PER_LI / 3, "derived estimate: spodumene route 9 tCO2e/t LCE (Roskill, "
                     "emissions_intensity.csv) x 5.323, one third to mining (judgement)"),
    ("LI", "refinery"): (9 * LCE_PER_LI * 2 / 3, "derived estimate: two thirds of the spodumene route to conversion"),
    ("NI", "mine"): (14, "derived estimate: HPAL 20 tCO2e/t Ni (emissions_intensity.csv), 70% to mine+leach"),
    ("NI", "refinery"): (6, "derived estimate: HPAL 20 tCO2e/t Ni, 30% to refining"),
    ("CO", "mine"): (5, "judgement estimate (no Co figure in shared/data)"),
    ("CO", "refinery"): (5, "judgement estimate (no Co figure in shared/data)"),
    ("GRA", "mine"): (1, "judgement estimate"),
    ("GRA", "refinery"): (9.6, "sourced: natural-graphite anode 9.6 tCO2e/t (emissions_intensity.csv, recall)"),
    ("REE", "mine"): (5, "judgement estimate"),
    ("REE", "refinery"): (20, "sourced: REE separation 20 tCO2e/t (facility_defaults_derived.csv central)"),
    ("CU", "mine"): (2.5, "derived estimate: copper cathode 4 tCO2e/t (Thunder Said Energy), 60% to mining"),
    ("CU", "refinery"): (1.5, "derived estimate: 40% of 4 tCO2e/t to smelting"),
}
MARKET_EMISSIONS = {  # incumbent benchmark of the whole chain, tCO2e per t contained
    "LI": 9 * LCE_PER_LI, "NI": 44, "CO": 10, "GRA": 13.8, "REE": 25, "CU": 4}
MARKET_EMISSIONS_NOTE = ("derived estimate: whole-chain incumbent benchmarks from emissions_intensity.csv: Li "
                         "spodumene route 9 t/t LCE x 5.323; Ni 70% RKEF 54 + 30% HPAL 20 = 44; Co 10 (judgement); "
                         "synthetic graphite anode 13.8; REE ionic clay 17.8-24.3 -> 25 incl. mining; Cu 4")
REFINERY_YIELD = {"LI": 0.9, "NI": 0.95, "CO": 0.95, "GRA": 0.9, "REE": 0.9, "CU": 0.98}
YIELD_NOTE = ("judgement estimate of refinery recovery (t refined out per t contained in): Li 0.9, Ni 0.95, "
              "Co 0.95, graphite 0.9, REE 0.9, Cu 0.98")
LEAD = {"mine": 3, "refinery": 3, "recycling": 3}
LEAD_NOTE = ("sourced: FID-to-production 3 years for mines and 3-3.5 for refineries (lead_times.csv, "
             "facility_defaults_derived.csv); 0 for projects under construction or commissioning (judgement)")

# Recycling: black-mass metal content (judgement estimate for NMC black mass) and recovery yields
# (EU Battery Regulation 2031 targets, recycling.csv).
BLACK_MASS_CONTENT = {"LI": 0.035, "NI": 0.20, "CO": 0.06}
RECYCLING_YIELD = {"LI": 0.8, "NI": 0.95, "CO": 0.95}
RECYCLING_CAPEX_SPLIT = {"LI": 0.3, "NI": 0.5, "CO": 0.2}


class Provenance:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, sheet, item, column, note, kind=None):
        if kind is None:
            kind = ("sourced" if note.startswith("sourced") else "derived estimate" if note.startswith("derived")
                    else "judgement estimate" if note.startswith("judgement") else "sourced")
        self.rows.append((sheet, item, column, kind, note))


def _num(x):
    try:
        v = float(x)
        return v if v == v else None
    except (TypeError, ValueError):
        return None


def classify(row) -> list[str]:
    """Stages a candidate_sites.csv row becomes: ['mine'], ['refinery'], ['mine', 'refinery'] or []."""
    st = str(row["stage"]).lower()
    mineral = CSV_MINERAL.get(row["mineral"])
    if mineral is None:
        return []
    if any(k in st for k in ("magnet", "metals & alloys")) and "separation" not in st:
        return []  # downstream of refined supply: outside the model's scope
    has_mine = any(k in st for k in ("mine", "dle", "brine", "hpal"))
    has_ref = any(k in st for k in ("refin", "chemical", "lioh", "li2co3", "processing", "separation",
                                    "cracking", "smelter", "converter", "conversion", "anode", "battery chemicals",
                                    "hpal", "brine evaporation", "dle"))
    if "mine + concentrator" in st and not any(k in st for k in ("conversion", "refinery", "separation")):
        has_ref = False
    if mineral == "GRA" and "mine" in st:
        has_ref = False
    if has_mine and has_ref:
        return ["mine", "refinery"]
    if has_ref:
        return ["refinery"]
    if has_mine or "mines" in st:
        return ["mine"]
    return []


def capacity_contained(row, mineral) -> tuple[float | None, str]:
    cap, unit = _num(row["capacity_common"]), str(row["common_unit"])
    if cap is None:
        return None, ""
    if "LCE" in unit:
        return cap / LCE_PER_LI, f"sourced: candidate_sites.csv capacity {cap:,.0f} {unit} / 5.323 t LCE per t Li"
    if mineral == "GRA" and "concentrate" in unit:
        return cap * 0.95, f"derived estimate: candidate_sites.csv {cap:,.0f} {unit} x 0.95 t graphite per t concentrate"
    if mineral == "REE" and "REO in concentrate" in unit:
        return None, ""
    return cap, f"sourced: candidate_sites.csv capacity {cap:,.0f} {unit}"


TYPICAL_CAPACITY = {  # judgement estimates of typical project scale where the source gives none
    "LI": 25_000 / LCE_PER_LI, "NI": 20_000, "CO": 1_500, "GRA": 25_000, "REE": 2_000, "CU": 200_000}
KNOWN_SCALE = {  # judgement estimates for named projects without a capacity in candidate_sites.csv
    "S071": (450_000, "judgement estimate: Resolution Copper ~1 bn lb/yr at full rate (~25% of US demand, candidate_sites.csv note)"),
    "S072": (180_000, "judgement estimate: Bingham Canyon/Kennecott cathode ~180 kt/yr (recall)"),
    "S073": (200_000, "judgement estimate: Olympic Dam ~200 kt/yr copper (recall)"),
    "S074": (400_000, "judgement estimate: Aurubis Hamburg ~400 kt/yr cathode (recall)"),
    "S075": (200_000, "judgement estimate: Ronnskar ~200 kt/yr cathode (recall)"),
    "S033": (1_294, "sourced: candidate_sites.csv MP Materials 2024 NdPr oxide 1,294 t"),
    "S065": (120_000 * 0.2, "derived estimate: Vittangi 120,000 t/yr permitted mining x ~20% graphite grade (judgement)"),
}


def build(shared: Path) -> tuple[dict[str, pd.DataFrame], dict[str, object], Provenance]:
    prov = Provenance()
    cs = pd.read_csv(shared / "candidate_sites.csv")
    supply = pd.read_csv(shared / "supply_mining_refining_iea.csv")
    demand_d = pd.read_csv(shared / "demand_alliance_derived.csv")
    wgi = pd.read_csv(shared / "country_risk_wgi.csv")
    proj = pd.read_csv(shared / "demand_projections_iea.csv")
    recyc = pd.read_csv(shared / "recycling.csv")
    intensity = pd.read_csv(shared / "battery_mineral_intensity.csv")

    # --- settings ----------------------------------------------------------------------
    settings = {"base_year": 2026, "discount_rate": 0.05, "unmet_penalty_usd_per_t": 100_000,
                "risk_weight_usd_per_t": 10_000, "carbon_price_usd_per_tco2e": 50, "max_country_share_refining": 0.8,
                "max_country_share_mining": None,
                "min_esg_score": None, "freight_usd_per_t_km": 0.02, "host_min_share": 0.2,
                "max_financiers": 3, "min_ticket_share": 0.15, "burden_tolerance": 0.1, "min_benefit_ratio": None, "cvar_alpha": 0.9, "cvar_weight": None}
    notes = {
        "base_year": "judgement: year of the decision (this planning round)",
        "discount_rate": "judgement estimate: real 5%, between the UK Green Book 3.5% and US OMB A-4 7% (recall)",
        "unmet_penalty_usd_per_t": "judgement estimate: value of lost supply, ~2x the lithium price per t and above every price modelled",
        "risk_weight_usd_per_t": "judgement estimate: 10,000 USD/t at risk score 1 (WGI-derived scores, country_risk_wgi.csv)",
        "carbon_price_usd_per_tco2e": "judgement estimate: about the 2024 EU ETS price (~65 EUR, recall), rounded",
        "max_country_share_refining": "judgement estimate: no more than 80% of a member's demand refined in one "
                                      "outside country",
        "max_country_share_mining": "off: no mining-stage cap agreed (setting one traces every mineral's origin)",
        "min_esg_score": "off: shared/data holds no ESG scores",
        "freight_usd_per_t_km": "judgement estimate: blended bulk sea/rail freight 0.02 USD per t-km",
        "host_min_share": "judgement estimate: the member hosting a site carries at least a fifth of its public "
                          "capex (a host stake large enough to show commitment, small enough for co-financing)",
        "max_financiers": "judgement estimate: at most three members finance one site, so that each project has "
                          "few accountable lenders",
        "min_ticket_share": "judgement estimate: each financing member takes at least 15% of a site's public capex "
                            "(three tickets of 15% leave the host room for its fifth and more)",
        "burden_tolerance": "judgement estimate: each member's share of PV capex within 10 points of its GDP share",
        "min_benefit_ratio": "off",
        "cvar_alpha": "judgement: 0.9, the worst 10% of scenario probability (used by plan frontier and the summary)",
        "cvar_weight": "off: the default plan is risk-neutral; plan frontier shows the trade-off",
    }
    for k, n in notes.items():
        prov.add("settings", k, "value", n)

    periods = pd.DataFrame({"period": [2030, 2035, 2040], "years": [5, 5, 5]})
    prov.add("periods", "all", "period, years", "judgement: three 5-year periods 2030-2044 matching the IEA outlook "
             "years 2030/2035/2040 of demand_alliance_derived.csv")
    minerals = pd.DataFrame([{"mineral": k, "name": v[1]} for k, v in MINERALS.items()])
    prov.add("minerals", "all", "mineral", "sourced: the six IEA focus minerals of supply_mining_refining_iea.csv")

    # --- countries -------------------------------------------------------------------------
    risk = dict(zip(wgi["iso3"], wgi["risk_index_0to1_derived"]))
    third = wgi[wgi["alliance_status"].str.contains("third", na=False)]["risk_index_0to1_derived"].dropna()
    crow = []
    for iso, (name, member, lat, lon) in COUNTRIES.items():
        r = _num(risk.get(iso))
        if iso == "XRW":
            r, note = round(float(third.median()), 3), "derived estimate: median WGI risk index of third countries"
        elif iso == "NOR":
            r, note = 0.2, "judgement estimate: Norway missing from WGI extract; set near Finland/Sweden (0.25)"
        elif iso == "GRL":
            r, note = 0.3, "judgement estimate: Greenland not in WGI; Denmark proxy plus project risk (README §8)"
        else:
            note = "sourced: country_risk_wgi.csv risk_index_0to1_derived (World Bank WGI 2024, PV and RQ)"
        status = wgi.loc[wgi["iso3"] == iso, "alliance_status"]
        partner = "yes" if not member and len(status) and "partner" in str(status.iloc[0]) else "no"
        crow.append({"country": iso, "name": name, "member": member, "risk_score": r, "lat": lat, "lon": lon,
                     "partner": partner, "aggregate": "yes" if iso == "XRW" else "no",
                     "water_stress": WATER_STRESS[iso]})
        prov.add("countries", iso, "risk_score", note)
        prov.add("countries", iso, "water_stress", WATER_STRESS_JUDGEMENT.get(iso, WATER_STRESS_NOTE))
    prov.add("countries", "all", "lat, lon", "judgement estimate: approximate country centroids (XRW's is no "
             "place: an aggregate)")
    prov.add("countries", "all", "aggregate", "definition: XRW is the IEA outlook's 'Rest of world' remainder "
             "(shared/data supply tables), a group of countries; every other row is one country")
    prov.add("countries", "all", "member", "sourced: alliance membership (EU-27 states belong to member EU)")
    prov.add("countries", "all", "partner", "sourced: country_risk_wgi.csv alliance_status 'partner/friendly "
             "producer (assumed)' or 'partner (EEA / Danish realm)' (the status itself is an assumption there)")
    countries = pd.DataFrame(crow)
    ind = pd.read_csv(shared / "demand_split_indicators.csv")
    gdp = ind[ind["indicator"].str.startswith("GDP")].set_index("member")["value"]
    gdp_m = {k: float(gdp[v[1]]) for k, v in MEMBERS.items()}
    gdp_total = sum(gdp_m.values())
    shares = {k: round(v / gdp_total, 6) for k, v in gdp_m.items()}
    shares["US"] = round(1 - sum(v for k, v in shares.items() if k != "US"), 6)  # exact sum of 1
    members = pd.DataFrame([{"member": k, "name": v[0], "lat": v[2], "lon": v[3], "burden_share": shares[k]}
                            for k, v in MEMBERS.items()])
    prov.add("members", "all", "lat, lon", MEMBER_CENTRES_NOTE)
    prov.add("members", "all", "burden_share", "derived estimate: share of the alliance's 2024 GDP "
             "(demand_split_indicators.csv, IMF WEO estimates: " + ", ".join(f"{k} {v:.2f}" for k, v in gdp_m.items())
             + " US$ tn)")
    envelope = 20_000.0
    budgets = pd.DataFrame([{"member": k, "period": p, "budget_musd": round(envelope * shares[k], 1)}
                            for k in MEMBERS for p in (2030, 2035, 2040)])
    prov.add("budgets", "all", "budget_musd", "judgement estimate: an alliance co-investment envelope of "
             "20,000 MUSD per 5-year period (order of magnitude of announced public critical-minerals financing "
             "programmes, recall), split by GDP share")

    # --- demand ----------------------------------------------------------------------------
    inv_members = {v[1]: k for k, v in MEMBERS.items()}
    inv_minerals = {v[0]: k for k, v in MINERALS.items()}
    d = demand_d[(demand_d["scenario"] == "STEPS") & demand_d["mineral"].isin(inv_minerals)]
    # Graphite: IEA's refining series is battery-grade only, so graphite demand is cut to its clean-tech
    # (battery) share to match the supply it is met from.
    clean = (d["global_clean_tech_demand"] / d["global_total_demand"]).where(d["mineral"] == "Graphite", 1.0)
    demand = pd.DataFrame({"member": d["member"].map(inv_members), "mineral": d["mineral"].map(inv_minerals),
                           "period": d["year"].astype(int),
                           "demand_tpy": (d["demand_recommended"] * clean * 1000).round(1)})
    demand = demand.sort_values(["member", "mineral", "period"]).reset_index(drop=True)
    prov.add("demand", "all", "demand_tpy", "derived estimate: demand_alliance_derived.csv demand_recommended "
             "(STEPS, kt -> t): IEA global demand x member share of EV sales (battery minerals) or GDP/EV mix "
             "(Cu, REE); Japan understated (README §4 caveat 3); graphite x global clean-tech/total demand so that it "
             "is battery-grade demand like IEA's refining series")

    alliance_share = {}
    for mid, (mname, _) in MINERALS.items():
        x = demand_d[(demand_d["scenario"] == "STEPS") & (demand_d["mineral"] == mname) & (demand_d["year"] == 2035)]
        alliance_share[mid] = float(x["demand_recommended"].sum() / x["global_total_demand"].iloc[0])

    # --- sites -------------------------------------------------------------------------------
    sites: list[dict] = []

    def add_site(**kw):
        base = {"capex_musd": 0.0, "fixed_opex_musd_per_yr": 0.0, "yield": None, "esg_score": None,
                "lead_time_years": 0, "group": "", "decision": "", "lat": None, "lon": None}
        base.update(kw)
        sites.append(base)

    # project sites from candidate_sites.csv
    for _, r in cs.iterrows():
        mineral = CSV_MINERAL.get(r["mineral"])
        stages = classify(r)
        iso = NAME_TO_ISO.get(r["country"])
        sid = r["site_id"]
        if not stages or iso is None:
            continue
        status_text = str(r["status_2025"]).lower()
        existing = "operating" in status_text and "care" not in status_text
        under_construction = any(k in status_text for k in ("construction", "commissioning", "fid dec"))
        cap, cap_note = capacity_contained(r, mineral)
        if sid in KNOWN_SCALE:
            cap, cap_note = KNOWN_SCALE[sid]
        if cap is None:
            cap = TYPICAL_CAPACITY[mineral]
            cap_note = f"judgement estimate: typical project scale for {mineral} ({cap:,.0f} t/yr); source gives none"
        reported = _num(r["capex_musd_reported"])
        split = {"mine": 0.4, "refinery": 0.6} if len(stages) == 2 else {stages[0]: 1.0}
        for st in stages:
            site_id = sid if len(stages) == 1 else f"{sid}-{'M' if st == 'mine' else 'R'}"
            y = REFINERY_YIELD[mineral] if st == "refinery" else None
            capacity = cap / REFINERY_YIELD[mineral] if (st == "mine" and len(stages) == 2) else cap
            rec = dict(site=site_id, name=f"{r['name']}" + ("" if len(stages) == 1 else f" ({st})"), country=iso,
                       stage=st, mineral=mineral, status="existing" if existing else "candidate",
                       capacity_tpy=round(capacity, 1), var_cost_usd_per_t=round(OPEX[(mineral, st)][0], 1),
                       emissions_tco2e_per_t=round(EMISSIONS[(mineral, st)][0], 3), lat=float(r["lat"]),
                       lon=float(r["lon"]), **{"yield": y})
            prov.add("sites", site_id, "capacity_tpy", cap_note + ("" if not (st == "mine" and len(stages) == 2)
                                                                   else "; mine part = refined capacity / yield"))
            prov.add("sites", site_id, "var_cost_usd_per_t", OPEX[(mineral, st)][1])
            prov.add("sites", site_id, "emissions_tco2e_per_t", EMISSIONS[(mineral, st)][1])
            prov.add("sites", site_id, "lat, lon", f"sourced: candidate_sites.csv ({r['coord_quality']})")
            if not existing:
                if reported is not None:
                    capex = reported * split[st]
                    cnote = (f"sourced: candidate_sites.csv capex_musd_reported {reported:,.1f}"
                             + ("" if len(stages) == 1 else f" x {split[st]:.0%} to the {st} (judgement split)"))
                    if "care" in status_text:
                        capex, cnote = capex * 0.2, cnote + "; restart from care & maintenance at 20% (judgement)"
                else:
                    per, pnote = CAPEX_PER_TPY[(mineral, st)]
                    capex = per * capacity / 1e6
                    cnote = f"{pnote} x capacity"
                    if "care" in status_text:
                        capex, cnote = capex * 0.2, cnote + "; restart from care & maintenance at 20% (judgement)"
                rec["capex_musd"] = round(capex, 2)
                rec["fixed_opex_musd_per_yr"] = round(0.02 * capex, 3)
                rec["lead_time_years"] = 0 if under_construction else LEAD[st]
                prov.add("sites", site_id, "capex_musd", cnote)
                prov.add("sites", site_id, "fixed_opex_musd_per_yr", "judgement estimate: 2% of capex per year "
                         "(sustaining capital and fixed costs)")
                prov.add("sites", site_id, "lead_time_years", LEAD_NOTE)
            add_site(**rec)
            if y is not None:
                prov.add("sites", site_id, "yield", YIELD_NOTE)

    existing_refined = pd.DataFrame([s for s in sites if s["status"] == "existing" and s["stage"] == "refinery"])

    # market sources and ore supply: IEA 2035 outlook x the alliance's share of world demand
    for _, r in supply.iterrows():
        mid = inv_minerals.get(r["mineral"])
        iso = IEA_TO_ISO.get(r["country"])
        if mid is None or iso is None:
            continue
        share = alliance_share[mid]
        base_t = float(r["y2035"]) * 1000 * share
        if r["stage"] == "refining":
            listed = 0.0
            if len(existing_refined):
                m = (existing_refined["country"] == iso) & (existing_refined["mineral"] == mid)
                listed = float(existing_refined.loc[m, "capacity_tpy"].sum())
            cap = max(0.0, base_t - listed)
            if cap < 1:
                continue
            sid = f"MKT-{mid}-{iso}"
            add_site(site=sid, name=f"{r['mineral']} refined supply from {COUNTRIES[iso][0]}", country=iso,
                     stage="market", mineral=mid, status="existing", capacity_tpy=round(cap, 1),
                     var_cost_usd_per_t=PRICE[mid], emissions_tco2e_per_t=round(MARKET_EMISSIONS[mid], 3))
            prov.add("sites", sid, "capacity_tpy", f"derived estimate: IEA 2035 base-case refining output "
                     f"{float(r['y2035']):,.1f} kt (supply_mining_refining_iea.csv) x alliance share of world "
                     f"demand {share:.3f} (demand_alliance_derived.csv, 2035 STEPS)"
                     + (f" less listed existing refineries ({listed:,.0f} t)" if listed else ""))
            prov.add("sites", sid, "var_cost_usd_per_t", PRICE_NOTE)
            prov.add("sites", sid, "emissions_tco2e_per_t", MARKET_EMISSIONS_NOTE)
        elif r["stage"] == "mining" and not COUNTRIES[iso][1]:
            sid = f"ORE-{mid}-{iso}"
            add_site(site=sid, name=f"{r['mineral']} ore/concentrate from {COUNTRIES[iso][0]}", country=iso,
                     stage="mine", mineral=mid, status="existing", capacity_tpy=round(base_t, 1),
                     var_cost_usd_per_t=round(0.6 * PRICE[mid], 1),
                     emissions_tco2e_per_t=round(EMISSIONS[(mid, "mine")][0], 3))
            prov.add("sites", sid, "capacity_tpy", f"derived estimate: IEA 2035 base-case mining output "
                     f"{float(r['y2035']):,.1f} kt x alliance share {share:.3f}")
            prov.add("sites", sid, "var_cost_usd_per_t", "judgement estimate: ore/concentrate bought at 60% of "
                     "the refined price (payable terms); " + PRICE_NOTE)
            prov.add("sites", sid, "emissions_tco2e_per_t", EMISSIONS[(mid, "mine")][1])

    # recycling plants: one site per recovered mineral
    for _, r in cs[cs["mineral"].str.startswith("Battery recycling")].iterrows():
        iso = NAME_TO_ISO.get(r["country"])
        if iso is None or not COUNTRIES[iso][1]:
            continue  # recycling sites must be in a member's country (Norway is not)
        status_text = str(r["status_2025"]).lower()
        existing = "operating" in status_text and "paused" not in status_text or "recycling started" in status_text
        bm = _num(r["capacity_value"]) or 10_000.0
        bm_note = (f"sourced: candidate_sites.csv {bm:,.0f} {r['capacity_unit']} (taken as t black mass/yr)"
                   if _num(r["capacity_value"]) else "judgement estimate: 10,000 t black mass/yr typical hub")
        reported = _num(r["capex_musd_reported"])
        for mid in ("LI", "NI", "CO"):
            sid = f"{r['site_id']}-{mid}"
            out = bm * BLACK_MASS_CONTENT[mid] * RECYCLING_YIELD[mid]
            primary = EMISSIONS[(mid, "mine")][0] + EMISSIONS[(mid, "refinery")][0]
            rec = dict(site=sid, name=f"{r['name']} ({MINERALS[mid][0].lower()})", country=iso, stage="recycling",
                       mineral=mid, status="existing" if existing else "candidate", capacity_tpy=round(out, 1),
                       var_cost_usd_per_t=round(0.4 * PRICE[mid], 1), emissions_tco2e_per_t=round(0.2 * primary, 3),
                       lat=float(r["lat"]), lon=float(r["lon"]), **{"yield": RECYCLING_YIELD[mid]})
            if not existing:
                capex = (reported if reported is not None and reported < 1000 else 14_000 * bm / 1e6) * RECYCLING_CAPEX_SPLIT[mid]
                rec.update(capex_musd=round(capex, 2), fixed_opex_musd_per_yr=round(0.02 * capex, 3),
                           lead_time_years=0 if "construction" in status_text else LEAD["recycling"])
                prov.add("sites", sid, "capex_musd", "derived estimate: reported capex (candidate_sites.csv) or "
                         "14,000 USD per annual t black mass (facility_defaults_derived.csv), split Li 30% / Ni 50% "
                         "/ Co 20% (judgement)")
            add_site(**rec)
            prov.add("sites", sid, "capacity_tpy", bm_note + f" x {BLACK_MASS_CONTENT[mid]:.1%} {mid} content "
                     f"(judgement, NMC black mass) x recovery {RECYCLING_YIELD[mid]}")
            prov.add("sites", sid, "yield", "sourced: EU Battery Regulation 2031 recovery targets (recycling.csv): "
                     "Li 80%, Ni/Co 95%")
            prov.add("sites", sid, "var_cost_usd_per_t", "judgement estimate: 40% of the market price (no sourced "
                     "recycling opex in shared/data)")
            prov.add("sites", sid, "emissions_tco2e_per_t", "derived estimate: 20% of primary mine+refinery "
                     "emissions (recycled metals ~80% lower GHG, IEA 2024 in recycling.csv)")
    sites_df = pd.DataFrame(sites)
    water = [WATER.get((m, st), WATER.get(("*", st))) for m, st in zip(sites_df["mineral"], sites_df["stage"])]
    sites_df["water_m3_per_t"] = [w[0] for w in water]
    for key, (_, note) in WATER.items():
        prov.add("sites", f"mineral={key[0]}, stage={key[1]}", "water_m3_per_t", note)
    prov.add("sites", "all", "water_stress, tailings_risk, fpic, esg_score", "blank: no site-level data in "
             "shared/data (water_stress falls back to the country's; blank fails any standard on it)")

    # --- scrap ---------------------------------------------------------------------------------
    li_rec = recyc[recyc["metric"].str.contains("baseline recycling", na=False)
                   & recyc["category"].str.contains("recycled lithium", na=False)]
    region_member = {"United States": "US", "European Union": "EU", "United Kingdom": "UK", "Japan": "JP",
                     "Australia/NZ": "AU"}
    nmc = intensity[intensity["chemistry"] == "NMC 811"].set_index("mineral")["kg_per_kwh"]
    ratio = {"LI": 1.0, "NI": float(nmc["Nickel"] / nmc["Lithium"]), "CO": float(nmc["Cobalt"] / nmc["Lithium"])}
    scrap = []
    for _, r in li_rec.iterrows():
        a = region_member.get(r["region"])
        if a is None or int(r["year"]) not in (2030, 2035, 2040):
            continue
        li_t = float(r["value"]) * 1000 / RECYCLING_YIELD["LI"]
        for mid in ("LI", "NI", "CO"):
            scrap.append({"member": a, "mineral": mid, "period": int(r["year"]), "scrap_tpy": round(li_t * ratio[mid], 1)})
    scrap_df = pd.DataFrame(scrap)
    prov.add("scrap", "all", "scrap_tpy", "derived estimate: Busch et al. baseline recycled Li by region "
             "(recycling.csv, kt Li) / 0.8 Li recovery = Li in scrap; Ni and Co scaled by NMC 811 intensity "
             f"ratios (battery_mineral_intensity.csv: Ni/Li {ratio['NI']:.2f}, Co/Li {ratio['CO']:.2f}); "
             "Australia/NZ assigned to AU")

    # --- scenarios and disruptions --------------------------------------------------------------
    t35 = proj[(proj["metric"] == "total_demand") & (proj["year"] == 2035)].pivot_table(
        index="mineral", columns="scenario", values="value")
    t35 = t35.loc[[v[0] for v in MINERALS.values()]]
    ratios = (t35["NZE"] / t35["STEPS"]).round(2)
    surge = 1.2
    drc_years = round((pd.Timestamp("2025-10-16") - pd.Timestamp("2025-02-22")).days / 365.25, 2)
    scenarios = pd.DataFrame([
        {"scenario": "base", "probability": 0.55, "demand_multiplier": 1.0, "shock_years": None},
        {"scenario": "cn_export_controls", "probability": 0.15, "demand_multiplier": 1.0, "shock_years": 2.0},
        {"scenario": "drc_cobalt_halt", "probability": 0.10, "demand_multiplier": 1.0, "shock_years": drc_years},
        {"scenario": "idn_nickel_ban", "probability": 0.05, "demand_multiplier": 1.0, "shock_years": 2.0},
        {"scenario": "demand_surge", "probability": 0.15, "demand_multiplier": surge, "shock_years": None},
    ])
    prov.add("scenarios", "all", "probability", "judgement estimate: scenario probabilities (no sourced "
             "likelihoods); base 0.55, China export controls 0.15, DRC cobalt halt 0.10, Indonesian nickel ban "
             "tightening 0.05, demand surge 0.15")
    prov.add("scenarios", "drc_cobalt_halt", "shock_years", f"sourced: the DRC suspension ran from 2025-02-22 until "
             f"quotas replaced it on 2025-10-16 (export_controls.csv): {drc_years} years")
    prov.add("scenarios", "cn_export_controls, idn_nickel_ban", "shock_years", "judgement estimate: two years per "
             "period before substitutes and new capacity respond")
    prov.add("scenarios", "base, demand_surge", "shock_years", "blank: the whole period (no shock to bridge)")
    prov.add("scenarios", "demand_surge", "demand_multiplier", "judgement estimate: 1.2, at the low end of IEA "
             "NZE / STEPS total demand in 2035 (demand_projections_iea.csv): "
             + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    disruptions = pd.DataFrame([
        {"scenario": "cn_export_controls", "country": "CHN", "site": "", "mineral": "GRA", "period": None, "availability": 0.1},
        {"scenario": "cn_export_controls", "country": "CHN", "site": "", "mineral": "REE", "period": None, "availability": 0.1},
        {"scenario": "drc_cobalt_halt", "country": "COD", "site": "", "mineral": "CO", "period": None, "availability": 0.0},
        {"scenario": "drc_cobalt_halt", "country": "CHN", "site": "", "mineral": "CO", "period": None, "availability": 0.3},
        {"scenario": "idn_nickel_ban", "country": "IDN", "site": "", "mineral": "NI", "period": None, "availability": 0.5},
    ])
    prov.add("disruptions", "idn_nickel_ban", "availability", "judgement estimate: half of Indonesia's nickel "
             "exports withheld, a tightening of the ore export ban in force since 2020-01-01 (export_controls.csv) "
             "to intermediate products")
    prov.add("disruptions", "cn_export_controls", "availability", "judgement estimate of severity (10% of "
             "capacity available) for China's graphite licensing (Dec 2023) and REE/magnet licensing (Apr/Oct "
             "2025), export_controls.csv")
    prov.add("disruptions", "drc_cobalt_halt", "availability", "sourced event: DRC cobalt export suspension of "
             "22 Feb 2025 (export_controls.csv) modelled as a full halt; Chinese refined cobalt, fed mostly by "
             "DRC hydroxide, at 30% (judgement estimate)")
    risks, swings = risks_and_swings(shared, ratios, prov)
    # joint stockpiles: one alliance-wide stock per mineral
    d2030 = demand[demand["period"] == 2030].groupby("mineral")["demand_tpy"].sum()
    stockpiles = pd.DataFrame([{"mineral": mid, "member": "", "max_t": round(float(d2030[mid]) * 60 / 365, 1),
                                "holding_cost_usd_per_t_yr": round(0.06 * PRICE[mid], 1),
                                "acquisition_cost_usd_per_t": PRICE[mid]} for mid in MINERALS])
    prov.add("stockpiles", "all", "max_t", "judgement estimate: 60 days of the alliance's 2030 demand (the IEA "
             "oil-stock obligation is 90 days of net imports, recall; scaled down for minerals)")
    prov.add("stockpiles", "all", "acquisition_cost_usd_per_t", PRICE_NOTE)
    prov.add("stockpiles", "all", "holding_cost_usd_per_t_yr", "judgement estimate: 6% of the price per year "
             "(5% cost of capital, the workbook's discount rate, plus 1% storage and insurance)")
    standards = pd.DataFrame([{"criterion": "water_stress", "stage": "", "min": None, "max": 3.0,
                               "note": "no co-financing in countries of high or extremely high baseline water "
                                       "stress (Aqueduct > 3); existing sites there are reported only"}])
    prov.add("standards", "water_stress", "max", "judgement estimate: an illustrative alliance standard (no agreed "
             "standard exists); applies to every stage, so existing sites in such countries are reported")
    prov.add("minerals", "all", "min_allied_share", "off: no domestic-content rule agreed (set one to test it)")
    return {"periods": periods, "minerals": minerals, "countries": countries, "members": members,
            "sites": sites_df, "demand": demand, "scrap": scrap_df, "scenarios": scenarios, "budgets": budgets,
            "disruptions": disruptions, "standards": standards, "stockpiles": stockpiles, "risks": risks,
            "demand_swings": swings}, settings, prov


# The export-control measures of export_controls.csv that restricted a mineral of the workbook, by
# (country as the file names it, `effective` as the file gives it): the minerals each one covered.
# Not counted: technology-only bans, measures on minerals outside the workbook (Ga, Ge, Sb, W, ...),
# relaxations (general licences), demand-side support, and countries outside the workbook (Namibia).
EXPORT_MEASURES = {
    ("China", "2023-12-01"): ("GRA",),  # graphite licensing
    ("China", "2025-04-04"): ("REE",),  # licensing of 7 medium/heavy rare earths and magnets
    ("China", "2025-11-08 / 2025-12-01"): ("REE", "GRA"),  # expanded REE controls, synthetic graphite anode
    ("Indonesia", "2020-01-01"): ("NI",),  # nickel-ore export ban
    ("Indonesia", "2023-06-10"): ("CU",),  # raw-mineral (copper concentrate) export ban
    ("Congo (Kinshasa)", "2025-02-22"): ("CO",),  # cobalt export suspension
    ("Congo (Kinshasa)", "2025-10-16"): ("CO",),  # cobalt export quotas
    ("Zimbabwe", "2022-12-20"): ("LI",),  # raw lithium-ore export ban
}
MEASURE_YEARS = 7  # the measures counted took effect in 2019-2025
COUNTRY_CODE = {"China": "CHN", "Indonesia": "IDN", "Congo (Kinshasa)": "COD", "Zimbabwe": "ZWE"}


def risks_and_swings(shared: Path, ratios: pd.Series, prov: Provenance) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `risks` sheet (yearly probability of an export stop = the measures on the country's mineral
    that took effect in 2019-2025, over 7 years) and `demand_swings` (from 0.9 to the IEA NZE / STEPS
    ratio of 2035 demand, most likely 1), for `plan scenarios --sample`."""
    controls = pd.read_csv(shared / "export_controls.csv", dtype=str, keep_default_na=False)
    listed = set(zip(controls["country"], controls["effective"]))
    counts: dict[tuple[str, str], int] = {}
    for (country, effective), minerals in EXPORT_MEASURES.items():
        if (country, effective) not in listed:
            raise SystemExit(f"export_controls.csv has no measure of {country} effective {effective}")
        for mi in minerals:
            key = (COUNTRY_CODE[country], mi)
            counts[key] = counts.get(key, 0) + 1
    # length (kind, years, longest), availability while stopped, group: judgements where not said otherwise
    how = {("CHN", "GRA"): ("exponential", 2.0, None, 0.1, "CHN"), ("CHN", "REE"): ("exponential", 2.0, None, 0.1, "CHN"),
           ("COD", "CO"): ("fixed", 0.65, None, 0.0, ""), ("IDN", "NI"): ("exponential", 3.0, None, 0.5, ""),
           ("IDN", "CU"): ("exponential", 1.0, None, 0.5, ""), ("ZWE", "LI"): ("exponential", 2.0, None, 0.5, "")}
    rows = []
    for (c, mi), n in sorted(counts.items()):
        kind, years, longest, avail, group = how[(c, mi)]
        rows.append({"country": c, "mineral": mi, "yearly_probability": round(n / MEASURE_YEARS, 4),
                     "duration": kind, "duration_years": years, "duration_max_years": longest,
                     "availability": avail, "group": group,
                     "note": f"{n} measure(s) in 2019-2025 (export_controls.csv)"})
    risks = pd.DataFrame(rows)
    prov.add("risks", "all", "yearly_probability", "derived estimate: the export-control measures that took effect "
             "on the country's mineral in 2019-2025 (export_controls.csv, its sources: MOFCOM/GACC announcements 2023 "
             "No.39, 2025 No.18, 2025 Nos.57-62; Indonesia ESDM regulation 11/2019; ARECOMS decisions 2025; "
             "Government of Zimbabwe 2022) divided by 7 years; technology-only bans, relaxations and minerals "
             "outside the workbook not counted")
    prov.add("risks", "COD CO", "duration_years", "sourced: the DRC suspension ran from 2025-02-22 until quotas "
             "replaced it on 2025-10-16 (export_controls.csv): 0.65 years, fixed")
    prov.add("risks", "CHN GRA, CHN REE", "duration_years", "judgement estimate: a mean of two years (exponential), "
             "as the cn_export_controls scenario's shock_years; one group, since the measures of October 2025 "
             "covered both")
    prov.add("risks", "IDN NI", "duration_years", "judgement estimate: a mean of three years (exponential): "
             "Indonesia's first ore ban ran 2014-2017 (export_controls.csv scope notes), the second is in force")
    prov.add("risks", "IDN CU, ZWE LI", "duration_years", "judgement estimate: means of one year (copper "
             "concentrate, exempted case by case) and two years (lithium ore), exponential")
    prov.add("risks", "all", "availability", "judgement estimate: as the scenarios' disruptions (China 10%, DRC "
             "0%, Indonesia nickel 50%); copper concentrate and Zimbabwean lithium 50% (processed products still "
             "leave)")
    swings = pd.DataFrame([{"mineral": mid, "low_multiplier": 0.9,
                            "high_multiplier": round(max(1.0, float(ratios[MINERALS[mid][0]])), 2),
                            "mode_multiplier": 1.0, "note": "IEA NZE / STEPS 2035"} for mid in MINERALS])
    prov.add("demand_swings", "all", "high_multiplier", "derived estimate: IEA NZE / STEPS total demand in 2035 "
             "(demand_projections_iea.csv; IEA Global Critical Minerals Outlook 2025, "
             "https://www.iea.org/reports/global-critical-minerals-outlook-2025), at least 1")
    prov.add("demand_swings", "all", "low_multiplier", "judgement estimate: 10% below the outlook's STEPS demand")
    prov.add("demand_swings", "all", "mode_multiplier", "judgement estimate: STEPS demand most likely (1)")
    return risks, swings


def write(tables, settings, prov: Provenance, path: Path) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet("settings")
    ws.append(["key", "value"])
    for k, v in settings.items():
        ws.append([k, v])
    for name, df in tables.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for rec in df.itertuples(index=False):
            ws.append([None if (isinstance(v, float) and v != v) else v for v in rec])
    ws = wb.create_sheet("sources")
    ws.append(["sheet", "item", "column", "kind", "source_or_rule"])
    for row in prov.rows:
        ws.append(list(row))
    for w in wb.worksheets:
        for c in w[1]:
            c.font = Font(bold=True)
        w.freeze_panes = "A2"
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=HERE / "alliance_2026.xlsx")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    if a.out.exists() and not a.force:
        print(f"{a.out} exists; use --force", file=sys.stderr)
        return 2
    tables, settings, prov = build(a.shared)
    write(tables, settings, prov, a.out)
    s = tables["sites"]
    print(f"wrote {a.out}: {len(s)} sites ({(s['status'] == 'candidate').sum()} candidates), "
          f"{len(tables['demand'])} demand rows, {len(prov.rows)} source rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
