"""Checks before building explain unmet demand with numbers in the workbook's units."""

from planner.dataset.data import build_data
from planner.dataset.diagnostics import unreachable_demand
from planner.io.reader import read_workbook
from wb import site, tiny, write_workbook


def data_of(tmp_path, sheets, settings):
    return build_data(read_workbook(write_workbook(tmp_path / "d.xlsx", sheets, settings)))


def test_capacity_short_of_demand(tmp_path):
    # The only source, market M1, has 60 t/yr; AA needs 100 t/yr.
    sheets, settings = tiny()
    sheets["sites"][0]["capacity_tpy"] = 60
    msgs = unreachable_demand(data_of(tmp_path, sheets, settings))
    assert msgs == ["Mineral X for AA in 2030: at most 60 t/yr can reach AA, demand is 100 t/yr; "
                    "the rest will be unmet"]


def test_share_cap_limits_what_can_reach(tmp_path):
    # M1 (CCC) has 1000 t/yr but max_country_share 0.5 lets only 50 of AA's 100 t/yr come from CCC.
    sheets, settings = tiny(max_country_share=0.5)
    msgs = unreachable_demand(data_of(tmp_path, sheets, settings))
    assert len(msgs) == 1 and "at most 50 t/yr can reach AA, demand is 100 t/yr" in msgs[0]


def test_refineries_limited_by_their_feed_and_worst_scenario_named(tmp_path):
    # Refinery R0 (1000 t/yr, yield 0.5) fed by a 100 t/yr mine can make 50 t/yr; market M1 is cut
    # to 0 in scenario 'embargo' -> at most 50 of 100 t/yr there; the calm scenario is fine.
    sheets, settings = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 100),
                        site("R0", "AAA", "refinery", "existing", 1000, **{"yield": 0.5})]
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "embargo", "probability": 0.5, "demand_multiplier": 1}]
    sheets["disruptions"] = [{"scenario": "embargo", "country": "CCC", "site": None, "mineral": None,
                              "period": None, "availability": 0}]
    msgs = unreachable_demand(data_of(tmp_path, sheets, settings))
    assert msgs == ["Mineral X for AA in 2030 (scenario embargo): at most 50 t/yr can reach AA, demand is "
                    "100 t/yr; the rest will be unmet"]


def test_no_message_when_supply_suffices(tmp_path):
    sheets, settings = tiny()
    assert unreachable_demand(data_of(tmp_path, sheets, settings)) == []
