"""The sweep engine (planner/analyses/sweep.py): the journal, Ctrl-C and --resume, and the same
batch on a Dask cluster. The batch is `plan why` on the hand-solved refineries of tests/test_why.py
(base plan R1 at 0.03 MUSD; R1 excluded +0.02, R2 forced in +0.03, R3 forced in +0.02)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.analyses.cases import BASE, Case, difference
from planner.analyses.sweep import (BatchInterrupted, Engine, Workbook, batch_definition, journal_path,
                                    partial_path, run_analysis)
from planner.analyses.why import Why, why_cases
from planner.dataset.data import load_data
from planner.errors import OutputExistsError
from planner.model.definition import resolve_definition
from test_why import refineries
from wb import site, write_workbook

EXACT = {"out:R1": 0.02, "in:R2": 0.03, "in:R3": 0.02}


@pytest.fixture
def workbook(tmp_path):
    return write_workbook(tmp_path / "refineries.xlsx", *refineries())


def exact_definition():
    return batch_definition(resolve_definition(None), mip_abs_gap=0.0)


def journal_keys(target: Path) -> list[str]:
    lines = (journal_path(target) / "done.jsonl").read_text().splitlines()
    return [json.loads(x)["spec"][0] for x in lines]


def stop_after(n: int, seen: list):
    """A progress callback that presses Ctrl-C once `n` solves have finished."""
    def progress(done, total, elapsed, eta, case, result):
        seen.append(case.key)
        if len(seen) >= n:
            raise KeyboardInterrupt
    return progress


def test_interrupt_keeps_what_finished_and_resume_solves_only_the_rest(workbook, tmp_path):
    target = tmp_path / "why.xlsx"
    first: list[str] = []
    with pytest.raises(BatchInterrupted) as info:
        run_analysis(Why(load_data(workbook)), workbook, target, exact_definition(), workers=1,
                     progress=stop_after(2, first))
    # the base and one reversal finished and are in the journal; the partial workbook shows them
    assert journal_keys(target) == first and first[0] == "base" and len(first) == 2
    assert info.value.partial == partial_path(target) and info.value.solved == 2
    assert not target.exists()
    part = pd.read_excel(partial_path(target), sheet_name="why", keep_default_na=False, engine="openpyxl")
    statuses = dict(zip(part["site"], part["status"]))
    assert sum(v == "optimal" for v in statuses.values()) == 1
    assert sum(v == "not solved (interrupted)" for v in statuses.values()) == 2

    # without --resume the journal is not replaced
    with pytest.raises(OutputExistsError, match="--resume"):
        run_analysis(Why(load_data(workbook)), workbook, target, exact_definition(), workers=1)

    second: list[str] = []
    tables = run_analysis(Why(load_data(workbook)), workbook, target, exact_definition(), workers=1, resume=True,
                          progress=lambda *a: second.append(a[4].key))
    assert set(first).isdisjoint(second), "a solve the journal held was solved again"
    assert sorted(first + second) == sorted(["base", *EXACT]), "a solve was lost"
    assert sorted(journal_keys(target)) == sorted(["base", *EXACT])
    assert target.exists() and not partial_path(target).exists()
    t = tables["why"].set_index("site")
    for key, cost in EXACT.items():
        site_id = key.split(":")[1]
        assert t.loc[site_id, "reversal_cost_low_musd"] == pytest.approx(cost, abs=1e-7)

    # a finished batch resumed solves nothing and writes its output again (the journal lists it)
    third: list[str] = []
    run_analysis(Why(load_data(workbook)), workbook, target, exact_definition(), workers=1, resume=True,
                 progress=lambda *a: third.append(a[4].key))
    assert third == []


def test_resume_refuses_another_workbook_and_files_it_does_not_list(workbook, tmp_path):
    target = tmp_path / "why.xlsx"
    run_analysis(Why(load_data(workbook), ["R3"]), workbook, target, exact_definition(), workers=1)
    sheets, settings = refineries()
    sheets["sites"][-1]["capex_musd"] = 0.02
    other = write_workbook(tmp_path / "edited.xlsx", sheets, settings)
    with pytest.raises(OutputExistsError, match="another batch"):
        run_analysis(Why(load_data(other), ["R3"]), other, target, exact_definition(), workers=1, resume=True)
    # a file beside it that the batch would write but did not: never replaced without --force
    mine = tmp_path / "mine.xlsx"
    partial_path(mine).write_bytes(b"the user's own file")
    with pytest.raises(OutputExistsError, match="exists"):
        run_analysis(Why(load_data(workbook), ["R3"]), workbook, mine, exact_definition(), workers=1)
    assert partial_path(mine).read_bytes() == b"the user's own file"
    # nor the input itself, even with --force
    with pytest.raises(OutputExistsError, match="never writes over its inputs"):
        run_analysis(Why(load_data(workbook), ["R3"]), workbook, workbook, exact_definition(), workers=1, force=True)


def test_the_engine_solves_a_batch_as_the_cases_say(workbook):
    # one engine, two batches (the base, then the reversals warm-started from it)
    data, definition = load_data(workbook), exact_definition()
    with Engine(Workbook.read(workbook), workers=2) as engine:
        base = engine.run([BASE], definition)["base"]
        assert base["objective_musd"] == pytest.approx(0.03, abs=1e-9) and base["builds"] == {"R1": 2030}
        results = engine.run(why_cases(data, base, list(data.CANDIDATES)), definition,
                             frozenset(base["builds"].items()))
    assert set(results) == set(EXACT)
    for key, cost in EXACT.items():
        low, high = difference(results[key], base)
        assert low == pytest.approx(cost, abs=1e-7) and high == pytest.approx(cost, abs=1e-7)


def test_an_edit_that_breaks_the_workbook_is_a_result_not_a_crash(workbook):
    bad = Case("bad", "a capacity made negative", (("cell", "sites", "site", "R1", "capacity_tpy", -5),))
    with Engine(Workbook.read(workbook), workers=1) as engine:
        got = engine.run([bad], exact_definition())["bad"]
    assert got["status"] == "input_error" and "capacity_tpy" in got["message"] and got["objective_musd"] is None


def test_dask_local_cluster_gives_the_same_results(workbook):
    distributed = pytest.importorskip("distributed")
    data, definition = load_data(workbook), exact_definition()
    cases = [BASE, *why_cases(data, {"builds": {"R1": 2030}}, list(data.CANDIDATES))]
    with Engine(Workbook.read(workbook), workers=2) as engine:
        local = engine.run(cases, definition)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with Engine(Workbook.read(workbook), scheduler=cl.scheduler_address) as engine:
            remote = engine.run(cases, definition)
    assert set(local) == set(remote) == {"base", *EXACT}
    for key in local:
        assert remote[key]["status"] == local[key]["status"] == "optimal"
        assert remote[key]["objective_musd"] == pytest.approx(local[key]["objective_musd"], abs=1e-9)
        assert remote[key]["builds"] == local[key]["builds"]
        assert remote[key]["where"] != local[key]["where"]  # really solved elsewhere


def many_refineries(n: int) -> tuple[dict, dict]:
    sheets, settings = refineries()
    for i in range(n):
        sheets["sites"].append(site(f"Q{i}", "AAA", "refinery", "candidate", 1000, capex_musd=0.1 + i / 100,
                                    var_cost_usd_per_t=100, **{"yield": 1}))
    return sheets, settings


def test_ctrl_c_on_the_command_line(tmp_path):
    # a real SIGINT to `plan why` (the main process only, as `kill -INT` would): exit 8, one message,
    # no traceback; what finished is in the journal and the partial workbook; --resume finishes
    wb = write_workbook(tmp_path / "many.xlsx", *many_refineries(16))
    out = tmp_path / "why.xlsx"
    cmd = [sys.executable, "-m", "planner", "why", str(wb), "-o", str(out), "--workers", "1", "--mip-abs-gap", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines = []
    while len([x for x in lines if "elapsed" in x]) < 3:
        line = proc.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = "".join(lines) + err
    assert proc.returncode == 8, err
    assert "Traceback" not in err and "interrupted after" in err and "--resume" in err
    assert partial_path(out).exists() and not out.exists()
    kept = journal_keys(out)
    assert len(kept) >= 3 and len(set(kept)) == len(kept)
    done = subprocess.run(cmd + ["--resume", "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    keys = journal_keys(out)
    assert len(keys) == len(set(keys)) == 1 + 19  # the base and the 20 candidates but R4 (screened), once each
    assert out.exists() and not partial_path(out).exists()


def test_an_unreachable_scheduler_is_one_message(workbook, tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli
    out = tmp_path / "why.xlsx"
    res = CliRunner().invoke(cli, ["why", str(workbook), "-o", str(out), "--scheduler", "tcp://127.0.0.1:9",
                                   "--quiet"])
    assert res.exit_code == 2 and "no Dask scheduler could be reached" in res.output, res.output
    assert not out.exists() and not journal_path(out).exists()  # nothing solved, nothing left to resume
