# Every target installs what it needs first: a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install dev test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "offhours needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## make dev: Temporal dev server + worker + API on :8000 + SQLite + local mail catcher, all under .offhours/
dev: install
	$(BIN)/offhours dev

## make test: lint, type-check and the whole test suite on real Temporal, SMTP and SQLite
test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_bulk_invite.py

clean:
	rm -rf $(VENV) .offhours .pytest_cache .mypy_cache .ruff_cache
