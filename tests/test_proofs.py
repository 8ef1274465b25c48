"""Build decisions tested with their reversal (planner/solver/proofs.py), on hand-solved instances.

Every case starts from `wb.tiny()`: member AA needs 100 t/yr of mineral X in one one-year period
(base year 2030, discount rate 0: present value = plain sum); the market M1 in C-land sells 1,000
t/yr at 500 USD/t, so buying everything costs 100 x 500 = 50,000 USD = 0.05 MUSD. 1 USD = 1e-6 MUSD.
"""

import pytest

from planner.solver.proofs import prove_decisions
from wb import embargo, site, tiny


def _two_refineries(capex_r2):
    # R1 and R2: candidate refineries in AA's own country refining ore of the free mine N1 (yield 1,
    # 1,000 t/yr each, 100 USD/t). Building one and refining 100 t costs capex + 100 x 100 USD
    # = capex + 0.01 MUSD against 0.05 MUSD from the market (R1: 0.02 MUSD capex -> 0.03 MUSD).
    # With an embargo on C-land (scenario `embargo`, p 0.5, unmet 10,000 USD/t) not building costs
    # 0.5 x 0.05 + 0.5 x 100 x 10,000 = 0.525 MUSD: one refinery is built; never two.
    sheets, settings = tiny(unmet_penalty_usd_per_t=10_000)
    embargo(sheets)
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 1000, capex_musd=0.02, var_cost_usd_per_t=100,
                             **{"yield": 1}),
                        site("R2", "AAA", "refinery", "candidate", 1000, capex_musd=capex_r2, var_cost_usd_per_t=100,
                             **{"yield": 1})]
    return sheets, settings


def _decisions(res):
    return {(d.site, d.built): d for d in res.proofs.decisions}


def test_a_clear_choice_is_proven_by_lp(solve_tiny):
    # R2 costs 0.05 MUSD: building R1 (0.03 MUSD in all) is 0.03 MUSD cheaper than R2 (0.06) and
    # 0.495 cheaper than nothing. Whatever proves a decision, its bound must lie above the plan's
    # cost and at most at the reversed problem's optimum, 0.06 MUSD either way (see below).
    res = solve_tiny(*_two_refineries(0.05))
    assert res.outcome.objective == pytest.approx(0.03, abs=1e-9)
    assert res.proofs is not None and len(res.proofs.decisions) == 2
    d = _decisions(res)
    assert set(d) == {("R1", True), ("R2", False)}
    for dec in res.proofs.decisions:
        if dec.proven:
            assert res.outcome.objective < dec.bound_musd <= 0.06 + 1e-6, dec


def test_prove_settles_what_the_lp_cannot(solve_tiny):
    # --prove: forced MIPs for what the LP tests leave open. Reversed, each decision's best plan is
    # known by hand: "R1 not built" builds R2 instead, 0.05 + 0.01 = 0.06 MUSD; "R2 built" keeps no
    # R1 (one is enough), 0.06 MUSD too. Both above the plan's 0.03: both proven, each with a bound
    # in (0.03, 0.06] (a bound is never above the reversed problem's optimum).
    res = solve_tiny(*_two_refineries(0.05), prove=True)
    d = _decisions(res)
    assert d[("R1", True)].proven and d[("R2", False)].proven
    for key in (("R1", True), ("R2", False)):
        assert 0.03 < d[key].bound_musd <= 0.06 + 1e-6, (key, d[key])
    assert not res.proofs.unproven


def test_a_tie_stays_unproven_and_is_named(solve_tiny):
    # R2 costs exactly what R1 costs (0.02 MUSD): either is optimal (0.03 MUSD), so no bound of the
    # reversed problem exceeds the plan's cost, even with forced MIPs: both decisions are named,
    # and the run still ends optimal.
    res = solve_tiny(*_two_refineries(0.02), prove=True)
    assert res.outcome.status == "optimal"
    assert res.outcome.objective == pytest.approx(0.03, abs=1e-9)
    unproven = {d.label for d in res.proofs.unproven}
    built = res.solution.builds["site"].tolist()
    assert len(built) == 1
    other = "R2" if built == ["R1"] else "R1"
    assert unproven == {f"{built[0]} built in 2030", f"{other} not built in 2030"}
    assert any("2 of 2 build decisions are not proven" in w for w in res.data.warnings)
    assert res.outcome.hand_over["decisions_proven"] == 0
    assert res.outcome.hand_over["decision_unproven_1"].endswith("MUSD)")


def test_a_decision_within_the_gap_is_named(solve_tiny):
    # R2 costs 0.0201 MUSD: 0.0001 MUSD dearer than R1, far inside a 10% gap (0.003 MUSD): a search
    # stopping at 10% may keep either plan. If it keeps R2, reversing "R1 not built" saves 0.0001:
    # not provable; if it keeps R1, forced MIPs prove R1 (the reversal costs 0.0301 > 0.03). Without
    # --prove, whichever it keeps, the LP leaves the choice open and the run names it.
    res = solve_tiny(*_two_refineries(0.0201), mip_gap=0.1)
    assert res.outcome.status == "optimal"
    labels = {d.label for d in res.proofs.unproven}
    assert labels, "the choice between two refineries 0.0001 MUSD apart is not settled by an LP"
    assert labels <= {"R1 built in 2030", "R1 not built in 2030", "R2 built in 2030", "R2 not built in 2030"}


def test_proven_decisions_hold_when_forced(solve_tiny):
    # Whatever the tests prove, forcing the decision the other way (a whole MIP, gap 0) costs more
    # than the plan: the proofs never claim what is false.
    res = solve_tiny(*_two_refineries(0.05))
    c, x = res.compiled, res.outcome.x
    p = prove_decisions(c, x, res.outcome.objective, 10.0, mip=True, mip_limit_s=20)
    assert all(d.proven for d in p.decisions)
    for d in p.decisions:
        assert d.bound_musd > res.outcome.objective + 1e-6


def test_an_absolute_gap_reaches_highs(tmp_path, tiny_path):
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.errors import DefinitionError
    from planner.io.writer import read_json
    from planner.model.definition import resolve_definition
    src = tiny_path(*_two_refineries(0.05))
    out = tmp_path / "o.xlsx"
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--mip-abs-gap", "0.5"])
    assert r.exit_code == 0, r.output
    info = dict(zip(*read_json(tmp_path / "o.json")["run_info"][["key", "value"]].T.values))
    assert info["hand_over_highs_option_mip_abs_gap"] == 0.5
    assert "mip_abs_gap=0.5" in info["options"]
    with pytest.raises(DefinitionError, match="absolute MIP gap"):
        resolve_definition(None, solver_overrides={"mip_abs_gap": -1.0})
