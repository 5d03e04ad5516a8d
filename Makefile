# The two commands of the README. Both run the idempotent set-up first (infra/setup.sh).
# Test tiers (README, Development): `make test` runs the default tier (everything not marked
# `slow`), `make test-slow` the slow tier; CI (.ci/run) runs both.
.PHONY: setup demo test test-slow lint format bench

# Two workers, a test file each at a time (module fixtures stay in one process): the suite spends
# much of its time waiting on JVMs, servers and child processes (bench/README.md, "The test suite").
XDIST ?= -n 2 --dist loadfile

setup:
	@bash infra/setup.sh

demo: setup
	.venv/bin/hydrawatch demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

test-slow: setup
	.venv/bin/python -m pytest -m slow $(XDIST) $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
