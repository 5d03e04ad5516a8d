"""`hydrawatch demo`: the whole pipeline on a small simulated window, with visible progress.

Simulates `days` days (tiny scale), backfills ingest and features over all but the last day,
retrains as of the day before the last, promotes the challenger through the gate, runs the last
day end to end, evaluates that day against the simulator's truth (per campaign and legitimate
population), then prints the top suspicious accounts with their reasons and where to look next.
Everything runs as Prefect flows under one parent flow, `hydrawatch-demo`, with one `Runtime`
(one Spark session) for the whole story.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cli.render import print_evaluation
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.storage import tables

DEMO_START = dt.date(2026, 2, 1)
DEMO_DAYS = 14
DEMO_SEED = 7
TOP_N = 10


@dataclass
class DemoResult:
    start: dt.date
    last_day: dt.date
    steps_done: list[str] = field(default_factory=list)
    retrain: Any = None
    promote: Any = None
    day: Any = None
    evaluation: Any = None
    top: list[dict] = field(default_factory=list)
    flow_run_id: str = ""


def top_suspicious(rt: Runtime, day: dt.date, n: int = TOP_N) -> list[dict]:
    """The `n` highest-scored flagged accounts of `day` (a bounded sample for the terminal)."""
    from pyspark.sql import functions as F

    df = rt.warehouse.day(tables.GOLD_SUSPICIOUS_ACCOUNTS, day)
    if df is None:
        return []
    wanted = ["account_id", "score", "risk_tier", "cluster_id", "cluster_size", "reasons"]
    cols = [c for c in wanted if c in df.columns]
    rows = df.orderBy(F.col("score").desc(), F.col("account_id")).select(*cols).limit(n).collect()
    return [r.asDict(recursive=True) for r in rows]


def _is_champion(rt: Runtime, version: str) -> bool:
    from models import champion

    held = champion.resolve(rt, champion.CHAMPION)
    return held is not None and held.version == str(version)


def _reasons(reasons) -> str:
    if not reasons:
        return ""
    parts = []
    for r in reasons[:3]:
        value = r.get("value")
        value = f"{value:.3g}" if isinstance(value, float) else value
        parts.append(f"{r.get('feature')}={value}")
    return ", ".join(parts)


def run_demo(
    rt: Runtime,
    out,
    start: dt.date | None = None,
    days: int | None = None,
    seed: int | None = None,
) -> DemoResult:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from flows import pipeline

    settings = rt.settings
    start = start or DEMO_START
    days = days or DEMO_DAYS
    seed = DEMO_SEED if seed is None else seed
    last = start + dt.timedelta(days=days - 1)
    result = DemoResult(start, last)
    out.rule(f"Hydrawatch demo: {days} simulated days from {start}, scored on {last}")

    steps = [
        ("simulate", f"simulate {days} days (tiny scale, seed {seed})"),
        ("backfill", f"backfill ingest + features {start}..{last - dt.timedelta(days=1)}"),
        ("retrain", f"retrain as of {last - dt.timedelta(days=1)}"),
        ("promote", "promote the challenger through the gate"),
        ("daily", f"run day {last}: ingest, features, score, publish"),
        ("evaluate", f"evaluate {last} against the simulator's truth"),
    ]
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=out,
    )

    @pipeline.flow(name="hydrawatch-demo")
    def demo_flow() -> DemoResult:
        result.flow_run_id = pipeline._flow_run_id()
        with progress:
            overall = progress.add_task("demo", total=len(steps))
            current = {"task": None}

            def report(msg: str) -> None:
                progress.console.print(f"[dim]·[/dim] {msg}")
                if current["task"] is not None and ": done" in msg:
                    progress.advance(current["task"])

            run = rt.with_reporter(report)
            for name, label in steps:
                total = days if name == "backfill" else None
                current["task"] = progress.add_task(label, total=total)
                if name == "simulate":
                    sim = pipeline.simulate_flow(start, days, "tiny", seed, rt=run)
                    progress.console.print(f"[dim]·[/dim] simulated: {sim}")
                elif name == "backfill":
                    progress.update(current["task"], total=(days - 1) * 2)
                    pipeline.backfill_flow(
                        start,
                        last - dt.timedelta(days=1),
                        ["ingest", "features"],
                        rt=run,
                    )
                elif name == "retrain":
                    result.retrain = pipeline.retrain_flow(last - dt.timedelta(days=1), rt=run)
                elif name == "promote":
                    if result.retrain.reused and _is_champion(run, result.retrain.version):
                        # A re-run of the demo: retrain found its earlier version (same
                        # inputs), which already is the champion; nothing to promote.
                        progress.console.print(
                            f"[dim]·[/dim] v{result.retrain.version} is already the champion"
                        )
                    else:
                        result.promote = pipeline.promote_flow(rt=run)
                elif name == "daily":
                    progress.update(current["task"], total=4)
                    result.day = pipeline.daily_flow(run_date=last, rt=run)
                elif name == "evaluate":
                    result.evaluation = pipeline.evaluate_flow(last, last, rt=run)
                progress.update(current["task"], completed=total or 1, total=total or 1)
                progress.advance(overall)
                result.steps_done.append(name)
        result.top = top_suspicious(run, last)
        return result

    demo_flow()
    _print_report(out, settings, result, Table)
    return result


def _print_report(out, settings: Settings, result: DemoResult, Table) -> None:
    from flows.summary import as_fields

    table = Table(title=f"Top suspicious accounts on {result.last_day}", title_justify="left")
    for col in ("account", "score", "tier", "cluster (size)", "top reasons"):
        table.add_column(col)
    for row in result.top:
        cluster = row.get("cluster_id")
        size = row.get("cluster_size")
        table.add_row(
            str(row.get("account_id")),
            f"{row.get('score', 0):.3f}",
            str(row.get("risk_tier", "")),
            f"{cluster} ({size})" if cluster else "-",
            _reasons(row.get("reasons")),
        )
    if not result.top:
        out.print(f"No account was flagged on {result.last_day}.")
    else:
        out.print(table)

    if result.evaluation is not None:
        print_evaluation(out, result.evaluation)

    retrain = as_fields(result.retrain)
    day = result.day
    where = Table(title="Where to look next", show_header=False, title_justify="left")
    where.add_row("scores", tables.GOLD_ACCOUNT_SCORES.location(settings))
    where.add_row("suspicious accounts", tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    where.add_row(
        "export", f"{settings.exports_uri}/suspicious_accounts/date={result.last_day.isoformat()}"
    )
    where.add_row("drift", tables.DRIFT.location(settings))
    where.add_row(
        "MLflow",
        f"{settings.tracking_uri} · model {settings.model_name}"
        + (f" · run {retrain.get('run_id')}" if retrain.get("run_id") else "")
        + (f" · version {retrain.get('version')}" if retrain.get("version") else ""),
    )
    where.add_row(
        "MLflow UI", f"mlflow ui --host 127.0.0.1 --backend-store-uri {settings.tracking_uri}"
    )
    if day is not None:
        where.add_row("Prefect day run", f"{day.flow_run_id} · artifact {day.artifact_key}")
    where.add_row("Prefect demo run", result.flow_run_id)
    where.add_row("Prefect UI", "prefect server start --host 127.0.0.1 (see docs/operations.md)")
    out.print(where)
