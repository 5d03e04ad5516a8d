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
import time
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from flows import progress, summary
from hydrawatch import alerts, delivery
from hydrawatch.errors import (
    EXIT_STOPPED,
    HydrawatchError,
    PublicationHeld,
    UsageError,
    failure_line,
)
from hydrawatch.failpoints import failpoint
from hydrawatch.locks import day_lock
from hydrawatch.runtime import Runtime
from jobs import (
    compare,
    drift,
    evaluate,
    features,
    holdout,
    ingest,
    maintain,
    promote,
    publish,
    report,
    retrain,
    score,
    shadow,
    simulate,
)
from models import champion
from models.champion import ModelVersion

STEPS = progress.STEPS


class BackfillStopped(HydrawatchError):
    """A day of a backfill failed; the days before it are done. Its exit code is the failure's
    (no delivery yet, bad input, ...), so a scheduler reads the cause, not just "stopped"."""

    def __init__(self, message: str, exit_code: int = EXIT_STOPPED):
        super().__init__(message)
        self.exit_code = exit_code


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
def publish_task(
    rt: Runtime, day: dt.date, release: publish.Release | None = None
) -> publish.PublishResult:
    return publish.run_publish(rt, day, release)


@task(name="drift", task_run_name="drift-{day}", **IO_RETRIES)
def drift_task(rt: Runtime, day: dt.date, model: ModelVersion | None = None) -> drift.DriftResult:
    return drift.run_drift(rt, day, model)


@task(name="retrain", task_run_name="retrain-{as_of}", cache_policy=NONE)
def retrain_task(rt: Runtime, as_of: dt.date) -> retrain.RetrainResult:
    return retrain.run_retrain(rt, as_of)


@task(name="promote", cache_policy=NONE)
def promote_task(
    rt: Runtime,
    version: str | None,
    force: bool,
    reason: str | None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    period_days: int | None = None,
) -> promote.PromoteResult:
    # The gate reads the feature table; a refusal for a missing challenger or a forced move
    # starts no Spark (the runtime builds the session when the gate first needs it).
    return promote.run_promote(
        rt, version, force, reason, as_of=as_of, period_days=period_days, dry_run=dry_run
    )


@task(name="rollback", cache_policy=NONE)
def rollback_task(rt: Runtime) -> promote.PromoteResult:
    return promote.run_rollback(rt)


@task(name="evaluate", task_run_name="evaluate-{as_of}", cache_policy=NONE)
def evaluate_task(
    rt: Runtime, as_of: dt.date, start: dt.date | None, version: str | None
) -> evaluate.EvaluateResult:
    return evaluate.run_evaluate(rt, as_of, start=start, version=version)


@task(name="shadow", task_run_name="shadow-{start}-{end}", cache_policy=NONE)
def shadow_task(
    rt: Runtime, start: dt.date, end: dt.date, version: str | None
) -> shadow.ShadowResult:
    return shadow.run_shadow(rt, start, end, version)


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
        raise UsageError(f"unknown step(s) {', '.join(unknown)}; choose from {STEPS}")
    return [s for s in STEPS if s in steps]


def scheduled_day(lag_days: int, flow_run=None) -> dt.date:
    """The finished UTC day a scheduled run processes: `lag_days` before its scheduled day.
    `flow_run`: the run's record (default: the run this code is in)."""
    if flow_run is None:
        ctx = FlowRunContext.get()
        flow_run = ctx.flow_run if ctx is not None else None
    if flow_run is None or flow_run.expected_start_time is None:
        raise UsageError("no run date: pass one (hydrawatch daily --date YYYY-MM-DD)")
    when = flow_run.expected_start_time.astimezone(dt.UTC)
    # A plain date: Prefect's own date type (what its datetime's .date() gives) is refused by
    # Spark when a row of meta/flow_progress is built from it.
    scheduled = dt.date(when.year, when.month, when.day)
    return scheduled - dt.timedelta(days=lag_days)


def _flow_run_id() -> str:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else ""


def _daily_name() -> str:
    from prefect.runtime import flow_run

    day = flow_run.parameters.get("run_date")
    # A scheduled run's day (lagged) is known once its settings are read: named by its schedule.
    return f"daily-{day}" if day else f"daily-scheduled-{flow_run.scheduled_start_time.date()}"


def _alert_crashed(flow, flow_run, state) -> None:
    """`on_crashed` hook of the daily flow: a signed `day.crashed` alert.

    A crashed run (its process killed: out of memory, a lost machine, SIGKILL) settles nothing
    itself. When the run was started by `hydrawatch serve` (or a worker), Prefect's runner sees
    the process exit, marks the run Crashed and runs this hook in its own process; a run killed
    by a signal Python can handle runs it on the way out. Only settings are built here (no
    Spark, no warehouse): the next run of the day finds what the crash left (docs/reliability.md).
    An alert never fails what reports it: every error is logged and swallowed.
    """
    from prefect.logging import get_logger

    from hydrawatch.settings import Settings

    log = get_logger("hydrawatch.alerts")
    try:
        settings = Settings.from_environment()
        given = (flow_run.parameters or {}).get("run_date")
        day = (
            dt.date.fromisoformat(str(given)[:10])
            if given
            else scheduled_day(settings.daily_lag_days, flow_run)
        )
        reason = " ".join(str(state.message or "the process ended without a final state").split())
        alerts.send_alert(
            settings,
            alerts.DAY_CRASHED,
            day,
            f"the daily run for {day} crashed: {reason}",
            flow_run_id=str(flow_run.id),
            say=log.warning,
        )
    except Exception as err:  # a hook never raises; the reason is logged
        log.warning("the crash alert of flow run %s was not sent: %s", flow_run.id, err)


@dataclass
class DayResult:
    day: dt.date
    ran: list[str]
    skipped: list[str]
    results: dict[str, Any]
    lock: str
    artifact_key: str
    flow_run_id: str


@flow(name="hydrawatch-daily", flow_run_name=_daily_name, on_crashed=[_alert_crashed])
def daily_flow(
    run_date: dt.date | None = None,
    steps: list[str] | None = None,
    resume: bool = False,
    rt: Runtime | None = None,
    release: publish.Release | None = None,
    wait_for_delivery: bool = False,
) -> DayResult:
    """One day: ingest, features, score, publish (the steps asked for), then drift.

    Without `run_date` (a scheduled run) the day is the finished day `settings.daily_lag_days`
    before the scheduled one, and the run first waits until its delivery is complete
    (`hydrawatch.delivery`); `wait_for_delivery` waits for a given day too.

    `release`: a person's release of a day the publish jump gate held (`hydrawatch publish
    --accept-jump`)."""
    rt = rt or Runtime.from_environment()
    day = run_date or scheduled_day(rt.settings.daily_lag_days)
    wanted = _ordered(steps)
    key = summary.artifact_key("day", day)
    run = _DayRun()
    error: str | None = None
    try:
        if run_date is None or wait_for_delivery:
            # Outside the lock: the wait can take hours, and holds nothing.
            def still_waiting(missing: str) -> None:
                alerts.send_alert(
                    rt.settings,
                    alerts.DAY_LATE,
                    day,
                    f"{day} is past its due time and still waiting for its delivery ({missing})",
                    flow_run_id=_flow_run_id(),
                    say=rt.say,
                )

            try:
                waited = delivery.wait_for_delivery(
                    rt.settings,
                    day,
                    say=rt.say,
                    late_at=due_time(day, rt.settings.daily_due_hours).timestamp(),
                    on_late=still_waiting,
                )
            except HydrawatchError as err:
                line, code = failure_line(err)
                failed = progress.Failure(wanted[0], "", code, line)
                progress.settle(rt.warehouse, day, [], None, _flow_run_id(), failed)
                raise
            rt.say(f"{day}: delivery complete (waited {waited:.0f}s)")
        failpoint("daily.before_lock")
        _run_day(rt, day, wanted, resume, release, run)
    except BaseException as err:
        error, code = failure_line(err)
        if isinstance(err, Exception):
            kind = (
                alerts.PUBLICATION_HELD if isinstance(err, PublicationHeld) else alerts.DAY_FAILED
            )
            alerts.send_alert(
                rt.settings,
                kind,
                day,
                error,
                exit_code=code,
                flow_run_id=_flow_run_id(),
                say=rt.say,
            )
        raise
    finally:
        markdown = summary.day_markdown(
            day, rt.settings, run.results, run.skipped, error, run.extra
        )
        create_markdown_artifact(markdown=markdown, key=key, description=f"Hydrawatch day {day}")
    # Late is a scheduled run's notion: a person re-running an old day is not late.
    late = late_by(day, rt.settings.daily_due_hours, dt.datetime.now(dt.UTC))
    if run_date is None and late is not None and "publish" in run.results:
        message = f"{day} published {late} ({rt.settings.daily_due_hours:g}h after the day ended)"
        alerts.send_alert(
            rt.settings, alerts.DAY_LATE, day, message, flow_run_id=_flow_run_id(), say=rt.say
        )
    return DayResult(
        day, [s for s, _ in run.done], run.skipped, run.results, run.lock, key, _flow_run_id()
    )


def due_time(day: dt.date, due_hours: float) -> dt.datetime:
    """When the day's list is due: the end of the day (UTC) plus `due_hours`."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return end + dt.timedelta(hours=due_hours)


def late_by(day: dt.date, due_hours: float, now: dt.datetime) -> str | None:
    """How late `now` is past the day's due time (`due_time`), or None. Pure."""
    over = now - due_time(day, due_hours)
    if over <= dt.timedelta(0):
        return None
    hours = over.total_seconds() / 3600
    return f"{hours:.1f}h past its due time"


@dataclass
class _DayRun:
    """What a day's run did so far: its artifact is written from it, whatever happened."""

    results: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    done: list[tuple[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    lock: str = ""


def _run_day(
    rt: Runtime,
    day: dt.date,
    wanted: list[str],
    resume: bool,
    release: publish.Release | None,
    run: _DayRun,
) -> None:
    """The day's steps under its lock; `meta/flow_progress` settled whatever happens."""
    results, skipped, done, extra = run.results, run.skipped, run.done, run.extra
    with day_lock(rt.settings, day, say=rt.say) as lock:
        run.lock = lock
        rt.say(f"{day}: holding {lock}")
        first_ran: str | None = None
        failed: progress.Failure | None = None
        step, fp = wanted[0], ""
        try:
            landing_fp = progress.landing_fingerprint(rt.settings, day)
            # The champion, resolved once for the run: the fingerprints, score and drift.
            model = (
                champion.resolve(rt, champion.CHAMPION)
                if progress.NEEDS_MODEL & set(wanted)
                else None
            )
            version = model.version if model else None
            recorded = progress.completed(rt.warehouse) if resume or "ingest" in wanted else {}
            before = recorded.get((day, "ingest"))
            if "ingest" in wanted and before and not before.startswith(landing_fp):
                # The day was ingested from other files than are there now: say so (it is
                # processed again either way; resume never skips a step whose inputs changed).
                rt.say(f"{day}: the landing changed since the day was last processed; again")
                extra["landing"] = "changed since the last run: processed again"
            if not resume:
                recorded = {}
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
                if step == "score":
                    results[step] = run_step(rt, day, model)
                elif step == "publish":
                    results[step] = run_step(rt, day, release)
                else:
                    results[step] = run_step(rt, day)
                done.append((step, fp))
                rt.say(f"{day} {step}: done")
                failpoint("daily.after_step")
            if "score" in results:
                extra.update(_monitor_drift(rt, day, model, results))
        except BaseException as err:
            # Every failure marks the day failed, an internal error (a bug) too: by its class
            # and first line, the stack trace staying in the run's logs.
            line, code = failure_line(err)
            failed = progress.Failure(step, fp, code, line)
            raise
        finally:
            if failed is None:
                progress.settle(rt.warehouse, day, done, first_ran, _flow_run_id())
            else:
                # Recording the failure must not hide it (a dead Spark session fails both).
                try:
                    progress.settle(rt.warehouse, day, done, first_ran, _flow_run_id(), failed)
                except Exception as also:
                    rt.say(f"{day}: could not record the failure ({type(also).__name__})")


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
    result = results["drift"]
    if result.status == "ok" and result.drifted:
        alerts.send_alert(
            rt.settings,
            alerts.DRIFT,
            day,
            f"{day}: population stability index past {result.bound} for "
            f"{', '.join(result.drifted)} (max {result.max_psi}); compare the day with the "
            "champion's training data before trusting its list",
            flow_run_id=_flow_run_id(),
            say=rt.say,
        )
    return _drift_headline(result)


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


@task(name="ingest-range", task_run_name="ingest-{start}-{end}", **IO_RETRIES)
def ingest_range_task(rt: Runtime, start: dt.date, end: dt.date) -> ingest.IngestRange:
    return ingest.run_ingest_range(rt, start, end)


@task(name="features-range", task_run_name="features-{start}-{end}", **IO_RETRIES)
def features_range_task(rt: Runtime, start: dt.date, end: dt.date) -> features.FeaturesRange:
    return features.run_features_range(rt, start, end)


# Steps run once over a whole range of days; the others run day after day.
RANGE_TASKS = {"ingest": ingest_range_task, "features": features_range_task}


def _next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def _first_to_run(
    days: list[dt.date], wanted: list[str], fingerprints: dict[tuple[dt.date, str], str], done
) -> tuple[dt.date, str] | None:
    """The first (day, step), in day-then-step order, not done for the same inputs."""
    for day in days:
        for step in wanted:
            if done.get((day, step)) != fingerprints[(day, step)]:
                return day, step
    return None


class _Progress:
    """The backfill's progress: (day, step) units done of all, the ETA, a Prefect progress
    artifact, and a line for the operator after each step."""

    def __init__(self, rt: Runtime, total: int, skipped: int, start: dt.date, end: dt.date):
        from prefect.artifacts import create_progress_artifact

        self.rt, self.total, self.done = rt, max(total, 1), skipped
        self.ran = 0
        self.t0 = time.monotonic()
        self.artifact = create_progress_artifact(
            progress=100.0 * self.done / self.total,
            key=summary.artifact_key("backfill-progress"),
            description=f"Hydrawatch backfill {start}..{end}: (day, step) pairs done",
        )

    def advance(self, units: int, current: str) -> None:
        from prefect.artifacts import update_progress_artifact

        self.done += units
        self.ran += units
        left = self.total - self.done
        took = time.monotonic() - self.t0
        eta = f", about {took / self.ran * left:.0f} s left" if self.ran and left else ""
        self.rt.say(f"backfill: {self.done}/{self.total} day-steps done ({current}){eta}")
        with contextlib.suppress(Exception):  # the artifact is a view; never fail the run on it
            update_progress_artifact(self.artifact, 100.0 * self.done / self.total)


@flow(name="hydrawatch-backfill", flow_run_name="backfill-{start}-{end}")
def backfill_flow(
    start: dt.date,
    end: dt.date,
    steps: list[str] | None = None,
    rt: Runtime | None = None,
    force: bool = False,
) -> BackfillResult:
    """The steps over `start`..`end`: ingest and features once over the whole range (each a
    range-native job: the same tables as one daily run per day, in order), score and publish day
    after day. With progress in `meta/flow_progress` it continues where an earlier run stopped:
    the leading (day, step) pairs done for the same inputs are skipped, and everything from the
    first one that is not runs (`force`: everything runs). The days it writes are locked for the
    whole run (latest first, as every run takes them), so two backfills over overlapping ranges
    never interleave: the second waits, then stops with `ConcurrentRun`."""
    rt = rt or Runtime.from_environment()
    if end < start:
        raise UsageError(f"end {end} is before start {start}")
    wanted = _ordered(steps)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    model = champion.resolve(rt, champion.CHAMPION) if progress.NEEDS_MODEL & set(wanted) else None
    version = model.version if model else None
    landing = {day: progress.landing_fingerprint(rt.settings, day) for day in days}
    fingerprints = {
        (day, step): progress.step_fingerprint(landing[day], step, version)
        for day in days
        for step in wanted
    }
    recorded = {} if force else progress.completed(rt.warehouse)
    first = _first_to_run(days, wanted, fingerprints, recorded)
    # From the first (day, step) to run, everything after it runs: its own and later steps from
    # its day, the earlier steps from the next day.
    run_from = {}
    if first is not None:
        first_day, first_step = first
        run_from = {
            step: first_day
            if STEPS.index(step) >= STEPS.index(first_step)
            else _next_day(first_day)
            for step in wanted
        }
    results: dict[dt.date, dict[str, Any]] = {day: {} for day in days}
    done: dict[dt.date, list[tuple[str, str]]] = {day: [] for day in days}
    extra: dict[dt.date, dict[str, Any]] = {day: {} for day in days}
    stop: tuple[dt.date, HydrawatchError] | None = None
    last = end
    units = sum(1 for (day, step) in fingerprints if first is None or day < run_from[step])
    bar = _Progress(rt, len(fingerprints), units, start, end)
    locks: list[str] = []
    try:
        with contextlib.ExitStack() as held:
            if first is not None:
                # The features step recomputes up to max_late_days before its first date.
                lock_from = first[0] - dt.timedelta(days=rt.settings.max_late_days)
                lock_days = [
                    lock_from + dt.timedelta(days=i) for i in range((end - lock_from).days + 1)
                ]
                for day in reversed(lock_days):
                    locks.append(held.enter_context(day_lock(rt.settings, day, say=rt.say)))
                rt.say(f"backfill {start}..{end}: holding {len(locks)} day locks")
            for step in wanted if first is not None else []:
                lo = run_from[step]
                if lo > last:
                    continue
                if step in RANGE_TASKS:
                    rt.say(f"{lo}..{last} {step}: running")
                    out = RANGE_TASKS[step](rt, lo, last)
                    by_day = {
                        (r.delivery_date if step == "ingest" else r.feature_date): r
                        for r in out.results
                    }
                    for day, result in by_day.items():
                        results[day][step] = result
                        done[day].append((step, fingerprints[(day, step)]))
                        rt.say(f"{day} {step}: done")
                    bar.advance(len(by_day), f"{step} to {max(by_day, default=lo)}")
                    if out.error is not None:
                        stop = (out.stopped_at, out.error)
                        last = out.stopped_at - dt.timedelta(days=1)
                    failpoint("backfill.after_range_step")
                    continue
                day = lo
                while day <= last:
                    try:
                        rt.say(f"{day} {step}: running")
                        task = STEP_TASKS[step]
                        results[day][step] = (
                            task(rt, day, model) if step == "score" else task(rt, day)
                        )
                    except HydrawatchError as err:
                        stop = (day, err)
                        last = day - dt.timedelta(days=1)
                        break
                    done[day].append((step, fingerprints[(day, step)]))
                    rt.say(f"{day} {step}: done")
                    bar.advance(1, f"{step} {day}")
                    failpoint("backfill.after_day_step")
                    if step == "score":
                        extra[day].update(_monitor_drift(rt, day, model, results[day]))
                    day = _next_day(day)
    finally:
        if first is not None:
            progress.settle_range(rt.warehouse, done, first[0], first[1], _flow_run_id())
        out_days = _day_results(days, wanted, run_from, results, done, stop, locks, rt, extra)
        _backfill_artifact(start, end, wanted, out_days, stop)
    if stop is not None:
        day, err = stop
        before = f"{start}..{day - dt.timedelta(days=1)} are done; " if day > start else ""
        raise BackfillStopped(
            f"backfill stopped at {day}: {err} ({before}fix it and re-run the same "
            f"backfill to continue from {day})",
            exit_code=getattr(err, "exit_code", EXIT_STOPPED),
        ) from None
    return BackfillResult(start, end, out_days)


def _day_results(days, wanted, run_from, results, done, stop, locks, rt, extra) -> list[DayResult]:
    """One DayResult and one day artifact per day the run reached (a stopped run: up to the day
    it stopped at, which says why)."""
    out = []
    for day in days:
        if stop is not None and day > stop[0]:
            break
        ran = [s for s, _ in done[day]]
        skipped = [s for s in wanted if (run_from and day < run_from[s]) or not run_from]
        error = str(stop[1]) if stop is not None and day == stop[0] else None
        key = summary.artifact_key("day", day)
        create_markdown_artifact(
            markdown=summary.day_markdown(
                day, rt.settings, results[day], skipped, error, extra[day]
            ),
            key=key,
            description=f"Hydrawatch day {day}",
        )
        out.append(
            DayResult(day, ran, skipped, results[day], ", ".join(locks[:1]), key, _flow_run_id())
        )
    return out


def _backfill_artifact(start, end, wanted, out_days, stop) -> None:
    lines = [f"# Hydrawatch backfill {start}..{end} ({', '.join(wanted)})", ""]
    lines += ["| day | ran | skipped |", "|---|---|---|"]
    lines += [f"| {d.day} | {', '.join(d.ran)} | {', '.join(d.skipped)} |" for d in out_days]
    if stop is not None:
        lines += ["", f"Stopped at {stop[0]}; re-run the same backfill to continue."]
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n",
        key=summary.artifact_key("backfill"),
        description=f"Hydrawatch backfill {start}..{end}",
    )


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
    dry_run: bool = False,
    as_of: dt.date | None = None,
    period_days: int | None = None,
) -> promote.PromoteResult:
    rt = rt or Runtime.from_environment()
    result = promote_task(rt, version, force, reason, dry_run, as_of, period_days)
    title = "Hydrawatch promote (dry run)" if dry_run else "Hydrawatch promote"
    _one_step_artifact("promote", title, result)
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


@flow(name="hydrawatch-shadow", flow_run_name="shadow-{start}-{end}")
def shadow_flow(
    start: dt.date, end: dt.date, version: str | None = None, rt: Runtime | None = None
) -> shadow.ShadowResult:
    """Score the days with a non-champion model into the shadow tables (nothing published)."""
    rt = rt or Runtime.from_environment()
    result = shadow_task(rt, start, end, version)
    create_markdown_artifact(
        markdown=summary.shadow_markdown(result),
        key=summary.artifact_key("shadow"),
        description=f"Hydrawatch shadow v{result.model_version} {start}..{end}",
    )
    return result


@task(name="compare", task_run_name="compare-{start}-{end}", cache_policy=NONE)
def compare_task(
    rt: Runtime,
    start: dt.date,
    end: dt.date,
    version_a: str | None,
    version_b: str | None,
    labels_as_of: dt.date | None,
) -> compare.CompareResult:
    return compare.run_compare(
        rt, start, end, version_a=version_a, version_b=version_b, labels_as_of=labels_as_of
    )


@flow(name="hydrawatch-compare", flow_run_name="compare-{start}-{end}")
def compare_flow(
    start: dt.date,
    end: dt.date,
    version_a: str | None = None,
    version_b: str | None = None,
    labels_as_of: dt.date | None = None,
    rt: Runtime | None = None,
) -> compare.CompareResult:
    """Champion and challenger side by side on the same days (shadow scores, labels)."""
    rt = rt or Runtime.from_environment()
    result = compare_task(rt, start, end, version_a, version_b, labels_as_of)
    create_markdown_artifact(
        markdown=compare.report_markdown(result),
        key=summary.artifact_key("compare"),
        description=f"Hydrawatch compare v{result.version_a} / v{result.version_b}",
    )
    return result


@task(name="report", task_run_name="report-{day}", cache_policy=NONE)
def report_task(rt: Runtime, day: dt.date) -> report.ReportResult:
    return report.run_report(rt, day)


@flow(name="hydrawatch-report", flow_run_name="report-{day}")
def report_flow(day: dt.date, rt: Runtime | None = None) -> report.ReportResult:
    """The day's HTML report; its location left as a Prefect link artifact."""
    from prefect.artifacts import create_link_artifact

    rt = rt or Runtime.from_environment()
    result = report_task(rt, day)
    link = result.path if "://" in result.path else f"file://{result.path}"
    create_link_artifact(
        link=link,
        link_text=f"Hydrawatch report {day}",
        key=summary.artifact_key("report", day),
        description=f"Hydrawatch daily report {day} (also in MLflow run {result.mlflow_run_id})",
    )
    return result


@task(name="maintain", cache_policy=NONE)
def maintain_task(rt: Runtime, recent_days: int) -> maintain.MaintainResult:
    return maintain.run_maintain(rt, recent_days)


@flow(name="hydrawatch-maintain")
def maintain_flow(recent_days: int = 7, rt: Runtime | None = None) -> maintain.MaintainResult:
    """Compact recent partitions and vacuum every table within its retention (jobs/maintain.py)."""
    rt = rt or Runtime.from_environment()
    result = maintain_task(rt, recent_days)
    create_markdown_artifact(
        markdown=summary.maintain_markdown(result),
        key=summary.artifact_key("maintain"),
        description="Hydrawatch maintain",
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
