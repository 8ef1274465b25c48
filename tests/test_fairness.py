"""`plan fairness`: the Shapley split and the core test on hand-built games, and the whole command on
a two-member workbook solved by hand."""

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.analyses.fairness import coalitions, least_core, nearest_core_point, shapley, worst_excess
from planner.cli import cli
from wb import site, tiny, write_workbook

M3 = ("A", "B", "C")


def game(single, pair, grand):
    """A symmetric three-member cost game: c({i}) = single, c({i, j}) = pair, c(N) = grand."""
    return {frozenset(c): {1: single, 2: pair, 3: grand}[len(c)] for c in coalitions(M3)}


def savings(cost):
    return {s: sum(cost[frozenset([a])] for a in s) - c for s, c in cost.items()}


def test_non_empty_core_three_members():
    # c({i}) = 10, c({i,j}) = 12, c(N) = 18. Every pair may pay at most 12: adding the three pair
    # constraints, 2 (y_A + y_B + y_C) <= 36, and the sum must be 18: the core is the single point
    # (6, 6, 6), e* = 0. Savings v(S) = 10|S| - c(S): 0, 8, 12; by symmetry Shapley gives each 4
    # of the 12, a cost of 10 - 4 = 6 each: in the core.
    cost = game(10, 12, 18)
    phi = shapley(M3, savings(cost))
    assert phi == pytest.approx({"A": 4.0, "B": 4.0, "C": 4.0})
    assert sum(phi.values()) == pytest.approx(savings(cost)[frozenset(M3)])
    eps, alloc = least_core(M3, cost)
    assert eps == pytest.approx(0.0, abs=1e-9) and alloc == pytest.approx({"A": 6, "B": 6, "C": 6})
    assert worst_excess(M3, cost, {a: 10 - phi[a] for a in M3})[0] <= 1e-9
    # an allocation outside the core (A and B pay 14 together, 2 more than the pair alone) and the
    # nearest core point to it: the only one, (6, 6, 6)
    excess, who = worst_excess(M3, cost, {"A": 7, "B": 7, "C": 4})
    assert excess == pytest.approx(2.0) and who == "A+B"
    assert nearest_core_point(M3, cost, {"A": 7, "B": 7, "C": 4}) == pytest.approx({"A": 6, "B": 6, "C": 6})


def test_empty_core_three_members():
    # c(N) = 20 with pairs at 12: the pairs allow at most 36 / 2 = 18 < 20, so the core is empty.
    # Least core: 2 x 20 <= 3 x 12 + 3e, e* = 4/3 (each pair pays 12 + 4/3 at (20/3, 20/3, 20/3)).
    # Shapley: savings 0, 8, 10 -> 10/3 each, a cost of 20/3: the pair pays 40/3 > 12, not in the core.
    cost = game(10, 12, 20)
    phi = shapley(M3, savings(cost))
    assert phi == pytest.approx({a: 10 / 3 for a in M3})
    eps, alloc = least_core(M3, cost)
    assert eps == pytest.approx(4 / 3)
    assert sum(alloc.values()) == pytest.approx(20)
    excess, _ = worst_excess(M3, cost, {a: 10 - phi[a] for a in M3})
    assert excess == pytest.approx(40 / 3 - 12)
    assert nearest_core_point(M3, cost, {a: 20 / 3 for a in M3}) is None


def test_shapley_of_an_asymmetric_game_sums_to_the_savings():
    # v(A) = v(B) = v(C) = 0, v(AB) = 6, v(AC) = 0, v(BC) = 0, v(ABC) = 12.
    # A: 1/6 [v(A)] + 1/6 [v(AB) - v(B)] + 1/6 [v(AC) - v(C)] + 1/3... by the formula with weights
    # |S|!(n-|S|-1)!/n!: S = {} 1/3, {B} 1/6, {C} 1/6, {B,C} 1/3:
    #   A: 1/3 x 0 + 1/6 x 6 + 1/6 x 0 + 1/3 x 12 = 5;  B likewise 5;  C: 1/6 x 0 + 1/6 x 0 + 1/3 x (12 - 6) = 2.
    v = {frozenset(): 0, frozenset("A"): 0, frozenset("B"): 0, frozenset("C"): 0, frozenset("AB"): 6,
         frozenset("AC"): 0, frozenset("BC"): 0, frozenset("ABC"): 12}
    phi = shapley(M3, v)
    assert phi == pytest.approx({"A": 5.0, "B": 5.0, "C": 2.0})
    assert sum(phi.values()) == pytest.approx(12.0)


def two_members(tmp_path):
    # Members AA (country AAA) and BB (country BBB) each need 100 t/yr of X (one year, discount 0).
    # The market M1 (C-land) sells 150 t/yr at 500 USD/t; an unmet tonne costs 1,000 USD. At AA's
    # home the free mine N1 can feed a candidate refinery R1 (capex 0.04 MUSD, 100 USD/t, 1,000 t/yr).
    #   alliance: build R1, refine 200 t: 0.04 + 200 x 100 USD = 0.06 MUSD, nothing unmet
    #   AA alone: build R1 for its 100 t: 0.04 + 0.01 = 0.05 (the market alone: its pro-rata
    #             half of M1, 75 t x 500 + 25 t x 1,000 = 0.0625)
    #   BB alone: R1 is AA's (screened out when AA has left); M1 pro rata 100/200 = 75 t:
    #             75 x 500 + 25 x 1,000 USD = 0.0625 MUSD, 25 t unmet
    # savings v(N) = 0.05 + 0.0625 - 0.06 = 0.0525; two players: Shapley 0.02625 each;
    # Shapley costs AA 0.05 - 0.02625 = 0.02375, BB 0.0625 - 0.02625 = 0.03625 (sum 0.06). The core
    # (y_AA <= 0.05, y_BB <= 0.0625, sum 0.06) is not empty and holds the Shapley costs.
    sheets, settings = tiny(unmet_penalty_usd_per_t=1_000)
    sheets["countries"][1]["member"] = "BB"
    sheets["members"].append({"member": "BB", "name": "Member B", "lat": 0, "lon": 10})
    sheets["demand"].append({"member": "BB", "mineral": "X", "period": 2030, "demand_tpy": 100})
    sheets["sites"][0]["capacity_tpy"] = 150
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.04, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return write_workbook(tmp_path / "two.xlsx", sheets, settings)


def test_two_members_by_hand(tmp_path):
    wb = two_members(tmp_path)
    out = tmp_path / "fair.xlsx"
    res = CliRunner().invoke(cli, ["fairness", str(wb), "-o", str(out), "--workers", "2", "--mip-abs-gap", "0",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    read = lambda s: pd.read_excel(out, sheet_name=s, keep_default_na=False, engine="openpyxl")  # noqa: E731
    c = read("coalitions").set_index("coalition")
    assert c["cost_musd"].to_dict() == pytest.approx({"AA": 0.05, "BB": 0.0625, "AA+BB": 0.06}, abs=1e-9)
    f = read("fairness").set_index("member")
    assert f["shapley_savings_musd"].to_dict() == pytest.approx({"AA": 0.02625, "BB": 0.02625}, abs=1e-9)
    assert f["shapley_cost_musd"].to_dict() == pytest.approx({"AA": 0.02375, "BB": 0.03625}, abs=1e-9)
    assert f["unmet_expected_alone_t"].to_dict() == pytest.approx({"AA": 0.0, "BB": 25.0})
    assert f["unmet_expected_alliance_t"].to_dict() == pytest.approx({"AA": 0.0, "BB": 0.0})
    assert f["plan_cost_musd"].sum() == pytest.approx(0.06, abs=1e-9)
    s = dict(zip(read("summary")["key"], read("summary")["value"]))
    assert s["grand_coalition_savings_musd"] == pytest.approx(0.0525, abs=1e-9)
    assert s["shapley_sum_musd"] == pytest.approx(0.0525, abs=1e-9)
    assert s["core"] == "not empty" and s["shapley_in_core"] == "yes"


def test_one_member_is_refused(tmp_path):
    sheets, settings = tiny()
    wb = write_workbook(tmp_path / "one.xlsx", sheets, settings)
    res = CliRunner().invoke(cli, ["fairness", str(wb), "-o", str(tmp_path / "f.xlsx")])
    assert res.exit_code == 2 and "two active members" in res.output


def test_the_coalitions_of_a_split_share_exactly_the_capacity_there_is(tmp_path):
    # In the two-member workbook: BB alone gets none of N1 (AA's mine, A-land) and half of M1 (C-land,
    # 150 t/yr: BB's 100 t of the alliance's 200 t demand); AA alone keeps N1 and the other half of
    # M1. Together the two singles have what the alliance has: N1 1,000 and M1 150.
    from planner.analyses.fairness import coalition_case
    from planner.dataset.data import load_data
    data = load_data(two_members(tmp_path))
    cap = {}
    for who in ("AA", "BB"):
        edits = {e[3]: e[5] for e in coalition_case(data, (who,)).edits if e[0] == "cell"}
        cap[who] = {f: edits.get(f, float(data.sites.loc[f, "capacity_tpy"])) for f in ("N1", "M1")}
    assert cap["BB"] == {"N1": 0.0, "M1": 75.0} and cap["AA"] == {"N1": 1000.0, "M1": 75.0}
    assert {f: cap["AA"][f] + cap["BB"][f] for f in ("N1", "M1")} == {"N1": 1000.0, "M1": 150.0}


def test_a_coalition_gets_its_share_of_a_markets_tranches(tmp_path):
    # The two-member workbook with a tranche T2 of M1 (40 t at +100 USD/t). AA alone gets half of the
    # world's supply (100 of the 200 t asked): M1's 150 t -> 75 t and its tranche's 40 t -> 20 t, each
    # by its own row (the tranche is not a site of the sites sheet to edit).
    from planner.analyses.cases import apply_edits
    from planner.analyses.fairness import coalition_case
    from planner.dataset.data import build_data, load_data
    from planner.io.reader import read_workbook
    from planner.model.definition import resolve_definition
    import openpyxl
    wb_path = two_members(tmp_path)
    wb = openpyxl.load_workbook(wb_path)
    ws = wb.create_sheet("market_tranches")
    ws.append(["site", "tranche", "capacity_tpy", "premium_usd_per_t"])
    ws.append(["M1", "T2", 40, 100])
    wb.save(wb_path)
    data = load_data(wb_path)
    case = coalition_case(data, ("AA",))
    assert not any(e[0] == "cell" and e[3] == "M1/T2" for e in case.edits)
    assert ("scale_rows", "market_tranches", "site", "M1", "capacity_tpy", 0.5) in case.edits
    raw, definition, without = apply_edits(read_workbook(wb_path), resolve_definition(None), case.edits)
    alone = build_data(raw, definition.overrides, without)
    assert alone.capacity("M1", 2030) == pytest.approx(75) and alone.capacity("M1/T2", 2030) == pytest.approx(20)
