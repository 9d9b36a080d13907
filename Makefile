# The two quick-start commands: `make serve` and `make test`.
# Both create .venv on first use and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test setup test-setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install --quiet .

test-setup: setup
	$(BIN)/pip install --quiet ".[test]"

serve: setup
	$(BIN)/twistd -n --pidfile= mobwrite

test: test-setup
	$(BIN)/python -m pytest
