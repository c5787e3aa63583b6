# Ladeflyt: `make run` starts everything with demo data; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench contracts clean

# pip shows what it fetches and builds: the first install takes a few minutes.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing Ladeflyt with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "==> installed: run commands as $(BIN)/ladeflyt, or \`source $(BIN)/activate\` first"

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ladeflyt db upgrade
	LADEFLYT_LOG_FORMAT=$${LADEFLYT_LOG_FORMAT:-text} $(BIN)/ladeflyt serve --demo --simulate 10

# Spread over the cores, one test module per worker at a time (module-scoped servers and
# browsers stay shared); the ten slowest tests are listed at the end.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=10 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

contracts: $(STAMP)
	$(BIN)/python -m ladeflyt.contracts --write

bench: $(STAMP)
	$(BIN)/python -m bench.ocpp_gateway

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
