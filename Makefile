# One-command entry points (see README).
#   make demo   runtime + demo emulator only (requirements-auditor.txt), then `dr-audit demo`
#   make test   everything the tests need (requirements-dev.txt), then ruff and pytest
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# Where `make policy-pack` stages the files `pulumi policy publish` should ship (outside the
# repository: see README, "Publishing the pack").
PACK_DIR ?= $(abspath ..)/dr-guard-policy-pack

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint typecheck bench policy-pack browser

$(BIN)/python:
	@echo "==> creating $(VENV) ($(PY) -m venv)"
	$(PY) -m venv $(VENV)

# The runtime and the demo extra: exact pins, then the project itself (no dependencies),
# installed with uv (from PyPI, pinned): the same versions pip resolves, in seconds instead of
# a minute or more; pip takes over if uv cannot be installed.
UV_VERSION := 0.13.8
$(VENV)/.demo-deps: $(BIN)/python requirements.txt requirements-auditor.txt pyproject.toml
	@echo "==> installing uv $(UV_VERSION) into $(VENV) (a fast installer for the next step)"
	-$(PIP) install -q uv==$(UV_VERSION)
	@echo "==> installing dr-audit's runtime and demo emulator (requirements-auditor.txt)"
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv pip install --python $(BIN)/python -r requirements-auditor.txt && \
	  $(BIN)/uv pip install --python $(BIN)/python --no-deps -e . ; \
	else \
	  $(PIP) install --progress-bar on --no-compile -r requirements-auditor.txt && \
	  $(PIP) install -q --no-deps -e . ; \
	fi
	touch $@

# Tests, examples and benchmarks (what CI runs): pip, everything in requirements-dev.txt.
$(VENV)/.dev-deps: $(BIN)/python requirements.txt requirements-auditor.txt requirements-dev.txt \
                   pyproject.toml
	@echo "==> installing test and development requirements (requirements-dev.txt)"
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

setup: $(VENV)/.dev-deps

demo: $(VENV)/.demo-deps
	@echo "==> dr-audit demo"
	$(BIN)/dr-audit demo --output-dir dr-audit-report

# The browser test (tests/test_browser_report.py) drives Debian's chromium through chromedriver.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "==> installing chromium and chromium-driver (apt-get)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

test: $(VENV)/.dev-deps browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .

# mypy over drguard, policypack and auditor (pyproject.toml: strict on drguard)
typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

# Every benchmark, quick sizes; `make bench BENCH_ARGS=--full` for the big ones where a
# benchmark has them (state: 50 and 200 MB). Figures are ratios to a floor in the same run.
BENCH_ARGS ?=
bench: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/startup.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/state_scale.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/policy_latency.py
	$(BIN)/python benchmarks/scan_scale.py
	$(BIN)/python benchmarks/logs_throughput.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/pack_footprint.py
	$(BIN)/python benchmarks/org_scale.py $(BENCH_ARGS)

# The pack as `pulumi policy publish` should see it: PulumiPolicy.yaml, __main__.py,
# requirements.txt, drguard/ and policypack/ (no tests, benchmarks, examples or venvs).
policy-pack:
	@case "$(abspath $(PACK_DIR))" in /|$(CURDIR)|$(CURDIR)/*) \
	  echo "PACK_DIR must be a directory outside the checkout (it is emptied first) (got $(PACK_DIR))"; exit 2;; esac
	rm -rf $(PACK_DIR)
	mkdir -p $(PACK_DIR)
	cp PulumiPolicy.yaml __main__.py requirements.txt .gitignore $(PACK_DIR)/
	cp -r drguard policypack $(PACK_DIR)/
	find $(PACK_DIR) -name __pycache__ -prune -exec rm -rf {} +
	@echo "==> staged the policy pack in $(PACK_DIR): cd there and run pulumi policy publish"

# Hostile-input fuzzing, longer than the fixed-seed run in `make test`: random examples
# (FUZZ_EXAMPLES each) on every surface; prints the totals (inputs, tracebacks, hangs, lost
# findings, leaks, wrong exit codes).
FUZZ_EXAMPLES ?= 1000
.PHONY: fuzz
fuzz: $(VENV)/.dev-deps
	DRG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) DRG_FUZZ_RANDOM=1 $(BIN)/pytest -q -s \
	  tests/test_fuzz_surfaces.py tests/test_fuzz_config.py tests/test_fuzz_state.py \
	  tests/test_fuzz_pack.py tests/test_merge_hostile.py tests/test_logs_escapes.py
