# heurist: `make run` serves, `make test` tests. Both set everything up first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install bench-deps run test test-unit test-integration test-e2e lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned: the CPU build lies on this machine's disk; unpinned, pip pulls CUDA wheels.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

bench-deps: install
	$(PY) -m pip install --quiet -e ".[dev,bench]"

run: install
	$(VENV)/bin/heurist db upgrade
	$(VENV)/bin/heurist serve

test: install
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-unit: install
	$(VENV)/bin/pytest -q tests/unit

test-integration: install
	$(VENV)/bin/pytest -q tests/integration

test-e2e: install
	$(VENV)/bin/pytest -q tests/e2e

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
