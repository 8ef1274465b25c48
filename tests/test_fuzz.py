"""Hypothesis fuzz: mutate cells of a valid workbook; `plan solve` never shows a traceback, and
every refusal is one message with an error code."""

import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cli import cli
from wb import site, tiny, write_workbook

NASTY = ["NA", "n/a", "#N/A", "=1+1", "-", "1e999", "inf", "nan", "\uff23\uff23\uff23", "\u0421CC", "TRUE",
         "", " ", "0", "-1", "2030.5", "candidate", "force_build", "AA", "X", "M1", "R1"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.sampled_from(NASTY),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc")),
            max_size=12))


def base():
    sheets, settings_ = tiny(max_country_share=0.7)
    sheets["sites"] += [site("N1", "AAA", "mine", "existing", 1000),
                        site("R1", "AAA", "refinery", "candidate", 100, capex_musd=0.01, var_cost_usd_per_t=100,
                             lead_time_years=0, group="G", **{"yield": 0.9})]
    sheets["scenarios"] = [{"scenario": "a", "probability": 0.5, "demand_multiplier": 1},
                           {"scenario": "b", "probability": 0.5, "demand_multiplier": 1.2}]
    sheets["disruptions"] = [{"scenario": "b", "country": "CCC", "site": None, "mineral": None, "period": None,
                              "availability": 0.5}]
    return sheets, settings_


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_workbook_never_tracebacks(data):
    sheets, settings_ = base()
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(settings_)))
            settings_[key] = data.draw(VALUES)
        else:
            name = data.draw(st.sampled_from(sorted(sheets)))
            row = data.draw(st.sampled_from(sheets[name]))
            row[data.draw(st.sampled_from(sorted(row)))] = data.draw(VALUES)
    with tempfile.TemporaryDirectory() as d:
        src = write_workbook(Path(d) / "f.xlsx", sheets, settings_)
        res = CliRunner().invoke(cli, ["solve", str(src), "-o", str(Path(d) / "o.xlsx"), "--quiet"])
        assert res.exception is None or isinstance(res.exception, SystemExit), res.output
        assert "Traceback" not in res.output
        assert res.exit_code in (0, 1, 3), res.output
        if res.exit_code == 1:
            errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1 and "[E_" in errors[0]
            assert not (Path(d) / "o.xlsx").exists()
        else:
            assert (Path(d) / "o.xlsx").exists()
