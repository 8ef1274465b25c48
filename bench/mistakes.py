"""Mistake bench: do the tests catch deliberate mistakes in the model and in the verification?

Each mistake is a text replacement (file, exact old text, new text, description). The script copies
the repository as it is on disk (the files `git ls-files --cached --others --exclude-standard`
lists that exist in the working tree, so uncommitted edits and new files are included and deleted
files are not), applies ONE mistake to a fresh copy, and runs

    python -m pytest -q -x --no-header -p no:cacheprovider <test file>

once per chosen test file, in that copy (cwd = the copy, PYTHONPATH = the copy, so the copy's
`planner` is imported and not the editable install of the main checkout; this is checked and printed
before anything runs). A test file *caught* a mistake if it ran and failed. The unmodified copy is
run first (the baseline): test files already failing there are reported and left out, since their
failure says nothing about a mistake.

If a mistake's old text is not found in its file (the code moved on), or found more than once, the
mistake is NOT APPLIED: said loudly, listed in the table, and not counted as caught or missed.

    python bench/mistakes.py [--tests tests/test_a.py,tests/test_b.py] [--only N[,M...]] [--jobs 2]
                             [--list] [--keep] [--timeout S]

Default tests: every tests/test_*.py except tests/test_golden.py and tests/test_default_workbook.py,
so a mistake must be caught by a hand-solved or tampering test, not only by the default workbook's
pins or the golden fingerprints. Not a test (not collected by pytest).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCLUDED_BY_DEFAULT = ("tests/test_golden.py", "tests/test_default_workbook.py")
PYTEST = ["-m", "pytest", "-q", "-x", "--no-header", "-p", "no:cacheprovider"]


@dataclass
class Mistake:
    file: str
    old: str
    new: str
    description: str


M, D = "planner/model/formulation.py", "planner/dataset/data.py"
V, S = "planner/results/verify.py", "planner/results/solution.py"

MISTAKES: list[Mistake] = [
    # --- the model (planner/model/formulation.py, and the sets it is built on in planner/dataset/data.py) ---
    Mistake(M, "<= sigma * demand_required(data, a, mi, t, s)", "<= sigma * data.demand_tpy[(a, mi, t)]",
            "model: mining share cap without the demand multiplier"),
    Mistake(M, "cap = sigma[mineral] * demand_required(data, a, mineral, t, s)",
            "cap = sigma[mineral] * data.demand_tpy[(a, mineral, t)]",
            "model: country share cap without the demand multiplier"),
    Mistake(M, "return inflow == m.e_output[f, t, s] / yld[f]", "return inflow == m.e_output[f, t, s] * yld[f]",
            "model: refinery input = output x yield (wrong coefficient)"),
    Mistake(D, "online[(f, tt)] = tuple(tb for tb in PERIODS if tb + lead <= tt)",
            "online[(f, tt)] = tuple(tb for tb in PERIODS if tb + lead + 1 <= tt)",
            "model (data.py): lead time off by one year"),
    Mistake(M, "expr=sum(delta[t] * capex[f] * m.v_build[f, t]", "expr=sum(capex[f] * m.v_build[f, t]",
            "model: capex not discounted"),
    Mistake(M, "cap = data.avail(s, f, t) * capacity[f]", "cap = capacity[f]",
            "model: capacity row ignores availability"),
    Mistake(M, "        if o not in own[a]:\n", "        if o in own[a]:\n",
            "model: mining share cap on the member's own countries (wrong set)"),
    Mistake(D, "            if member_of.get(c) != d_:\n", "            if True:\n",
            "model (data.py): country share cap also on the member's own countries (wrong set)"),
    Mistake(M, ") <= data.financing.budgets[(a, t)] + relax(a, t)", ") >= data.financing.budgets[(a, t)] + relax(a, t)",
            "model: budget row with >= instead of <="),
    Mistake(M, "expr=m.e_first_stage + m.e_operating + m.e_transport + m.e_unmet_penalty",
            "expr=m.e_first_stage + m.e_operating + m.e_unmet_penalty",
            "model: objective without transport"),
    Mistake(M, "expr=existing_fixed + sum(W[t] * fixed[f]", "expr=existing_fixed + sum(delta[t] * fixed[f]",
            "model: candidates' fixed opex weighted by delta, not L x delta"),
    Mistake(M, "        return W[t] * USD_TO_MUSD\n", "        return delta[t] * USD_TO_MUSD\n",
            "model: annual flows weighted by delta, not L x delta"),
    Mistake(M, "use = sum(m.e_output[f, t, s] / yld[f] for f in pools[(a, mineral)])",
            "use = sum(m.e_output[f, t, s] for f in pools[(a, mineral)])",
            "model: scrap limit counts output, not scrap (yield dropped)"),
    Mistake(M, ">= demand_required(data, a, mineral, t, s)", ">= data.demand_tpy[(a, mineral, t)]",
            "model: demand coverage without the demand multiplier"),
    Mistake(M, "<= data.financing.caps[(a, f)] * float(cap[f]) * m.v_build[f, t]", "<= float(cap[f]) * m.v_build[f, t]",
            "model: financing cap ignores the rule's share"),
    Mistake(M, "return data.shock_years[(s, t)] * sum(m.v_release[k]", "return sum(m.v_release[k]",
            "model: stock release ignores the shock length"),
    Mistake(M, ">= float(h) * float(cap[f]) * m.v_build[f, t]", ">= 0.5 * float(h) * float(cap[f]) * m.v_build[f, t]",
            "model: host share row asks half the host's share"),
    # --- the verification (planner/results/verify.py) and cost accounting (planner/results/solution.py) ---
    Mistake(V, "if use - avail > 0:", "if use - avail > 1e9:", "verify: scrap check removed"),
    Mistake(V, 'cap = data.avail(s, f, t) * float(r["capacity_tpy"]) if is_on else 0.0',
            'cap = float(r["capacity_tpy"]) if is_on else 0.0', "verify: capacity check ignores availability"),
    Mistake(V, 'short = fin.host_min_share * float(data.sites.loc[f, "capex_musd"]) - p.paid.get((f, host, t), 0.0)',
            'short = 0.0 * float(data.sites.loc[f, "capex_musd"]) - p.paid.get((f, host, t), 0.0)',
            "verify: host-share check removed"),
    Mistake(V, "over = p.paid.get((f, a, t), 0.0) - data.financing.caps.get((a, f), 1.0) * capex",
            "over = p.paid.get((f, a, t), 0.0) - 1.0 * capex", "verify: financing-cap check loosened to 100%"),
    Mistake(S, 'second[s]["transport_musd"] += 1e-6 * W[t] * float(cost[a]) * x', 'second[s]["transport_musd"] += 0.0',
            "cost: transport component dropped"),
    Mistake(S, 'second[s]["variable_cost_musd"] += 1e-6 * W[t] * var_c[f] * q',
            'second[s]["variable_cost_musd"] += 1e-6 * delta[t] * var_c[f] * q',
            "cost: variable cost weighted by delta, not L x delta"),
    Mistake(V, "excess = x - sigma[mi] * p.required[(a, mi, t, s)]",
            "excess = x - sigma[mi] * data.demand_tpy[(a, mi, t)]",
            "verify: country share cap checked on the plain demand"),
    Mistake(V, "excess = x - data.sigma_mining * p.required[(a, mi, t, s)]",
            "excess = x - p.required[(a, mi, t, s)]", "verify: mining share cap loosened to 100%"),
    Mistake(V, 'p.out.get((f, t, s), 0.0) / float(sites.loc[f, "yield"]))',
            'p.out.get((f, t, s), 0.0) * float(sites.loc[f, "yield"]))', "verify: refinery input x yield"),
    Mistake(V, "            if short > 0:\n                v.append((\"demand_coverage\"",
            "            if short > 1e9:\n                v.append((\"demand_coverage\"", "verify: demand-coverage check removed"),
    Mistake(V, "if abs(p.pv[a] - fin.burden_target[a] * total) - fin.burden_tolerance * total > 0]",
            "if abs(p.pv[a] - fin.burden_target[a] * total) - 2 * fin.burden_tolerance * total > 0]",
            "verify: burden band twice as wide"),
    Mistake(V, "if fin.min_benefit_ratio * p.pv[a] - p.data.benefit_share[a] * total > 0]",
            "if 0.0 * p.pv[a] - p.data.benefit_share[a] * total > 0]", "verify: benefit-floor check removed"),
    Mistake(V, "if rise - a > 0:", "if rise - a > 1e9:", "verify: stock build-up check removed"),
    Mistake(V, "if abs(tout.get(k, 0.0) - rout.get(k, 0.0)) > 0]", "if abs(tout.get(k, 0.0) - rout.get(k, 0.0)) > 1e18]",
            "verify: traced-delivery check removed"),
    Mistake(S, "out[f] = {t for t in data.PERIODS if tb + lead <= t}", "out[f] = {t for t in data.PERIODS if tb <= t}",
            "verify/cost: online periods ignore the lead time"),
    Mistake(V, "        if p.counts.get(f, 0) != 1:\n", "        if p.counts.get(f, 0) > 1:\n",
            "verify: a forced site that is not built passes"),
    Mistake(V, "if by.get((a, t), 0.0) - b > 0]", "if by.get((a, t), 0.0) - b > 1.0]", "verify: budget check loosened by 1 MUSD"),
]


# --- copying and running -------------------------------------------------------------------

def tree_files(repo: Path) -> list[str]:
    """The files git tracks or would track (not ignored), as they are on disk now."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    return sorted({p for p in out.split("\0") if p and (repo / p).is_file()})


def snapshot(repo: Path, into: Path) -> Path:
    """Copy the working tree's files (see tree_files) to `into`."""
    for rel in tree_files(repo):
        dst = into / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, dst)
    return into


def apply(copy: Path, mk: Mistake) -> str:
    """Apply the mistake in `copy`; '' if applied, else why not."""
    path = copy / mk.file
    if not path.is_file():
        return f"{mk.file} does not exist"
    text = path.read_text()
    n = text.count(mk.old)
    if n != 1:
        return f"old text found {n} times in {mk.file} (expected once)"
    path.write_text(text.replace(mk.old, mk.new))
    return ""


def env_for(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PLANNER_GOLDEN_COLLECT", None)
    return env


def imported_planner(python: str, copy: Path) -> str:
    """Where `import planner` comes from when run as the tests will be run in `copy`."""
    r = subprocess.run([python, "-c", "import planner; print(planner.__file__)"], cwd=copy, env=env_for(copy),
                       capture_output=True, text=True)
    return r.stdout.strip() or r.stderr.strip()


@dataclass
class Run:
    test: str
    rc: int | None  # None: timed out
    seconds: float
    first_failure: str = ""

    @property
    def failed(self) -> bool:
        return self.rc is None or self.rc not in (0, 5)


def run_file(python: str, copy: Path, test: str, timeout: float) -> Run:
    t0 = time.perf_counter()
    try:
        r = subprocess.run([python, *PYTEST, test], cwd=copy, env=env_for(copy), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(test, None, time.perf_counter() - t0, f"timed out after {timeout:.0f} s")
    first = ""
    for line in r.stdout.splitlines():
        if re.match(r"^(FAILED|ERROR) ", line):
            first = line.split(" - ")[0].split("::", 1)[-1].strip()
            break
    if r.returncode not in (0, 5) and not first:
        tail = (r.stdout.strip().splitlines() or r.stderr.strip().splitlines() or ["?"])[-1]
        first = tail[:100]
    return Run(test, r.returncode, time.perf_counter() - t0, first)


@dataclass
class Outcome:
    number: int
    mistake: Mistake
    not_applied: str = ""
    runs: list[Run] = field(default_factory=list)

    @property
    def caught_by(self) -> list[Run]:
        return [r for r in self.runs if r.failed]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", help="comma-separated test files (default: every tests/test_*.py but "
                                    + " and ".join(EXCLUDED_BY_DEFAULT) + ")")
    ap.add_argument("--only", help="run only these mistakes (numbers as listed by --list, comma-separated)")
    ap.add_argument("--jobs", type=int, default=1, help="test files run at the same time (default 1)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per test file run (default 900)")
    ap.add_argument("--python", default=None, help="interpreter (default: the repository's .venv, else this one)")
    ap.add_argument("--list", action="store_true", help="list the mistakes and whether they apply, and stop")
    ap.add_argument("--keep", action="store_true", help="keep the copies (printed)")
    args = ap.parse_args(argv)

    python = args.python or (str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else sys.executable)
    tests = ([t.strip() for t in args.tests.split(",") if t.strip()] if args.tests else
             sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                    if str(p.relative_to(ROOT)) not in EXCLUDED_BY_DEFAULT))
    chosen = list(range(1, len(MISTAKES) + 1))
    if args.only:
        chosen = [int(x) for x in args.only.split(",") if x.strip()]
        bad = [n for n in chosen if not 1 <= n <= len(MISTAKES)]
        if bad:
            ap.error(f"--only: no mistake numbered {bad} (1..{len(MISTAKES)})")

    work = Path(tempfile.mkdtemp(prefix="planner-mistakes-"))
    pristine = snapshot(ROOT, work / "pristine")
    print(f"copied {len(tree_files(ROOT))} files of {ROOT} (working tree as on disk) to {pristine}")

    if args.list:
        for n in chosen:
            mk = MISTAKES[n - 1]
            probe = work / f"probe{n}"
            shutil.copytree(pristine, probe)
            why = apply(probe, mk)
            print(f"{n:3d}. {'NOT APPLIED: ' + why if why else 'applies'} -- {mk.description} ({mk.file})")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    where = imported_planner(python, pristine)
    print(f"import planner in the copy -> {where}")
    if not where.startswith(str(pristine)):
        print("ERROR: the copy's planner is not the one imported (the editable install wins); stopping",
              file=sys.stderr)
        return 2

    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    t0 = time.perf_counter()
    print(f"baseline: {len(tests)} test files on the unmodified copy ...", flush=True)
    baseline = list(pool.map(lambda t: run_file(python, pristine, t, args.timeout), tests))
    broken = [r for r in baseline if r.failed]
    for r in baseline:
        print(f"  {r.test:45s} {'FAILS' if r.failed else 'ok':5s} {r.seconds:7.1f} s  {r.first_failure}")
    if broken:
        print(f"left out (already failing on the unmodified code): {', '.join(r.test for r in broken)}")
    tests = [r.test for r in baseline if not r.failed]
    print(f"baseline took {time.perf_counter() - t0:.0f} s", flush=True)

    outcomes: list[Outcome] = []
    for n in chosen:
        mk = MISTAKES[n - 1]
        copy = work / f"mistake{n:02d}"
        shutil.copytree(pristine, copy)
        oc = Outcome(n, mk, apply(copy, mk))
        outcomes.append(oc)
        if oc.not_applied:
            print(f"\n!!! MISTAKE {n} NOT APPLIED: {oc.not_applied}\n!!!   {mk.description}\n", flush=True)
            continue
        if not imported_planner(python, copy).startswith(str(copy)):
            print(f"ERROR: mistake {n}: the copy's planner is not the one imported", file=sys.stderr)
            return 2
        t1 = time.perf_counter()
        oc.runs = list(pool.map(lambda t, c=copy: run_file(python, c, t, args.timeout), tests))
        caught = ", ".join(Path(r.test).name for r in oc.caught_by) or "NONE"
        print(f"[{n:2d}] {time.perf_counter() - t1:5.0f} s  {mk.description}: caught by {caught}", flush=True)
        if not args.keep:
            shutil.rmtree(copy, ignore_errors=True)

    # --- the table ---
    applied = [o for o in outcomes if not o.not_applied]
    caught = [o for o in applied if o.caught_by]
    print("\n| # | mistake | file | caught by (test files) | first failing test |")
    print("|---|---|---|---|---|")
    for o in outcomes:
        if o.not_applied:
            print(f"| {o.number} | {o.mistake.description} | {o.mistake.file} | **NOT APPLIED** ({o.not_applied}) | |")
            continue
        by = ", ".join(Path(r.test).stem + (" (timeout)" if r.rc is None else "") for r in o.caught_by) or "**none**"
        first = "; ".join(f"{Path(r.test).stem}::{r.first_failure}" for r in o.caught_by[:2])
        print(f"| {o.number} | {o.mistake.description} | {o.mistake.file} | {by} | {first} |")
    if broken:
        print(f"\nleft out, failing on the unmodified code: {', '.join(r.test for r in broken)}")
    missing = [o for o in outcomes if o.not_applied]
    if missing:
        print(f"\n!!! {len(missing)} mistake(s) NOT APPLIED (old text not found once): "
              + ", ".join(str(o.number) for o in missing))
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s; copies in {work}" if args.keep
          else f"\ntotal time {time.perf_counter() - t0:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(caught)} of {len(applied)} caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
