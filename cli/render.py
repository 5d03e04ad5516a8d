"""What the commands print on the terminal (rich tables of the flows' typed results)."""

from __future__ import annotations

from typing import Any

from flows.summary import as_fields, cell, fmt, headline


def console():
    from rich.console import Console

    return Console(highlight=False)


def print_fields(out, title: str, result: Any) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in as_fields(result).items():
        table.add_row(key, fmt(value))
    out.print(table)


def print_day(out, result) -> None:
    from rich.table import Table

    table = Table(title=f"day {result.day}", show_header=False, title_justify="left")
    for key, value in headline(result.results).items():
        table.add_row(key, fmt(value))
    if result.skipped:
        table.add_row("skipped (done, same inputs)", ", ".join(result.skipped))
    table.add_row("Prefect flow run", result.flow_run_id)
    table.add_row("Prefect artifact", result.artifact_key)
    out.print(table)


def print_frame(out, frame, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(col, justify="right" if frame[col].dtype.kind in "fiu" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell(v) for v in row))
    out.print(table)


def print_holdout(out, result) -> None:
    print_frame(
        out,
        result.campaigns,
        f"leave-one-campaign-out: trained as of {result.as_of}, scored to {result.end}",
    )
    out.print(f"MLflow run: {result.run_id}")


def print_evaluation(out, result) -> None:
    from rich.table import Table

    window = f"{result.start}..{result.as_of}" if result.start else f"up to {result.as_of}"
    table = Table(title=f"evaluation against the truth, {window} (model {result.model_version})")
    for col in result.report.columns:
        table.add_column(col, justify="left" if col in ("group", "name") else "right")
    for row in result.report.itertuples(index=False):
        table.add_row(*(cell(v) for v in row))
    out.print(table)
    overall = ", ".join(f"{k} {cell(v)}" for k, v in result.overall.items())
    out.print(f"overall: {overall}")
    out.print(f"MLflow run: {result.run_id}")
