"""What each `hydrawatch` command runs: the matching Prefect flow, and a short report on the terminal.

A command and a scheduled run execute the same flow (`flows.pipeline`). Progress lines go to the
terminal through `flows.runtime.set_reporter`; Prefect's own console logging is kept at CRITICAL
for the command line (its run logs still reach the Prefect API and UI), so an expected failure
ends with the CLI's single `hydrawatch: <reason>` line.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydrawatch.settings import Settings


def quiet_prefect() -> None:
    """Keep Prefect's console handler quiet unless the operator asked otherwise (before import)."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")


def console():
    from rich.console import Console

    return Console(highlight=False)


@contextmanager
def _reporting() -> Iterator[Any]:
    from flows.runtime import set_reporter

    out = console()
    set_reporter(lambda msg: out.print(f"[dim]·[/dim] {msg}"))
    try:
        yield out
    finally:
        set_reporter(None)


def _pipeline():
    quiet_prefect()
    from flows import pipeline

    return pipeline


def print_fields(out, title: str, result: Any) -> None:
    from rich.table import Table

    from flows.summary import _fmt, as_fields

    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in as_fields(result).items():
        table.add_row(key, _fmt(value))
    out.print(table)


def simulate(settings: Settings, start: dt.date, days: int, scale: str, seed: int):
    with _reporting() as out:
        result = _pipeline().simulate_flow(start, days, scale, seed, settings=settings)
        print_fields(out, f"simulated {days} days from {start} ({scale})", result)
        return result


def daily(settings: Settings, run_date: dt.date):
    with _reporting() as out:
        result = _pipeline().daily_flow(run_date=run_date, settings=settings)
        print_day(out, result)
        return result


def print_day(out, result) -> None:
    from rich.table import Table

    from flows.summary import _fmt, headline

    table = Table(title=f"day {result.day}", show_header=False, title_justify="left")
    for key, value in headline(result.results).items():
        table.add_row(key, _fmt(value))
    if result.skipped:
        table.add_row("skipped (done, same inputs)", ", ".join(result.skipped))
    table.add_row("Prefect flow run", result.flow_run_id)
    table.add_row("Prefect artifact", result.artifact_key)
    out.print(table)


def backfill(settings: Settings, start: dt.date, end: dt.date, steps):
    with _reporting() as out:
        result = _pipeline().backfill_flow(start, end, list(steps), settings=settings)
        for day in result.days:
            ran = ", ".join(day.ran) or "-"
            skipped = f" (skipped: {', '.join(day.skipped)})" if day.skipped else ""
            out.print(f"{day.day}: ran {ran}{skipped}")
        return result


def retrain(settings: Settings, as_of: dt.date):
    with _reporting() as out:
        result = _pipeline().retrain_flow(as_of, settings=settings)
        print_fields(out, f"retrained as of {as_of}", result)
        return result


def promote(settings: Settings, version, force: bool, reason):
    with _reporting() as out:
        result = _pipeline().promote_flow(version, force, reason, settings=settings)
        print_fields(out, "promote", result)
        return result


def rollback(settings: Settings):
    with _reporting() as out:
        result = _pipeline().rollback_flow(settings=settings)
        print_fields(out, "rollback", result)
        return result


def demo(settings: Settings, start: dt.date | None = None, days: int | None = None, seed=None):
    quiet_prefect()
    from flows.demo import run_demo

    return run_demo(settings, console(), start=start, days=days, seed=seed)


def serve(settings: Settings):
    quiet_prefect()
    from flows.serve import serve as serve_deployments

    out = console()
    where = settings.prefect_api_url or "Prefect's embedded mode (set PREFECT_API_URL for a server)"
    out.print(
        f"serving the hydrawatch deployments against {where}; daily cron {settings.daily_cron} UTC"
    )
    serve_deployments(settings)


def print_evaluation(out, result) -> None:
    from rich.table import Table

    from flows.summary import _cell

    window = f"{result.start}..{result.as_of}" if result.start else f"up to {result.as_of}"
    table = Table(title=f"evaluation against the truth, {window} (model {result.model_version})")
    for col in result.report.columns:
        table.add_column(col, justify="left" if col in ("group", "name") else "right")
    for row in result.report.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    overall = ", ".join(f"{k} {_cell(v)}" for k, v in result.overall.items())
    out.print(f"overall: {overall}")
    out.print(f"MLflow run: {result.run_id}")


def evaluate(settings: Settings, as_of: dt.date, start: dt.date | None, version: str | None):
    with _reporting() as out:
        result = _pipeline().evaluate_flow(as_of, start, version, settings=settings)
        print_evaluation(out, result)
        return result
