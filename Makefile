# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help install browser demo test test-fast bench docs clean

help:
	@echo "make demo   - build the dbt views, validate, submit to the local VAN simulator, write the ledger (DuckDB)"
	@echo "make test   - run the test suite (DuckDB, PostgreSQL, simulator, moto S3)"
	@echo "make bench  - benchmarks under bench/, reported as ratios against a same-run baseline"
	@echo "make clean  - remove the demo DuckDB file, state and dbt artefacts"

install: $(STAMP)

# Exactly what CI tested: every dependency pinned in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(BIN)/vanbulk run

# pytest-xdist, one worker more than cores: many tests wait on the simulated VAN (holds, polling), so an extra
# worker keeps the cores busy (2 cores: 5m19 with 2 workers, 4m33 with 3). A test file stays on one worker so
# its module fixtures are built once; files start costliest first (tests/conftest.py), not by their number of tests.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")
test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The Data Docs test opens the pages in Debian's chromium. CI (CI=true, root, no stdin) installs it; elsewhere
# the test is skipped and the run says so at the end (install it yourself: apt-get install -y chromium).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$CI" = "true" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the Data Docs browser test (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
	  echo "could not install chromium: the Data Docs browser test will be skipped"; \
	else echo "note: /usr/bin/chromium missing, the Data Docs browser test will be skipped (apt-get install -y chromium)"; fi

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf vanbulk.duckdb vanbulk.duckdb.wal .vanbulk dbt_project/target dbt_project/logs expectations/gx/uncommitted
