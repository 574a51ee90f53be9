# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench soak clean

# Installing is quiet: pip's output goes to $(VENV)/install.log, shown only when it fails.
PIP := $(BIN)/python -m pip --disable-pip-version-check --no-input
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tipbot into $(VENV) (log: $(VENV)/install.log) ..."
	@{ $(PIP) install --quiet --upgrade pip && $(PIP) install --quiet -e '.[dev]'; } >$(VENV)/install.log 2>&1 \
		|| { tail -n 30 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/tipbot serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q -m "not soak"

# The long load and fault run: four servers on PostgreSQL (TIPBOT_TEST_DATABASE_URL must be set).
soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -m soak tests/test_load.py

bench: $(STAMP)
	$(BIN)/python bench/webchat.py
	$(BIN)/python bench/thai_eval.py
	$(BIN)/python bench/thai_speed.py
	$(BIN)/python bench/broadcast.py --quick
	$(BIN)/python bench/flood.py
	$(BIN)/python bench/evidence.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
