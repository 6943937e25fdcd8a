# TerraMiner: `make demo` runs the whole pipeline on the embedded stack; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TERRAMINER_PROJECT_DIR := $(CURDIR)

.PHONY: help install demo test test-slow lint ruff sqlfluff dbt-ci manifest ui mlflow-ui serve api docs bench clean

help:
	@echo "make demo       set up .venv, start the embedded stack, run the whole pipeline (~3 min first time)"
	@echo "make test       lint + pytest + dbt build on the ci target (what CI runs)"
	@echo "make test-slow  randomized fault-injection trials (slow)"
	@echo "make ui         Dagster UI on the local stack (http://127.0.0.1:3000)"
	@echo "make manifest   prepare the dbt manifest Dagster loads (the UI also does it when it is missing)"
	@echo "make mlflow-ui  MLflow UI on the local store (http://127.0.0.1:5000)"
	@echo "make serve      the champion AVM over HTTP (http://127.0.0.1:5001/invocations)"
	@echo "make api        the data API and web app: /v1, /graphql, /docs, /app/ (http://127.0.0.1:8000)"
	@echo "make docs       dbt docs site of the local warehouse (http://127.0.0.1:8081)"
	@echo "make bench      benchmarks (results in bench/results/)"
	@echo "make lint       ruff + sqlfluff"
	@echo "make clean      stop the stack and delete .terraminer/, target/ and caches"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "TerraMiner needs Python 3.11: run 'make clean' and set PYTHON=/path/to/python3.11"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/terraminer demo

# pytest includes the dbt build on the ci target (tests/integration/test_ci_build.py runs
# `terraminer.ci dbt`, what `make dbt-ci` runs), so it shares the two xdist workers.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

lint: ruff sqlfluff

ruff: $(STAMP)
	$(BIN)/ruff check .

sqlfluff: $(STAMP)
	$(BIN)/python -m terraminer.ci sqlfluff

dbt-ci: $(STAMP)
	$(BIN)/python -m terraminer.ci dbt

# dbt parse into target/dagster: what the code location reads (production images run it at build time).
manifest: $(STAMP)
	DBT_PROFILES_DIR=$(CURDIR) $(BIN)/python -c 'from orchestration.project import prepare_manifest; print(prepare_manifest())'

ui: $(STAMP)
	$(BIN)/terraminer up
	eval "$$($(BIN)/terraminer env)" && PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p $${DAGSTER_PORT:-3000}

mlflow-ui: $(STAMP)
	eval "$$($(BIN)/terraminer env)" && $(BIN)/mlflow ui --backend-store-uri "$$MLFLOW_TRACKING_URI" -h 127.0.0.1 -p $${MLFLOW_PORT:-5000}

serve: $(STAMP)
	$(BIN)/terraminer avm serve --port $${SERVE_PORT:-5001}

api: $(STAMP)
	$(BIN)/terraminer up
	$(BIN)/terraminer api --port $${API_PORT:-8000}

# dbt docs of the local warehouse (`make demo` first): descriptions, lineage, exposures, metrics.
docs: $(STAMP)
	$(BIN)/terraminer up
	eval "$$($(BIN)/terraminer env)" && export DBT_PROFILES_DIR=$(CURDIR) && \
	  $(BIN)/dbt docs generate --target-path target/docs && \
	  $(BIN)/dbt docs serve --target-path target/docs --host 127.0.0.1 --port $${DOCS_PORT:-8081} --no-browser

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	-@test -x $(BIN)/terraminer && $(BIN)/terraminer down >/dev/null 2>&1 || true
	rm -rf .terraminer target logs dbt_packages .pytest_cache .ruff_cache test-output
