"""A fingerprint of the model HiGHS receives, keyed by names, one per constraint family and per
variable.

Each row is written as its name (`capacity_if_online[F1,2035,base]`), its lower and upper bound and
its coefficients keyed by column name, every number rounded to 12 significant digits; a row whose
first coefficient (by column name) is negative is written negated with its bounds swapped, so the
fingerprint does not depend on which way round a compiler writes a row. Each column is written as
its name, bounds, objective cost and integrality. The lines of a family are sorted and hashed. Two
models with the same fingerprints have the same rows, columns, bounds, coefficients and costs
whatever the order in which they were built or compiled.

`tests/golden.py` keeps the fingerprints of the test, example and benchmark workbooks
(`make golden` writes them again and names the families that changed).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np


def number(x: float) -> str:
    """`x` to 12 significant digits ("inf", "-inf"; -0 is 0)."""
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.12g}"


def key_name(component: str, index) -> str:
    """The name of a row or column from its component's name and index: `v_flow[3,2035,base]`."""
    if index is None:
        return component
    parts = index if isinstance(index, tuple) else (index,)
    return f"{component}[{','.join(str(x) for x in parts)}]"


def _family(name: str) -> str:
    return name.split("[", 1)[0]


def model_digests(col_names: list[str], row_names: list[str], col_lower, col_upper, integer, cost, offset: float,
                  row_lower, row_upper, A) -> dict:
    """{"rows": {family: [rows, hash]}, "columns": {variable: [columns, hash]}, "objective_offset": text}
    for a compiled model (`A` by rows: indptr, indices, data)."""
    is_int = np.zeros(len(col_names), dtype=bool)
    is_int[np.asarray(integer, dtype=int)] = True
    columns: dict[str, list[str]] = {}
    for j, name in enumerate(col_names):
        columns.setdefault(_family(name), []).append(
            f"{name}|{number(col_lower[j])}|{number(col_upper[j])}|{number(cost[j])}|{int(is_int[j])}")
    rows: dict[str, list[str]] = {}
    indptr, indices, data = A.indptr, A.indices, A.data
    for i, name in enumerate(row_names):
        lo, hi = float(row_lower[i]), float(row_upper[i])
        terms = sorted((col_names[j], float(a)) for j, a in zip(indices[indptr[i]:indptr[i + 1]],
                                                                 data[indptr[i]:indptr[i + 1]]))
        if terms and terms[0][1] < 0:
            terms = [(n, -a) for n, a in terms]
            lo, hi = -hi, -lo
        body = ";".join(f"{n}:{number(a)}" for n, a in terms)
        rows.setdefault(_family(name), []).append(f"{name}|{number(lo)}|{number(hi)}|{body}")

    def hashed(groups: dict[str, list[str]]) -> dict[str, list]:
        return {k: [len(v), hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()[:20]]
                for k, v in sorted(groups.items())}

    return {"rows": hashed(rows), "columns": hashed(columns), "objective_offset": number(offset)}


def changed_families(old: dict, new: dict) -> list[str]:
    """The families (rows or columns) whose fingerprint differs between two `model_digests`."""
    out = []
    for part in ("rows", "columns"):
        a, b = old.get(part, {}), new.get(part, {})
        out += [f"{part[:-1]} {k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("objective_offset") != new.get("objective_offset"):
        out.append("objective offset")
    return out
