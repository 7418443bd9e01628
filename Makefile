# litlab: the two commands a new user needs.
#   make demo   set up .venv (first time only) and train the Lightning-attention LM on the embedded corpus
#   make test   set up .venv (first time only) and run each package's tests separately
#   make test-<pkg>   one package: shared, attention, alignment, rl, robotics, cross
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.litlab-installed
PYPROJECTS := pyproject.toml shared/pyproject.toml $(wildcard packages/*/pyproject.toml)
MEMBERS := -e shared -e packages/attention -e 'packages/alignment[lora]' -e 'packages/rl[generate]' -e packages/robotics
PIP := $(BIN)/python -m pip --disable-pip-version-check
DEMO_RECIPE := configs/attention/lm-lightning.yaml

.PHONY: setup demo test test-shared test-attention test-alignment test-rl test-robotics test-cross lint

setup: $(STAMP)

# The venv: Python 3.11+. On a machine with an NVIDIA driver the venv sees the system's packages, so the
# torch already installed there (a CUDA build) is kept; elsewhere torch comes first, in its own call, as
# the CPU build (torch==2.13.0 on Linux x86_64), so that no later install pulls a multi-GB CUDA build.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "litlab needs Python 3.11 or newer, found " + sys.version.split()[0])'
	@if command -v nvidia-smi >/dev/null 2>&1; then \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
	fi

$(STAMP): $(BIN)/python $(PYPROJECTS)
	@if ! $(BIN)/python -c 'import torch' >/dev/null 2>&1; then \
		if [ "$$(uname -s)-$$(uname -m)" = "Linux-x86_64" ] && ! command -v nvidia-smi >/dev/null 2>&1; then \
			echo "litlab: installing torch==2.13.0 (CPU build)"; $(PIP) install -q torch==2.13.0; \
		else \
			echo "litlab: installing torch>=2.11"; $(PIP) install -q 'torch>=2.11'; \
		fi; \
	fi
	@echo "litlab: installing the members (editable) and the test tools"
	@$(PIP) install -q $(MEMBERS) -e '.[dev]'
	@touch $@

demo: $(STAMP)
	@if [ ! -f $(DEMO_RECIPE) ]; then \
		echo "litlab: the demo recipe $(DEMO_RECIPE) has not landed yet (the Lightning-attention LM issue builds it)."; \
		exit 1; \
	fi
	$(BIN)/litlab fit --config configs/trainer/cpu.yaml --config $(DEMO_RECIPE)

# pytest exit code 5 means "no tests collected": a package without tests yet is not a failure.
define run_pytest
	@echo "================ litlab tests: $(1) ================"
	@$(BIN)/python -m pytest $(2) -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "litlab: no tests collected for $(1)"; rc=0; fi; exit $$rc
endef

test: $(STAMP)
	@failed=""; \
	for pkg in shared attention alignment rl robotics cross; do \
		$(MAKE) --no-print-directory test-$$pkg || failed="$$failed $$pkg"; \
	done; \
	if [ -n "$$failed" ]; then echo "litlab: FAILED:$$failed"; exit 1; fi; \
	echo "litlab: all packages passed"

test-shared: $(STAMP)
	$(call run_pytest,shared,shared/tests)
test-attention: $(STAMP)
	$(call run_pytest,attention,packages/attention/tests)
test-alignment: $(STAMP)
	$(call run_pytest,alignment,packages/alignment/tests)
test-rl: $(STAMP)
	$(call run_pytest,rl,packages/rl/tests)
test-robotics: $(STAMP)
	$(call run_pytest,robotics,packages/robotics/tests)
test-cross: $(STAMP)
	$(call run_pytest,cross,tests)

lint: $(STAMP)
	$(BIN)/ruff check .
