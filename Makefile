# One entry point for humans and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export APPLIANCE_MODELS_DIR ?= $(abspath ../shared/models)

.PHONY: help setup web-deps test test-fast lint fmt typecheck contracts openapi bench demo serve clean

help:
	@grep -E '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || PY=python3; test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## create the venv and install the package with dev tools

test: setup web-deps ## lint, types, then every test with coverage (the CI command)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest --cov=appliance --cov-report=term --cov-fail-under=70 -q

test-fast: setup ## tests only, no coverage gate
	$(BIN)/python -m pytest -q -x

lint: setup ## ruff + mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: setup ## format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

WEB_DEPS := src/web/node_modules/.package-lock.json

$(WEB_DEPS): src/web/package.json src/web/package-lock.json
	npm --prefix src/web ci --no-audit --no-fund --loglevel=error

web-deps: $(WEB_DEPS) ## install the SPA's npm packages (build-time only)

contracts: setup web-deps ## regenerate msgspec Structs and TS types from the JSON Schemas
	$(BIN)/python -m appliance.contracts.codegen
	npm --prefix src/web run contracts

openapi: setup ## regenerate docs/openapi.json
	$(BIN)/appliance openapi -o docs/openapi.json

bench: setup ## run every benchmark and print its figures
	$(BIN)/python bench/run_all.py

demo: setup ## migrate, seed a demo tenant, start the API, exercise it, print a report
	$(BIN)/python -m appliance.demo

serve: setup ## run the API on 127.0.0.1:8080
	$(BIN)/appliance migrate
	$(BIN)/appliance serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
