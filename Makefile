# Two commands for a newcomer: `make demo` and `make test`. Everything runs inside .venv.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export RADIOGENOMICS_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(RADIOGENOMICS_HOME)/dagster_home
# STUDY=studies/….yaml: the study file every command (and the UI's daemon) builds its graph from.
ifdef STUDY
export RADIOGENOMICS_STUDY := $(abspath $(STUDY))
endif

.PHONY: setup demo refresh report test test-slow check-science lint ui bench bench-reads profile sql clean \
	services-packages browser-packages

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its pinned dependencies

# REBUILD=1 materializes everything again instead of only what is missing or stale.
REBUILD_FLAG := $(if $(REBUILD),--rebuild,)
# MODELS=linear leaves the neural grid out (Table 1(a) only); unset: every model.
MODELS_FLAG := $(if $(MODELS),--models $(MODELS),)

demo: $(STAMP)  ## the asset graph on the offline demo cohort (only what is missing or stale)
	$(PY) -m radiogenomics_assets.cli.demo $(REBUILD_FLAG) $(MODELS_FLAG)

refresh: $(STAMP)  ## materialize only what is missing or stale (the source is checked first)
	$(PY) -m radiogenomics_assets.cli.refresh $(REBUILD_FLAG) $(MODELS_FLAG)

report: $(STAMP)  ## print where the study report (one HTML page of the latest results) is; opens nothing
	@$(PY) -m radiogenomics_assets.cli.report

# Both suites run on every core (pytest-xdist), a test module per worker so that its
# module-scoped fixtures are built once, and end with their ten slowest tests. The slow suite
# keeps the collection order (its longest modules first, see conftest.py), not xdist's
# most-tests-first.
test: $(STAMP)  ## the default suite (everything not marked slow or science)
	$(PY) -m pytest -m "not slow and not science" -n auto --dist loadfile --durations=10

test-slow: $(STAMP) browser-packages  ## the heavier tests (DenseNet, multiprocess runs, full graph, daemon, Celery)
	$(PY) -m pytest -m "slow and not science" -n auto --dist loadfile --no-loadscope-reorder \
		--durations=10

check-science: $(STAMP)  ## the heavy scientific checks on the 200-patient demo: before a release, not in CI
	$(PY) -m pytest -m science --durations=10

lint: $(STAMP)
	$(VENV)/bin/ruff check radiogenomics_assets radiogenomics_assets_tests benchmarks

ui: $(STAMP)  ## the Dagster UI on http://127.0.0.1:3000 over the same store as `make demo`
	@mkdir -p $(DAGSTER_HOME)
	$(PY) -m radiogenomics_assets.cli.dagster_home
	$(VENV)/bin/dagster dev --host 127.0.0.1 --port 3000 --workspace workspace.yaml

sql: $(STAMP)  ## run a file of sql/ on the store: make sql FILE=sql/select_table1.sql VARS="model=cox_g"
	$(PY) -m radiogenomics_assets.cli.query $(FILE) $(VARS)

bench: $(STAMP)  ## code-location load time, imaging features, the neural grid sequential vs batched, and against its floor
	$(PY) benchmarks/import_time.py
	$(PY) benchmarks/imaging_features.py
	$(PY) benchmarks/neural_grid.py
	$(PY) benchmarks/neural_floor.py

bench-reads: $(STAMP)  ## make demo alone, then with a reader polling the store and one holding it open: walk time, publishing cost
	PYTHONPATH=$(CURDIR) $(PY) benchmarks/read_while_walking.py

profile: $(STAMP)  ## time and peak memory per phase and step of the latest `make demo`
	$(PY) benchmarks/walk_profile.py

services-packages:  ## PostgreSQL and Redis from Debian packages (the distributed tests start them on loopback)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; then \
		echo "postgresql and redis-server are installed"; \
	else \
		apt-get install -y --no-install-recommends postgresql redis-server || \
		(apt-get update && apt-get install -y --no-install-recommends postgresql redis-server); \
	fi

browser-packages:  ## Debian's chromium, which the report's browser test drives with Playwright
	@if command -v chromium >/dev/null; then \
		echo "chromium is installed"; \
	else \
		apt-get install -y --no-install-recommends chromium || \
		(apt-get update && apt-get install -y --no-install-recommends chromium); \
	fi

clean:  ## remove the store (not the venv)
	rm -rf $(RADIOGENOMICS_HOME)
