"""What each `hydrawatch` command runs: the matching Prefect flow, and a short report on the terminal.

A command and a scheduled run execute the same flow (`flows.pipeline`). Each command builds the
run's `Runtime` here, at the edge, with a reporter that prints progress lines on the terminal;
Prefect's own console logging is kept at CRITICAL for the command line (`cli.main`), so an
expected failure ends with the CLI's single `hydrawatch: <reason>` line.
"""

from __future__ import annotations

import datetime as dt

from cli.render import console, print_day, print_evaluation, print_fields, print_holdout
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings


def _runtime(settings: Settings, out) -> Runtime:
    return Runtime(settings, reporter=lambda msg: out.print(f"[dim]·[/dim] {msg}"))


def simulate(settings: Settings, start: dt.date, days: int, scale: str, seed: int):
    from flows import pipeline

    out = console()
    result = pipeline.simulate_flow(start, days, scale, seed, rt=_runtime(settings, out))
    print_fields(out, f"simulated {days} days from {start} ({scale})", result)
    return result


def daily(settings: Settings, run_date: dt.date, wait: bool = False):
    from flows import pipeline

    out = console()
    result = pipeline.daily_flow(
        run_date=run_date, rt=_runtime(settings, out), wait_for_delivery=wait
    )
    print_day(out, result)
    return result


def operator() -> str:
    """Who runs this command, for the records a person's decision leaves."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def publish(settings: Settings, day: dt.date, accept_jump_reason: str | None):
    from flows import pipeline
    from jobs.publish import Release

    out = console()
    release = Release(operator(), accept_jump_reason) if accept_jump_reason else None
    result = pipeline.daily_flow(
        run_date=day, steps=["publish"], rt=_runtime(settings, out), release=release
    )
    print_day(out, result)
    return result


def backfill(settings: Settings, start: dt.date, end: dt.date, steps, force: bool = False):
    from flows import pipeline

    out = console()
    result = pipeline.backfill_flow(
        start, end, list(steps), rt=_runtime(settings, out), force=force
    )
    for day in result.days:
        ran = ", ".join(day.ran) or "-"
        skipped = f" (skipped: {', '.join(day.skipped)})" if day.skipped else ""
        out.print(f"{day.day}: ran {ran}{skipped}")
    return result


def retrain(settings: Settings, as_of: dt.date):
    from flows import pipeline

    out = console()
    result = pipeline.retrain_flow(as_of, rt=_runtime(settings, out))
    print_fields(out, f"retrained as of {as_of}", result)
    return result


def promote(
    settings: Settings,
    version,
    force: bool,
    reason,
    *,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    period_days: int | None = None,
):
    from flows import pipeline

    out = console()
    result = pipeline.promote_flow(
        version,
        force,
        reason,
        rt=_runtime(settings, out),
        dry_run=dry_run,
        as_of=as_of,
        period_days=period_days,
    )
    print_fields(out, "promote (dry run: nothing moved)" if dry_run else "promote", result)
    return result


def rollback(settings: Settings):
    from flows import pipeline

    out = console()
    result = pipeline.rollback_flow(rt=_runtime(settings, out))
    print_fields(out, "rollback", result)
    return result


def evaluate(settings: Settings, as_of: dt.date, start: dt.date | None, version: str | None):
    from flows import pipeline

    out = console()
    result = pipeline.evaluate_flow(as_of, start, version, rt=_runtime(settings, out))
    print_evaluation(out, result)
    return result


def shadow(settings: Settings, start: dt.date, end: dt.date, version: str | None):
    from rich.table import Table

    from flows import pipeline

    out = console()
    result = pipeline.shadow_flow(start, end, version, rt=_runtime(settings, out))
    table = Table(
        title=f"shadow v{result.model_version} (champion v{result.champion_version or '-'}): "
        "nothing published",
        title_justify="left",
    )
    for column in ("day", "scored", "flagged", "by score", "by cluster"):
        table.add_column(column)
    for d in result.days:
        table.add_row(
            str(d.score_date),
            str(d.accounts_scored),
            str(d.flagged),
            str(d.flagged_by_score),
            str(d.flagged_by_cluster),
        )
    out.print(table)
    out.print(f"tables: {result.scores_table}, {result.details_table}")
    return result


def compare(settings: Settings, start, end, version_a, version_b, labels_as_of):
    from rich.markdown import Markdown

    from flows import pipeline
    from jobs.compare import report_markdown

    out = console()
    result = pipeline.compare_flow(
        start, end, version_a, version_b, labels_as_of, rt=_runtime(settings, out)
    )
    out.print(Markdown(report_markdown(result)))
    out.print(f"MLflow run {result.run_id} (experiment hydrawatch-compare): plots and the report")
    return result


def holdout(settings: Settings, as_of: dt.date, end, campaigns: list[str], seed):
    from flows import pipeline

    out = console()
    result = pipeline.holdout_flow(as_of, end, campaigns, seed, rt=_runtime(settings, out))
    print_holdout(out, result)
    return result


def demo(settings: Settings, start: dt.date | None = None, days: int | None = None, seed=None):
    from cli.demo import run_demo

    return run_demo(Runtime(settings), console(), start=start, days=days, seed=seed)


def serve(settings: Settings):
    """Serve the deployments on a Prefect server; refuse in one line without one.

    Prefect's embedded (ephemeral) server runs no scheduler service: served against it, the cron
    would never create a run. So `serve` needs PREFECT_API_URL.
    """
    from flows.serve import serve as serve_deployments
    from hydrawatch.errors import UsageError
    from hydrawatch.webhook import redact_url

    if not settings.prefect_api_url:
        raise UsageError(
            "hydrawatch serve needs a Prefect server, whose scheduler creates the cron's runs "
            "(the embedded mode has none): start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    api = redact_url(settings.prefect_api_url)
    ui = api.removesuffix("/").removesuffix("/api")
    out = console()
    out.print(
        f"serving the hydrawatch deployments on {api} (UI: {ui}); daily cron "
        f"{settings.daily_cron} UTC processes the day {settings.daily_lag_days} day(s) before"
    )
    serve_deployments(settings)


# show and explain are read-only lookups a person runs at the terminal: they call their job
# directly, without a Prefect flow run (there is nothing to orchestrate, retry or record).


def show(settings: Settings, day: dt.date, limit: int, offset: int):
    from rich.table import Table

    from jobs.lookup import run_show

    out = console()
    result = run_show(Runtime(settings), day, limit, offset)
    last = result.offset + len(result.rows)
    table = Table(
        title=f"published {day}: {result.total} accounts (showing {result.offset + 1}-{last})",
        title_justify="left",
    )
    for column in ("account", "org", "score", "tier", "by", "cluster", "reasons"):
        table.add_column(column, overflow="fold")
    for r in result.rows:
        table.add_row(
            r["account_id"],
            r["org_id"] or "-",
            f"{r['score']:.3f}",
            r["risk_tier"],
            r["flagged_by"] or "-",
            r["cluster"],
            r["reasons"],
        )
    out.print(table)
    tiers = ", ".join(f"{k} {v}" for k, v in sorted(result.tiers.items()))
    out.print(f"tiers: {tiers or '-'}")
    for kind, cluster_id, n in result.clusters:
        out.print(f"cluster {kind} {cluster_id}: {n} flagged")
    if last < result.total:
        out.print(f"next page: --offset {last}")
    return result


def explain(settings: Settings, account: str, day: dt.date):
    from jobs.lookup import run_explain

    out = console()
    e = run_explain(Runtime(settings), account, day)
    verdict = f"FLAGGED by {e.flagged_by}" if e.flagged else "not flagged"
    threshold = f"{e.threshold:.4f}" if e.threshold is not None else "-"
    out.print(
        f"[bold]{e.account_id}[/bold] on {e.day}: score {e.score:.4f} (threshold {threshold}, "
        f"model v{e.model_version}): {verdict}",
        soft_wrap=True,
    )
    if e.rollup_reason:
        out.print(f"  {e.rollup_reason}")
    out.print("what pushed the score up:" if e.contributions else "no feature pushed it up")
    for c in e.contributions:
        out.print(f"  {c.feature} = {c.value:.4g} (+{c.contribution:.3f}): {c.meaning}")
    for cl in e.clusters:
        members = ", ".join(f"{a}{' (flagged)' if f else ''}" for a, f in cl.shown)
        more = f", and {cl.members - len(cl.shown)} more" if cl.members > len(cl.shown) else ""
        out.print(
            f"{cl.kind} cluster {cl.cluster_id}: {cl.members} accounts, {cl.flagged} flagged "
            f"that day: {members}{more}"
        )
    days = ", ".join(str(d) for d in e.flagged_days)
    out.print(f"flagged on: {days or 'no day so far'}")
    return e


def maintain(settings: Settings, recent_days: int):
    from rich.table import Table

    from flows import pipeline

    out = console()
    result = pipeline.maintain_flow(recent_days, rt=_runtime(settings, out))
    table = Table(title="maintain", title_justify="left")
    for column in ("table", "files", "MB", "retention (h)", "pinned versions"):
        table.add_column(column)
    for t in result.tables:
        table.add_row(
            t.table,
            f"{t.files_before} -> {t.files_after}",
            f"{t.bytes_before / 1e6:.2f} -> {t.bytes_after / 1e6:.2f}",
            str(t.retention_hours),
            ", ".join(f"v{v}" for v in t.pinned_versions) or "-",
        )
    out.print(table)
    return result


def report(settings: Settings, day: dt.date):
    from flows import pipeline

    out = console()
    result = pipeline.report_flow(day, rt=_runtime(settings, out))
    out.print(f"report of {day}: {result.path}")
    out.print(f"sections with data: {', '.join(result.sections) or 'none'}")
    if result.mlflow_run_id:
        out.print(f"also in MLflow run {result.mlflow_run_id} (reports/{day}/report.html)")
    return result
