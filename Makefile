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

.PHONY: setup demo test test-plan lint typecheck bench policy-pack browser

$(BIN)/python:
	@echo "==> creating $(VENV) ($(PY) -m venv)"
	$(PY) -m venv $(VENV)

# The runtime and the demo extra: exact pins, then the project itself (no dependencies; its
# install compiles auditor/logs/_native.c and auditor/_state_scan.c, so an edit of either
# installs it again),
# installed with uv (from PyPI, pinned): the same versions pip resolves, in seconds instead of
# a minute or more; pip takes over if uv cannot be installed.
UV_VERSION := 0.13.8
$(VENV)/.demo-deps: $(BIN)/python requirements.txt requirements-auditor.txt pyproject.toml \
                    auditor/logs/_native.c auditor/_state_scan.c
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
                   pyproject.toml auditor/logs/_native.c auditor/_state_scan.c
	@echo "==> installing test and development requirements (requirements-dev.txt)"
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

setup: $(VENV)/.dev-deps

demo: $(VENV)/.demo-deps
	@echo "==> dr-audit demo"
	$(BIN)/dr-audit demo --output-dir dr-audit-report

# The browser test (tests/test_browser_report.py) drives Debian's chromium through chromedriver.
# DRGUARD_NO_BROWSER=1 installs nothing and skips that test.
DRGUARD_NO_BROWSER ?=
export DRGUARD_NO_BROWSER
browser:
	@if [ "$(DRGUARD_NO_BROWSER)" = 1 ]; then \
	  echo "==> DRGUARD_NO_BROWSER=1: not installing chromium; the browser test is skipped"; \
	elif ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then \
	  echo "==> installing chromium and chromium-driver (Debian packages: $(SUDO) apt-get install)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; \
	fi

# What `make test` is about to install, said before it installs anything.
test-plan:
	@echo "==> make test will:"
	@if [ ! -f $(VENV)/.dev-deps ] || [ -n "$$(find requirements.txt requirements-auditor.txt \
	      requirements-dev.txt pyproject.toml auditor/logs/_native.c auditor/_state_scan.c \
	      -newer $(VENV)/.dev-deps 2>/dev/null)" ]; then \
	  echo "    - pip install the test requirements (requirements-dev.txt) and the project (compiling its C extensions) into $(VENV)"; fi
	@if [ "$(DRGUARD_NO_BROWSER)" != 1 ] && ! { command -v chromium >/dev/null 2>&1 && \
	      command -v chromedriver >/dev/null 2>&1; }; then \
	  echo "    - install Debian's chromium and chromium-driver with $(SUDO) apt-get, system-wide,"; \
	  echo "      for the browser test (make test DRGUARD_NO_BROWSER=1 installs neither and skips it)"; fi
	@echo "    - run ruff, mypy and pytest (-n 2)"

test: test-plan $(VENV)/.dev-deps browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .

# mypy over drguard, policypack and auditor (pyproject.toml: strict on drguard)
typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

# Every script in benchmarks/, quick sizes; `make bench BENCH_ARGS=--full` for their full
# sizes (state: 50 and 200 MB). The peers, each installed in a venv of its own, run when
# named: PROWLER=/tmp/prowler-venv/bin/prowler, C7N_ORG=/tmp/c7n-venv/bin/c7n-org.
# Figures are ratios to a floor in the same run. A script that
# is not a benchmark is named with the reason it is skipped; a failed one does not stop the
# others, and the run ends with the list of failures (exit 1).
BENCH_ARGS ?=
FULL := $(filter --full,$(BENCH_ARGS))
bench: $(VENV)/.dev-deps
	@failed=""; for f in benchmarks/*.py; do \
	  args=""; \
	  case "$$(basename $$f)" in \
	    _bytecode.py) echo "==> skipping $$f: not a benchmark (the bytecode compile the" \
	                        "others run first)"; continue ;; \
	    stack_program.py) echo "==> skipping $$f: not a benchmark (the Pulumi program that" \
	                           "policy_latency.py and remediate_latency.py run)"; continue ;; \
	    peer_hooks.py) echo "==> skipping $$f: not a benchmark (the hooks vs_prowler.py and" \
	                        "org_scale.py put in a peer tool's processes)"; continue ;; \
	    startup.py|state_scale.py|pack_start.py|logs_throughput.py) args="$(BENCH_ARGS)" ;; \
	    org_scale.py) args="$(BENCH_ARGS) $(if $(C7N_ORG),--c7n-org $(C7N_ORG))" ;; \
	    vs_prowler.py) args="$(if $(PROWLER),--prowler $(PROWLER))" ;; \
	    backend_read.py) args="--s3 $(FULL)" ;; \
	    repo_audit.py) [ -n "$(FULL)" ] || args="--stacks 100 --workflows 25 --updates 1000" ;; \
	    soak.py) [ -n "$(FULL)" ] || args="--config 200 --state 300 --pack 250 --logs 250" ;; \
	    soak_logs.py) [ -n "$(FULL)" ] || args="--inputs 500 --no-big" ;; \
	  esac; \
	  echo "==> $(BIN)/python $$f $$args"; \
	  $(BIN)/python $$f $$args || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "==> failed:$$failed"; exit 1; fi

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
