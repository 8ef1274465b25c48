"""The model built and compiled in a short-lived process (`solve.compile_apart`) is the model built
here, its names kept as coded keys (`solver.keys.Keys`); a failure in the build is raised in the
planner, a build whose process dies is a MemoryError."""

import os

import pytest

import golden
from planner.solver.keys import Keys
from planner.solver.solve import compile_apart, compile_model, compiled_digests


def test_the_model_compiled_apart_is_the_model_compiled_here():
    here = compile_model(golden.build("default"))
    apart = compile_apart(lambda: golden.build("default"))
    assert compiled_digests(apart) == compiled_digests(here)
    assert list(apart.columns) == list(here.columns) and list(apart.rows) == list(here.rows)


def test_a_failing_build_is_raised_in_the_planner():
    def fails():
        raise ValueError("a rule failed")

    with pytest.raises(ValueError, match="a rule failed"):
        compile_apart(fails)


def test_a_build_whose_process_dies_is_a_memory_error():
    def dies():
        os._exit(9)  # as the system's out-of-memory killer would leave it: no word

    with pytest.raises(MemoryError, match="without a result"):
        compile_apart(dies)


def test_coded_keys_give_back_every_name_in_order():
    keys = [("v_flow", (3, 2030, "base")), ("v_build", ("R1", 2030)), ("v_flow", (4, 2035, "shock")),
            ("v_paid_total", None), ("v_burden_over", "AA"), ("v_flow", (3, 2035, "base"))]
    k = Keys(keys)
    assert len(k) == 6 and list(k) == keys and [k[j] for j in range(6)] == keys
    cols, index = k.of("v_flow")
    assert cols.tolist() == [0, 2, 5] and list(index) == [(3, 2030, "base"), (4, 2035, "shock"), (3, 2035, "base")]
    assert index[1] == (4, 2035, "shock") and list(k.of("v_burden_over")[1]) == ["AA"]
    assert list(k.of("v_paid_total")[1]) == [None] and k.of("nothing")[0].tolist() == []
