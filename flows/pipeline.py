"""The Prefect flows: a task wraps each job, a flow composes tasks, a parent flow composes flows.

- `daily_flow(run_date, steps)`: ingest -> features (`run_features` first recomputes the earlier
  days late data made dirty) ->
  score -> publish (-> drift when scored), under the day's lock (`hydrawatch.locks`), leaving a
  markdown artifact `hydrawatch-day-YYYY-MM-DD`. Without `run_date` (a scheduled run) the day is
  the flow run's scheduled start day (UTC).
- `backfill_flow(start, end, steps)`: `daily_flow` per day, in order. With progress in
  `meta/flow_progress` it continues where an earlier run stopped: it skips leading (day, step)
  pairs already done for the same inputs and runs everything from the first one that is not.
  A failing day stops the run with `BackfillStopped` naming the day.
- `retrain_flow`, `promote_flow`, `rollback_flow`, `evaluate_flow`, `simulate_flow`.

Retries: only the idempotent I/O steps (ingest, features, score, publish, drift) retry, and only
on unexpected errors; an expected failure (`HydrawatchError`: no landing data, a quality gate)
fails at once. Retrain registers a model version and promote moves an alias: never retried.

Tasks take the settings and dates only; the SparkSession comes from `flows.runtime.spark_for`,
so Prefect never hashes or serialises it (and `cache_policy=NONE`: nothing is cached).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from flows import progress, summary
from flows.runtime import active_spark, has_job, job, say, spark_for
from hydrawatch.errors import HydrawatchError
from hydrawatch.failpoints import failpoint
from hydrawatch.locks import day_lock
from hydrawatch.settings import Settings

STEPS = progress.STEPS


class BackfillStopped(HydrawatchError):
    """A day of a backfill failed; the days before it are done."""


def _transient_only(task, task_run, state) -> bool:
    """Retry unexpected errors (an I/O hiccup); an expected failure fails at once."""
    try:
        state.result()
    except HydrawatchError:
        return False
    except Exception:
        return True
    return True


IO_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 10,
    "retry_condition_fn": _transient_only,
    "cache_policy": NONE,
}


@task(name="ingest", task_run_name="ingest-{day}", **IO_RETRIES)
def ingest_task(settings: Settings, day: dt.date):
    return job("ingest", "run_ingest")(spark_for(settings), settings, day)


@task(name="features", task_run_name="features-{day}", **IO_RETRIES)
def features_task(settings: Settings, day: dt.date):
    # run_features recomputes the earlier days late deliveries made stale itself, first: those
    # days (at most max_late_days back) are written too, so their locks are held as well, and a
    # run of one of them (a backfill beside the daily run) cannot interleave with this one. Locks
    # are taken latest day first: a run only ever waits for days before all it holds, so two runs
    # never wait for each other.
    with contextlib.ExitStack() as held:
        for back in range(1, settings.max_late_days + 1):
            held.enter_context(day_lock(settings, day - dt.timedelta(days=back), say=say))
        result = job("features", "run_features")(spark_for(settings), settings, day)
    dirty = summary.lookup(result, "dirty_days")
    if dirty:
        say(f"{day} features: recomputed {', '.join(str(d) for d in dirty)} (late data arrived)")
    return result


@task(name="score", task_run_name="score-{day}", **IO_RETRIES)
def score_task(settings: Settings, day: dt.date):
    return job("score", "run_score")(spark_for(settings), settings, day)


@task(name="publish", task_run_name="publish-{day}", **IO_RETRIES)
def publish_task(settings: Settings, day: dt.date):
    return job("publish", "run_publish")(spark_for(settings), settings, day)


@task(name="drift", task_run_name="drift-{day}", **IO_RETRIES)
def drift_task(settings: Settings, day: dt.date):
    return job("drift", "run_drift")(spark_for(settings), settings, day)


@task(name="retrain", task_run_name="retrain-{as_of}", cache_policy=NONE)
def retrain_task(settings: Settings, as_of: dt.date):
    return job("retrain", "run_retrain")(spark_for(settings), settings, as_of)


@task(name="promote", cache_policy=NONE)
def promote_task(settings: Settings, version: str | None, force: bool, reason: str | None):
    # The gate reads the feature table: it reuses the process's session when there is one
    # (run_promote builds it only when the gate needs it: a refusal for a missing challenger
    # or a forced move starts no Spark).
    return job("promote", "run_promote")(
        settings, version, force, reason, spark=active_spark(settings)
    )


@task(name="rollback", cache_policy=NONE)
def rollback_task(settings: Settings):
    return job("promote", "run_rollback")(settings)


@task(name="evaluate", task_run_name="evaluate-{as_of}", cache_policy=NONE)
def evaluate_task(settings: Settings, as_of: dt.date, start: dt.date | None, version: str | None):
    return job("evaluate", "run_evaluate")(
        spark_for(settings), settings, as_of, start=start, version=version
    )


@task(name="simulate", cache_policy=NONE)
def simulate_task(settings: Settings, start: dt.date, days: int, scale: str, seed: int):
    return job("simulate", "run_simulate")(spark_for(settings), settings, start, days, scale, seed)


STEP_TASKS = {
    "ingest": ingest_task,
    "features": features_task,
    "score": score_task,
    "publish": publish_task,
}


def _ordered(steps) -> list[str]:
    steps = list(steps or STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise HydrawatchError(f"unknown step(s) {', '.join(unknown)}; choose from {STEPS}")
    return [s for s in STEPS if s in steps]


def scheduled_day() -> dt.date:
    """The UTC day a flow run was scheduled for (a deployment's run date)."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or ctx.flow_run.expected_start_time is None:
        raise HydrawatchError("no run date: pass one (hydrawatch daily --date YYYY-MM-DD)")
    return ctx.flow_run.expected_start_time.astimezone(dt.UTC).date()


def _flow_run_id() -> str:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else ""


def _daily_name() -> str:
    from prefect.runtime import flow_run

    day = flow_run.parameters.get("run_date")
    return f"daily-{day or flow_run.scheduled_start_time.date()}"


@dataclass
class DayResult:
    day: dt.date
    ran: list[str]
    skipped: list[str]
    results: dict[str, Any]
    lock: str
    artifact_key: str
    flow_run_id: str


@flow(name="hydrawatch-daily", flow_run_name=_daily_name)
def daily_flow(
    run_date: dt.date | None = None,
    steps: list[str] | None = None,
    resume: bool = False,
    settings: Settings | None = None,
) -> DayResult:
    """One day: ingest, features, score, publish (the steps asked for), then drift."""
    settings = settings or Settings()
    day = run_date or scheduled_day()
    wanted = _ordered(steps)
    spark = spark_for(settings)
    results: dict[str, Any] = {}
    skipped: list[str] = []
    done: list[tuple[str, str]] = []
    extra: dict[str, Any] = {}
    key = summary.artifact_key("day", day)
    with day_lock(settings, day, say=say) as lock:
        say(f"{day}: holding {lock}")
        error: str | None = None
        first_ran: str | None = None
        try:
            landing_fp = progress.landing_fingerprint(spark, settings, day)
            champion = (
                progress.champion_version(settings) if progress.NEEDS_MODEL & set(wanted) else None
            )
            recorded = progress.completed(spark, settings) if resume else {}
            for step in wanted:
                fp = progress.step_fingerprint(landing_fp, step, champion)
                if first_ran is None and recorded.get((day, step)) == fp:
                    skipped.append(step)
                    say(f"{day} {step}: skipped, already done for the same inputs")
                    continue
                # From the first step that runs, everything after it runs too.
                first_ran = first_ran or step
                say(f"{day} {step}: running")
                results[step] = STEP_TASKS[step](settings, day)
                done.append((step, fp))
                say(f"{day} {step}: done")
                failpoint("daily.after_step")
            if "score" in results and has_job("drift", "run_drift"):
                extra.update(_monitor_drift(settings, day, results))
        except HydrawatchError as err:
            error = str(err)
            raise
        finally:
            progress.settle(spark, settings, day, done, first_ran, _flow_run_id())
            create_markdown_artifact(
                markdown=summary.day_markdown(day, settings, results, skipped, error, extra),
                key=key,
                description=f"Hydrawatch day {day}",
            )
    return DayResult(day, [s for s, _ in done], skipped, results, lock, key, _flow_run_id())


def _monitor_drift(settings: Settings, day: dt.date, results: dict[str, Any]) -> dict[str, Any]:
    """Drift is monitoring: by now the day is published, so a drift failure is reported in the
    day's summary (and the flow's logs) instead of failing a day whose list is already out."""
    try:
        results["drift"] = drift_task(settings, day)
    except Exception as err:
        say(f"{day} drift: FAILED ({type(err).__name__}: {err})")
        return {"DRIFT REPORT FAILED": f"{type(err).__name__}: {err}".splitlines()[0]}
    return _drift_headline(results["drift"])


def _drift_headline(result: Any) -> dict[str, Any]:
    fields = summary.as_fields(result)
    if not fields:
        return {}
    if fields.get("drifted"):
        return {"DRIFT": f"PSI past {fields.get('bound')}: {', '.join(fields['drifted'])}"}
    return {"drift": f"none past {fields.get('bound')} (max PSI {fields.get('max_psi')})"}


@dataclass
class BackfillResult:
    start: dt.date
    end: dt.date
    days: list[DayResult]

    @property
    def skipped_days(self) -> list[dt.date]:
        return [d.day for d in self.days if not d.ran]


@flow(name="hydrawatch-backfill", flow_run_name="backfill-{start}-{end}")
def backfill_flow(
    start: dt.date,
    end: dt.date,
    steps: list[str] | None = None,
    settings: Settings | None = None,
) -> BackfillResult:
    """`daily_flow` per day in order; continues where an earlier run of it stopped."""
    settings = settings or Settings()
    if end < start:
        raise HydrawatchError(f"end {end} is before start {start}")
    wanted = _ordered(steps)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    out: list[DayResult] = []
    resume = True
    try:
        for day in days:
            try:
                result = daily_flow(run_date=day, steps=wanted, resume=resume, settings=settings)
            except HydrawatchError as err:
                before = f"{start}..{day - dt.timedelta(days=1)} are done; " if day > start else ""
                raise BackfillStopped(
                    f"backfill stopped at {day}: {err} ({before}fix it and re-run the same "
                    f"backfill to continue from {day})"
                ) from None
            out.append(result)
            if result.ran:
                resume = False
    finally:
        lines = [f"# Hydrawatch backfill {start}..{end} ({', '.join(wanted)})", ""]
        lines += ["| day | ran | skipped |", "|---|---|---|"]
        lines += [f"| {d.day} | {', '.join(d.ran)} | {', '.join(d.skipped)} |" for d in out]
        if len(out) < len(days):
            lines += ["", f"Stopped at {days[len(out)]}; re-run the same backfill to continue."]
        create_markdown_artifact(
            markdown="\n".join(lines) + "\n",
            key=summary.artifact_key("backfill"),
            description=f"Hydrawatch backfill {start}..{end}",
        )
    return BackfillResult(start, end, out)


def _one_step_artifact(kind: str, title: str, result: Any) -> None:
    fields = summary.as_fields(result)
    lines = [f"# {title}", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {summary._fmt(v)} |" for k, v in fields.items()]
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n", key=summary.artifact_key(kind), description=title
    )


@flow(name="hydrawatch-retrain", flow_run_name="retrain-{as_of}")
def retrain_flow(as_of: dt.date, settings: Settings | None = None):
    settings = settings or Settings()
    result = retrain_task(settings, as_of)
    _one_step_artifact("retrain", f"Hydrawatch retrain as of {as_of}", result)
    return result


@flow(name="hydrawatch-promote")
def promote_flow(
    version: str | None = None,
    force: bool = False,
    reason: str | None = None,
    settings: Settings | None = None,
):
    settings = settings or Settings()
    result = promote_task(settings, version, force, reason)
    _one_step_artifact("promote", "Hydrawatch promote", result)
    return result


@flow(name="hydrawatch-rollback")
def rollback_flow(settings: Settings | None = None):
    settings = settings or Settings()
    result = rollback_task(settings)
    _one_step_artifact("rollback", "Hydrawatch rollback", result)
    return result


@flow(name="hydrawatch-evaluate", flow_run_name="evaluate-{as_of}")
def evaluate_flow(
    as_of: dt.date,
    start: dt.date | None = None,
    version: str | None = None,
    settings: Settings | None = None,
):
    """The evaluation report against the simulator's truth, per campaign and population."""
    settings = settings or Settings()
    result = evaluate_task(settings, as_of, start, version)
    create_markdown_artifact(
        markdown=summary.evaluation_markdown(result),
        key=summary.artifact_key("evaluate"),
        description=f"Hydrawatch evaluation as of {as_of}",
    )
    return result


@flow(name="hydrawatch-simulate", flow_run_name="simulate-{start}-{days}d-{scale}")
def simulate_flow(
    start: dt.date, days: int, scale: str = "tiny", seed: int = 7, settings: Settings | None = None
):
    settings = settings or Settings()
    return simulate_task(settings, start, days, scale, seed)
