# The two commands a newcomer runs: `make serve` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install prepare serve test lint bench clean

install:
	@bash scripts/install.sh
	@bash scripts/ensure_package.sh libjemalloc2 lib:libjemalloc.so.2

prepare: install
	@$(PY) -m taosr1.cli prepare

serve: prepare
	@$(PY) -m taosr1.cli serve

test: install
	@$(PY) -m ruff check .
	@bash scripts/ensure_prometheus.sh
	@$(PY) -m pytest -q

lint: install
	@$(PY) -m ruff check .

bench: prepare
	@$(PY) bench/suite.py

clean:
	rm -rf var/ .pytest_cache .ruff_cache
