# The single entry point: every target creates what it needs (a venv in .venv).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PROTO_SRC := $(wildcard proto/brandex/v1/*.proto)
PROTO_OUT := exchange/_proto/brandex/v1
PROTO_STAMP := $(PROTO_OUT)/.stamp
VENV_STAMP := $(VENV)/.installed

.PHONY: all dev proto test test-all test-browser test-faults fuzz bench lint demo up clean regions

all: test

$(VENV_STAMP): pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

dev: $(VENV_STAMP) proto

# Generated code is not committed: it is made here from proto/ and git-ignored.
# tools/gen_proto.py is the one generator: the package build (setup.py) runs it too.
$(PROTO_STAMP): $(PROTO_SRC) tools/gen_proto.py $(VENV_STAMP)
	$(PY) tools/gen_proto.py
	touch $@

proto: $(PROTO_STAMP)

# Two test files at a time (pytest-xdist, whole files each): the end-to-end files
# mostly wait on node processes, so two overlap on 2 cores (about 9.5 minutes, not
# 14). Each worker hands out node ports from its own block (tests/conftest.py,
# exchange/ports.py). TEST_JOBS=0 runs everything in one process.
TEST_JOBS ?= 2

test: dev
	$(PY) -m pytest -q -m "not slow" -n $(TEST_JOBS) --dist loadfile --durations=15 tests

test-all: dev
	$(PY) -m pytest -q tests

# The browser tests alone (also part of `make test`): headless Debian chromium via Playwright.
test-browser: dev
	$(PY) -m pytest -q tests/browser

test-faults: dev
	$(PY) -m pytest -q -m "" tests/faults

# Per-test budget, weighted per parser in tests/fuzz (whole bundles and XLSX files get
# a fraction): 5000 runs 117,600 cases in total, about 3 minutes on 2 cores.
fuzz: dev
	BRANDEX_FUZZ_EXAMPLES=5000 $(PY) -m pytest -q tests/fuzz

bench: dev
	$(PY) -m bench

lint: dev
	$(VENV)/bin/ruff check exchange tests bench
	$(VENV)/bin/ruff format --check exchange tests bench

demo: dev
	$(PY) -m exchange.demo run --state var/demo

up: dev
	$(PY) -m exchange.demo up --state var/demo

# Regenerates the packaged region table from ../shared/data/regions.
regions: $(VENV_STAMP)
	$(PY) tools/make_regions.py ../shared/data/regions exchange/core/data/regions.json

clean:
	rm -rf $(VENV) exchange/_proto/brandex var .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
