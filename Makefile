# `make check` / `make test` / `make bench` / `make docs` each create .venv if missing.
# torch==2.13.0 is installed first (its CPU wheel is on disk); any other torch request would pull a CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test bench docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[hf,smt,latex,dev]'
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/prefixcheck check

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

docs: $(STAMP)
	$(BIN)/prefixcheck check --json docs/results.json

clean:
	rm -rf $(VENV) .pytest_cache
