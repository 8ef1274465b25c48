"""HiGHS's MIP search in a child process, so that its time limit and Ctrl-C are kept.

HiGHS 1.16 does not look at the clock in some steps of its root node (measured: the central rounding
along the line to the analytic centre ran 300-430 s past the limit on a 1.2-million-column model,
README: Solver options), and a thread inside the planner's process cannot stop it. In a child
process it can be stopped: the parent (`solve_in_child`) sends the model as arrays, the options and
the start plan; the child (`python -m planner.solver.mip_worker`) hands them to HiGHS, runs the search and
sends back live progress (elapsed, incumbent, bound), every improving plan HiGHS finds, and at the
end HiGHS's own status and solution. If the search is not over at its time limit plus a grace, or a
Ctrl-C's polite stop is not heard within the grace, the parent kills the child and keeps the last
plan HiGHS reported (or the start plan), with the last bound. If the child ends without a last word
once its search has begun (killed by the system, say, for want of memory), that plan is kept too
and `MipRun.died` says how it ended.

Only numpy and highspy are needed in the child (no Pyomo: it starts in ~0.2 s). Messages are
pickled tuples on the child's standard output, which is nothing else: at start the child points
its file descriptor 1 (where HiGHS prints) at its standard error (its log, with `tee`) or at the null
device. The parent writes the job on the child's standard input and later one byte (or closes it)
to ask the search to stop; the child also stops when its standard input closes (the parent died).
The child runs in a process group of its own (setsid), so a Ctrl-C at the terminal reaches only the
parent.
"""

from __future__ import annotations

import math
import atexit
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

PROGRESS_EVERY_S = 1.0  # the child reports the search's state at most this often
POLL_S = 0.2  # the parent looks at the clock at least this often


@dataclass
class MipRun:
    """What the search in the child did, in plain numbers (the parent maps the status)."""

    model_status: int | None  # HiGHS's HighsModelStatus value; None when the child was stopped by force
    has_solution: bool
    x: np.ndarray | None  # column values of the plan kept
    objective: float | None  # HiGHS's objective of that plan
    bound: float | None  # the best bound HiGHS reported (last progress, or its final info)
    seconds: float  # from the search's start (after the hand-over in the child) to its end
    dims: tuple[int, int, int] = (0, 0, 0)  # rows, columns, nonzeros HiGHS held
    options: dict = field(default_factory=dict)  # the values HiGHS holds for the options set
    version: str = ""
    killed: str = ""  # "time_limit" or "interrupt" when the parent stopped the child by force
    interrupted: bool = False  # Ctrl-C reached the parent during the search
    error: str = ""  # the child failed (its message)
    final: bool = False  # the plan kept is HiGHS's final one (else one reported before, or the start plan)
    searched_again: bool = False  # the plan HiGHS ended with did not cost its objective: searched without the start
    died: str = ""  # the child ended without a last word after its search began: how ("was killed by signal 9 (SIGKILL)")
    exit_code: int | None = None  # the child's, when it died (negative: the signal that killed it)
    during_error: BaseException | None = None  # what escaped the caller's `during` work (not the search's)
    planner_mib: float | None = None  # the planner's own resident memory at most, sampled while the child searched
    # the child, still at work after its search on the job's `follow_on` (the decisions' LP tests,
    # planner/solver/proofs.py): (process, its messages); `collect_follow_on` takes the result
    follow_on: tuple | None = field(default=None, repr=False)


def grace_s(limit_s: float) -> float:
    """How long past its time limit the search may run before the child is stopped by force: HiGHS's
    normal stop lags by a few seconds (10 s, or 5% of the limit, whichever is more)."""
    return max(10.0, 0.05 * limit_s)


def worker_command() -> list[str]:
    return [sys.executable, "-m", "planner.solver.mip_worker"]


def _environment() -> dict:
    """The parent's environment, with the directory holding this package first on the path (a
    checkout run without installing finds the same code)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _new_session() -> dict:
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # pragma: no cover (Windows)


def resident_mib() -> float | None:
    """This process's resident memory in MiB (Linux's /proc; None elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


_SPARE: list = []  # a worker started ahead of its search (`prestart`), at most one


def _launch(command: list[str]):
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_environment(),
                            **_new_session())


def prestart() -> None:
    """Start a worker process now for the next search: its start-up (Python, numpy and highspy,
    ~0.3 s) then runs beside the planner's own work (reading, building, compiling) instead of before
    the search. A worker never used is ended when the planner exits."""
    if not _SPARE:
        command = worker_command()
        _SPARE.append((command, _launch(command)))


def _take_spare():
    """The spare worker, if it is alive and runs the command a worker runs now (a spare started
    before the worker's command changed is ended, not used)."""
    command = worker_command()
    while _SPARE:
        launched, proc = _SPARE.pop()
        if proc.poll() is None and launched == command:
            return proc
        _end(proc)
    return None


_FOLLOWING: list = []  # children still at a follow-on job nobody collected


@atexit.register
def _end_spare() -> None:
    for proc in [p for _, p in _SPARE] + _FOLLOWING:
        _end(proc)
    _SPARE.clear()
    _FOLLOWING.clear()


def solve_in_child(job: dict, limit_s: float | None, on_progress: Callable | None = None,
                   command: list[str] | None = None, during: Callable[[], None] | None = None) -> MipRun:
    """Run the MIP `job` (the model as `load_arrays` takes it, plus `options`, `tee`, `start`,
    `start_objective`) in a child process; `on_progress(elapsed_s, incumbent, bound)` is called with
    what the child reports, and while it is silent with the parent's clock and the last incumbent
    and bound (the caller throttles). The child is killed at `limit_s` + grace after its search
    started, or at grace after a Ctrl-C (a second Ctrl-C kills it at once); the plan kept is then
    the last one it reported, else the job's start plan -- as when the child dies during its search
    (`run.died`; before it, `run.error`).

    Once sent, the job's arrays (the model and the start plan) are taken out of `job` and let go:
    the child has its copy, and the planner does not hold a second one through the search (large,
    `--low-memory`, where nothing else holds them: the planner 165 MB during the search instead of
    240-244 MB).

    `during`: the caller's own work, run in a thread of the planner while the child searches (the
    planner's main thread only waits); it is waited for before this returns, and cannot be stopped
    (a Ctrl-C meanwhile stops the search, then waits for it). It should keep its failures to itself;
    anything that escapes it is kept in `run.during_error`."""
    t_launch = time.perf_counter()
    following = job.get("follow_on") is not None
    proc = (_take_spare() if command is None else None) or _launch(command or worker_command())
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_read_messages, args=(proc.stdout, inbox), daemon=True).start()
    run = MipRun(None, False, None, None, None, 0.0)
    if job.get("start") is not None:
        run.x, run.objective, run.has_solution = np.asarray(job["start"], dtype=float), job.get("start_objective"), True
    clock = {"started": None, "deadline": None}  # parent's clock: the child's search began; kill after
    worker = None
    try:
        try:
            pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child died first: its last message (or the lack of one) says why
        release_job(job)  # sent: the child has its own copy (the start plan stays in run.x)
        if during is not None:
            worker = threading.Thread(target=_run_during, args=(during, run), daemon=True)
            worker.start()
        while True:
            try:
                run.planner_mib = max(run.planner_mib or 0.0, resident_mib() or 0.0) or None
                try:
                    msg = inbox.get(timeout=POLL_S)
                except queue.Empty:
                    now = time.perf_counter()
                    if clock["deadline"] is not None and now > clock["deadline"]:
                        run.killed = run.killed or "time_limit"
                        break
                    if on_progress is not None and clock["started"] is not None:
                        # a silent search (HiGHS calls back nowhere in some steps): the clock still shows
                        on_progress(now - clock["started"], run.objective if run.has_solution else None, run.bound)
                    continue
                if _take(msg, run, clock, limit_s, on_progress, proc):
                    if following and run.has_solution:  # the child goes on with the follow-on work
                        run.follow_on = (proc, inbox)
                        _FOLLOWING.append(proc)
                    return run
            except KeyboardInterrupt:
                if run.interrupted:  # a second Ctrl-C: stop at once
                    break
                run.interrupted, run.killed = True, "interrupt"  # "killed" cleared if the child ends in time
                _ask_to_stop(proc)
                clock["deadline"] = time.perf_counter() + (grace_s(limit_s or 0.0) if clock["started"] else 0.0)
    except KeyboardInterrupt:  # during the hand-over of the job: nothing to wait for
        run.interrupted, run.killed = True, "interrupt"
    finally:
        if run.follow_on is None:
            _end(proc)
        seconds = time.perf_counter() - (clock["started"] or t_launch)
        if worker is not None:
            _join(worker, run, on_progress, clock)
    run.seconds = seconds
    return run


def collect_follow_on(run: MipRun, timeout_s: float):
    """The result of the work the child went on with after its search (`MipRun.follow_on`), or None
    when there is none, the child failed or `timeout_s` passed (a Ctrl-C meanwhile gives None too);
    the child is ended either way."""
    if run.follow_on is None:
        return None
    proc, inbox = run.follow_on
    run.follow_on = None
    deadline = time.perf_counter() + timeout_s
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                msg = inbox.get(timeout=min(left, POLL_S))
            except queue.Empty:
                continue
            if msg[0] == "follow_on":
                return msg[1]
            if msg[0] in ("eof", "error"):
                return None
    except KeyboardInterrupt:
        return None
    finally:
        _end(proc)
        if proc in _FOLLOWING:
            _FOLLOWING.remove(proc)


def _run_during(work: Callable[[], None], run: MipRun) -> None:
    try:
        work()
    except BaseException as exc:  # kept for the caller, never printed by the thread
        run.during_error = exc


def _join(worker: threading.Thread, run: MipRun, on_progress: Callable | None = None,
          clock: dict | None = None) -> None:
    """Wait for the `during` work, which cannot be stopped: a Ctrl-C meanwhile is only recorded, and
    the progress line goes on (the planner's clock, the search's last incumbent and bound)."""
    while worker.is_alive():
        try:
            worker.join(POLL_S)
        except KeyboardInterrupt:
            run.interrupted = True
        if on_progress is not None and clock is not None and clock["started"] is not None and worker.is_alive():
            on_progress(time.perf_counter() - clock["started"], run.objective if run.has_solution else None,
                        run.bound)


def _take(msg: tuple, run: MipRun, clock: dict, limit_s: float | None, on_progress, proc) -> bool:
    """Record one message of the child in `run`; True when the child has said its last word."""
    kind = msg[0]
    if kind == "started":
        clock["started"] = time.perf_counter()
        run.dims, run.options, run.version = msg[1], msg[2], msg[3]
        if limit_s is not None and clock["deadline"] is None:
            clock["deadline"] = clock["started"] + limit_s + grace_s(limit_s)
    elif kind == "progress":
        _, t, incumbent, bound = msg
        if bound is not None:
            run.bound = bound
        if on_progress is not None:
            on_progress(t, incumbent, bound)
    elif kind == "solution":
        _, t, run.objective, run.x = msg
        run.has_solution = True
    elif kind == "mismatch":  # the search's plan did not cost its objective: kept at its own cost meanwhile
        _, run.x, run.objective = msg
        run.has_solution, run.searched_again = True, True
    elif kind == "done":
        info = msg[1]
        # HiGHS's final plan; without one (HiGHS 1.16 out of memory reports none, measured on medium
        # under `ulimit -v`) the last plan it reported, or the start plan, is kept
        run.model_status = info["model_status"]
        if info["has_solution"]:
            run.x, run.objective, run.has_solution, run.final = info["x"], info["objective"], True, True
        # the model minimises: every bound HiGHS reported holds, so the best is kept (HiGHS 1.16 out
        # of memory ends with a bound of 0 after reporting better ones)
        final_bound = info["bound"]
        if run.bound is not None and (final_bound is None or run.bound > final_bound):
            final_bound = run.bound
        run.bound, run.seconds, run.killed = final_bound, info["seconds"], ""
        return True
    elif kind == "error":
        run.error, run.killed = msg[1], ""
        return True
    elif kind == "eof":  # the child ended without a last word
        code = proc.wait()
        if clock["started"] is None:  # nothing searched
            run.error, run.killed = f"the solver's process {ended_how(code)} before its search began", ""
        else:  # the plan kept is the last one it reported (or the start plan), with its last bound
            run.died, run.exit_code, run.killed = ended_how(code), code, ""
        return True
    return False


def ended_how(code: int) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it, on POSIX)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"was killed by signal {-code} ({name})"
    return f"ended unexpectedly (exit code {code})"


def _read_messages(stream, inbox: queue.Queue) -> None:
    try:
        while True:
            inbox.put(pickle.load(stream))
    except Exception:  # EOF or a torn message: the child is gone
        inbox.put(("eof",))


def _ask_to_stop(proc) -> None:
    try:
        proc.stdin.write(b"s")
        proc.stdin.flush()
    except (BrokenPipeError, OSError):
        pass


def _end(proc) -> None:
    """Kill the child if it still runs, and reap it."""
    if proc.poll() is None:
        proc.kill()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    proc.wait()


# --- the child -------------------------------------------------------------------------------

def _child_main() -> None:
    channel = os.fdopen(os.dup(1), "wb")
    lock = threading.Lock()

    def send(*msg) -> None:
        with lock:
            pickle.dump(msg, channel, protocol=pickle.HIGHEST_PROTOCOL)
            channel.flush()

    try:
        import highspy  # noqa: F401 - loaded while the job is still being prepared (`prestart`)
        job = pickle.load(sys.stdin.buffer)
        target = os.dup(2) if job.get("tee") else os.open(os.devnull, os.O_WRONLY)
        os.dup2(target, 1)  # HiGHS prints to fd 1: its log to stderr (tee) or nowhere, never into the channel
        _search(job, send)
    except BaseException as exc:  # reported to the parent (the "error" status), never as a traceback
        try:
            send("error", f"{type(exc).__name__}: {exc}")
        except Exception:  # the parent is gone: nobody to tell
            pass
        os._exit(1)


def load_arrays(h, model: dict) -> None:
    """Pass a model given as arrays (`col_lower`, `col_upper`, `cost`, `offset`, `integer` (column
    indices), `row_lower`, `row_upper`, and `A` = (row starts, column indices, values) by rows) to
    the HiGHS instance `h` with highspy's array calls."""
    n, a = len(model["col_lower"]), model["A"]
    h.addVars(n, model["col_lower"], model["col_upper"])
    if n:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), model["cost"])
    integer = model["integer"]
    if len(integer):
        h.changeColsIntegrality(len(integer), integer, np.ones(len(integer), dtype=np.uint8))
    if len(model["row_lower"]):
        h.addRows(len(model["row_lower"]), model["row_lower"], model["row_upper"], len(a[2]), a[0], a[1], a[2])
    h.changeObjectiveOffset(model["offset"])


MODEL_KEYS = ("col_lower", "col_upper", "cost", "integer", "row_lower", "row_upper", "A")


def release_job(job: dict) -> None:
    """Let go of the job's arrays (the model and the start plan) once they have been copied: by
    HiGHS in the child (large: 116 MB less for the whole search; measured 254 -> 138 MB after the
    hand-over), or into the pipe to the child in the planner."""
    for key in MODEL_KEYS + ("start",):
        job.pop(key, None)
    malloc_trim()


def malloc_trim() -> None:
    """Ask glibc to give freed memory back to the system (on Linux; elsewhere nothing)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _search(job: dict, send: Callable) -> None:
    import highspy
    stop = threading.Event()

    def listen() -> None:
        """One byte from the parent asks the search to stop (the parent kills the process if HiGHS
        does not heed it); the end of the pipe means the parent is gone: stop, and end the process
        after the grace whatever HiGHS is doing."""
        try:
            asked = sys.stdin.buffer.read(1)
        except OSError:
            asked = b""
        stop.set()
        if not asked:
            time.sleep(grace_s(float(job["options"].get("time_limit", 0.0))))
            os._exit(1)

    threading.Thread(target=listen, daemon=True).start()
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(job.get("tee")))
    for name, value in job["options"].items():
        h.setOptionValue(name, value)
    load_arrays(h, job)
    # the plan's cost is checked against HiGHS's objective after the search (`_plan_of`)
    cost, offset = (np.asarray(job["cost"], dtype=float), float(job.get("offset") or 0.0)) \
        if job.get("start") is not None else (None, 0.0)
    if job.get("start") is not None:
        start = highspy.HighsSolution()
        start.col_value = np.asarray(job["start"], dtype=float).tolist()
        start.value_valid = True
        h.setSolution(start)
        del start
    release_job(job)
    held = {name: option_value(h, name) for name in job["options"]}
    send("started", (int(h.getNumRow()), int(h.getNumCol()), int(h.getNumNz())), held,
         f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}")
    state = {"next": 0.0}
    inf = highspy.kHighsInf

    def finite(v: float) -> float | None:
        v = float(v)
        return v if math.isfinite(v) and abs(v) < inf else None

    def on_interrupt_check(e) -> None:
        if stop.is_set():
            e.interrupt()
        d = e.data_out
        t = float(d.running_time)
        if t >= state["next"]:
            state["next"] = t + PROGRESS_EVERY_S
            send("progress", t, finite(d.mip_primal_bound), finite(d.mip_dual_bound))

    def on_solution(e) -> None:
        d = e.data_out
        send("solution", float(d.running_time), float(d.objective_function_value),
             np.array(d.mip_solution, dtype=float))

    h.cbMipInterrupt.subscribe(on_interrupt_check)
    h.cbMipImprovingSolution.subscribe(on_solution)
    t0 = time.perf_counter()
    h.run()
    has_solution, x, objective = _plan_of(h)
    if has_solution and cost is not None and not stop.is_set() and not _costs(cost, offset, x, objective):
        # HiGHS 1.16, given a start that presolve improves ("MIP start solution is feasible in the
        # reduced space" at a lower cost), may end reporting the improved cost with the start's own
        # columns as its plan: the plan does not cost what HiGHS says. The search is run again
        # without the start (`clearSolver` drops it), on what is left of the time limit.
        # The plan it has is the start's, at its own cost, and the bound it proved holds: both kept
        # should the second search end (at the time limit) with a dearer plan or none.
        limit = float(job["options"].get("time_limit", math.inf))
        kept, kept_cost, kept_bound = x, float(cost @ x) + offset, finite(h.getInfo().mip_dual_bound)
        h.clearSolver()
        if math.isfinite(limit):
            h.setOptionValue("time_limit", max(limit - (time.perf_counter() - t0), 0.0))
        send("mismatch", kept, kept_cost)
        h.run()
        has_solution, x, objective = _plan_of(h)
        if not has_solution or objective > kept_cost:
            has_solution, x, objective = True, kept, kept_cost
    else:
        kept_bound = None
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    bound = finite(info.mip_dual_bound)
    if kept_bound is not None and (bound is None or kept_bound > bound):
        bound = kept_bound
    send("done", {"model_status": int(h.getModelStatus()), "has_solution": has_solution, "x": x,
                  "objective": objective, "bound": bound, "seconds": seconds})
    follow = job.get("follow_on")
    if follow is not None and has_solution and not stop.is_set():
        # the build decisions' LP tests on this instance (planner/solver/proofs.py), against the
        # search's plan and cost: its builds are the reported plan's, and its cost is at least the
        # reported one (the rounded re-solve only lowers it), so a bound above it is above both
        from planner.solver.proofs import reversal_bounds, threshold
        cols = np.asarray(follow["columns"])
        send("follow_on", reversal_bounds(h, cols, x[cols] > 0.5, threshold(objective), float(follow["budget_s"])))


def _plan_of(h) -> tuple[bool, np.ndarray | None, float | None]:
    """HiGHS's plan after a search: whether it has one, its columns, its objective."""
    info = h.getInfo()
    has_solution = int(info.primal_solution_status) == 2
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_solution else None
    return has_solution, x, float(info.objective_function_value) if has_solution else None


def _costs(cost: np.ndarray, offset: float, x: np.ndarray, objective: float) -> bool:
    """Whether the plan `x` costs `objective` (to HiGHS's feasibility-scale tolerance, relative)."""
    return abs(float(cost @ x) + offset - objective) <= 1e-7 * max(1.0, abs(objective))


def option_value(h, name):
    """The value HiGHS holds for option `name`."""
    v = h.getOptionValue(name)
    return v[1] if isinstance(v, tuple) else v


if __name__ == "__main__":
    _child_main()
