# make demo | make test | make test-full | make bench — each creates .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.l1t-installed

.PHONY: demo test test-full bench install clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip<26"
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m firmware.verilator_wrapper --install
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/l1t demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-full: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis demo-out
