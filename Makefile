# One-command entry points (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench

$(BIN)/dr-audit: requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/dr-audit

demo: setup
	$(BIN)/dr-audit demo --output-dir dr-audit-report

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/policy_latency.py
	$(BIN)/python benchmarks/scan_scale.py
	$(BIN)/python benchmarks/logs_throughput.py
