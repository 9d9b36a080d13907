# The two quick-start commands: `make serve` and `make test`.
# Both create .venv on first use and install what they need.
# `make bench` runs the benchmark grid and rewrites BENCHMARKS.md's results.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test setup test-setup bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install --quiet .

# The suite runs a tiny benchmark, which draws its plot: hence bench too.
test-setup: setup
	$(BIN)/pip install --quiet ".[test,bench]"

serve: setup
	$(BIN)/twistd -n --pidfile= mobwrite

test: test-setup
	$(BIN)/python -m pytest

bench: test-setup
	$(BIN)/python -m benchmarks.run --report BENCHMARKS.md
