"""Charts in every output workbook and the offline PNG map."""

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from planner.cli import cli
from planner.results.mapping import coastlines, flow_segments, split_at_antimeridian
from wb import site, tiny, write_workbook


def test_map_and_charts_exist_and_are_not_empty(tmp_path):
    sheets, sets = tiny()
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    src = write_workbook(tmp_path / "in.xlsx", sheets, sets)
    out = tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    png = tmp_path / "run.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    from PIL import Image
    img = Image.open(png)
    assert img.size[0] > 800 and len(img.convert("L").getcolors(maxcolors=1 << 16) or []) > 10  # a drawing, not a blank
    wb = load_workbook(out)
    assert len(wb["map"]._images) == 1
    assert len(wb["summary"]._charts) == 1 and len(wb["capex_by_host"]._charts) == 1
    assert len(wb["supply_mix_chart"]._charts) == 1  # one scenario: one chart
    mix = list(wb["supply_mix_chart"].iter_rows(min_row=1, values_only=True))
    # AA's X all from its own country AAA (allied), in the one scenario
    assert mix == [("scenario", "member_mineral", "allied"), ("base", "AA X", 1.0)]


def test_coastlines_never_jump_across_the_antimeridian():
    lines = coastlines()
    assert len(lines) > 100
    for line in lines:
        for seg in split_at_antimeridian(line):
            assert all(abs(b[0] - a[0]) <= 180 for a, b in zip(seg, seg[1:]))
            assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in seg)


def test_flow_across_the_pacific_goes_the_short_way():
    # Shanghai (121E) to Los Angeles (118W): two segments meeting the map edge at 180 / -180.
    segs = flow_segments(121.5, 31.2, -118.2, 34.0)
    assert len(segs) == 2
    assert segs[0][-1][0] == 180 and segs[1][0][0] == -180
    assert segs[0][-1][1] == segs[1][0][1]
    assert flow_segments(0, 0, 10, 10) == [[(0, 0), (10, 10)]]


def test_an_aggregate_country_has_no_place_on_the_map(tmp_path):
    # C-land marked as an aggregate (the rest of the world): its market M1 is not drawn anywhere,
    # the member's own-country sites are; the map is still drawn
    from planner.dataset.data import load_data
    from planner.pipeline import solve_workbook
    from planner.results.mapping import placed_sites, render_map
    from wb import site, tiny, write_workbook
    sheets, settings = tiny()
    sheets["countries"][2]["aggregate"] = "yes"
    sheets["sites"].append(site("N1", "AAA", "mine", "existing", 10))
    path = write_workbook(tmp_path / "agg.xlsx", sheets, settings)
    data = load_data(path)
    assert placed_sites(data).to_dict() == {"M1": False, "N1": True}
    res = solve_workbook(path, write=False)
    png = render_map(res.data, res.solution, tmp_path / "agg.png")
    assert png.stat().st_size > 10_000


def test_stress_labels_an_aggregate_as_a_block(tmp_path):
    from test_stress import stress_tables
    from wb import site, tiny, write_workbook
    sheets, settings = tiny()
    sheets["countries"][2]["aggregate"] = "yes"
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=600))
    src = write_workbook(tmp_path / "s.xlsx", sheets, settings)
    kinds = stress_tables(src, tmp_path, vss=False)["stress_cost"].set_index("country")["kind"].to_dict()
    assert kinds == {"CCC": "aggregate: all its sites at once"}


def test_one_supply_mix_chart_per_scenario_with_allied_supply_first(tmp_path):
    # AA's own refinery R1 (AAA, allied) refines the 40 t/yr its mine N1 gives; the rest comes from
    # the market M1 in C-land (not allied). calm (x1): 100 t: allied 40/100 = 0.4, CCC 0.6; surge
    # (x2): 200 t: allied 40/200 = 0.2, CCC 0.8. One chart per scenario, the allied share first.
    sheets, sets = tiny()
    sheets["scenarios"] = [{"scenario": "calm", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "surge", "probability": 0.5, "demand_multiplier": 2}]
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 40),
                        site("R1", "AAA", "refinery", "existing", 1000, **{"yield": 1})]
    src = write_workbook(tmp_path / "in.xlsx", sheets, sets)
    out = tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)]).exit_code == 0
    wb = load_workbook(out)
    ws = wb["supply_mix_chart"]
    assert len(ws._charts) == 2
    rows = list(ws.iter_rows(min_row=1, values_only=True))
    assert rows[0] == ("scenario", "member_mineral", "allied", "CCC")
    assert rows[1][:2] == ("calm", "AA X") and rows[1][2:] == pytest.approx((0.4, 0.6))
    assert rows[2][:2] == ("surge", "AA X") and rows[2][2:] == pytest.approx((0.2, 0.8))
