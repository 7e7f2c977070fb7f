# `make check` / `make test` / `make bench` / `make docs` each create .venv if missing.
# torch==2.13.0 is installed first (its CPU wheel is on disk); any other torch request would pull a CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test test-fast lint bench docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[hf,smt,latex,dev]'
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/prefixcheck check

# Everything, on one process per core (pytest-xdist): a test never depends on another's order or process.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

# The edit loop: every test not marked slow, on one process per core (pytest-xdist; under 30 s on an idle 2-core
# machine). `make test` runs everything.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n auto

# ruff (E, F, W, I, B, UP; 120 columns) on all the code, tests and benchmarks included; mypy on theory/, numeric/,
# proofs/ (settings in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check theory numeric proofs tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# The report: check once (JSON), the architecture matrix if that command exists, then the LaTeX report and its
# PDF from those results (needs texlive; see docs/guide.md). Figures land in docs/report/figures/ (PDF and PNG).
docs: $(STAMP)
	$(BIN)/prefixcheck check --json docs/results.json
	if $(BIN)/prefixcheck matrix --help >/dev/null 2>&1; then $(BIN)/prefixcheck matrix --json docs/matrix.json; fi
	$(BIN)/prefixcheck latex --results docs/results.json $$(test -f docs/matrix.json && echo --matrix docs/matrix.json) \
	  --standalone-snippets -o docs/report --pdf

clean:
	rm -rf $(VENV) .pytest_cache
