# make demo | make test | make test-full | make bench — each creates .venv when missing
# (test-full also installs headless Chromium for the report's browser test).
# Dependencies are named in setup.cfg; their pins live in constraints.txt.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.l1t-installed

.PHONY: demo test test-full bench install clean muon-lut browser

install: $(STAMP)

$(STAMP): constraints.txt setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
	  { echo "l1t needs Python 3.11 (PYTHON=$(PYTHON) is not); set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip<26" "setuptools>=64" wheel
	$(BIN)/python -m pip install -q -c constraints.txt --no-build-isolation -e ".[test]"
	$(BIN)/python -m l1t.firmware.verilator_wrapper --install
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/l1t demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-full: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "slow or not slow"

# Headless Chromium for the report's browser test (Debian's package). Where apt-get is missing
# or not allowed, this says so and the test skips with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; }; } || \
	  echo "chromium not installed (no apt-get, or not allowed here): the browser test is skipped"

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The muon pT lookup table shipped for the muon system (datasets/muon/data/): a 300 000-muon
# gun production at pileup 0, then the table and its threshold scale trained on it (~15 min).
muon-lut: $(STAMP)
	$(BIN)/l1t generate muon_gun --events 300000 --chunk-size 10000 --seed 13 --out build/muon-gun --quiet
	$(BIN)/l1t train muon-lut --data build/muon-gun --out build/muon-lut
	mkdir -p datasets/muon/data && cp build/muon-lut/lut.npz datasets/muon/data/lut-stations-v1.npz

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis demo-out
