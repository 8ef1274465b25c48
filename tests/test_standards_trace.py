"""Hand-solved: standards, water and territorial caps, carbon price per period, chain of
custody, the mining-stage cap and the allied-content rule.

Every case starts from `wb.tiny()` (see test_families): member AA (country AAA) needs 100 t/yr of
mineral X in one 1-year period 2030, discount rate 0 so present value = plain sum, and an existing
market source M1 in CCC sells at 500 USD/t (the do-nothing plan costs 0.05 MUSD). 1 USD = 1e-6 MUSD.
"""

import pytest

from planner.results.report import output_tables, screening_table
from planner.results.trace import allied_share_table, emissions_table, traceability_table, water_table
from wb import site, tiny

TOL = 1e-7


def built(res):
    return dict(zip(res.solution.builds["site"], res.solution.builds["build_period"]))


def output(res, f):
    fl = res.solution.flows
    return float(fl.loc[fl["origin"] == f, "flow_tpy"].sum())


def two_refinery_candidates(sheets):
    """Free existing mine N1 (AAA); candidate refineries R1 (capex 0.010 MUSD, water stress 4.5) and
    R2 (capex 0.015 MUSD, stress 2.0), both 100 USD/t, yield 1, in AAA."""
    sheets["sites"] += [
        site("N1", "AAA", "mine", "existing", 1000),
        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.010, var_cost_usd_per_t=100, water_stress=4.5,
             **{"yield": 1}),
        site("R2", "AAA", "refinery", "candidate", 100, capex_musd=0.015, var_cost_usd_per_t=100, water_stress=2.0,
             **{"yield": 1})]
    sheets["standards"] = [{"criterion": "water_stress", "stage": "refinery", "min": None, "max": 4,
                            "note": "no refining in extremely water-stressed basins"}]
    return sheets


def test_standard_excludes_the_cheapest_candidate(solve_tiny):
    # Without the standard R1 wins: 0.010 + 100 t x 100 USD = 0.020 MUSD (R2 would be 0.025, the
    # market 0.05). R1's water stress 4.5 > 4 fails the standard, so R2 is built: 0.025 MUSD.
    sheets, settings = tiny()
    two_refinery_candidates(sheets)
    res = solve_tiny(sheets, settings)
    assert built(res) == {"R2": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.025, abs=TOL)
    scr = screening_table(res.data, res.solution).set_index("site")
    label = "water_stress <= 4 (refinery)"
    assert scr.loc["R1", label] == "fail" and scr.loc["R2", label] == "pass"
    assert "N1" not in scr.index  # existing and failing nothing: not listed
    assert scr.loc["R1", "eligible"] == "no" and label in scr.loc["R1", "reason_excluded"]
    assert scr.loc["R2", "built_period"] == 2030

    # --standards off: R1 is back and the standards cost 0.025 - 0.020 = 0.005 MUSD
    off = solve_tiny(sheets, settings, standards=False)
    assert built(off) == {"R1": 2030}
    assert off.costs["total_cost_musd"] == pytest.approx(0.020, abs=TOL)
    assert off.definition.name == "baseline-standards-off"


def test_cost_of_standards_in_the_comparison(tiny_path, tmp_path):
    from planner.analyses.compare import compare_runs
    from planner.pipeline import solve_workbook
    from planner.io.writer import read_portfolio
    sheets, settings = tiny()
    path = tiny_path(two_refinery_candidates(sheets), settings)
    on = solve_workbook(path, output=tmp_path / "on.xlsx")
    off = solve_workbook(path, output=tmp_path / "off.xlsx", standards=False)
    cmp = compare_runs([read_portfolio(on.output), read_portfolio(off.output)], ["on", "off"])
    k = cmp.kpis.set_index("key")
    # same numbers as the test above: 0.025 with the standards, 0.020 without
    assert float(k.loc["cost_of_standards_musd", "delta_off"]) == pytest.approx(0.005, abs=TOL)
    summ = dict(zip(read_portfolio(on.output)["summary"]["key"], read_portfolio(on.output)["summary"]["value"]))
    assert summ["standards"].startswith("on: 1 standard(s) exclude 1 candidate(s)")


def test_existing_site_failing_a_standard_is_reported_not_removed(solve_tiny):
    # M1 (existing, fpic blank) fails "fpic = yes" but still supplies: cost stays 0.05 MUSD.
    sheets, settings = tiny()
    sheets["standards"] = [{"criterion": "fpic", "stage": None, "min": None, "max": None}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.05, abs=TOL)
    scr = screening_table(res.data, res.solution).set_index("site")
    assert scr.loc["M1", "status"] == "existing" and scr.loc["M1", "fpic = yes"] == "fail"
    assert "reported, not removed" in scr.loc["M1", "reason_excluded"]
    assert any("fail a standard" in w for w in res.data.warnings)


def test_fpic_standard_keeps_consented_candidate(solve_tiny):
    # Same pair as above but the standard is fpic = yes: R1 has no consent recorded (blank fails),
    # R2 has yes -> R2 is built at 0.025 MUSD.
    sheets, settings = tiny()
    two_refinery_candidates(sheets)
    sheets["sites"][3]["fpic"] = "yes"
    sheets["standards"] = [{"criterion": "fpic", "stage": "refinery", "min": None, "max": None}]
    res = solve_tiny(sheets, settings)
    assert built(res) == {"R2": 2030}


def water_case():
    """Existing refinery R0 (AAA, yield 1). Mines: N1 in BBB at 100 USD/t using 10 m3/t, N2 in CCC at
    200 USD/t using no water; a cap of 600 m3/yr on BBB's sites."""
    sheets, settings = tiny()
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=100, water_m3_per_t=10),
                        site("N2", "CCC", "mine", "existing", 1000, var_cost_usd_per_t=200)]
    sheets["limits"] = [{"period": 2030, "member": None, "country": "BBB", "emissions_cap_tco2e_per_yr": None,
                         "water_cap_m3_per_yr": 600}]
    return sheets, settings


def test_water_cap_binds_in_one_country(solve_tiny):
    # water_case: the cap of 600 m3/yr on BBB lets N1 mine 60 t; N2 mines 40 t:
    # 60 x 100 + 40 x 200 = 14,000 USD = 0.014 MUSD (without the cap 100 x 100 = 0.010).
    res = solve_tiny(*water_case())
    assert res.costs["total_cost_musd"] == pytest.approx(0.014, abs=TOL)
    assert output(res, "N1") == pytest.approx(60) and output(res, "N2") == pytest.approx(40)
    w = water_table(res.data, res.solution.flows).set_index("country")
    assert float(w.loc["BBB", "water_m3_per_yr"]) == pytest.approx(600)
    assert float(w.loc["BBB", "water_cap_m3_per_yr"]) == 600
    off = solve_tiny(*water_case(), model=str(_definition(solve_tiny, "water_cap")))
    assert off.costs["total_cost_musd"] == pytest.approx(0.010, abs=TOL)


def _definition(solve_tiny, family):
    """A model definition file with one family off (written beside the test workbooks)."""
    import tempfile
    from pathlib import Path
    p = Path(tempfile.mkdtemp()) / f"no_{family}.toml"
    p.write_text(f'name = "no_{family}"\n[constraints]\n{family} = false\n')
    return p


def test_territorial_emissions_cap(solve_tiny):
    # R0 refines in AA's own country AAA at 100 USD/t emitting 2 tCO2e/t (free ore from N1 in BBB);
    # the market M1 (CCC) emits 1 tCO2e/t at 500 USD/t. AA's territorial cap of 120 tCO2e/yr limits
    # R0 to 60 t; the market supplies 40 t (its emissions are outside AA's territory):
    # 60 x 100 + 40 x 500 = 26,000 USD = 0.026 MUSD.
    sheets, settings = tiny()
    sheets["sites"][0]["emissions_tco2e_per_t"] = 1
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, var_cost_usd_per_t=100,
                             emissions_tco2e_per_t=2, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000)]
    sheets["limits"] = [{"period": 2030, "member": "AA", "country": None, "emissions_cap_tco2e_per_yr": 120}]
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.026, abs=TOL)
    assert output(res, "R0") == pytest.approx(60)
    em = emissions_table(res.data, res.solution.flows).set_index(["basis", "member", "stage"])["emissions_tco2e_per_yr"]
    assert em[("territorial", "AA", "refinery")] == pytest.approx(120)
    assert em[("supply", "AA", "refinery")] == pytest.approx(120)
    assert em[("supply", "AA", "market")] == pytest.approx(40)
    assert ("territorial", "AA", "market") not in em.index


def test_carbon_price_per_period(solve_tiny):
    # Two 1-year periods; M1 emits 1 tCO2e/t. 2030 has its own price 10 USD/t, 2031 is blank and takes
    # the setting 20: carbon = 100 x 1 x 10 + 100 x 1 x 20 = 3,000 USD = 0.003 MUSD.
    sheets, settings = tiny(carbon_price_usd_per_tco2e=20)
    sheets["periods"] = [{"period": 2030, "years": 1, "carbon_price_usd_per_tco2e": 10},
                         {"period": 2031, "years": 1, "carbon_price_usd_per_tco2e": None}]
    sheets["demand"].append({"member": "AA", "mineral": "X", "period": 2031, "demand_tpy": 100})
    sheets["sites"][0]["emissions_tco2e_per_t"] = 1
    res = solve_tiny(sheets, settings)
    assert res.costs["carbon_musd"] == pytest.approx(0.003, abs=TOL)
    assert res.costs["total_cost_musd"] == pytest.approx(0.1 + 0.003, abs=TOL)


def chain(sheets, refinery_country="CCC"):
    """Mine N2 in AAA (10 USD/t, 80 t/yr) and mine N1 in BBB (20 USD/t) feed the existing refinery R0
    (yield 0.5) in `refinery_country`; the market M1 is priced out (5,000 USD/t)."""
    sheets["sites"][0]["var_cost_usd_per_t"] = 5000
    sheets["sites"] += [site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=20),
                        site("N2", "AAA", "mine", "existing", 80, var_cost_usd_per_t=10),
                        site("R0", refinery_country, "refinery", "existing", 1000, **{"yield": 0.5})]
    return sheets


def test_chain_traced_exactly(solve_tiny):
    # 100 t refined need 200 t ore: N2's 80 t (cheaper) + 120 t from N1. Refined: 40 t of AAA origin and
    # 60 t of BBB origin, all refined in CCC and delivered to AA. CCC is a partner, so the AAA-mined
    # tonnes are allied (mined and refined in allied countries) and the BBB-mined are not:
    # allied-content share 40 / 100 = 0.4.
    sheets, settings = tiny()
    chain(sheets)
    sheets["countries"][2]["partner"] = "yes"
    res = solve_tiny(sheets, settings)
    tr = traceability_table(res.data, res.solution.flows, res.solution.trace)
    got = {(r.mine_country, r.refining_country): (r.tonnes_per_yr, r.share, r.allied, r.basis)
           for r in tr.itertuples()}
    assert set(got) == {("AAA", "CCC"), ("BBB", "CCC")}
    assert got[("AAA", "CCC")][:3] == (pytest.approx(40), pytest.approx(0.4), "yes")
    assert got[("BBB", "CCC")][:3] == (pytest.approx(60), pytest.approx(0.6), "no")
    assert got[("AAA", "CCC")][3] == "pro rata"
    sh = allied_share_table(res.data, tr)
    assert float(sh["allied_share"].iloc[0]) == pytest.approx(0.4)
    tables = output_tables(res.data, res.solution, _run(res))
    summ = dict(zip(tables["summary"]["key"], tables["summary"]["value"]))
    assert summ["allied_content_share"] == pytest.approx(0.4)
    assert summ["allied_content_share_AA"] == pytest.approx(0.4)


def _run(res):
    from planner.results.report import RunRecord
    return RunRecord(input_file="x", input_sha256="x", definition=res.definition, options={}, outcome=res.outcome,
                     max_violation=0.0, max_violation_where="")


def test_min_allied_share_binds(solve_tiny):
    # Refinery R0 in AA's own country AAA (allied). Ore: N1 in BBB at 20 USD/t (not allied), N2 in AAA
    # at 10 USD/t (80 t/yr) and N3 in AAA at 300 USD/t. Without a rule: 80 t N2 + 120 t N1 =
    # 800 + 2,400 = 3,200 USD (allied share 40 %). With min_allied_share 0.5, 50 of the 100 refined
    # tonnes (100 t of ore) must be AAA-mined: 80 t N2 + 20 t N3, and 100 t from N1:
    # 80 x 10 + 20 x 300 + 100 x 20 = 800 + 6,000 + 2,000 = 8,800 USD = 0.0088 MUSD.
    sheets, settings = tiny()
    chain(sheets, refinery_country="AAA")
    sheets["sites"].append(site("N3", "AAA", "mine", "existing", 1000, var_cost_usd_per_t=300))
    free = solve_tiny(sheets, settings)
    assert free.costs["total_cost_musd"] == pytest.approx(0.0032, abs=TOL)
    sheets["minerals"][0]["min_allied_share"] = 0.5
    res = solve_tiny(sheets, settings)
    assert res.costs["total_cost_musd"] == pytest.approx(0.0088, abs=TOL)
    assert output(res, "N3") == pytest.approx(20) and output(res, "N1") == pytest.approx(100)
    tr = traceability_table(res.data, res.solution.flows, res.solution.trace)
    assert set(tr["basis"]) == {"model"}
    sh = allied_share_table(res.data, tr)
    assert float(sh["allied_share"].iloc[0]) == pytest.approx(0.5)
    assert float(sh["min_allied_share"].iloc[0]) == 0.5


def test_mining_stage_cap_forces_a_second_mine(solve_tiny):
    # Existing refinery R0 in AAA (yield 1, free). Existing mine N1 in BBB at 10 USD/t; candidate mine
    # N2 in CCC at 30 USD/t, capex 0.001 MUSD. Without a cap: 100 t from N1 = 0.001 MUSD.
    # max_country_share_mining 0.6: at most 60 t mined in BBB, so N2 is built for the other 40 t:
    # 60 x 10 + 40 x 30 + 1,000 = 600 + 1,200 + 1,000 = 2,800 USD = 0.0028 MUSD (the market for 40 t
    # would cost 20,000 USD). The refining-stage cap does not bind: all is refined in AA's own AAA.
    sheets, settings = tiny()
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "candidate", 1000, var_cost_usd_per_t=30, capex_musd=0.001)]
    free = solve_tiny(sheets, settings)
    assert free.costs["total_cost_musd"] == pytest.approx(0.001, abs=TOL) and built(free) == {}
    settings["max_country_share_mining"] = 0.6
    res = solve_tiny(sheets, settings)
    assert built(res) == {"N2": 2030}
    assert res.costs["total_cost_musd"] == pytest.approx(0.0028, abs=TOL)
    assert output(res, "N1") == pytest.approx(60) and output(res, "N2") == pytest.approx(40)
    tr = traceability_table(res.data, res.solution.flows, res.solution.trace).set_index("mine_country")
    assert float(tr.loc["BBB", "share"]) == pytest.approx(0.6)


def test_refining_cap_old_and_new_names_must_agree(tiny_path):
    from planner.dataset.data import load_data
    from planner.errors import InputError
    sheets, settings = tiny(max_country_share=0.5, max_country_share_refining=0.6)
    with pytest.raises(InputError) as e:
        load_data(tiny_path(sheets, settings))
    assert e.value.code == "E_CONTRADICTION" and e.value.sheet == "settings"


def test_verification_catches_a_tampered_origin(solve_tiny):
    # The mining-cap case above, then 10 t of the BBB-origin tags moved to CCC: the balances of the
    # tagged flows against the plain flows must fail (traced_input for both origins).
    from planner.results.verify import verify_solution
    sheets, settings = tiny(max_country_share_mining=0.6)
    sheets["sites"] += [site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 1}),
                        site("N1", "BBB", "mine", "existing", 1000, var_cost_usd_per_t=10),
                        site("N2", "CCC", "mine", "candidate", 1000, var_cost_usd_per_t=30, capex_musd=0.001)]
    res = solve_tiny(sheets, settings)
    assert verify_solution(res.data, res.definition, res.solution) == []
    z = res.solution.trace
    z.loc[z["mine_country"] == "BBB", "tonnes_per_yr"] -= 10
    z.loc[z["mine_country"] == "CCC", "tonnes_per_yr"] += 10
    found = {(f, round(x, 6)) for f, _, x in verify_solution(res.data, res.definition, res.solution)}
    assert found == {("traced_input", 10.0)}


def test_screens_section_of_a_model_definition(tmp_path, solve_tiny):
    from planner.model.definition import load_definition
    from planner.errors import DefinitionError
    p = tmp_path / "open.toml"
    p.write_text('name = "open"\n[screens]\nstandards = false\n')
    assert load_definition(str(p)).standards is False
    sheets, settings = tiny()
    res = solve_tiny(two_refinery_candidates(sheets), settings, model=str(p))
    assert built(res) == {"R1": 2030}  # the standard is not applied: the cheaper R1 is built (0.020 MUSD)
    bad = tmp_path / "bad.toml"
    bad.write_text('[screens]\nstandards = "no"\n')
    with pytest.raises(DefinitionError, match="screens"):
        load_definition(str(bad))
