"""The sweep engine: a batch of solves of one workbook (planner/analyses/cases.py), each in a worker,
with a journal of what has finished.

Workers are local processes by default (`--workers N`; each reads the workbook once and runs
HiGHS on one thread), or the workers of a Dask distributed cluster (`--scheduler ADDRESS`; the
workbook's bytes are scattered to them once, so no shared file system is assumed). Either way the
same function solves a case (`cases.solve_case`), so both give the same results for every solve
that ends on its gap.

The journal `OUT.sweep/` holds `journal.json` (what the batch is: the command, the workbook's
hash, the model definition, the files it writes) and `done.jsonl`, one line per finished solve,
appended and flushed as each finishes: a run stopped at any moment (Ctrl-C, a kill, a power cut)
loses at most the solves under way. `--resume` skips every case the journal holds with the same
edits, and may replace only the files the journal lists.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from planner.errors import OutputExistsError
from planner.io.reader import RawWorkbook, read_workbook
from planner.model.definition import ModelDefinition
from planner.analyses.cases import Case, solve_case

# batch solves stop at this absolute gap (MUSD) unless the definition or --mip-abs-gap says otherwise,
# and at a relative gap of 0 unless --mip-gap says otherwise: the difference of two solves is only as
# good as their gaps, and a relative gap of the whole objective (1e-4 of the default's is 436 MUSD)
# is wider than the prices being negotiated
BATCH_ABS_GAP_MUSD = 25.0
WORKER_MEMORY_GIB = 1.5  # memory set aside per local worker (its process and its search's) for the default count


@dataclass(frozen=True)
class Workbook:
    """The workbook as bytes, as the workers receive it (its name for messages, its hash for the
    workers' cache and the journal)."""

    name: str
    content: bytes
    sha256: str

    @classmethod
    def read(cls, path: str | Path) -> "Workbook":
        content = Path(path).read_bytes()
        return cls(Path(path).name, content, hashlib.sha256(content).hexdigest())


_READ: dict[str, RawWorkbook] = {}  # a worker's workbook, read once (by hash)


def raw_of(wb: Workbook) -> RawWorkbook:
    """The workbook read (`read_workbook`), once per process."""
    raw = _READ.get(wb.sha256)
    if raw is None:
        with tempfile.TemporaryDirectory(prefix="planner-sweep-") as folder:
            path = Path(folder) / wb.name
            path.write_bytes(wb.content)
            raw = read_workbook(path)
        _READ.clear()
        _READ[wb.sha256] = raw
    return raw


def batch_definition(definition: ModelDefinition, mip_gap: float | None = None, mip_abs_gap: float | None = None,
                     time_limit: float | None = None) -> ModelDefinition:
    """The definition as each solve of a batch uses it: HiGHS on one thread, no start heuristic
    (the base plan is the start), the absolute gap of --mip-abs-gap, else the definition's, else
    BATCH_ABS_GAP_MUSD, and a relative gap of 0 unless --mip-gap is given."""
    s = definition.solver
    abs_gap = mip_abs_gap if mip_abs_gap is not None else (s.mip_abs_gap if s.mip_abs_gap is not None
                                                           else BATCH_ABS_GAP_MUSD)
    solver = dataclasses.replace(s, threads=1, start_heuristic="none", low_memory=False, mip_abs_gap=abs_gap,
                                 mip_gap=0.0 if mip_gap is None else mip_gap,
                                 time_limit_s=time_limit if time_limit is not None else s.time_limit_s)
    solver.check()
    return dataclasses.replace(definition, solver=solver)


def default_workers() -> int:
    """The machine's cores, capped by memory (WORKER_MEMORY_GIB per worker of what is available)."""
    cores = os.cpu_count() or 1
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) / 2 ** 20
        return max(1, min(cores, int(free // WORKER_MEMORY_GIB)))
    except (OSError, StopIteration, ValueError):
        return cores


# -- local workers -----------------------------------------------------------------------------------

_WB: Workbook | None = None


def _init_local(wb: Workbook) -> None:
    """A local worker: Ctrl-C is taken only while it solves (`_solve_local`); the workbook read now."""
    global _WB
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WB = wb
    raw_of(wb)


def _interrupt(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # one Ctrl-C per solve: the search is being stopped
    raise KeyboardInterrupt


def _solve(raw: Callable[[], RawWorkbook], definition: ModelDefinition, case: Case, start: frozenset | None) -> dict:
    """`solve_case` on the workbook `raw()` gives; a solve that raised (a fault of the planner, not of
    the case) is reported as an error result, so the batch goes on."""
    try:
        return solve_case(raw(), definition, case, start)
    except Exception as exc:
        return {"key": case.key, "status": "error", "message": f"{type(exc).__name__}: {exc}", "builds": {}}


def _solve_local(definition: ModelDefinition, case: Case, start: frozenset | None) -> dict:
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return _solve(lambda: raw_of(_WB), definition, case, start)
    except KeyboardInterrupt:
        return {"key": case.key, "status": "interrupted", "message": "interrupted", "builds": {}}
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def solve_remote(wb: Workbook, definition: ModelDefinition, case: Case, start: frozenset | None) -> dict:
    """A case solved by a Dask worker (the workbook read once per worker process)."""
    return _solve(lambda: raw_of(wb), definition, case, start)


# -- the journal -------------------------------------------------------------------------------------

class Journal:
    """`OUT.sweep/`: the batch's header and one line per finished solve."""

    def __init__(self, folder: Path, header: dict):
        self.folder, self.header = Path(folder), header
        self._done: dict[str, dict] = {}

    @classmethod
    def open(cls, folder: Path, header: dict, resume: bool, force: bool) -> "Journal":
        """A new journal; or with `resume` the one in `folder`, which must be of the same command,
        workbook and definition. An existing journal is replaced only with `force`."""
        folder = Path(folder)
        j = cls(folder, header)
        if folder.exists() and resume:
            try:
                old = json.loads((folder / "journal.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise OutputExistsError(f"'{folder}' is not a journal this command can resume ({exc})") from None
            for k in ("command", "input_sha256", "definition"):
                if old.get(k) != header.get(k):
                    raise OutputExistsError(
                        f"the journal '{folder}' is of another batch ({k}: {old.get(k)!r}, this run: "
                        f"{header.get(k)!r}); --resume continues only the same command on the same workbook; "
                        "choose another output name (-o) or start again with --force")
            j.header = {**header, "files": sorted(set(old.get("files", [])) | set(header.get("files", [])))}
            j._read()
        elif folder.exists():
            if not force:
                raise OutputExistsError(f"'{folder}' holds the journal of an earlier batch: --resume continues it, "
                                        "--force starts again (and replaces it)")
            shutil.rmtree(folder)
        elif resume:
            raise OutputExistsError(f"there is no journal '{folder}' to resume; run without --resume")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "journal.json.part"
        tmp.write_text(json.dumps(j.header, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / "journal.json")
        return j

    def _read(self) -> None:
        path = self.folder / "done.jsonl"
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:  # the last line of a run killed while writing it
                continue
            self._done[rec["spec"][0]] = rec

    def done(self, cases: Iterable[Case]) -> dict[str, dict]:
        """The results the journal holds for `cases` (same key, same edits)."""
        out = {}
        for c in cases:
            rec = self._done.get(c.key)
            if rec is not None and rec["spec"] == c.spec():
                out[c.key] = rec["result"]
        return out

    def record(self, case: Case, result: dict) -> None:
        rec = {"spec": case.spec(), "result": result}
        self._done[case.key] = rec
        with open(self.folder / "done.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True, allow_nan=False, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def discard_if_empty(self) -> None:
        """Remove the journal if it holds no finished solve."""
        if not self._done:
            shutil.rmtree(self.folder, ignore_errors=True)

    def done_keys(self) -> list[str]:
        return list(self._done)

    def lists(self, path: Path) -> bool:
        """Whether `path` is one of the files this batch writes (it may replace them on --resume)."""
        return Path(path).name in self.header.get("files", [])


# -- the engine --------------------------------------------------------------------------------------

class SchedulerError(RuntimeError):
    """The Dask scheduler named by --scheduler could not be reached."""


class SweepInterrupted(Exception):
    """Ctrl-C during a batch: the workers were stopped; `done` holds every finished solve."""

    def __init__(self, done: dict[str, dict]):
        super().__init__("interrupted")
        self.done = done


def finished(result: dict) -> bool:
    """A solve that ended by itself (not by Ctrl-C): the journal keeps it."""
    return result.get("status") not in ("interrupted", "", None)


class Engine:
    """Workers for one workbook, used for one or more batches (`run`), then closed."""

    def __init__(self, wb: Workbook, workers: int | None = None, scheduler: str | None = None):
        self.wb, self.scheduler = wb, scheduler
        self.workers = workers or (None if scheduler else default_workers())
        self._pool = None
        self._client = None
        self._remote_wb = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        if self.scheduler:
            if self._client is None:
                try:
                    from distributed import Client
                except ImportError:
                    raise SchedulerError("--scheduler needs Dask distributed: pip install -e '.[dask]'") from None
                try:
                    self._client = Client(self.scheduler, timeout="15s")
                    self._remote_wb = self._client.scatter(self.wb, broadcast=True)
                except (OSError, TimeoutError) as exc:
                    raise SchedulerError(f"--scheduler {self.scheduler}: no Dask scheduler could be reached "
                                         f"({type(exc).__name__}: {exc})") from None
        elif self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_local, initargs=(self.wb,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _stop(self, futures) -> None:
        """Ctrl-C: cancel what has not started, stop the searches under way, wait for the workers."""
        if self._pool is not None:
            for f in futures:
                f.cancel()
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                try:
                    os.kill(proc.pid, signal.SIGINT)  # the worker stops its search and returns
                except OSError:
                    pass
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.cancel(list(futures))
            self._client.close()
            self._client = None

    def run(self, cases: list[Case], definition: ModelDefinition, start: frozenset | None = None,
            journal: Journal | None = None, progress: Callable | None = None) -> dict[str, dict]:
        """Every case solved (or taken from the journal): key -> result. `progress(done, total,
        elapsed_s, eta_s, case, result)` after each solve. Ctrl-C raises SweepInterrupted with what
        has finished."""
        done = journal.done(cases) if journal is not None else {}
        todo = [c for c in cases if c.key not in done]
        total, t0 = len(cases), time.perf_counter()
        if not todo:
            return done
        self._start()
        by_future = {}
        try:
            for c in todo:
                if self._client is not None:
                    f = self._client.submit(solve_remote, self._remote_wb, definition, c, start, pure=False)
                else:
                    f = self._pool.submit(_solve_local, definition, c, start)
                by_future[f] = c
            solved = 0
            for f in self._as_completed(by_future):
                c = by_future[f]
                try:
                    result = f.result()
                except cf.process.BrokenProcessPool as exc:  # a worker killed (out of memory, a signal)
                    self.close()
                    raise RuntimeError(f"a worker process died while solving '{c.label or c.key}' ({exc}); the "
                                       "solves that finished are in the journal: --resume continues") from None
                result.setdefault("key", c.key)
                if not finished(result):
                    raise KeyboardInterrupt  # a worker was interrupted: the whole batch stops
                done[c.key] = result
                solved += 1
                if journal is not None:
                    journal.record(c, result)
                if progress is not None:
                    elapsed = time.perf_counter() - t0
                    eta = elapsed / solved * (len(todo) - solved)
                    progress(len(done), total, elapsed, eta, c, result)
        except KeyboardInterrupt:
            self._stop(list(by_future))
            raise SweepInterrupted(done) from None
        return done

    def _as_completed(self, futures):
        if self._client is not None:
            from distributed import as_completed
            return as_completed(list(futures))
        return cf.as_completed(list(futures))


# -- a command on the engine -------------------------------------------------------------------------

def partial_path(target: Path) -> Path:
    """Where Ctrl-C leaves what a batch has finished: OUT.partial.xlsx."""
    return target.with_name(f"{target.stem}.partial{target.suffix or '.xlsx'}")


def journal_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.sweep")


class BatchInterrupted(Exception):
    """Ctrl-C during a command's batch: what had finished is in the journal and in `partial` (None
    when nothing had)."""

    def __init__(self, partial: Path | None, journal: Path, solved: int):
        super().__init__("interrupted")
        self.partial, self.journal, self.solved = partial, journal, solved


def definition_record(definition: ModelDefinition) -> dict:
    """What of the definition decides a batch's results (the journal compares it on --resume)."""
    s = definition.solver
    return {"name": definition.name, "families": dict(sorted(definition.families.items())),
            "overrides": dict(sorted(definition.overrides.items())), "standards": definition.standards,
            "mip_gap": s.mip_gap, "mip_abs_gap": s.mip_abs_gap, "time_limit_s": s.time_limit_s, "seed": s.seed}


def open_batch(command: str, wb: Workbook, input_path: Path, target: Path, definition: ModelDefinition,
               force: bool, resume: bool, extra: list[Path] = (), reads: list[Path] = ()) -> Journal:
    """Check the command's files before any solve and open its journal: the output and the partial
    file are never an input (INPUT, or the files in `reads`), and exist only with --force or
    (--resume) when the journal lists them."""
    from planner.io.writer import check_target
    target, partial = Path(target), partial_path(Path(target))
    files = [target, partial, *extra]
    for path in files:
        check_target(path, force=True, inputs=[input_path, *reads])  # never an input; writable
    header = {"command": command, "input_sha256": wb.sha256, "input_file": wb.name,
              "definition": definition_record(definition), "files": [p.name for p in files]}
    journal = Journal.open(journal_path(target), header, resume, force)
    for path in files:
        if path.exists() and not force and not (resume and journal.lists(path)):
            raise OutputExistsError(f"'{path}' exists; use --force to replace it or -o to choose another file")
    return journal


def run_analysis(analysis, input_path: str | Path, target: str | Path, definition: ModelDefinition, force: bool = False,
                 resume: bool = False, workers: int | None = None, scheduler: str | None = None,
                 progress: Callable | None = None) -> dict:
    """Run `analysis` (its `command`, `run(engine, journal, definition, progress)`, `take(done)` and
    `tables()`) on the engine with a journal beside `target`, and write its tables to `target`. On
    Ctrl-C what has finished is written to OUT.partial.xlsx and BatchInterrupted raised."""
    from planner.io.writer import write_tables
    input_path, target = Path(input_path), Path(target)
    wb = Workbook.read(input_path)
    extra = analysis.extra_files(target) if hasattr(analysis, "extra_files") else []
    journal = open_batch(analysis.command, wb, input_path, target, definition, force, resume, extra,
                         list(getattr(analysis, "reads", ())))
    with Engine(wb, workers, scheduler) as engine:
        try:
            analysis.run(engine, journal, definition, progress)
        except SchedulerError:
            journal.discard_if_empty()  # nothing was solved: a rerun need not --resume
            raise
        except SweepInterrupted as exc:
            analysis.take(exc.done)
            tables = analysis.tables()
            partial = partial_path(target)
            if tables:
                write_tables(tables, partial, force=True)  # listed by the journal, checked at the start
            raise BatchInterrupted(partial if tables else None, journal.folder, len(journal.done_keys())) from None
    tables = analysis.tables()
    write_tables(tables, target, force=True)  # checked at the start: absent, --force or listed by the journal
    partial = partial_path(target)
    if partial.exists():
        partial.unlink()  # the batch finished: what it held is in the output
    return tables
