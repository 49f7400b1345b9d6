# The contract: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-local demo test test-slow test-security test-browser test-all chaos lint typecheck bench format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

# the embedded model: llama-cpp-python compiles llama.cpp from source on first install. Only
# what the bindings load is built: no multimodal library (LLAVA_BUILD=OFF), no llama.cpp
# "common" library (packaging/llama_cpp_minimal.cmake); portable AVX2 code instead of
# -march=native (GGML_NATIVE=OFF). Measured in docs/benchmarks.md; CMAKE_ARGS adds flags.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/packaging/llama_cpp_minimal.cmake

install-local: $(BIN)/python
	@bash packaging/install_local.sh "$(BIN)" "$(LLAMA_CMAKE_ARGS) $(CMAKE_ARGS)"

demo: install-local
	$(BIN)/agentbatch demo

# pytest exits 5 when it collected no test; that must not fail a run
test: install
	$(BIN)/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# scale tests too long for the default run (200 agents through 40 jobs on a small window)
test-slow: install
	$(BIN)/pytest -q -m slow tests/integration

# tests/security: every tenant attack, end to end in the bubblewrap sandbox (also in `test`)
test-security: install
	$(BIN)/pytest -q -m security tests/security

# the dashboard in headless Chromium (Debian's `chromium`, driven by Playwright; never a
# browser Playwright downloads); screenshots land in build/screenshots. Run by .ci/run.
test-browser: install
	$(BIN)/pytest -q -m browser tests/browser

# two workers on PostgreSQL, killed and paused under load; see docs/reliability.md
chaos: install
	$(BIN)/pytest -m chaos tests/chaos -s -rs

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/agentbatch bench --agents 10000 --steps 3

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
