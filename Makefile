# evalkit — every target installs what it needs into .venv on first use.
#   make eval TASK=kmmlu_pro [MODEL=…] [RUNNER=…] [MODE=reasoning|non-reasoning] [LIMIT=…] [N=…]
#             [MAX_NEW_TOKENS=…] [DATA=sample|hub|/local/copy] [SEED=…] [RUN_ID=…]
#   make test        the test suite (what CI runs, with make lint)
#   make lint        ruff + mypy
#   make check-data  real-data and long checks (pytest -m slow), not part of make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.evalkit-installed

TASK   ?= kmmlu_pro
RUNNER ?= torch-int4
MODE   ?= non-reasoning

.PHONY: help setup eval test lint list check-data clean
.DEFAULT_GOAL := help

help:
	@sed -n '1,6p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@echo "setting up $(VENV) (log: $(VENV)/install.log)"
	$(PYTHON) -m venv $(VENV)
	@# constraints.txt keeps torch on the local CPU build (no multi-GB CUDA download)
	@( $(BIN)/pip install --upgrade pip && $(BIN)/pip install -c constraints.txt -e '.[dev]' ) \
	  > $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

setup: $(STAMP)

eval: setup
	$(BIN)/evalkit run $(TASK) --runner $(RUNNER) --mode $(MODE) \
	  $(if $(MODEL),--model "$(MODEL)") $(if $(LIMIT),--limit $(LIMIT)) $(if $(N),--n $(N)) \
	  $(if $(MAX_NEW_TOKENS),--max-new-tokens $(MAX_NEW_TOKENS)) $(if $(DATA),--data "$(DATA)") \
	  $(if $(SEED),--seed $(SEED)) $(if $(RUN_ID),--run-id $(RUN_ID))

list: setup
	$(BIN)/evalkit list

test: setup
	$(BIN)/pytest -q

# Real-data and long checks (pytest -m slow): run before resolving an issue, not in `make test`.
check-data: setup
	$(BIN)/pytest -q -m slow

lint: setup
	$(BIN)/ruff check evalkit tests
	$(BIN)/mypy evalkit

clean:
	rm -rf $(VENV) results/runs .pytest_cache .mypy_cache .ruff_cache
