# The two commands a new user needs: `make demo` and `make test`. Both set up first (idempotent).
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test test-slow test-all bench clean-cache

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/graft demo --overwrite  # a second run replaces the demo folder graft wrote

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-all: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-cache:
	rm -rf $${GRAFT_CACHE:-$$HOME/.cache/graft}
