# One entry point for humans and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV := $(VENV)/checkov/bin/checkov
# One data dir and one models dir for every target (demo, serve, config show): the settings'
# defaults (./data, ./models) made absolute, except that a development box with the shared model
# folder beside the checkout uses that one. An APPLIANCE_* variable already set wins.
export APPLIANCE_DATA_DIR ?= $(abspath data)
SHARED_MODELS := $(abspath ../shared/models)
export APPLIANCE_MODELS_DIR ?= $(if $(wildcard $(SHARED_MODELS)/face_detection_yunet_2023mar.onnx),$(SHARED_MODELS),$(abspath models))
# The default embedder is the one the model manifest ships (sface). A development box whose models
# folder has only the test-only stand-in (CI, the shared folder) names the stand-in explicitly.
STAND_IN_EMBEDDER := paddle_mobileface_arcface_128d.onnx
ifeq ($(wildcard $(APPLIANCE_MODELS_DIR)/face_recognition_sface_2021dec.onnx),)
ifneq ($(wildcard $(APPLIANCE_MODELS_DIR)/$(STAND_IN_EMBEDDER)),)
export APPLIANCE_EMBEDDER ?= $(STAND_IN_EMBEDDER)
endif
endif

.PHONY: help setup web-deps web web-test screenshots system-deps binary binary-edge binary-smoke test test-fast lint fmt typecheck contracts openapi bench demo ffmpeg serve clean deploy-check postman manifests image-test

help:
	@grep -E '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || PY=python3; test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[server,dev]'
	@touch $(STAMP)

setup: $(STAMP) ## create the venv and install the package with dev tools

# Tests run in parallel processes (pytest-xdist; a file's tests stay together, so its module
# fixtures start once). Schemathesis names every API operation's test alike, which xdist would
# collapse into one, so that file runs after, in this process, adding to the same coverage data.
PYTEST_PARALLEL := -n auto --maxprocesses 4 --dist loadfile
SCHEMATHESIS := tests/integration/test_schemathesis.py

test: setup web system-deps $(CHECKOV) lint ## lint, types, then every test with coverage (the CI command)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --ignore=$(SCHEMATHESIS) --cov=appliance --cov-report= -q
	$(BIN)/python -m pytest $(SCHEMATHESIS) --cov=appliance --cov-append --cov-report=term --cov-fail-under=84 -q
	$(MAKE) --no-print-directory binary-smoke

test-fast: setup ## tests only, no coverage gate
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --ignore=$(SCHEMATHESIS) -q -x
	$(BIN)/python -m pytest $(SCHEMATHESIS) -q -x

lint: setup ## ruff + mypy + the layering contracts (import-linter, docs/architecture.md)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: setup ## format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Debian packages the tests need (RTSP server + ffmpeg for the edge tests, chromium for the
# dashboard E2E). Installed only when something is missing.
APT_PACKAGES := ffmpeg gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav chromium wrk \
	systemd binutils

system-deps: ## install the Debian packages the tests use (when missing)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# The PyInstaller builds (installer/, docs/adr/0009): one-dir, so the binary starts fast.
binary: setup web ## build the appliance binary into dist/appliance/ (one-dir; prints size and time)
	$(BIN)/python installer/build.py full

binary-edge: setup ## build the edge-only binary (capture, models, queue, upload) into dist/appliance-edge/
	$(BIN)/python installer/build.py edge

# Part of `make test`: builds both binaries, then runs them as an operator would (migrate, serve
# --workers 2, health, dashboard, token, an event, edge on a video, purge, install --root, units,
# plist; the edge-only build delivers a video) and checks their size targets (docs/adr/0016).
binary-smoke: binary binary-edge system-deps ## build the binaries and run the smoke tests against them
	APPLIANCE_BINARY=$(abspath dist/appliance/appliance) \
	APPLIANCE_EDGE_BINARY=$(abspath dist/appliance-edge/appliance-edge) $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/binary/test_binary_smoke.py tests/binary/test_edge_binary.py tests/binary/test_binary_size.py \
	  tests/integration/installer -k binary

WEB_DEPS := src/web/node_modules/.package-lock.json

$(WEB_DEPS): src/web/package.json src/web/package-lock.json
	npm --prefix src/web ci --no-audit --no-fund --loglevel=error

web-deps: $(WEB_DEPS) ## install the SPA's npm packages (build-time only)

web: web-deps ## build the dashboard into src/appliance/static (served by appliance serve)
	npm --prefix src/web run build

web-test: web-deps ## dashboard type check + Vitest unit tests
	npm --prefix src/web run typecheck
	npm --prefix src/web test

screenshots: setup web ## refresh docs/screenshots from a real browser run
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_dashboard.py -q

contracts: setup ## regenerate the msgspec Structs from the JSON Schemas (the edge event contract)
	$(BIN)/python -m appliance.contracts.codegen

openapi: setup web-deps ## regenerate docs/openapi.json and what derives from it: the Postman collection, the dashboard's API types
	$(BIN)/appliance openapi -o docs/openapi.json
	$(BIN)/python -m tests.deploy.postman
	npm --prefix src/web run api

$(CHECKOV):  # own venv: checkov would downgrade packaging in .venv
	$$(command -v $(PY) || command -v python3) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install -q "checkov>=3.3,<4"

deploy-check: setup $(CHECKOV) ## helm lint/render, checkov, compose/workflow schemas, hadolint, Postman freshness
	$(BIN)/python -m pytest tests/deploy -q -p no:cacheprovider

postman: setup ## regenerate docs/postman from docs/openapi.json
	$(BIN)/python -m tests.deploy.postman

image-test: ## build both images with podman on a Debian base from debootstrap, run the server image (not in CI)
	@missing=$$(for p in podman runc debootstrap; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi
	tests/deploy/image/smoke.sh

manifests: setup ## render the Helm chart (default + production values) into rendered-manifests/
	$(BIN)/python -m tests.deploy.render_manifests --out rendered-manifests

bench: setup system-deps ## run every benchmark and print its figures
	$(BIN)/python bench/run_all.py

# DEMO_ARGS=--no-serve: stop after the report (scripts, CI, timing).
demo: setup web ffmpeg ## build the dashboard, run real faces through edge → API, then serve it (URL + login printed) until Ctrl-C
	$(BIN)/appliance demo $(DEMO_ARGS)

ffmpeg: ## the edge decodes video and cameras with the ffmpeg program (installed when missing)
	@command -v ffmpeg >/dev/null || $(MAKE) --no-print-directory system-deps APT_PACKAGES=ffmpeg

serve: setup ## run the API and dashboard on 127.0.0.1:8080 (same data and models dirs as make demo)
	$(BIN)/appliance migrate
	$(BIN)/appliance serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
