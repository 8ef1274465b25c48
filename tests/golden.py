"""Golden fingerprints of the model HiGHS receives (`planner.solver.digest`), for every workbook the tests
write, the shipped default and example workbooks, and the small and medium benchmark instances.

    python tests/golden.py            # `make golden`: compute them again, write tests/golden/digests.json
                                      # and print the families whose rows or columns changed
    python tests/golden.py --collect  # `make golden-cases`: run the tests and keep every valid
                                      # workbook they write (tests/golden/workbooks.jsonl)

`tests/test_golden.py` checks that the model built today has these fingerprints, compiled by the
project's walker and by Pyomo's own compiler. A change to a fingerprint is a change to the model:
the commit that makes it says which family and why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden"
WORKBOOKS = GOLDEN / "workbooks.jsonl"
DIGESTS = GOLDEN / "digests.json"
DEFAULT = ROOT / "inputs" / "alliance_2026.xlsx"
EXAMPLE = ROOT / "inputs" / "example_hedge.xlsx"
# the benchmark ladder's generated instances (bench/run.py)
GENERATED = {"small": dict(sites=50, minerals=4, periods=3, scenarios=3, seed=1),
             "medium": dict(sites=300, minerals=8, periods=4, scenarios=10, seed=2)}
# case -> (workbook, model definition, options): the shipped workbooks under several definitions
SHIPPED = {"default": ("default", "baseline", {}),
           "default-no_share_cap": ("default", "no_share_cap", {}),
           "default-standards_off": ("default", "baseline", {"standards": False}),
           "default-without_NZ": ("default", "baseline", {"without": ("NZ",)}),
           "default-elastic": ("default", "baseline", {"elastic": True}),
           "example_hedge": ("example", "baseline", {}),
           "small": ("small", "baseline", {}),
           "medium": ("medium", "baseline", {})}
SLOW = {"medium"}  # compiled by the walker only in the tests (Pyomo's compiler: ~1 min)

sys.path.insert(0, str(HERE))


def collected() -> dict[str, dict]:
    """The test workbooks kept: name -> {"sheets", "settings"}."""
    if not WORKBOOKS.exists():
        return {}
    out = {}
    for line in WORKBOOKS.read_text(encoding="utf-8").splitlines():
        out[f"tests-{hashlib.sha256(line.encode()).hexdigest()[:12]}"] = json.loads(line)
    return out


def cases() -> list[str]:
    return list(SHIPPED) + list(collected())


@lru_cache(maxsize=None)
def _workbook(which: str) -> Path:
    if which == "default":
        return DEFAULT
    if which == "example":
        return EXAMPLE
    from planner.io.generate import generate
    path = Path(tempfile.mkdtemp(prefix="golden-")) / f"{which}.xlsx"
    return generate(path, **GENERATED[which])


def build(case: str):
    """The Pyomo model of a case."""
    import dataclasses

    from planner.dataset.data import load_data
    from planner.model.definition import load_definition
    from planner.model.formulation import build_model
    if case in SHIPPED:
        which, name, opts = SHIPPED[case]
        path = _workbook(which)
    else:
        from wb import write_workbook
        rec = collected()[case]
        path = write_workbook(Path(tempfile.mkdtemp(prefix="golden-")) / "case.xlsx", rec["sheets"], rec["settings"])
        name, opts = "baseline", {}
    definition = load_definition(name)
    if "standards" in opts:
        definition = dataclasses.replace(definition, standards=opts["standards"])
    if opts.get("elastic"):
        definition = dataclasses.replace(definition, elastic=True)
    data = load_data(path, definition.overrides, opts.get("without", ()), standards=definition.standards)
    return build_model(data, definition)


def digest(case: str, with_pyomo: bool = False) -> dict:
    from planner.solver.solve import compile_model, compiled_digests
    return compiled_digests(compile_model(build(case), with_pyomo=with_pyomo))


def write() -> int:
    from planner.solver.digest import changed_families
    old = json.loads(DIGESTS.read_text(encoding="utf-8")) if DIGESTS.exists() else {}
    new = {}
    for case in cases():
        new[case] = digest(case)
        if case not in old:
            print(f"{case}: new")
        else:
            changed = changed_families(old[case], new[case])
            if changed:
                print(f"{case}: changed {', '.join(changed)}")
    for case in sorted(set(old) - set(new)):
        print(f"{case}: gone")
    GOLDEN.mkdir(exist_ok=True)
    DIGESTS.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(new)} fingerprints in {DIGESTS.relative_to(ROOT)}")
    return 0


def collect() -> int:
    """Run the test suite, keeping every workbook it writes that loads without an input error."""
    from planner.dataset.data import load_data
    from planner.errors import InputError
    from wb import COLLECT, write_workbook
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "written.jsonl"
        env = {**os.environ, COLLECT: str(raw)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        "--ignore", str(HERE / "test_golden.py")], cwd=ROOT, env=env, check=True)
        kept, seen = [], set()
        for line in raw.read_text(encoding="utf-8").splitlines():
            if line in seen:
                continue
            seen.add(line)
            rec = json.loads(line)
            path = write_workbook(Path(tmp) / "check.xlsx", rec["sheets"], rec["settings"])
            try:
                load_data(path)
            except (InputError, Exception):  # noqa: BLE001 - only workbooks that load are models
                continue
            kept.append(line)
    GOLDEN.mkdir(exist_ok=True)
    WORKBOOKS.write_text("".join(x + "\n" for x in sorted(kept)), encoding="utf-8")
    print(f"{len(kept)} test workbooks kept in {WORKBOOKS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collect", action="store_true", help="run the tests and keep the workbooks they write")
    args = ap.parse_args()
    sys.exit(collect() if args.collect else write())
