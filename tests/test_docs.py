"""The prose stays true to the code: a page per command, the generated workbook contract up to date,
a short README whose links all resolve, and no development history in any tracked file (code,
comments, docstrings, tests, documents)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from planner.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_WORDS = 1500

TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".yml", ".yaml", ""}


def tracked_text_files() -> list[Path]:
    """Every tracked text file but the golden data (this one included: its patterns and samples are
    written so that they do not match themselves)."""
    import subprocess
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a checkout: the package, tests, docs and bench
        names = [str(p.relative_to(ROOT)) for d in ("planner", "tests", "docs", "bench", "models", "inputs")
                 for p in (ROOT / d).rglob("*") if p.is_file()] + ["README.md", "Makefile", "pyproject.toml"]
    return [ROOT / n for n in sorted(names) if not n.startswith(("tests/golden/", "bench/runs/"))
            and Path(n).suffix in TEXT_SUFFIXES and (ROOT / n).is_file()]
LINKED = [README, *sorted(DOCS.glob("*.md"))]

# Development history has no place in the documents: they say what is, with the command that shows it.
HISTORY = [
    r"\bi[s]sues? #?\d+",  # one letter in brackets: this file does not spell what it looks for
    r"\(i[s]sue",
    r"\bs[e]ssions?\b",
    r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|"
    r"\d+(?:st|nd|rd|th))\s+s[e]ssion",
    r"\bb[e]fore:",
    r"\bp[r]eviously\b",
    r"\bu[s]ed to\b",
    r"\bwe (?:changed|replaced|removed|added|moved|rewrote)\b",
    r"\bn[o] longer\b",
]
# Legitimate uses of the words above (English or API names), removed before the patterns are searched.
ALLOWED = [
    r"\b(?:is|are|be|been|being|was|were)\s+u[s]ed to\b",  # "the setting is employed to ..."
]


def _command_names() -> list[str]:
    return sorted(cli.commands)


@pytest.mark.parametrize("name", _command_names())
def test_every_command_has_a_page(name):
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"plan {name} has no page: write docs/{name}.md"
    assert f"plan {name}" in page.read_text(encoding="utf-8"), f"docs/{name}.md never names `plan {name}`"


def _contract_module():
    path = DOCS / "contract.py"
    spec = importlib.util.spec_from_file_location("docs_contract", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workbook_contract_page_is_generated_from_the_schema():
    contract = _contract_module()
    committed = (DOCS / "workbook-contract.md").read_text(encoding="utf-8")
    assert committed == contract.render(), (
        "docs/workbook-contract.md differs from planner/io/schema.py: run .venv/bin/python docs/contract.py")


def test_contract_page_names_every_sheet_and_column():
    from planner.io import schema
    text = (DOCS / "workbook-contract.md").read_text(encoding="utf-8")
    for sheet in schema.SHEETS.values():
        assert f"## {sheet.name}\n" in text
        for col in sheet.columns:
            assert f"| `{col.name}` |" in text, (sheet.name, col.name)
    for key in schema.SETTINGS:
        assert f"| `{key}` |" in text, key


def test_readme_is_short():
    words = len(README.read_text(encoding="utf-8").split())  # as `wc -w` counts
    assert words <= README_MAX_WORDS, f"README.md has {words} words (at most {README_MAX_WORDS}): move detail to docs/"


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _relative_links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code blocks are not links
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http:, mailto:, ... and anchors within the page
        out.append(target.split("#", 1)[0])
    return out


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = [t for t in _relative_links(page.read_text(encoding="utf-8")) if not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_readme_links_into_docs():
    links = _relative_links(README.read_text(encoding="utf-8"))
    assert any(t.startswith("docs/") for t in links)


def test_link_check_sees_links():
    assert _relative_links("see [a](docs/x.md#y) and [b](https://e.org) and [c](#z)") == ["docs/x.md"]


@pytest.mark.parametrize("page", tracked_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_development_history_in_prose(page):
    text = page.read_text(encoding="utf-8")
    for allowed in ALLOWED:
        text = re.sub(allowed, " ", text, flags=re.I)
    found = []
    for pattern in HISTORY:
        for m in re.finditer(pattern, text, flags=re.I):
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"line {line}: {m.group(0)!r}")
    assert not found, f"{page.relative_to(ROOT)} tells development history: {found}"


def test_history_patterns_catch_history():
    # the samples are spelled with "_" where a letter goes, so that this file passes its own check
    samples = ["as in the twelfth s_ssion", "fixed in i_sue 8", "(i_sue 3)", "b_fore: 5 s", "it p_eviously took",
               "the planner u_ed to end", "w_ changed the compile", "the 11th s_ssion", "it is n_ longer"]
    letters = {"s_ssion": "se", "i_sue": "is", "b_fore": "be", "p_eviously": "pr", "u_ed": "us", "n_ longer": "no", "w_ changed": "we"}
    for word, head in letters.items():
        samples = [x.replace(word, head + word[2:]) for x in samples]
    for s in samples:
        assert any(re.search(p, s, flags=re.I) for p in HISTORY), s
    assert "_" not in "".join(samples)
    assert not any(re.search(p, re.sub(ALLOWED[0], " ", "HiGHS is u" "sed to solve it"), flags=re.I)
                   for p in HISTORY)
