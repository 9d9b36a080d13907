# The two quick-start commands: `make serve` and `make test`.
# Both create .venv on first use and install what they need.
# `make bench` runs the benchmark grid and rewrites BENCHMARKS.md's results.
# `make dist` builds the wheel to install on a server (docs/packaging.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

CHROMIUM := /usr/bin/chromium
# apt-get needs root: use sudo only when not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: serve test setup test-setup npm-setup postgresql-setup lint bench dist

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The browser client's npm dependencies, pinned by package-lock.json; their
# postinstall copies the ES modules the pages load into static/vendor/, which
# must exist before `pip install .` packs static/.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static/vendor/diff-match-patch.mjs: node_modules/.package-lock.json scripts/vendor.mjs
	node scripts/vendor.mjs

npm-setup: node_modules/.package-lock.json static/vendor/diff-match-patch.mjs

setup: $(BIN)/python npm-setup
	$(BIN)/pip install --quiet .

# The browser tests drive Debian's Chromium through Playwright, which must
# never download a browser of its own.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The tests start their own PostgreSQL server (benchmarks/postgres.py) from
# Debian's binaries, installed once when no version of them is there.
postgresql-setup:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# The suite runs a tiny benchmark, which draws its plot: hence bench too.
test-setup: setup npm-setup $(CHROMIUM) postgresql-setup
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/pip install --quiet ".[test,bench,postgresql]"

serve: setup
	$(BIN)/twistd -n --pidfile= mobwrite

lint: test-setup
	$(BIN)/ruff check .
	$(BIN)/mypy mobwrite benchmarks

test: lint
	$(BIN)/python -m pytest
	npm test

bench: test-setup
	$(BIN)/python -m benchmarks.run --report BENCHMARKS.md

# A complete wheel in dist/, for `pip install` on a server without node:
# npm first fills static/vendor/ (setup.py refuses to build without it).
# build/ goes first so that no file deleted from the checkout is packed.
dist: $(BIN)/python npm-setup
	rm -rf build dist
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
