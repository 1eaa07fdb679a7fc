# Zhongtai: `make run` serves the demo retailer, `make test` runs every check.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
HOST ?= 127.0.0.1
PORT ?= 8000
# Test processes (pytest-xdist); each gets its own SQLite files and PostgreSQL database.
PYTEST_WORKERS ?= auto
export ZHONGTAI_ENV ?= demo

.PHONY: install run migrate demo serve test lint typecheck imports unit bench screenshots clean

$(BIN)/python:
	$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Zhongtai needs Python 3.11"'
	$(PY) -m venv $(VENV)

# One lock file (requirements.lock, hashed). uv is pinned inside it, so the venv keeps it.
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/zhongtai db upgrade

demo: migrate
	$(BIN)/zhongtai demo load --if-empty

serve: install
	$(BIN)/zhongtai serve --host $(HOST) --port $(PORT)

run: demo serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src

imports: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck imports unit

bench: install
	$(BIN)/python bench/inventory_reserve.py

screenshots: install
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
