# Two commands on a fresh Debian machine: `make demo` runs the whole system here, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# Three workers on CI's two cores: much of a test is waiting (brokers, timeouts, other processes), so a third
# worker keeps the cores busy (measured on two cores: 800 s with two workers, 613 s with three, 90 % busy; a
# fourth did not pay later, with more tests: 938 s at 98 % busy against 832 s with three);
# worksteal, so the long provisioning tests do not end the run on one worker. Long soak runs and benchmarks
# are marked `slow` and run on demand.
PYTEST_ARGS ?= -n 3 --dist worksteal -q

.PHONY: install demo test test-slow check lint bench clean

$(STAMP): pyproject.toml
	@scripts/system-deps.sh test
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[edge,hub,dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## .venv with every extra

demo: $(STAMP)  ## broker, hub and three terminals with simulated devices, on loopback
	$(BIN)/shegong demo

test: $(STAMP)  ## every test (PostgreSQL tests skip with a reason where no server answers)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)  ## soak runs and benchmarks
	$(BIN)/python -m pytest -m slow -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

check: lint test  ## what CI runs, locally

bench: $(STAMP)  ## the benchmark figures quoted in README.md
	$(BIN)/shegong bench sync --cases 10000 --rtt-ms 0
	$(BIN)/shegong bench sync --cases 10000 --rtt-ms 50

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
