"""Sampled scenarios (`plan scenarios --sample N --seed S`, planner/dataset/sampling.py): the
generator, each distribution's inverse, stops and their availabilities worked out by hand, the same
workbook from the same seed, and the sampled workbook solved like any other."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.dataset.data import load_data
from planner.dataset.sampling import SplitMix64, draw_duration, draw_swing, sample
from planner.io.writer import read_portfolio
from wb import site, tiny


def test_splitmix64_gives_the_published_sequence():
    # SplitMix64 from seed 0: the first outputs of the reference implementation (Vigna, splitmix64.c)
    rng = SplitMix64(0)
    assert [rng.next_u64() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    u = SplitMix64(7)
    assert all(0.0 <= u.random() < 1.0 for _ in range(1000))


def test_each_duration_and_swing_is_its_distributions_inverse():
    row = {"duration": "fixed", "duration_years": 2.0, "duration_max_years": None}
    assert draw_duration(row, 0.9) == 2.0
    row = {"duration": "uniform", "duration_years": 1.0, "duration_max_years": 3.0}
    assert draw_duration(row, 0.25) == pytest.approx(1.5)
    # exponential of mean 2: P(d <= 2) = 1 - e^-1, so that draw gives the mean
    row = {"duration": "exponential", "duration_years": 2.0, "duration_max_years": None}
    assert draw_duration(row, 1 - math.exp(-1)) == pytest.approx(2.0)
    # triangular (0.8, mode 1, 1.4): F(mode) = 0.2 / 0.6 = 1/3; the median solves
    # 1.4 - sqrt(0.5 x 0.6 x 0.4) = 1.4 - 0.3464 = 1.0536
    swing = {"low_multiplier": 0.8, "high_multiplier": 1.4, "mode_multiplier": 1.0}
    assert draw_swing(swing, 1 / 3) == pytest.approx(1.0)
    assert draw_swing(swing, 0.5) == pytest.approx(1.4 - math.sqrt(0.5 * 0.6 * 0.4))
    assert draw_swing({"low_multiplier": 0.9, "high_multiplier": 1.1, "mode_multiplier": None}, 0.75) == \
        pytest.approx(1.05)


def _risky(p_ccc=1.0, p_bbb=0.0, swing=(1.2, 1.2)):
    """tiny() over one 5-year period: demand 100 t of X; M1 in CCC (100 t at 500 USD/t), M2 in BBB
    (1,000 t at 800). CCC stops (yearly probability p_ccc) for 2 years at 25% availability; BBB
    (p_bbb) for 1 year at 0%; X's demand swings uniformly over `swing`."""
    sheets, settings = tiny()
    sheets["periods"] = [{"period": 2030, "years": 5}]
    sheets["sites"][0]["capacity_tpy"] = 100
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 1000, var_cost_usd_per_t=800))
    sheets["demand"][0]["demand_tpy"] = 100
    sheets["risks"] = [
        {"country": "CCC", "mineral": "X", "yearly_probability": p_ccc, "duration": "fixed", "duration_years": 2,
         "availability": 0.25, "group": None, "note": "hand-made"},
        {"country": "BBB", "mineral": None, "yearly_probability": p_bbb, "duration": "fixed", "duration_years": 1,
         "availability": 0, "group": None, "note": None}]
    sheets["demand_swings"] = [{"mineral": "X", "low_multiplier": swing[0], "high_multiplier": swing[1],
                                "mode_multiplier": None}]
    return sheets, settings


def test_a_certain_stop_and_swing_by_hand(tiny_path, tmp_path, solve_tiny):
    # CCC stops in every 5-year period (probability 1 - (1 - 1)^5 = 1) for 2 of its 5 years at 25%:
    # availability 1 - (2/5)(1 - 0.25) = 0.7, shock_years 2. BBB never stops (p 0). X's multiplier is
    # exactly 1.2. So every one of the 3 scenarios (p 1/3) is the same: 120 t asked, M1 gives 70 t at
    # 500 and M2 the other 50 t at 800: 75,000 USD/yr x 5 years = 0.375 MUSD.
    src = tiny_path(*_risky())
    out = tmp_path / "sampled.xlsx"
    res = CliRunner().invoke(cli, ["scenarios", str(src), "--sample", "3", "--seed", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 scenarios (seed 4), 3 with an export stop" in res.output
    got = read_portfolio(out)
    sc = got["scenarios"]
    assert list(sc["scenario"]) == ["s001_CCC-X-2030", "s002_CCC-X-2030", "s003_CCC-X-2030"]
    assert sc["probability"].tolist() == pytest.approx([1 / 3] * 3)
    assert sc["shock_years"].tolist() == pytest.approx([2.0] * 3)
    assert "CCC X stopped in 2030 for 2.0 y at 25%" in sc["description"].iloc[0]
    d = got["disruptions"]
    assert len(d) == 3 and set(d["country"]) == {"CCC"} and d["availability"].tolist() == pytest.approx([0.7] * 3)
    assert got["scenario_demand"]["demand_multiplier"].tolist() == pytest.approx([1.2] * 3)
    assert "risks" in got and len(got["risks"]) == 2  # the rest of the workbook kept
    data = load_data(out)
    assert data.avail("s002_CCC-X-2030", "M1", 2030) == pytest.approx(0.7)
    assert data.shock_years[("s001_CCC-X-2030", 2030)] == pytest.approx(2.0)
    from test_families import flow
    from planner.pipeline import solve_workbook
    solved = solve_workbook(out, write=False, mip_gap=0)
    assert solved.outcome.status == "optimal"
    assert solved.costs["total_cost_musd"] == pytest.approx(0.375, abs=1e-9)
    assert flow(solved, "M1", "AA", scenario="s003_CCC-X-2030") == pytest.approx(70)


def test_the_stop_probability_of_a_period_is_one_minus_no_stop_in_any_year():
    # yearly 0.1 over 5 years: 1 - 0.9^5 = 0.40951; 4,000 draws: sd sqrt(0.41 x 0.59 / 4000) = 0.0078
    sheets, _ = _risky(p_ccc=0.1)
    risks = pd.DataFrame(sheets["risks"]).fillna({"mineral": "", "group": ""})
    risks["duration_max_years"] = None
    periods = pd.DataFrame({"years": [5.0]}, index=pd.Index([2030], name="period"))
    got = sample(risks, None, periods, 4000, seed=11)
    share = (got["disruptions"]["country"] == "CCC").groupby(got["disruptions"]["scenario"]).any().sum() / 4000
    assert share == pytest.approx(1 - 0.9 ** 5, abs=4 * 0.0078)
    # the scenarios said to have no stop are those without a disruption row, and are named calm
    calm = set(got["scenarios"].loc[got["scenarios"]["description"] == "no stop", "scenario"])
    assert calm == set(got["scenarios"]["scenario"]) - set(got["disruptions"]["scenario"])
    assert calm and all(s.endswith("_calm") for s in calm)


def test_a_group_stops_together():
    # two rows in group G (yearly 0.3): in every scenario both stop or neither does
    risks = pd.DataFrame([
        {"country": "CCC", "mineral": "", "yearly_probability": 0.3, "duration": "uniform", "duration_years": 1.0,
         "duration_max_years": 4.0, "availability": 0.5, "group": "G"},
        {"country": "BBB", "mineral": "", "yearly_probability": 0.3, "duration": "exponential", "duration_years": 2.0,
         "duration_max_years": None, "availability": 0.0, "group": "G"}])
    periods = pd.DataFrame({"years": [5.0, 5.0]}, index=pd.Index([2030, 2035], name="period"))
    got = sample(risks, None, periods, 300, seed=2)
    by = got["disruptions"].groupby(["scenario", "period"])["country"].apply(frozenset)
    assert len(by) > 0 and set(by) == {frozenset({"CCC", "BBB"})}


def test_the_same_seed_gives_the_same_workbook_and_another_seed_another(tiny_path, tmp_path):
    src = tiny_path(*_risky(p_ccc=0.2, p_bbb=0.1, swing=(0.8, 1.3)))
    runner = CliRunner()
    outs = []
    for name, seed in (("a.xlsx", 5), ("b.xlsx", 5), ("c.xlsx", 6)):
        out = tmp_path / name
        assert runner.invoke(cli, ["scenarios", str(src), "--sample", "40", "--seed", str(seed), "-o", str(out)]
                             ).exit_code == 0
        outs.append(read_portfolio(out))
    for sheet in ("scenarios", "disruptions", "scenario_demand"):
        pd.testing.assert_frame_equal(outs[0][sheet], outs[1][sheet])
    assert not outs[0]["scenario_demand"].equals(outs[2]["scenario_demand"])
    assert load_data(tmp_path / "a.xlsx").content_sha256 == load_data(tmp_path / "b.xlsx").content_sha256


def test_bad_risks_are_named_by_cell_and_nothing_is_written(tiny_path, tmp_path):
    sheets, settings = _risky()
    sheets["risks"][0]["duration"] = "uniform"  # without duration_max_years
    src = tiny_path(sheets, settings)
    out = tmp_path / "s.xlsx"
    res = CliRunner().invoke(cli, ["scenarios", str(src), "--sample", "3", "-o", str(out)])
    assert res.exit_code == 1 and "risks!" in res.output and "duration_max_years" in res.output
    assert not out.exists()
    plain, settings = tiny()
    res = CliRunner().invoke(cli, ["scenarios", str(tiny_path(plain, settings, name="plain.xlsx")), "--sample", "3",
                                   "-o", str(out)])
    assert res.exit_code == 1 and "E_NO_RISKS" in res.output and not out.exists()
    # never over the input, and an existing output only with --force
    res = CliRunner().invoke(cli, ["scenarios", str(src), "--sample", "3", "-o", str(src)])
    assert res.exit_code == 2


def test_a_group_with_two_probabilities_is_refused(tiny_path):
    from planner.errors import InputError
    sheets, settings = _risky()
    sheets["risks"][0]["group"] = sheets["risks"][1]["group"] = "G"
    with pytest.raises(InputError) as e:
        load_data(tiny_path(sheets, settings))
    assert e.value.code == "E_CONTRADICTION" and "risks" in str(e.value) and "yearly_probability" in str(e.value)


def test_the_default_sampled_twice_with_one_seed_is_one_workbook(tmp_path):
    from pathlib import Path
    default = Path(__file__).resolve().parent.parent / "inputs" / "alliance_2026.xlsx"
    runner = CliRunner()
    for name in ("a.xlsx", "b.xlsx"):
        res = runner.invoke(cli, ["scenarios", str(default), "--sample", "200", "--seed", "1", "-o", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    a, b = load_data(tmp_path / "a.xlsx"), load_data(tmp_path / "b.xlsx")
    assert a.content_sha256 == b.content_sha256 and len(a.SCENARIOS) == 200
    assert sum(a.scenarios["probability"]) == pytest.approx(1.0)
    # the risks drawn are the default's: China's graphite and rare earths (one group) stop together
    stopped = {(s, t, a.sites.loc[f, "mineral"]) for (s, f, t), x in a.availability.items()
               if x < 1 and a.sites.loc[f, "country"] == "CHN"}
    gra = {(s, t) for s, t, mi in stopped if mi == "GRA"}
    ree = {(s, t) for s, t, mi in stopped if mi == "REE"}
    assert gra and gra == ree
