# The two commands a newcomer needs: `make run` (the app) and `make test` (the whole suite).
# Both create .venv with the pinned requirements on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test fuzz lint format bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/python -m ops.devrun

# Test files run in TEST_WORKERS processes (pytest-xdist), each file whole in one of them:
# the drills, the browser walks and the worker tests run beside the rest instead of after
# it. Each process has its own test database, Celery queue and cache prefix
# (tests/settings.py). `make test TEST_WORKERS=0` runs them in this process.
TEST_WORKERS ?= 2

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# The import contracts in pyproject.toml (README, "Architecture").
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The API under schemathesis with many random examples per operation (`make test` runs the
# same test with 10 fixed ones). README, "Proving it: drills and benchmarks", has the figures.
FUZZ_EXAMPLES ?= 100
fuzz: $(VENV)/.dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/python -m pytest tests/api/test_fuzz.py -q $(PYTEST_ARGS)

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/*.sqlite3* var/redis staticfiles

# Benchmarks (bench/README.md): real PostgreSQL and Redis on 127.0.0.1, in the bench's own
# database and Redis db (BENCH_DATABASE_URL, BENCH_REDIS_URL). One table, then one JSON line.
$(VENV)/.bench: requirements.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r bench/requirements.txt
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.agency

bench-quick: $(VENV)/.bench
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.agency --quick

# Reliability drills (drills/README.md): real worker/beat/Redis/PostgreSQL processes, faults
# injected, recovery measured. `make drills` is the full run (~15 min, 500 slots);
# DRILLS_ARGS="--quick" is the subset `make test` runs, "--only 2,4" picks scenarios.
.PHONY: drills
drills: $(VENV)/.dev
	$(BIN)/python -m drills $(DRILLS_ARGS)
