# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench soak clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tipbot serve

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
