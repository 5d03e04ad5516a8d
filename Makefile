# The two commands of the README. Both run the idempotent set-up first (infra/setup.sh).
# Test tiers (README, Development): `make test` runs the default tier (everything not marked
# `slow`), `make test-slow` the slow tier; CI (.ci/run) runs both.
.PHONY: setup demo test test-slow lint format bench

setup:
	@bash infra/setup.sh

demo: setup
	.venv/bin/hydrawatch demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	.venv/bin/python -m pytest -m slow $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
