# jts-broker: every target creates and uses the local virtual environment by itself.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help install redis-server codegen codegen-check lint test demo bench

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the SDK with its dev tools (editable)

$(STAMP): pyproject.toml
	@command -v redis-server >/dev/null || $(MAKE) --no-print-directory redis-server
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The shared-budget tests start a real redis-server of their own on a free loopback port.
redis-server:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing redis-server (Debian package) for the shared-budget tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else echo "redis-server is needed by the tests: install it (e.g. sudo apt-get install redis-server)" >&2; exit 1; fi

codegen: $(STAMP) ## Regenerate sdk/jts_broker/_generated from protos/ and codegen/templates/
	$(PY) -m codegen.generate

codegen-check: $(STAMP) ## Fail when the committed generated code differs from a fresh generation
	@tmp=$$(mktemp -d); \
	$(PY) -m codegen.generate --out $$tmp/_generated >/dev/null && \
	diff -r -x __pycache__ sdk/jts_broker/_generated $$tmp/_generated; rc=$$?; \
	rm -rf $$tmp; \
	if [ $$rc -ne 0 ]; then echo "generated code drifted from its sources: run 'make codegen' and commit"; exit 1; fi; \
	echo "codegen-check: generated code is up to date"

# The project's own templates' output is linted too (protoc's is not: it is not ours to style).
TEMPLATED := $(addprefix sdk/jts_broker/_generated/,clients.py aio_clients.py gateway.py aio_gateway.py connection.py aio_connection.py mappers.py betterproto_mappers.py)

lint: $(STAMP) ## Lint with ruff (hand-written code and the templates' output)
	$(VENV)/bin/ruff check sdk tests codegen bench
	$(VENV)/bin/ruff check $(TEMPLATED)

test: $(STAMP) ## Run the test suite
	$(PY) -m pytest

demo: $(STAMP) ## Start the simulator in-process and walk through the main job over real gRPC
	$(VENV)/bin/jts-broker demo

bench: $(STAMP) ## Benchmarks: gateway vs raw grpcio, ratios; last line is JSON
	$(PY) bench/run.py
