# Everything a fresh machine needs: `make demo` runs a working network, `make test` runs the suite on SQLite
# and again on a throw-away PostgreSQL, `make bench` runs the benchmarks in bench/.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?= -n 2 --dist loadfile  # both cores (pytest-xdist); a module stays on one worker, so its module-scoped network (`sekisho up`) starts once

.PHONY: all demo test test-sqlite test-postgres lint typecheck bench bench-tiny clean deps

all: test

deps:
	@scripts/install-system-deps

$(STAMP): pyproject.toml
	@scripts/install-system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sekisho demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-sqlite: $(STAMP)
	SEKISHO_TEST_DB= $(PY) -m pytest $(PYTEST_ARGS)

# the PostgreSQL run (client and server) in a zone far from both UTC and Japan: legal dates must be Japan's and
# stored instants UTC whatever the machine's zone (docs/conventions.md, Time)
test-postgres: $(STAMP)
	TZ=Pacific/Kiritimati scripts/with-postgres $(PY) -m pytest $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

bench: $(STAMP)
	scripts/with-postgres --durable $(PY) -m bench

# every benchmark at a few operations (make test runs the same through tests/bench/test_smoke.py)
bench-tiny: $(STAMP)
	scripts/with-postgres $(PY) -m bench --tiny

clean:
	rm -rf $(VENV) .sekisho .pytest_cache .ruff_cache .mypy_cache .hypothesis
