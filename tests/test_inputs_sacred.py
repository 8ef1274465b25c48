"""No command writes over a file it reads, whatever the path's spelling, even with --force; the
refusal (exit 2) says why and suggests another name, never --force. `-o` names the workbook: not
the run's own JSON copy or map."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "in.xlsx"
    shutil.copy(ROOT / "inputs" / "example_hedge.xlsx", p)
    return p


def _refused(args, protected: Path, digest: str):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "never writes over its inputs" in r.output and "use --force" not in r.output
    assert _digest(protected) == digest
    return r


@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink", "dotdot"])
def test_solve_never_writes_over_its_workbook(src, tmp_path, spelling):
    before = _digest(src)
    if spelling == "same":
        out = src
    elif spelling == "symlink":
        out = tmp_path / "link.xlsx"
        out.symlink_to(src)
    elif spelling == "hardlink":
        out = tmp_path / "hard.xlsx"
        os.link(src, out)
    else:
        out = tmp_path / "not_yet" / ".." / "in.xlsx"  # the writer would create not_yet/
    r = _refused(["solve", str(src), "-o", str(out), "--force"], src, before)
    assert "_out.xlsx" in r.output  # a new name is suggested
    assert not (tmp_path / "not_yet").exists()


def test_the_other_commands_never_write_over_what_they_read(src, tmp_path):
    before = _digest(src)
    _refused(["validate", str(src), "--annotate", str(src), "--force"], src, before)
    _refused(["stress", str(src), "-o", str(src), "--force", "--no-vss"], src, before)
    run = tmp_path / "run.xlsx"
    assert CliRunner().invoke(cli, ["solve", str(src), "-o", str(run), "--quiet"]).exit_code == 0
    js = run.with_suffix(".json")
    js_before, run_before = _digest(js), _digest(run)
    _refused(["export", str(js), "-o", str(js), "--force"], js, js_before)
    _refused(["compare", str(run), str(run), "-o", str(run), "--force"], run, run_before)
    # a portfolio used as a start plan is an input of that solve too
    _refused(["solve", str(src), "-o", str(run), "--force", "--start-from", str(run)], run, run_before)


def test_output_names_the_workbook_not_its_side_files(src, tmp_path):
    for name in ("out.json", "out.png"):
        r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(tmp_path / name)])
        assert r.exit_code == 2 and "the portfolio is an Excel workbook" in r.output, r.output
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_outputs_get_the_users_normal_permissions(src, tmp_path, mask):
    # files are created as the umask allows (0644 under 022, 0600 under 077): colleagues on a shared
    # drive can open a portfolio when the user's umask lets them
    import stat
    old = os.umask(mask)
    try:
        out = tmp_path / f"run{mask:o}.xlsx"
        r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
    finally:
        os.umask(old)
    for p in (out, out.with_suffix(".json"), out.with_suffix(".png")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p


def test_paths_that_cannot_be_written_are_refused_before_solving(src, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(a_file / "run.xlsx")])
    assert r.exit_code == 2 and "which is a file, not a folder" in r.output and "Traceback" not in r.output
    long = tmp_path / ("a" * 300 + ".xlsx")
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(long)])
    assert r.exit_code == 2 and "this file system allows at most" in r.output
    assert "status:" not in r.output  # refused before any solve


def test_a_solve_that_can_write_nothing_says_its_result_is_lost(src, tmp_path, monkeypatch):
    # the disk fills up after the solve: the JSON copy (written first) fails, nothing is kept: exit 10
    import errno

    from planner import pipeline

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_json", full)
    out = tmp_path / "run.xlsx"
    r = CliRunner().invoke(cli, ["solve", str(src), "-o", str(out)])
    assert r.exit_code == 10, r.output
    assert "No space left on device" in r.output and "result is lost" in r.output
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not list(tmp_path.glob(".planner-*"))  # no half-written temporary file left behind
