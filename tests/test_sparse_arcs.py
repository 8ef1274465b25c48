"""Sparse arcs (`settings.supply_arcs_per_site`): which mine -> refinery pairs are kept,
and what dropping a pair does to the optimum, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from planner.model.formulation import build_model

from planner.dataset.data import _cheapest_pairs, build_data
from planner.io.reader import read_workbook
from wb import site, tiny

TOL = 1e-6


def two_by_two(**settings):
    """Mines A (40 t/yr at 100 USD/t) and B (100 t/yr at 200 USD/t); refineries R1 (50 t/yr, 10 USD/t)
    and R2 (100 t/yr, 50 USD/t), yield 1, all in one country, transport free; the tiny base case's
    market M1 sells refined X at 500 USD/t; AA demands 100 t/yr."""
    sheets, s = tiny(**settings)
    sheets["sites"] += [site("A", "AAA", "mine", "existing", 40, var_cost_usd_per_t=100),
                        site("B", "AAA", "mine", "existing", 100, var_cost_usd_per_t=200),
                        site("R1", "AAA", "refinery", "existing", 50, var_cost_usd_per_t=10, **{"yield": 1}),
                        site("R2", "AAA", "refinery", "existing", 100, var_cost_usd_per_t=50, **{"yield": 1})]
    return sheets, s


def supply_pairs(tiny_path, sheets, s):
    data = build_data(read_workbook(tiny_path(sheets, s)))
    sup = data.arcs[data.arcs["kind"] == "supply"]
    return set(zip(sup["origin"], sup["destination"]))


def test_one_arc_per_site_keeps_each_sites_cheapest_partner(tiny_path):
    # k = 1. A mine ranks refineries by transport + the refinery's unit cost per t of ore:
    # R1 (10) before R2 (50), so A and B both keep R1. A refinery ranks mines by their unit cost +
    # transport: A (100) before B (200), so R1 and R2 both keep A. Kept: A-R1, B-R1, A-R2; B-R2 dropped.
    sheets, s = two_by_two(supply_arcs_per_site=1)
    assert supply_pairs(tiny_path, sheets, s) == {("A", "R1"), ("B", "R1"), ("A", "R2")}
    # blank: every pair
    sheets, s = two_by_two()
    assert supply_pairs(tiny_path, sheets, s) == {("A", "R1"), ("B", "R1"), ("A", "R2"), ("B", "R2")}


def test_a_transport_override_keeps_its_pair(tiny_path):
    sheets, s = two_by_two(supply_arcs_per_site=1)
    sheets["transport"] = [{"origin": "B", "destination": "R2", "cost_usd_per_t": 0}]
    assert ("B", "R2") in supply_pairs(tiny_path, sheets, s)


def test_dropping_a_pair_moves_the_optimum(solve_tiny):
    # Every pair: A's 40 t and 60 t of B fill R1 (50) and R2 (50): mining 40x100 + 60x200 = 16,000,
    # refining 50x10 + 50x50 = 3,000 -> 19,000 USD = 0.019 MUSD.
    sheets, s = two_by_two()
    dense = solve_tiny(sheets, s)
    assert dense.outcome.status == "optimal"
    assert dense.costs["total_cost_musd"] == pytest.approx(0.019, abs=TOL)
    # k = 1 drops B-R2, so R2 can refine only A's ore: A 40 -> R2, B 50 -> R1, 10 t from the market:
    # mining 4,000 + 10,000, refining 500 + 2,000, market 10 x 500 = 5,000 -> 21,500 USD.
    sheets, s = two_by_two(supply_arcs_per_site=1)
    sparse = solve_tiny(sheets, s)
    assert sparse.costs["total_cost_musd"] == pytest.approx(0.0215, abs=TOL)
    # k = 2 keeps every pair of a 2 x 2 mineral: the exact optimum again.
    sheets, s = two_by_two(supply_arcs_per_site=2)
    assert solve_tiny(sheets, s).costs["total_cost_musd"] == pytest.approx(0.019, abs=TOL)


def test_cheapest_pairs_ties_go_to_the_nearer():
    # Equal costs everywhere: each of the 3 mines keeps its nearest refinery, each refinery its nearest mine.
    cost = np.zeros((3, 3))
    km = np.array([[5.0, 1.0, 9.0], [2.0, 8.0, 7.0], [6.0, 4.0, 3.0]])
    keep = _cheapest_pairs(cost, cost, km, 1)
    # rows (mines): 0->1, 1->0, 2->2; columns (refineries): 0<-1, 1<-0, 2<-2: the same three pairs
    assert {tuple(x) for x in np.argwhere(keep)} == {(0, 1), (1, 0), (2, 2)}
    assert _cheapest_pairs(cost, cost, km, None).all()


def test_rows_the_flow_bounds_imply_are_not_generated(solve_tiny):
    # M2 (BBB, 30 t/yr at 100 USD/t) and M1 (CCC, 1000 t/yr at 500) supply AA's 100 t; no outside
    # country may supply more than 70%. Optimum: all 30 of M2 and 70 of M1:
    # 30 x 100 + 70 x 500 = 38,000 USD = 0.038 MUSD.
    sheets, s = tiny(max_country_share=0.7)
    sheets["sites"].append(site("M2", "BBB", "market", "existing", 30, var_cost_usd_per_t=100))
    res = solve_tiny(sheets, s)
    assert res.costs["total_cost_musd"] == pytest.approx(0.038, abs=TOL)
    m = build_model(res.data, res.definition)
    # Each market's deliveries are bounded by min(capacity, demand) = 30 and 100, at most their
    # capacities: no capacity row. BBB can deliver at most 30 <= 70: no share-cap row; CCC can
    # deliver 100 > 70: its row stays and binds.
    assert len(m.capacity_if_online) == 0
    assert list(m.country_share_cap) == [("AA", "X", "CCC", 2030, "base")]
    # A candidate that cannot be online in 2030 (lead time 5 years): its flows are bounded at 0 and
    # it has no capacity row either.
    sheets["sites"].append(site("C1", "AAA", "market", "candidate", 100, lead_time_years=5))
    res = solve_tiny(sheets, s)
    c1 = list(res.data.arcs.index[res.data.arcs["origin"] == "C1"])
    m = build_model(res.data, res.definition)
    assert c1 and all(m.v_flow[a, 2030, "base"].ub == 0 for a in c1)
    assert len(m.capacity_if_online) == 0
    assert res.costs["total_cost_musd"] == pytest.approx(0.038, abs=TOL)


def test_sparse_arcs_from_a_model_definition(tmp_path, tiny_path):
    # The same k = 1 as in the workbook, set by a definition's overrides; 0 or 1.5 are refused.
    from planner.dataset.data import load_data
    from planner.model.definition import load_definition
    from planner.errors import DefinitionError
    d = tmp_path / "sparse.toml"
    d.write_text("[objective]\nsupply_arcs_per_site = 1\n")
    data = load_data(tiny_path(*two_by_two()), load_definition(str(d)).overrides)
    sup = data.arcs[data.arcs["kind"] == "supply"]
    assert set(zip(sup["origin"], sup["destination"])) == {("A", "R1"), ("B", "R1"), ("A", "R2")}
    for bad in ("0", "1.5"):
        d.write_text(f"[objective]\nsupply_arcs_per_site = {bad}\n")
        with pytest.raises(DefinitionError, match="whole number >= 1"):
            load_definition(str(d))
