"""Shared standards (the optional `standards` sheet): which sites pass which criterion.

A standard is a row `criterion, stage, min, max`: the numeric `sites` column `criterion` must lie in
[min, max] for sites of `stage` (blank = every stage); `fpic` instead requires `yes`. A blank value
fails (unknown is not compliant). Candidates failing any standard cannot be built; existing sites
failing one are reported, not removed. No Pyomo here: the data layer turns failures into the
eligibility of candidates, and the report lists every verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.errors import InputError, report
from planner.io.schema import SHEETS

NUMERIC_CRITERIA = tuple(c.name for c in SHEETS["sites"].columns if c.kind in ("float", "int")
                         and c.name not in ("lat", "lon"))
CHOICE_CRITERIA = ("fpic",)


@dataclass(frozen=True)
class Standard:
    criterion: str
    stage: str  # "" = every stage
    min: float | None
    max: float | None
    row: int

    @property
    def label(self) -> str:
        """The column heading in the screening sheet, e.g. `water_stress <= 4 (mine)`."""
        if self.criterion in CHOICE_CRITERIA:
            text = f"{self.criterion} = yes"
        elif self.min is not None and self.max is not None:
            text = f"{self.min:g} <= {self.criterion} <= {self.max:g}"
        elif self.min is not None:
            text = f"{self.criterion} >= {self.min:g}"
        else:
            text = f"{self.criterion} <= {self.max:g}"
        return text + (f" ({self.stage})" if self.stage else "")

    def verdict(self, value) -> str:
        """'pass' or 'fail' for one site's value (blank fails)."""
        if self.criterion in CHOICE_CRITERIA:
            return "pass" if value == "yes" else "fail"
        if value is None or value == "" or pd.isna(value):
            return "fail"
        x = float(value)
        ok = (self.min is None or x >= self.min) and (self.max is None or x <= self.max)
        return "pass" if ok else "fail"


def _blank(v) -> bool:
    return v is None or v == "" or (isinstance(v, float) and pd.isna(v))


def read_standards(df: pd.DataFrame | None) -> tuple[Standard, ...]:
    """The rows of the `standards` sheet, each checked (unknown criterion, no bound, min > max, bounds
    on fpic), errors naming the cell."""
    if df is None or df.empty:
        return ()
    pos = df.attrs.get("positions", {})
    out = []
    for _, r in df.iterrows():
        row = int(r["_row"])

        def err(code, msg, column):
            report(InputError(code, msg, sheet="standards", row=row, col=pos.get(column), column=column))

        crit = r["criterion"]
        lo = None if _blank(r["min"]) else float(r["min"])
        hi = None if _blank(r["max"]) else float(r["max"])
        if crit not in NUMERIC_CRITERIA + CHOICE_CRITERIA:
            err("E_UNKNOWN_REF", f"unknown criterion '{crit}'; use fpic or a numeric sites column: "
                f"{', '.join(NUMERIC_CRITERIA)}", "criterion")
            continue
        if crit in CHOICE_CRITERIA:
            if lo is not None or hi is not None:
                err("E_CONTRADICTION", f"'{crit}' is yes/no and a standard on it requires yes: leave min and "
                    "max blank", "min" if lo is not None else "max")
                continue
        elif lo is None and hi is None:
            err("E_VALUE_MISSING", f"give a min or a max for '{crit}'", "min")
            continue
        elif lo is not None and hi is not None and lo > hi:
            err("E_CONTRADICTION", f"min {lo:g} is above max {hi:g}: no site could pass", "max")
            continue
        out.append(Standard(crit, r["stage"], lo, hi, row))
    return tuple(out)


def screen(sites: pd.DataFrame, standards: tuple[Standard, ...]) -> pd.DataFrame:
    """Index site; one column per standard (its label) holding pass, fail, or '' where its stage
    does not apply. `sites` must already carry each site's own water_stress (or its country's)."""
    cols = {}
    for st in standards:
        applies = (sites["stage"] == st.stage) if st.stage else pd.Series(True, index=sites.index)
        cols[st.label] = [st.verdict(v) if a else "" for v, a in zip(sites[st.criterion], applies)]
    return pd.DataFrame(cols, index=sites.index)


def failures(verdicts: pd.DataFrame) -> dict[str, list[str]]:
    """site -> labels of the standards it fails (only sites failing at least one)."""
    out: dict[str, list[str]] = {}
    for col in verdicts.columns:
        for site in verdicts.index[verdicts[col] == "fail"]:
            out.setdefault(site, []).append(col)
    return out
