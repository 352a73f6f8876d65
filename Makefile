# The one front door. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

FUNCTION_PORT ?= 8080
RECORDER_PORT ?= 8000
export FUNCTION_PORT RECORDER_PORT

.DEFAULT_GOAL := help
.PHONY: help venv run demo call test lint bench clean

help:
	@echo "make demo    start the local stack, place one simulated Vonage call, show the recording"
	@echo "make run     run the answer function (:$(FUNCTION_PORT)) and the recorder (:$(RECORDER_PORT)) until Ctrl-C"
	@echo "make call    place a simulated call against 'make run' (ARGS='--help' for options)"
	@echo "make test    run every test (unit, integration with real processes, infra checks)"
	@echo "make lint    ruff and mypy"
	@echo "make bench   concurrent calls against one recorder worker; prints CPU, lag, memory, store time"

# A virtualenv from the pinned requirements, rebuilt when they change.
$(STAMP): requirements-dev.txt recorder/requirements.txt functions/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

run: venv
	$(BIN)/python devstack.py run

demo: venv
	$(BIN)/python devstack.py demo

call: venv
	$(BIN)/python -m callsim $(ARGS)

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) recordings .pytest_cache .mypy_cache .ruff_cache
