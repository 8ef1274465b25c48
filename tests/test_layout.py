"""The package follows the one-way flow: workbook -> typed tables -> model -> solver -> plain result
tables -> analyses, with `planner/pipeline.py` and `planner/cli.py` on top. A module imports only
from its own layer or the layers below it; the command line, the result tables, the report and the
comparison import neither Pyomo nor highspy."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PLANNER = Path(__file__).resolve().parent.parent / "planner"
# lowest first: `errors` and `status` are read everywhere; results sit below the solver because the
# solver's last step reads the plan into them (planner/solver/checked.py), and they import no solver
LAYERS = ["base", "io", "dataset", "model", "results", "solver", "analyses", "top"]
BASE = {"planner", "planner.errors", "planner.status"}
TOP = {"planner.pipeline", "planner.cli", "planner.__main__"}


def layer(module: str) -> int:
    if module in BASE:
        return 0
    if module in TOP:
        return LAYERS.index("top")
    return LAYERS.index(module.split(".")[1])


def modules():
    for path in sorted(PLANNER.rglob("*.py")):
        rel = path.relative_to(PLANNER.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported(module: str, path: Path) -> set[str]:
    out = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "planner" and not node.level:
                name = "planner"
            if name.startswith("planner"):
                out.add(name)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("planner")}
    return out


def test_every_module_has_a_layer():
    for module, _ in modules():
        layer(module)  # raises for a module outside the layers


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_imports_go_only_down_the_flow(module, path):
    for name in imported(module, path):
        target = name if name in BASE | TOP else ".".join(name.split(".")[:2])
        assert layer(target) <= layer(module), f"{module} imports {name}, a layer above it"


def test_the_command_line_and_the_plain_tables_import_no_solver():
    code = ("import sys; import planner.cli, planner.results.solution, planner.results.verify, "
            "planner.results.report, planner.analyses.compare, planner.model.registry, planner.model.definition; "
            "print(sorted(m for m in ('pyomo', 'highspy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
