# Two commands do all the set-up on a fresh machine: `make solve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: solve test install clean-venv default-workbook golden golden-cases

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,dask,mpi]"
	$(BIN)/python -m compileall -q planner
	touch $(STAMP)

install: $(STAMP)

solve: $(STAMP)
	$(BIN)/plan solve inputs/alliance_2026.xlsx

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Maintainers only: rebuild the shipped default workbook from ../shared/data.
default-workbook: $(STAMP)
	$(BIN)/python inputs/build_default.py --shared ../shared/data --force

clean-venv:
	rm -rf $(VENV)

# Write the golden fingerprints of the model again (tests/golden.py) and name the families that changed.
golden: $(STAMP)
	$(BIN)/python tests/golden.py

# Keep every workbook the tests write as a golden case (runs the test suite once).
golden-cases: $(STAMP)
	$(BIN)/python tests/golden.py --collect
