# The two quick-start commands: `make serve` and `make test`.
# Both create .venv on first use and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test setup test-setup lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install --quiet .

test-setup: setup
	$(BIN)/pip install --quiet ".[test]"

serve: setup
	$(BIN)/twistd -n --pidfile= mobwrite

lint: test-setup
	$(BIN)/ruff check mobwrite tests twisted mobwrite.tac

test: test-setup
	$(BIN)/python -m pytest
