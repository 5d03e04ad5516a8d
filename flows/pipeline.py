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
- `retrain_flow`, `promote_flow`, `rollback_flow`, `evaluate_flow`, `holdout_flow`,
  `simulate_flow`.

Retries: only the idempotent I/O steps (ingest, features, score, publish, drift) retry, and only
on unexpected errors; an expected failure (`HydrawatchError`: no landing data, a quality gate)
fails at once. Retrain registers a model version and promote moves an alias: never retried.

Every flow takes the run's `Runtime` (`rt`: settings, Spark, MLflow client, reporter), built by
the command line; a flow run started without one (a served deployment) builds it from the
environment at its entry. Tasks get it as an argument with `cache_policy=NONE`: Prefect neither
hashes nor stores it. The daily flow resolves the champion once per run (`models.champion`) for
its resume fingerprints and hands that version to score and drift.
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
from hydrawatch.errors import HydrawatchError
from hydrawatch.failpoints import failpoint
from hydrawatch.locks import day_lock
from hydrawatch.runtime import Runtime
from jobs import (
    drift,
    evaluate,
    features,
    holdout,
    ingest,
    promote,
    publish,
    retrain,
    score,
    simulate,
)
from models import champion
from models.champion import ModelVersion

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
def ingest_task(rt: Runtime, day: dt.date) -> ingest.IngestResult:
    return ingest.run_ingest(rt, day)


@task(name="features", task_run_name="features-{day}", **IO_RETRIES)
def features_task(rt: Runtime, day: dt.date) -> features.FeaturesResult:
    # run_features recomputes the earlier days late deliveries made stale itself, first: those
    # days (at most max_late_days back) are written too, so their locks are held as well, and a
    # run of one of them (a backfill beside the daily run) cannot interleave with this one. Locks
    # are taken latest day first: a run only ever waits for days before all it holds, so two runs
    # never wait for each other.
    with contextlib.ExitStack() as held:
        for back in range(1, rt.settings.max_late_days + 1):
            held.enter_context(day_lock(rt.settings, day - dt.timedelta(days=back), say=rt.say))
        result = features.run_features(rt, day)
    if result.dirty_days:
        days = ", ".join(str(d) for d in result.dirty_days)
        rt.say(f"{day} features: recomputed {days} (late data arrived)")
    return result


@task(name="score", task_run_name="score-{day}", **IO_RETRIES)
def score_task(rt: Runtime, day: dt.date, model: ModelVersion | None = None) -> score.ScoreResult:
    return score.run_score(rt, day, model)


@task(name="publish", task_run_name="publish-{day}", **IO_RETRIES)
def publish_task(rt: Runtime, day: dt.date) -> publish.PublishResult:
    return publish.run_publish(rt, day)


@task(name="drift", task_run_name="drift-{day}", **IO_RETRIES)
def drift_task(rt: Runtime, day: dt.date, model: ModelVersion | None = None) -> drift.DriftResult:
    return drift.run_drift(rt, day, model)


@task(name="retrain", task_run_name="retrain-{as_of}", cache_policy=NONE)
def retrain_task(rt: Runtime, as_of: dt.date) -> retrain.RetrainResult:
    return retrain.run_retrain(rt, as_of)


@task(name="promote", cache_policy=NONE)
def promote_task(
    rt: Runtime, version: str | None, force: bool, reason: str | None
) -> promote.PromoteResult:
    # The gate reads the feature table; a refusal for a missing challenger or a forced move
    # starts no Spark (the runtime builds the session when the gate first needs it).
    return promote.run_promote(rt, version, force, reason)


@task(name="rollback", cache_policy=NONE)
def rollback_task(rt: Runtime) -> promote.PromoteResult:
    return promote.run_rollback(rt)


@task(name="evaluate", task_run_name="evaluate-{as_of}", cache_policy=NONE)
def evaluate_task(
    rt: Runtime, as_of: dt.date, start: dt.date | None, version: str | None
) -> evaluate.EvaluateResult:
    return evaluate.run_evaluate(rt, as_of, start=start, version=version)


@task(name="holdout", task_run_name="holdout-{as_of}", cache_policy=NONE)
def holdout_task(
    rt: Runtime,
    as_of: dt.date,
    end: dt.date | None,
    campaigns: list[str] | None,
    seed: int | None,
) -> holdout.HoldoutResult:
    return holdout.run_holdout(rt, as_of, end, campaigns, seed)


@task(name="simulate", cache_policy=NONE)
def simulate_task(
    rt: Runtime, start: dt.date, days: int, scale: str, seed: int
) -> simulate.SimulateResult:
    return simulate.run_simulate(rt, start, days, scale, seed)


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
    rt: Runtime | None = None,
) -> DayResult:
    """One day: ingest, features, score, publish (the steps asked for), then drift."""
    rt = rt or Runtime.from_environment()
    day = run_date or scheduled_day()
    wanted = _ordered(steps)
    results: dict[str, Any] = {}
    skipped: list[str] = []
    done: list[tuple[str, str]] = []
    extra: dict[str, Any] = {}
    key = summary.artifact_key("day", day)
    with day_lock(rt.settings, day, say=rt.say) as lock:
        rt.say(f"{day}: holding {lock}")
        error: str | None = None
        first_ran: str | None = None
        try:
            landing_fp = progress.landing_fingerprint(rt.settings, day)
            # The champion, resolved once for the run: the fingerprints, score and drift.
            model = (
                champion.resolve(rt, champion.CHAMPION)
                if progress.NEEDS_MODEL & set(wanted)
                else None
            )
            version = model.version if model else None
            recorded = progress.completed(rt.warehouse) if resume else {}
            for step in wanted:
                fp = progress.step_fingerprint(landing_fp, step, version)
                if first_ran is None and recorded.get((day, step)) == fp:
                    skipped.append(step)
                    rt.say(f"{day} {step}: skipped, already done for the same inputs")
                    continue
                # From the first step that runs, everything after it runs too.
                first_ran = first_ran or step
                rt.say(f"{day} {step}: running")
                run_step = STEP_TASKS[step]
                # Score gets the champion resolved for the run, not its own.
                results[step] = run_step(rt, day, model) if step == "score" else run_step(rt, day)
                done.append((step, fp))
                rt.say(f"{day} {step}: done")
                failpoint("daily.after_step")
            if "score" in results:
                extra.update(_monitor_drift(rt, day, model, results))
        except HydrawatchError as err:
            error = str(err)
            raise
        finally:
            if first_ran is not None:
                progress.settle(rt.warehouse, day, done, first_ran, _flow_run_id())
            create_markdown_artifact(
                markdown=summary.day_markdown(day, rt.settings, results, skipped, error, extra),
                key=key,
                description=f"Hydrawatch day {day}",
            )
    return DayResult(day, [s for s, _ in done], skipped, results, lock, key, _flow_run_id())


def _monitor_drift(
    rt: Runtime, day: dt.date, model: ModelVersion | None, results: dict[str, Any]
) -> dict[str, Any]:
    """Drift is monitoring: by now the day is published, so a drift failure is reported in the
    day's summary (and the flow's logs) instead of failing a day whose list is already out."""
    try:
        results["drift"] = drift_task(rt, day, model)
    except Exception as err:
        rt.say(f"{day} drift: FAILED ({type(err).__name__}: {err})")
        return {"DRIFT REPORT FAILED": f"{type(err).__name__}: {err}".splitlines()[0]}
    return _drift_headline(results["drift"])


def _drift_headline(result: drift.DriftResult) -> dict[str, Any]:
    if result.status != "ok":
        return {"drift": result.status}
    if result.drifted:
        return {"DRIFT": f"PSI past {result.bound}: {', '.join(result.drifted)}"}
    return {"drift": f"none past {result.bound} (max PSI {result.max_psi})"}


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
    rt: Runtime | None = None,
) -> BackfillResult:
    """`daily_flow` per day in order; continues where an earlier run of it stopped."""
    rt = rt or Runtime.from_environment()
    if end < start:
        raise HydrawatchError(f"end {end} is before start {start}")
    wanted = _ordered(steps)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    out: list[DayResult] = []
    resume = True
    try:
        for day in days:
            try:
                result = daily_flow(run_date=day, steps=wanted, resume=resume, rt=rt)
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
    lines += [f"| {k} | {summary.fmt(v)} |" for k, v in fields.items()]
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n", key=summary.artifact_key(kind), description=title
    )


@flow(name="hydrawatch-retrain", flow_run_name="retrain-{as_of}")
def retrain_flow(as_of: dt.date, rt: Runtime | None = None) -> retrain.RetrainResult:
    rt = rt or Runtime.from_environment()
    result = retrain_task(rt, as_of)
    _one_step_artifact("retrain", f"Hydrawatch retrain as of {as_of}", result)
    return result


@flow(name="hydrawatch-promote")
def promote_flow(
    version: str | None = None,
    force: bool = False,
    reason: str | None = None,
    rt: Runtime | None = None,
) -> promote.PromoteResult:
    rt = rt or Runtime.from_environment()
    result = promote_task(rt, version, force, reason)
    _one_step_artifact("promote", "Hydrawatch promote", result)
    return result


@flow(name="hydrawatch-rollback")
def rollback_flow(rt: Runtime | None = None) -> promote.PromoteResult:
    rt = rt or Runtime.from_environment()
    result = rollback_task(rt)
    _one_step_artifact("rollback", "Hydrawatch rollback", result)
    return result


@flow(name="hydrawatch-holdout", flow_run_name="holdout-{as_of}")
def holdout_flow(
    as_of: dt.date,
    end: dt.date | None = None,
    campaigns: list[str] | None = None,
    seed: int | None = None,
    rt: Runtime | None = None,
) -> holdout.HoldoutResult:
    """Leave-one-campaign-out: train without each campaign's labels, score the days after."""
    rt = rt or Runtime.from_environment()
    result = holdout_task(rt, as_of, end, campaigns, seed)
    create_markdown_artifact(
        markdown=summary.holdout_markdown(result),
        key=summary.artifact_key("holdout"),
        description=f"Hydrawatch leave-one-campaign-out as of {as_of}",
    )
    return result


@flow(name="hydrawatch-evaluate", flow_run_name="evaluate-{as_of}")
def evaluate_flow(
    as_of: dt.date,
    start: dt.date | None = None,
    version: str | None = None,
    rt: Runtime | None = None,
) -> evaluate.EvaluateResult:
    """The evaluation report against the simulator's truth, per campaign and population."""
    rt = rt or Runtime.from_environment()
    result = evaluate_task(rt, as_of, start, version)
    create_markdown_artifact(
        markdown=summary.evaluation_markdown(result),
        key=summary.artifact_key("evaluate"),
        description=f"Hydrawatch evaluation as of {as_of}",
    )
    return result


@flow(name="hydrawatch-simulate", flow_run_name="simulate-{start}-{days}d-{scale}")
def simulate_flow(
    start: dt.date, days: int, scale: str = "tiny", seed: int = 7, rt: Runtime | None = None
) -> simulate.SimulateResult:
    rt = rt or Runtime.from_environment()
    return simulate_task(rt, start, days, scale, seed)
