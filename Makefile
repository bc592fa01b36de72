# jts-broker: every target creates and uses the local virtual environment by itself.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help install redis-server qt-libs codegen codegen-check lint test demo bench screenshot

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the SDK with its dev tools (editable)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The shared-budget tests start a real redis-server of their own on a free loopback port. Only
# the tests need it: the demo and the SDK run without it, as any user.
redis-server:
	@command -v redis-server >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing redis-server (Debian package) for the shared-budget tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else echo "redis-server is needed by the tests: install it (e.g. sudo apt-get install redis-server)" >&2; exit 1; fi

# The Qt widgets' tests run PySide6 on the offscreen platform, which still loads these system
# libraries (EGL/GL, xkbcommon, fontconfig, D-Bus, GLib); a Korean font draws the symbol names in
# the screenshots. Installed as root on Debian when missing.
QT_LIBS := libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 libfontconfig.so.1:libfontconfig1 \
	libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0
qt-libs:
	@missing=""; for pair in $(QT_LIBS); do \
		ldconfig -p | grep -q "$${pair%%:*} " || missing="$$missing $${pair#*:}"; \
	done; \
	{ [ -d /usr/share/fonts/truetype/nanum ] || fc-list :lang=ko 2>/dev/null | grep -q .; } || missing="$$missing fonts-nanum"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing (Debian packages) for the Qt widgets' tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "the Qt tests need:$$missing (e.g. sudo apt-get install$$missing)" >&2; exit 1; fi

GENERATED := sdk/jts_broker/contract/_generated sdk/jts_broker/client/_generated

codegen: $(STAMP) ## Regenerate the generated folders (contract/_generated, client/_generated) from protos/ and codegen/templates/
	$(PY) -m codegen.generate

codegen-check: $(STAMP) ## Fail when any committed generated file differs from a fresh generation (or a stray file sits among them)
	@tmp=$$(mktemp -d); rc=0; \
	$(PY) -m codegen.generate --out $$tmp >/dev/null || rc=1; \
	for dir in $(GENERATED); do \
		diff -r -x __pycache__ $$dir $$tmp/$${dir#sdk/jts_broker/} || rc=1; \
	done; \
	rm -rf $$tmp; \
	if [ $$rc -ne 0 ]; then echo "generated code drifted from its sources: run 'make codegen' and commit"; exit 1; fi; \
	echo "codegen-check: generated code is up to date"

# The project's own templates' output is linted too (protoc's is not: it is not ours to style).
TEMPLATED := $(addprefix sdk/jts_broker/client/_generated/,clients.py aio_clients.py gateway.py aio_gateway.py connection.py aio_connection.py) \
	$(addprefix sdk/jts_broker/contract/_generated/,mappers.py betterproto_mappers.py)

lint: $(STAMP) ## Ruff (hand-written code and the templates' output), mypy --strict on sdk/, and the import-layer contracts
	$(VENV)/bin/ruff check sdk tests codegen bench
	$(VENV)/bin/ruff check $(TEMPLATED)
	$(VENV)/bin/mypy
	PYTHONPATH=sdk $(VENV)/bin/lint-imports

test: $(STAMP) redis-server qt-libs ## Run the test suite (installs redis-server and Qt's system libraries as root on Debian when missing) and print line coverage of sdk/
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=90

demo: $(STAMP) ## Start the simulator in-process and walk through the main job over real gRPC
	$(VENV)/bin/jts-broker demo

screenshot: $(STAMP) qt-libs ## Render the example Qt window and each widget (offscreen) to PNGs in docs/
	QT_QPA_PLATFORM=offscreen $(PY) tools/screenshots.py docs

bench: $(STAMP) ## Benchmarks: gateway vs raw grpcio, ratios; last line is JSON
	$(PY) bench/run.py
