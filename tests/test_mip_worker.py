"""The MIP search in a child process (planner/solver/mip_worker.py): its time limit and Ctrl-C are kept
even when the search does not look at them. HiGHS cannot be made to ignore its limit on a model this
small, so stand-in children do: they speak the worker's protocol (or run the real search) and then
stop answering."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import numpy as np
import pytest

from planner.solver import mip_worker
from planner.solver.mip_worker import grace_s, solve_in_child

# A child that reports a start, one bound and one plan (x = [1, 0], cost 10, bound 7), then hangs;
# with STOPS set it ends politely when asked to stop (HiGHS's interrupt status), else it ignores it.
FAKE = """
import os, pickle, sys, time
import highspy, numpy as np
out = os.fdopen(os.dup(1), "wb")
job = pickle.load(sys.stdin.buffer)
def send(*m):
    pickle.dump(m, out); out.flush()
send("started", (1, 2, 3), dict(job["options"]), "9.9.9")
send("progress", 0.1, 10.0, 7.0)
send("solution", 0.2, 10.0, np.array([1.0, 0.0]))
if {stops}:
    sys.stdin.buffer.read(1)
    send("done", {{"model_status": int(highspy.HighsModelStatus.kInterrupt), "has_solution": True,
                  "x": np.array([1.0, 0.0]), "objective": 10.0, "bound": 8.0, "seconds": 0.5}})
    time.sleep(60)
time.sleep(60)
"""

JOB = {"options": {"time_limit": 0.3}}


def fake_child(tmp_path, stops: bool) -> list[str]:
    path = tmp_path / f"child_{stops}.py"
    path.write_text(FAKE.format(stops=stops))
    return [sys.executable, str(path)]


def test_grace_is_ten_seconds_or_five_percent_of_the_limit():
    assert grace_s(0.0) == 10.0 and grace_s(100.0) == 10.0 and grace_s(1000.0) == 50.0


def test_a_search_past_its_limit_and_grace_is_stopped_with_its_last_plan(tmp_path, monkeypatch):
    # The child reports a plan (cost 10) and a bound (7), then never ends: at 0.3 s + 0.2 s grace the
    # parent kills it and keeps what it reported; HiGHS's own status is unknown (None).
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.2)
    run = solve_in_child(JOB, 0.3, command=fake_child(tmp_path, stops=False))
    assert run.killed == "time_limit" and run.model_status is None and not run.interrupted
    assert run.has_solution and run.objective == 10.0 and run.bound == 7.0
    assert run.x.tolist() == [1.0, 0.0]
    assert run.dims == (1, 2, 3) and run.options == {"time_limit": 0.3} and run.version == "9.9.9"
    assert run.seconds >= 0.5


def test_while_the_search_is_silent_the_progress_still_shows_the_clock(tmp_path, monkeypatch):
    # The stand-in reports once (incumbent 10, bound 7, at 0.1 s) and then says nothing: the progress
    # goes on from the parent's clock with that incumbent and bound until the search is stopped.
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.5)
    seen = []
    solve_in_child(JOB, 0.3, on_progress=lambda *a: seen.append(a), command=fake_child(tmp_path, stops=False))
    assert seen[0] == (0.1, 10.0, 7.0)
    later = seen[1:]
    assert len(later) >= 2 and all(inc == 10.0 and bound == 7.0 for _, inc, bound in later)
    assert [t for t, _, _ in later] == sorted(t for t, _, _ in later) and later[-1][0] >= 0.6


def test_without_a_reported_plan_the_start_plan_is_kept(tmp_path):
    # A child that has not started its search (no "started": no deadline yet) and reports only an
    # empty progress line, then hangs: Ctrl-C (sent while that line is shown) kills it at once, and
    # the start plan handed to it is kept, with its cost.
    hang = tmp_path / "hang.py"
    hang.write_text("import os, pickle, sys, time\nout = os.fdopen(os.dup(1), 'wb')\n"
                    "pickle.dump(('progress', 0.0, None, None), out)\nout.flush()\ntime.sleep(60)\n")
    job = {"options": {}, "start": np.array([0.0, 1.0]), "start_objective": 12.0}
    sent = []

    def ctrl_c_once(*a):
        if not sent:
            sent.append(a)
            os.kill(os.getpid(), signal.SIGINT)

    run = solve_in_child(job, 5.0, on_progress=ctrl_c_once, command=[sys.executable, str(hang)])
    assert sent == [(0.0, None, None)]
    assert run.killed == "interrupt" and run.interrupted and run.model_status is None
    assert run.has_solution and run.x.tolist() == [0.0, 1.0] and run.objective == 12.0
    # once sent, the planner let go of the job's arrays: the start plan it keeps is run.x's
    assert "start" not in job and job["start_objective"] == 12.0


@pytest.mark.parametrize("stops", [True, False])
def test_ctrl_c_asks_the_search_to_stop_and_kills_it_if_it_does_not(tmp_path, monkeypatch, stops):
    # Ctrl-C arrives while the parent shows the child's progress. A child that stops when asked ends
    # with HiGHS's interrupt status and its own last plan and bound (8); one that does not is killed
    # after the grace, keeping the plan and bound (7) it reported.
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.3)

    sent = []

    def ctrl_c(*a):
        if not sent:
            sent.append(a)
            os.kill(os.getpid(), signal.SIGINT)

    run = solve_in_child({"options": {}}, 30.0, on_progress=ctrl_c, command=fake_child(tmp_path, stops))
    assert len(sent) == 1 and run.interrupted and run.has_solution and run.x.tolist() == [1.0, 0.0]
    if stops:
        import highspy
        assert run.killed == "" and run.model_status == int(highspy.HighsModelStatus.kInterrupt) and run.bound == 8.0
    else:
        assert run.killed == "interrupt" and run.model_status is None and run.bound == 7.0


def test_the_callers_work_runs_while_the_child_searches_and_is_waited_for(tmp_path, monkeypatch):
    # `during` (the planner's own work while it waits) starts after the job is sent, in another
    # thread: the main thread keeps showing progress meanwhile. The stand-in child reports a plan and
    # hangs: it is killed at its 0.3 s limit + 0.2 s grace while the work (1.5 s) still runs, and
    # solve_in_child returns only after the work is done; the progress line goes on meanwhile, with
    # the search's last plan.
    import threading
    import time
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.2)
    done, threads, seen = [], [], []

    def work():
        threads.append(threading.current_thread() is threading.main_thread())
        time.sleep(1.5)
        done.append(time.perf_counter())

    t0 = time.perf_counter()
    run = solve_in_child(JOB, 0.3, on_progress=lambda *a: seen.append((time.perf_counter(), a[1])), during=work,
                         command=fake_child(tmp_path, stops=False))
    assert threads == [False] and len(done) == 1 and run.during_error is None
    assert run.killed == "time_limit" and run.objective == 10.0  # the search as without the work
    assert len(seen) >= 2 and seen[0][0] < done[0]  # progress shown while the work ran
    # and after the child was killed (at ~0.5 s), while the work went on: the last plan shown
    assert any(t0 + 1.0 < t < done[0] and incumbent == 10.0 for t, incumbent in seen)


def test_ctrl_c_while_the_callers_work_runs_stops_the_search_and_waits_for_the_work(tmp_path, monkeypatch):
    # Ctrl-C comes (while a progress line is shown) as the work runs: the child, asked to stop, ends
    # with its plan (HiGHS's interrupt status, bound 8), and the work, which cannot be stopped, is
    # finished before solve_in_child returns. What escapes the work is kept, not raised or printed.
    import time
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.3)
    sent, done = [], []

    def ctrl_c(*a):
        if not sent:
            sent.append(a)
            os.kill(os.getpid(), signal.SIGINT)

    def work():
        time.sleep(0.6)
        done.append(1)
        raise ValueError("the work failed")

    run = solve_in_child({"options": {}}, 30.0, on_progress=ctrl_c, during=work,
                         command=fake_child(tmp_path, stops=True))
    assert len(sent) == 1 and run.interrupted and run.killed == "" and run.bound == 8.0
    assert done == [1] and isinstance(run.during_error, ValueError)


def test_a_child_that_dies_before_its_search_is_an_error_not_a_hang(tmp_path):
    dies = tmp_path / "dies.py"
    dies.write_text("import sys\nsys.exit(3)\n")
    run = solve_in_child({"options": {}}, 5.0, command=[sys.executable, str(dies)])
    assert run.error == "the solver's process ended unexpectedly (exit code 3) before its search began"
    assert not run.has_solution and not run.died


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_child_killed_during_its_search_leaves_its_last_plan_and_says_how(tmp_path):
    # The stand-in reports a start, a bound of 7 and the plan x = [1, 0] of cost 10, then is killed
    # by SIGKILL (as Linux's out-of-memory killer does): the parent keeps that plan and bound, and
    # says how the child ended instead of reporting a failure.
    path = tmp_path / "killed.py"
    path.write_text(FAKE.format(stops=False).replace("time.sleep(60)\n",
                                                     "os.kill(os.getpid(), 9)\n"))
    run = solve_in_child(JOB, 30.0, command=[sys.executable, str(path)])
    assert run.died == "was killed by signal 9 (SIGKILL)" and run.exit_code == -9
    assert run.error == "" and run.killed == ""
    assert run.has_solution and list(run.x) == [1.0, 0.0] and run.objective == 10.0 and run.bound == 7.0


# A stand-in that reports a start, a bound of 7 and the plan x = [1, 0] of cost 10, then ends as HiGHS
# 1.16 does when out of memory (measured on medium under `ulimit -v`): kMemoryLimit, no plan, bound 0.
NO_FINAL_PLAN = FAKE.split("if {stops}:")[0] + """
send("done", {"model_status": int(highspy.HighsModelStatus.kMemoryLimit), "has_solution": False, "x": None,
              "objective": None, "bound": 0.0, "seconds": 0.5})
time.sleep(60)
"""


def test_a_search_ending_without_a_final_plan_keeps_the_last_one_reported_and_its_bound(tmp_path):
    import highspy
    path = tmp_path / "no_final_plan.py"
    path.write_text(NO_FINAL_PLAN)
    run = solve_in_child(JOB, 30.0, command=[sys.executable, str(path)])
    assert run.model_status == int(highspy.HighsModelStatus.kMemoryLimit) and run.error == ""
    assert run.has_solution and not run.final and list(run.x) == [1.0, 0.0] and run.objective == 10.0
    assert run.bound == 7.0  # the best bound reported, not the final 0


def test_how_a_process_ended_names_the_signal():
    assert mip_worker.ended_how(3) == "ended unexpectedly (exit code 3)"
    assert mip_worker.ended_how(-9) == "was killed by signal 9 (SIGKILL)"
    assert mip_worker.ended_how(-11) == "was killed by signal 11 (SIGSEGV)"


def wrapped_search(through: str) -> str:
    """A child's script: the real search, each message it sends first passing through `through` (the
    body of `through(*msg)`, which sends it on, or not)."""
    return textwrap.dedent("""
        import os, time
        import highspy
        from planner.solver import mip_worker
        search = mip_worker._search
        def wrapped(job, send):
            def through(*msg):
        {body}
            search(job, through)
        mip_worker._search = wrapped
        mip_worker._child_main()
    """).format(body=textwrap.indent(textwrap.dedent(through), " " * 8))


def use_worker(script: str, tmp_path, monkeypatch) -> None:
    """The planner's MIP searches run `script` as their child."""
    path = tmp_path / "worker.py"
    path.write_text(script)
    monkeypatch.setattr(mip_worker, "worker_command", lambda: [sys.executable, str(path)])


# The real search, which then does not say its last word (as HiGHS past its limit): the parent must
# keep the last plan HiGHS reported through its improving-solution callback.
HANGS_AT_THE_END = wrapped_search("""
    if msg[0] == "done":
        time.sleep(60)
    send(*msg)
""")


def test_a_stopped_search_reaches_run_info_and_the_warnings(solve_tiny, tmp_path, monkeypatch):
    # Build R1 (capex 0.01 + 100 t x 100 USD/t = 0.02 MUSD) beats the market (0.05): the search finds
    # that plan, reports it, then hangs past its 1 s limit; the run keeps it as best_found, says how
    # far past the limit it was stopped (the 0.5 s grace) and warns, and the plan passes the checks.
    from test_families import built, with_refinery_chain
    from wb import tiny
    use_worker(HANGS_AT_THE_END, tmp_path, monkeypatch)
    monkeypatch.setattr(mip_worker, "grace_s", lambda limit: 0.5)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, time_limit=1, expect='best_found')
    o = res.outcome
    assert o.status == "best_found" and o.termination == "kTimeLimit"
    assert o.objective == pytest.approx(0.02, abs=1e-6) and built(res) == {"R1": 2030}
    assert o.hand_over["time_limit_enforced_s"] >= 0.5
    assert any(w.startswith("HiGHS did not stop at the time limit of its search (1 s): the planner stopped it")
               for w in res.data.warnings)
    assert res.max_violation <= 1e-6


# The real search, killed by SIGKILL where it would say its last word (as the system's out-of-memory
# killer would, at any point); with `drop` it has not reported any plan before.
def killed_at_the_end(drop: bool) -> str:
    return wrapped_search(f"""
    if msg[0] == "done":
        os.kill(os.getpid(), 9)
    if msg[0] == "solution" and {drop}:
        return
    send(*msg)
""")


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_search_killed_by_the_system_keeps_its_last_plan_and_says_why(solve_tiny, tmp_path, monkeypatch):
    # Build R1 (capex 0.01 + 100 t x 100 USD/t = 0.02 MUSD) beats the market (0.05): the search
    # reports that plan, then its process is killed. The run keeps the plan as best_found (it passes
    # the checks), names the signal and the likely cause, and points at --low-memory.
    from test_families import built, with_refinery_chain
    from wb import tiny
    use_worker(killed_at_the_end(drop=False), tmp_path, monkeypatch)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, time_limit=30, expect='best_found')
    o = res.outcome
    assert o.status == "best_found" and o.termination == "solver_process_died" and o.exit_code == 3
    assert o.objective == pytest.approx(0.02, abs=1e-6) and built(res) == {"R1": 2030}
    assert res.max_violation <= 1e-6
    assert o.hand_over["solver_process_died"].startswith("was killed by signal 9 (SIGKILL) ")
    assert o.message.startswith("HiGHS's process was killed by signal 9 (SIGKILL) ")
    assert o.message.endswith(" into its search -- most likely the machine ran out of memory; try --low-memory: "
                              "the best plan it had reported is kept (not proven optimal; gap shown)")
    assert o.message in res.data.warnings


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_search_killed_before_reporting_a_plan_is_an_error_that_says_why(solve_tiny, tmp_path, monkeypatch):
    # No start plan, and the search is killed before it reported any plan: nothing to keep.
    from test_families import with_refinery_chain
    from wb import tiny
    use_worker(killed_at_the_end(drop=True), tmp_path, monkeypatch)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, time_limit=30,
                     solver_overrides={"start_heuristic": "none", "low_memory": True}, expect='error')
    o = res.outcome
    assert o.status == "error" and o.termination == "solver_process_died" and o.objective is None
    assert o.message.endswith(" into its search -- most likely the machine ran out of memory: "
                              "it had reported no plan")


# The real search, ending as HiGHS 1.16 does when out of memory (measured on medium under `ulimit -v`:
# kMemoryLimit, no plan, a bound of 0, after reporting plans).
OUT_OF_MEMORY_AT_THE_END = wrapped_search("""
    if msg[0] == "done":
        msg = ("done", {**msg[1], "model_status": int(highspy.HighsModelStatus.kMemoryLimit),
                        "has_solution": False, "x": None, "objective": None, "bound": 0.0})
    send(*msg)
""")


def test_a_search_out_of_memory_keeps_its_last_plan_and_says_why(solve_tiny, tmp_path, monkeypatch):
    # As above: the search reports plan R1 (0.02 MUSD), then ends out of memory without a final plan.
    # Before, the run ended no_solution ("a limit was reached before any feasible plan was found").
    from test_families import built, with_refinery_chain
    from wb import tiny
    use_worker(OUT_OF_MEMORY_AT_THE_END, tmp_path, monkeypatch)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, time_limit=30, expect='best_found')
    o = res.outcome
    assert o.status == "best_found" and o.termination == "kMemoryLimit"
    assert o.objective == pytest.approx(0.02, abs=1e-6) and built(res) == {"R1": 2030}
    assert res.max_violation <= 1e-6
    assert o.message.startswith("HiGHS ran out of memory ")
    assert o.message.endswith(" into its search; try --low-memory: the best plan it had reported is kept "
                              "(not proven optimal; gap shown)")
    assert o.message in res.data.warnings


def test_a_search_out_of_memory_before_any_plan_says_why(solve_tiny, tmp_path, monkeypatch):
    # No start plan, and no plan reported before HiGHS runs out of memory: nothing to keep.
    from test_families import with_refinery_chain
    from wb import tiny
    use_worker(wrapped_search("""
        if msg[0] == "solution":
            return
        if msg[0] == "done":
            msg = ("done", {**msg[1], "model_status": int(highspy.HighsModelStatus.kMemoryLimit),
                            "has_solution": False, "x": None, "objective": None, "bound": 0.0})
        send(*msg)
    """), tmp_path, monkeypatch)
    sheets, settings = tiny()
    res = solve_tiny(with_refinery_chain(sheets, capex=0.01), settings, time_limit=30,
                     solver_overrides={"start_heuristic": "none"}, expect='no_solution')
    o = res.outcome
    assert o.status == "no_solution" and o.termination == "kMemoryLimit" and o.objective is None
    assert o.message.startswith("HiGHS ran out of memory ")
    assert o.message.endswith(" into its search; try --low-memory: it had reported no plan")


def test_a_search_whose_parent_is_gone_stops(tmp_path):
    # The default workbook at gap 0 needs many seconds of search; its parent writes the job and then
    # closes the pipe (as when it dies): the child must stop the search (HiGHS's interrupt status) and
    # still say its last word, instead of searching on alone.
    import pickle
    import subprocess

    import highspy

    from planner.dataset.data import build_data
    from planner.model.definition import ModelDefinition
    from planner.model.formulation import build_model
    from planner.io.reader import read_workbook
    from planner.solver.solve import compile_model, model_arrays
    from test_default_workbook import DEFAULT
    m = build_model(build_data(read_workbook(DEFAULT)), ModelDefinition())
    job = {**model_arrays(compile_model(m)), "options": {"mip_rel_gap": 0.0, "time_limit": 600.0}}
    proc = subprocess.Popen(mip_worker.worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=mip_worker._environment())
    pickle.dump(job, proc.stdin)
    proc.stdin.close()
    messages = []
    while True:
        try:
            messages.append(pickle.load(proc.stdout))
        except EOFError:
            break
    proc.wait()
    assert messages[0][0] == "started" and messages[-1][0] == "done"
    assert messages[-1][1]["model_status"] == int(highspy.HighsModelStatus.kInterrupt)


def test_release_job_takes_out_the_arrays_and_keeps_the_rest():
    # The child calls it once HiGHS holds its copy of the model and the start plan (the job's copies
    # would sit in the child for the whole search: large, 116 MB), the parent once the job is sent
    # (checked above). What the rest of the search reads (options) stays.
    job = {"col_lower": np.zeros(2), "col_upper": np.ones(2), "cost": np.ones(2), "offset": 0.0,
           "integer": np.array([0], dtype=np.int32), "row_lower": np.zeros(1), "row_upper": np.ones(1),
           "A": (np.array([0], dtype=np.int32), np.array([0, 1], dtype=np.int32), np.ones(2)),
           "options": {"time_limit": 5.0}, "tee": False, "start": np.zeros(2), "start_objective": 0.0}
    mip_worker.release_job(job)
    assert set(job) == {"offset", "options", "tee", "start_objective"}
    assert job["options"] == {"time_limit": 5.0}
