"""Which (day, step) pairs have completed, for which inputs: `meta/flow_progress`.

Lets a backfill continue where it stopped. A row says: step S of day D finished with inputs
fingerprint F. The fingerprint of a day is its landing files (names, sizes, modification times,
for every per-day feed plus the release calendar), for features, score and publish the feature
set version, and for score and publish the champion model version. A run skips a (day, step)
only while everything before it in the run was skipped too and the recorded fingerprint
matches; from the first step it has to run, it runs everything after it, because later days'
windows read the earlier days. Running a step removes the records
of that step and of everything after it (later days included), so the table never
claims a day is done on inputs that have since changed. Recording and forgetting happen in one
Delta MERGE at the end of each day (`settle`), so a run killed mid-day leaves the records of the
previous consistent state.

A step that failed leaves a row too, `status = 'failed'` with its exit code and one-line error
(an expected failure's message, or the class of an internal error): the table says which days
failed and why; `completed` reads only the `done` rows (rows written before the status column
read as null: done).

The table is tiny (days x 4 rows); reading it whole on the driver is bounded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from features.catalogue import FEATURE_SET_VERSION
from hydrawatch.contracts import FEEDS
from hydrawatch.settings import Settings
from hydrawatch.storage import files, tables
from hydrawatch.storage.warehouse import Warehouse

STEPS = ("ingest", "features", "score", "publish")
SCHEMA = (
    "day date, step string, step_rank int, fingerprint string, flow_run_id string, "
    "status string, exit_code int, error string"
)
# What a step's output depends on besides the landing files.
NEEDS_MODEL = {"score", "publish"}
NEEDS_FEATURES = {"features", "score", "publish"}


def _list_files(uri: str) -> list[tuple[str, int, int]]:
    """(name, size, mtime in ms) of the file at `uri` or of the files in the folder `uri`."""
    found = files.list_files(uri)
    if found is None:
        one = files.file_entry(uri)
        found = [one] if one is not None else []
    return [(f.name, f.size, f.mtime_ms) for f in found]


def landing_fingerprint(settings: Settings, day: dt.date) -> str:
    """A digest of the day's landing files (listed through pyarrow.fs: no Spark needed)."""
    parts = []
    for feed in FEEDS.values():
        uri = (
            f"{settings.landing_uri}/{feed.name}/date={day.isoformat()}"
            if feed.per_day
            else f"{settings.landing_uri}/{feed.name}.jsonl"
        )
        parts.append((feed.name, _list_files(uri)))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def step_fingerprint(landing_fp: str, step: str, champion: str | None) -> str:
    # Features and what reads them depend on the feature definitions too: after an upgrade to a
    # new feature set version, a resumed backfill must recompute them, not skip them.
    fs = f"|fs={FEATURE_SET_VERSION}" if step in NEEDS_FEATURES else ""
    model = f"|model={champion}" if step in NEEDS_MODEL else ""
    return f"{landing_fp}{fs}{model}"


def completed(warehouse: Warehouse) -> dict[tuple[dt.date, str], str]:
    """{(day, step): fingerprint} of every recorded completion."""
    progress = warehouse.read_if_exists(tables.FLOW_PROGRESS)
    if progress is None:
        return {}
    if "status" in progress.columns:
        progress = progress.where("status IS NULL OR status = 'done'")
    rows = progress.select("day", "step", "fingerprint").collect()
    return {(r.day, r.step): r.fingerprint for r in rows}


def failures(warehouse: Warehouse) -> dict[dt.date, tuple[str, int, str]]:
    """{day: (step, exit code, error)} of every day whose last run failed."""
    progress = warehouse.read_if_exists(tables.FLOW_PROGRESS)
    if progress is None or "status" not in progress.columns:
        return {}
    rows = progress.where("status = 'failed'").select("day", "step", "exit_code", "error")
    return {r.day: (r.step, r.exit_code, r.error) for r in rows.collect()}


@dataclass(frozen=True)
class Failure:
    """The step a day's run failed at, with the inputs fingerprint it failed on."""

    step: str
    fingerprint: str
    exit_code: int
    error: str


def settle(
    warehouse: Warehouse,
    day: dt.date,
    done: list[tuple[str, str]],
    first_ran: str | None,
    flow_run_id: str,
    failed: Failure | None = None,
) -> None:
    """After a day: record the (step, fingerprint) pairs in `done` and forget what they replaced;
    with `failed`, record the step that failed.

    One Delta MERGE: upsert the completed steps; delete the records of `first_ran` and every later
    step of `day` that did not complete, and of every later day (their inputs include this day).
    Runs of other days settle into the same small table: a conflict is retried (the MERGE only
    says what this day's run did).
    """
    if first_ran is None and failed is None:
        return
    rows = [(day, step, STEPS.index(step), fp, flow_run_id, "done", 0, None) for step, fp in done]
    if failed is not None:
        rows.append(
            (
                day,
                failed.step,
                STEPS.index(failed.step),
                failed.fingerprint,
                flow_run_id,
                "failed",
                failed.exit_code,
                failed.error[:1000],
            )
        )
    if not rows and not warehouse.exists(tables.FLOW_PROGRESS):
        return
    source = warehouse.spark.createDataFrame(rows, SCHEMA).coalesce(1)
    if first_ran is None:  # failed before any step ran: nothing it did replaces a record
        warehouse.merge(source, tables.FLOW_PROGRESS, evolve_schema=True)
        return
    rank = STEPS.index(first_ran)
    stale = (
        f"t.day > DATE'{day.isoformat()}' "
        f"OR (t.day = DATE'{day.isoformat()}' AND t.step_rank >= {rank})"
    )
    warehouse.merge(source, tables.FLOW_PROGRESS, delete_if=stale, evolve_schema=True)


def settle_range(
    warehouse: Warehouse,
    done: dict[dt.date, list[tuple[str, str]]],
    first_day: dt.date,
    first_step: str,
    flow_run_id: str,
) -> None:
    """After a range run: record every (day, step, fingerprint) it completed and forget what
    they replaced, in one MERGE, as `settle` of each day in order would have left the table.

    The run ran everything from (`first_day`, `first_step`) on: the records of that step and
    every later step of `first_day`, and of every later day, are deleted unless completed again.
    """
    rows = [
        (day, step, STEPS.index(step), fp, flow_run_id, "done", 0, None)
        for day, steps in sorted(done.items())
        for step, fp in steps
    ]
    if not rows and not warehouse.exists(tables.FLOW_PROGRESS):
        return
    source = warehouse.spark.createDataFrame(rows, SCHEMA).coalesce(1)
    rank = STEPS.index(first_step)
    stale = (
        f"t.day > DATE'{first_day.isoformat()}' "
        f"OR (t.day = DATE'{first_day.isoformat()}' AND t.step_rank >= {rank})"
    )
    warehouse.merge(source, tables.FLOW_PROGRESS, delete_if=stale, evolve_schema=True)
