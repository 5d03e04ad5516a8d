# The two commands of the README. Both run the idempotent set-up first (infra/setup.sh).
.PHONY: setup demo test lint format bench

setup:
	@bash infra/setup.sh

demo: setup
	.venv/bin/hydrawatch demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
