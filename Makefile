# Splice: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Splice needs Python 3.12+ (Django 6). Use $(PYTHON) if given, else the first 3.12+ found.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: help install run test lint demo browser clean

help:
	@echo "make run   - set up, migrate, load the demo and serve http://127.0.0.1:8000 (web, worker, beat)"
	@echo "make test  - set up and run the whole test suite"
	@echo "make lint  - ruff check"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Splice needs Python 3.12 or newer; set PYTHON=/path/to/python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
		else echo "Install Debian's chromium package for the browser tests (sudo apt-get install chromium)"; exit 1; fi; }

run: install
	mkdir -p var
	SPLICE_DEBUG=$${SPLICE_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	SPLICE_DEBUG=$${SPLICE_DEBUG:-1} $(BIN)/python manage.py sync_oauth_profiles
	SPLICE_DEBUG=$${SPLICE_DEBUG:-1} $(BIN)/python manage.py load_demo
	SPLICE_DEBUG=$${SPLICE_DEBUG:-1} $(BIN)/honcho -f Procfile.dev start

test: install browser
	mkdir -p var
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
