"""A linear Pyomo model as arrays (rows by CSR, column bounds, costs), without Pyomo's compiler.

Pyomo's `LinearStandardFormCompiler` walks every expression with a general visitor; this model's
expressions are all sums of variables times numbers, nested through named expressions
(`e_output`, `e_online`, `e_scenario_cost`, ...). Walking only those node types, each named
expression flattened once and reused, compiles the large benchmark instance in less than half the
time (33.7 -> 12.4 s, bench/results.md) and the default workbook's model in 0.15 s, and it needs
no scipy: importing scipy after Pyomo costs ~1 s (Pyomo's import hook loads scipy.stats), which
every run paid. Any node this walker does not know (a nonlinear term, a product of two variable
expressions, a strict inequality) raises `NotSupported`; the caller then compiles with Pyomo
instead, so nothing is ever silently dropped.

Semantics, as Pyomo's compiler: only variables that appear in an active constraint or the active
objective become columns; a fixed variable is its value; a constraint left without variables is
dropped when it holds. One difference: where it does not hold, it is kept as an empty row, which
HiGHS reports infeasible (Pyomo's compiler raises).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo  # the modelling components only: no solver or transformation plugins
from pyomo.common.gc_manager import PauseGC
from pyomo.common.numeric_types import native_numeric_types, native_types
from pyomo.core.expr.numeric_expr import (DivisionExpression, MonomialTermExpression, NegationExpression,
                                          ProductExpression, SumExpression)
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression

NUMBERS = native_numeric_types  # int, float, numpy's number types...: a set of classes, tested by exact class
BLOCK = 256  # a flattened named expression with more terms than this is added with numpy, not term by term
TRIVIAL_TOL = 1e-9  # a constraint without variables holds if violated by at most this


class NotSupported(Exception):
    """An expression this walker does not compile (the caller falls back to Pyomo's compiler)."""


@dataclass
class Row:
    """One row: the Pyomo constraint it came from and its kind (0 equality, 1 upper bound only,
    -1 lower bound only, 2 both)."""

    constraint: object
    bound_type: int


@dataclass
class Csr:
    """A sparse matrix by rows (what HiGHS's `addRows` takes), without scipy."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(len(self.data))

    def tocsc(self):
        """As a scipy sparse matrix by columns (imported only here: the start heuristic needs it)."""
        from scipy.sparse import csr_array
        return csr_array((self.data, self.indices, self.indptr), shape=self.shape).tocsc()


@dataclass
class StandardForm:
    columns: list  # Pyomo variables, in column order
    rows: list[Row]
    row_lower: np.ndarray  # -inf where the row has no lower bound
    row_upper: np.ndarray  # +inf where it has no upper bound
    A: Csr
    cost: np.ndarray
    offset: float
    objective: object  # the active objective (None if there is none)
    column_keys: list | None = None  # (component name, index) per column, where the compiler has them
    row_keys: list | None = None  # (component name, index) per row, likewise


class _Walker:
    """Flattens linear expressions to {column: coefficient} plus a constant."""

    def __init__(self):
        self.col: dict[int, int] = {}  # id(variable) -> column
        self.columns: list = []
        self.keys: list[tuple[str, object]] = []  # (component name, index) per column
        self.var_classes: set[type] = set()  # classes seen to be variables (for the inline test)
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # large terms of the expression being walked
        self.memo: dict[int, tuple] = {}  # id(named expression) -> its (terms, constant), as walk gives them

    def walk(self, parts) -> tuple[dict | tuple[np.ndarray, np.ndarray], float]:
        """(terms, constant) of the sum of scale * expression over `parts`: the terms as a dict
        {column: coefficient}, or as numpy arrays (columns, coefficients) when there are more than
        BLOCK of them."""
        outer, self.blocks = self.blocks, []
        acc: dict[int, float] = {}
        const = 0.0
        for e, scale in parts:
            const += self.add(e, scale, acc)
        blocks, self.blocks = self.blocks, outer
        return _merge(acc, blocks), const

    def _column(self, v) -> int:
        """v's column. The first variable met of a Var component brings in all of that
        component's free variables, in index order, as Pyomo's compiler does (its column order:
        components in the order first met, each in index order); those that end up in no row
        and at no cost are dropped at the end."""
        j = self.col.get(id(v))
        if j is None:  # v is free and its component not yet met (it comes in whole)
            component = v.parent_component()
            name = component.local_name
            col, columns, keys = self.col, self.columns, self.keys
            for index, u in component.items():
                if not u.fixed:
                    col[id(u)] = len(columns)
                    columns.append(u)
                    keys.append((name, index))
            j = col[id(v)]
        return j

    def add(self, e, scale: float, acc: dict[int, float]) -> float:
        """Add scale * (the linear part of e) to acc; return scale * (its constant)."""
        if e.__class__ in NUMBERS:
            return scale * e
        if e.is_variable_type():
            self.var_classes.add(e.__class__)
            if e.fixed:
                return scale * float(e.value)
            j = self._column(e)
            acc[j] = acc.get(j, 0.0) + scale
            return 0.0
        if e.is_named_expression_type():
            terms, const = self._flat(e)
            if terms.__class__ is dict:
                if not acc:  # the common case: the expression starts the row
                    acc.update(terms if scale == 1.0 else {j: scale * a for j, a in terms.items()})
                else:
                    for j, a in terms.items():
                        acc[j] = acc.get(j, 0.0) + scale * a
            else:  # a large one (a scenario's cost): one numpy block
                self.blocks.append((terms[0], terms[1] * scale))
            return scale * const
        if not e.is_potentially_variable():
            return scale * float(pyo.value(e))
        if isinstance(e, MonomialTermExpression):
            c, v = e.args
            return self.add(v, scale * (c if c.__class__ in NUMBERS else float(pyo.value(c))), acc)
        if isinstance(e, SumExpression):
            const = 0.0
            col, var_classes = self.col, self.var_classes
            for a in e.args:  # the common cases inline: a variable, or a number times a variable
                if a.__class__ is MonomialTermExpression:
                    c, a = a.args
                    if c.__class__ not in NUMBERS:
                        c = float(pyo.value(c))
                    c *= scale
                else:
                    c = scale
                # a variable that has a column (only free ones get one; the model stays as it is
                # while compiled, and a live variable's id is no other live object's)
                j = col.get(id(a))
                if j is None and a.__class__ in var_classes and not a.fixed:
                    j = self._column(a)  # the first of its component met
                if j is not None:
                    acc[j] = acc.get(j, 0.0) + c
                else:
                    const += self.add(a, c, acc)
            return const
        if isinstance(e, ProductExpression):
            x, y = e.args
            if _constant(x):
                return self.add(y, scale * float(pyo.value(x)), acc)
            if _constant(y):
                return self.add(x, scale * float(pyo.value(y)), acc)
            raise NotSupported(f"a product of two expressions with variables: {e}"[:200])
        if isinstance(e, DivisionExpression):
            x, y = e.args
            if not _constant(y):
                raise NotSupported(f"a division by an expression with variables: {e}"[:200])
            return self.add(x, scale / float(pyo.value(y)), acc)
        if isinstance(e, NegationExpression):
            return self.add(e.args[0], -scale, acc)
        raise NotSupported(f"an expression of type {type(e).__name__}: {e}"[:200])

    def _flat(self, e) -> tuple[dict | tuple[np.ndarray, np.ndarray], float]:
        key = id(e)
        got = self.memo.get(key)
        if got is None:
            inner = e.expr
            got = self.memo[key] = self.walk(() if inner is None else ((inner, 1.0),))
        return got


def _merge(acc: dict[int, float], blocks: list) -> dict | tuple[np.ndarray, np.ndarray]:
    """The terms in `acc` plus the numpy blocks, equal columns summed: a dict while small."""
    if not blocks and len(acc) <= BLOCK:
        return acc
    cols = np.concatenate([np.fromiter(acc, dtype=np.int64, count=len(acc))] + [b[0] for b in blocks])
    vals = np.concatenate([np.fromiter(acc.values(), dtype=float, count=len(acc))] + [b[1] for b in blocks])
    if not blocks:
        return cols, vals
    unique, where = np.unique(cols, return_inverse=True)
    return unique, np.bincount(where, weights=vals, minlength=len(unique))


def _constant(e) -> bool:
    return e.__class__ in native_types or not e.is_potentially_variable()


def _relation(w: _Walker, expr) -> tuple[dict | tuple[np.ndarray, np.ndarray], float, float, int]:
    """(terms, lower, upper, bound type) of a relational expression (terms as `_Walker.walk`),
    oriented as Pyomo's `to_bounded_expression` does: the side without variables is the bound
    (`a >= 5` is a row a with lower bound 5), else lhs - rhs against 0."""
    inf = float("inf")
    if isinstance(expr, RangedExpression):
        lo, body, hi = expr.args
        if not (_constant(lo) and _constant(hi)) or any(expr.strict):
            raise NotSupported(f"a ranged constraint with variable or strict bounds: {expr}"[:200])
        terms, c = w.walk(((body, 1.0),))
        return terms, float(pyo.value(lo)) - c, float(pyo.value(hi)) - c, 2
    if isinstance(expr, (InequalityExpression, EqualityExpression)):
        if getattr(expr, "strict", False):
            raise NotSupported(f"a strict inequality: {expr}"[:200])
        equal = isinstance(expr, EqualityExpression)
        lhs, rhs = expr.args
        if _constant(rhs):  # lhs <= rhs (or ==)
            terms, c = w.walk(((lhs, 1.0),))
            b = float(pyo.value(rhs)) - c
            return (terms, b, b, 0) if equal else (terms, -inf, b, 1)
        if _constant(lhs):  # lhs <= rhs read as rhs >= lhs (or ==)
            terms, c = w.walk(((rhs, 1.0),))
            b = float(pyo.value(lhs)) - c
            return (terms, b, b, 0) if equal else (terms, b, inf, -1)
        terms, c = w.walk(((lhs, 1.0), (rhs, -1.0)))
        return (terms, -c, -c, 0) if equal else (terms, -inf, -c, 1)
    raise NotSupported(f"a constraint of type {type(expr).__name__}"[:200])


def compile_linear(m: pyo.ConcreteModel) -> StandardForm:
    """Every active constraint of `m` as a row (in declaration order) and its one active objective
    (minimised) as costs. Raises NotSupported for anything that is not linear as written here."""
    with PauseGC():  # millions of small lists: no collector passes over the whole model meanwhile
        return _compile(m)


def _compile(m: pyo.ConcreteModel) -> StandardForm:
    w = _Walker()
    # the objective first, then the rows: columns in the order Pyomo's compiler gives them (the
    # order of first use), so HiGHS receives the same model, column for column
    objectives = list(m.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objectives) > 1:
        raise NotSupported(f"{len(objectives)} active objectives")
    objective = objectives[0] if objectives else None
    if objective is not None and objective.sense != pyo.minimize:
        raise NotSupported("a maximised objective")
    cost_terms, offset = w.walk(() if objective is None else ((objective.expr, 1.0),))
    rows: list[Row] = []
    lower: list[float] = []
    upper: list[float] = []
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    row_keys: list[tuple[str, object]] = []
    for con, key in _constraints(m):
        terms, lo, hi, kind = _relation(w, con.expr)
        cols, coefs = (terms.keys(), terms.values()) if terms.__class__ is dict else terms
        if 0.0 in coefs:  # terms that cancelled
            cols, coefs = [j for j, a in zip(cols, coefs) if a != 0.0], [a for a in coefs if a != 0.0]
        if not len(cols) and lo <= TRIVIAL_TOL and hi >= -TRIVIAL_TOL:
            continue  # holds whatever the variables are (e.g. every variable in it fixed)
        rows.append(Row(con, kind))
        row_keys.append(key)
        lower.append(lo)
        upper.append(hi)
        indices.extend(cols)
        data.extend(coefs)
        indptr.append(len(indices))
    cols, coefs = (list(cost_terms), list(cost_terms.values())) if cost_terms.__class__ is dict else cost_terms
    cost = np.zeros(len(w.columns))
    cost[np.asarray(cols, dtype=np.int64)] = np.asarray(coefs, dtype=float)
    index = np.array(indices, dtype=np.int64)
    used = np.bincount(index, minlength=len(w.columns)) > 0
    used[np.asarray(cols, dtype=np.int64)] = True
    columns, keys = w.columns, w.keys
    if not used.all():  # variables brought in with their component but in no row and at no cost
        index = (np.cumsum(used) - 1)[index]
        keep = used.tolist()
        columns = [v for v, u in zip(columns, keep) if u]
        keys = [k for k, u in zip(keys, keep) if u]
        cost = cost[used]
    A = Csr(np.array(indptr, dtype=np.int64), index.astype(np.int32), np.array(data, dtype=float),
            (len(rows), len(columns)))
    return StandardForm(columns, rows, np.array(lower, dtype=float), np.array(upper, dtype=float), A, cost,
                        float(offset), objective, keys, row_keys)


def _constraints(m: pyo.ConcreteModel):
    """(constraint, (component name, index)) of every active constraint, in declaration order (as
    `component_data_objects` gives them)."""
    for component in m.component_objects(pyo.Constraint, active=True, descend_into=True):
        name = component.local_name
        for index, con in component.items():
            if con.active:
                yield con, (name, index)
