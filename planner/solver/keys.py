"""The names of a compiled model's columns (or rows), kept compact: for each variable (or
constraint), the position of its index values, coded as small integers per index position.

A model of a million columns named by Python tuples holds a hundred and more MiB of small objects
scattered over the heap; coded, the same names take a few bytes a column, and the tuples are made
only when a plan is read.
"""

from __future__ import annotations

import numpy as np


class _Coded:
    """One component's index values in column order: `None` (a scalar component), or per index
    position the distinct values and each column's code."""

    def __init__(self, indices: list):
        first = indices[0] if indices else None
        self.arity = 0 if first is None else (len(first) if isinstance(first, tuple) else -1)
        self.parts: list[tuple[list, np.ndarray]] = []
        if self.arity == 0:
            self.n = len(indices)
            return
        columns = [indices] if self.arity == -1 else list(zip(*indices))
        for values in columns:
            seen: dict = {}
            codes = np.fromiter((seen.setdefault(v, len(seen)) for v in values), dtype=np.int32, count=len(values))
            self.parts.append((list(seen), codes))
        self.n = len(indices)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if self.arity == 0:
            return None
        values = tuple(cats[codes[i]] for cats, codes in self.parts)
        return values[0] if self.arity == -1 else values

    def __iter__(self):
        if self.arity == 0:
            return iter([None] * self.n)
        decoded = [np.asarray(cats, dtype=object)[codes] if cats else np.empty(0, dtype=object)
                   for cats, codes in self.parts]
        return iter(decoded[0].tolist()) if self.arity == -1 else zip(*(d.tolist() for d in decoded))


class Keys:
    """(component name, index) for each column or row of a compiled model, in order."""

    def __init__(self, keys: list[tuple[str, object]]):
        grouped: dict[str, list] = {}
        comp = np.empty(len(keys), dtype=np.int32)
        pos = np.empty(len(keys), dtype=np.int32)
        number: dict[str, int] = {}
        for j, (name, index) in enumerate(keys):
            k = number.get(name)
            if k is None:
                k = number[name] = len(number)
                grouped[name] = []
            comp[j] = k
            pos[j] = len(grouped[name])
            grouped[name].append(index)
        self.names = list(number)
        self.comp, self.pos = comp, pos
        self.coded = [_Coded(grouped[name]) for name in self.names]
        self._cols: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.comp)

    def __getitem__(self, j: int) -> tuple[str, object]:
        k = int(self.comp[j])
        return self.names[k], self.coded[k][int(self.pos[j])]

    def __iter__(self):
        for j in range(len(self)):
            yield self[j]

    def of(self, name: str) -> tuple[np.ndarray, _Coded | list]:
        """(the positions, in order, of component `name`; its index values in the same order)."""
        if name not in self.names:
            return np.empty(0, dtype=np.int32), []
        k = self.names.index(name)
        cols = self._cols.get(name)
        if cols is None:
            cols = self._cols[name] = np.flatnonzero(self.comp == k).astype(np.int32)
        return cols, self.coded[k]
