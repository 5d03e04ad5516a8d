"""The feature job: bronze usage events -> silver/account_daily -> gold/account_features.

`run_features_range(rt, D1, D2)` computes the feature dates D1..D2 in one job (module promise
below, per date, as one run per date in order would leave the tables); `run_features(rt, D)` is
the range of one day. `run_features(rt, feature_date)` recomputes silver for the feature date, for the
earlier days late deliveries have touched since they were computed (`dirty_days`, at most
`settings.max_late_days` back) and for days of the 28-day lookback that bronze has but silver
never computed (the first run of a fresh warehouse); then gold for the feature date and for
every earlier feature date already computed that a recomputed day feeds. Each write replaces
exactly its partitions (`replaceWhere`), so re-running a day gives the same tables, and a
backfill (`backfill_features`, a range) gives the same tables as daily runs.

Bronze is read at one pinned Delta version per run. What each silver day and feature date was
computed from is recorded in `meta/features_runs` (one row per kind and day: the bronze version
and the deliveries of `meta/ingest_audit` that had touched the day), which is how a later run
knows a day is stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.daily import EVENT_COLUMNS, account_daily
from features.gold import GraphParams, gold_features
from features.windows import LOOKBACK_DAYS
from hydrawatch.errors import HydrawatchError, NoLandingData
from hydrawatch.failpoints import failpoint
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.spark import session_conf
from hydrawatch.storage import tables
from hydrawatch.storage.warehouse import Warehouse

USAGE_FEED = "usage_events"
RUNS_DDL = (
    "kind string, day date, computed_for date, bronze_version bigint, "
    "deliveries array<string>, feature_set_version string"
)


class FeaturesInputMissing(HydrawatchError):
    """An input the feature job needs (bronze, an account snapshot) is missing."""


@dataclass(frozen=True)
class FeaturesResult:
    feature_date: dt.date
    bronze_version: int
    silver_days: tuple[dt.date, ...]  # silver days recomputed by this run
    gold_dates: tuple[dt.date, ...]  # feature dates (re)written by this run
    dirty_days: tuple[dt.date, ...]  # earlier days late deliveries made stale
    rows: int  # gold rows written for feature_date
    infra_cc_rounds: int
    coord_cc_rounds: int


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def delivery_signatures(warehouse: Warehouse, days: list[dt.date]) -> dict[dt.date, list[str]]:
    """Per event day: the usage deliveries (`delivery_date[:late count]`) that touched it.

    Read from meta/ingest_audit's `touched_event_dates`; a day no audit row mentions (or no
    audit table) has an empty signature. Bounded: a handful of days, a few rows each.
    """
    audit = warehouse.read_if_exists(tables.INGEST_AUDIT) if days else None
    if audit is None:
        return {d: [] for d in days}
    if "feed" in audit.columns:
        audit = audit.where(F.col("feed") == USAGE_FEED)
    touched = audit.select(
        "delivery_date",
        *(["late_by_day"] if "late_by_day" in audit.columns else []),
        F.explode("touched_event_dates").alias("day"),
    ).where(F.col("day").isin(list(days)))
    late = (
        F.coalesce(F.try_element_at("late_by_day", F.col("day")).cast("string"), F.lit(""))
        if "late_by_day" in audit.columns
        else F.lit("")
    )
    sig = touched.select(
        "day", F.concat_ws(":", F.col("delivery_date").cast("string"), late).alias("s")
    ).distinct()
    out: dict[dt.date, list[str]] = {d: [] for d in days}
    for row in sig.collect():
        out[row["day"]].append(row["s"])
    return {d: sorted(v) for d, v in out.items()}


def _recorded(warehouse: Warehouse) -> dict[str, dict[dt.date, list[str]]]:
    """meta/features_runs as {kind: {day: deliveries}} (a few rows per computed day)."""
    out: dict[str, dict[dt.date, list[str]]] = {"silver": {}, "gold": {}}
    runs = warehouse.read_if_exists(tables.FEATURES_RUNS)
    if runs is None:
        return out
    for r in runs.select("kind", "day", "deliveries").collect():
        out.setdefault(r["kind"], {})[r["day"]] = sorted(r["deliveries"] or [])
    return out


def dirty_days(rt: Runtime, feature_date: dt.date) -> list[dt.date]:
    """Earlier event days whose silver is stale: a delivery touched them since they were computed.

    Only days within `settings.max_late_days` before the feature date are considered (no
    delivery can touch an older day, landing contract), and only days silver already computed
    (a day never computed is simply computed, not "dirty").
    """
    warehouse = rt.warehouse
    return _dirty(warehouse, rt.settings, feature_date, _recorded(warehouse)["silver"])


def _dirty(
    warehouse: Warehouse,
    settings: Settings,
    feature_date: dt.date,
    recorded: dict[dt.date, list[str]],
) -> list[dt.date]:
    if settings.max_late_days == 0:
        return []
    candidates = _days(feature_date - dt.timedelta(days=settings.max_late_days), feature_date)[:-1]
    computed = [d for d in candidates if d in recorded]
    current = delivery_signatures(warehouse, computed)
    return [d for d in computed if current[d] != recorded[d]]


def _bronze(warehouse: Warehouse) -> tuple[DataFrame, int]:
    if not warehouse.exists(tables.BRONZE_USAGE_EVENTS):
        raise NoLandingData(
            f"no bronze usage events at {warehouse.location(tables.BRONZE_USAGE_EVENTS)}; "
            "run ingest first"
        )
    return warehouse.read_pinned(tables.BRONZE_USAGE_EVENTS)


def _releases(warehouse: Warehouse) -> DataFrame:
    releases = warehouse.read_if_exists(tables.BRONZE_MODEL_RELEASES)
    if releases is not None:
        return releases.select("model", "released_at")
    # No calendar delivered yet: no model counts as new (the release features are 0).
    return warehouse.spark.createDataFrame([], "model string, released_at timestamp")


def _record(warehouse: Warehouse, rows: list[tuple]) -> None:
    """Upsert what each (kind, day) was computed from into meta/features_runs."""
    new = warehouse.spark.createDataFrame(rows, RUNS_DDL)
    warehouse.merge(new, tables.FEATURES_RUNS)


@dataclass(frozen=True)
class FeaturesRange:
    """What `run_features_range` did: one result per feature date computed, in order, and, when
    it stopped before the end of the range, the date it stopped at and why."""

    results: list[FeaturesResult]
    stopped_at: dt.date | None = None
    error: HydrawatchError | None = None


def run_features(rt: Runtime, feature_date: dt.date) -> FeaturesResult:
    """Silver and gold for `feature_date`, plus the earlier days late data made stale: the
    range of one day."""
    done = run_features_range(rt, feature_date, feature_date)
    if done.error is not None:
        raise done.error
    return done.results[0]


def _snapshot_days(warehouse: Warehouse) -> list[dt.date]:
    """The days of `bronze/accounts` snapshots (one small action; the table's partitions)."""
    accounts = warehouse.read_if_exists(tables.BRONZE_ACCOUNTS)
    if accounts is None:
        return []
    return sorted(r[0] for r in accounts.select("snapshot_date").distinct().collect())


def run_features_range(rt: Runtime, start: dt.date, end: dt.date) -> FeaturesRange:
    """Silver and gold for the feature dates `start`..`end` in one job: the tables one
    `run_features` per day, in order, leaves once bronze holds the range's deliveries.

    Silver: every event day any of those runs would compute (the range, the days before it late
    data made stale, the days of the lookback silver never computed) in one aggregation and one
    write. Gold: each feature date's graph and coordination parts are per date (their windows
    end on it); the dates are written in one replace. A feature date without events in bronze
    or without an account snapshot stops the range there: the dates before it are computed.
    """
    from features.catalogue import FEATURE_SET_VERSION

    settings, warehouse = rt.settings, rt.warehouse
    first = start - dt.timedelta(days=LOOKBACK_DAYS - 1)
    # The deliveries that touched each day are read BEFORE bronze is pinned: a delivery's audit
    # row is written after its bronze merge, so every delivery named here is in the pinned
    # version. Read after, a delivery ingested meanwhile (another day's run) would be recorded as
    # computed while its late events are not in this run's silver, and no run would see it dirty.
    signatures = delivery_signatures(warehouse, _days(first, end))
    bronze, version = _bronze(warehouse)
    present = {
        r["event_date"]
        for r in bronze.where(
            (F.col("event_date") >= F.lit(first)) & (F.col("event_date") <= F.lit(end))
        )
        .select("event_date")
        .distinct()
        .collect()
    }
    snapshots = _snapshot_days(warehouse)

    def latest_snapshot(day: dt.date) -> dt.date | None:
        on_or_before = [d for d in snapshots if d <= day]
        return on_or_before[-1] if on_or_before else None

    dates: list[dt.date] = []
    stop: tuple[dt.date, HydrawatchError] | None = None
    for day in _days(start, end):
        if day not in present:
            stop = (
                day,
                NoLandingData(f"no usage events in bronze for {day}; run ingest for {day} first"),
            )
        elif latest_snapshot(day) is None:
            stop = (
                day,
                FeaturesInputMissing(
                    f"no account snapshot on or before {day} in bronze/accounts; "
                    f"ingest the accounts delivery for {day} first"
                ),
            )
        if stop:
            break
        dates.append(day)
    if not dates:
        return FeaturesRange([], *stop)
    last = dates[-1]

    recorded = _recorded(warehouse)
    recorded_silver, recorded_gold = recorded["silver"], recorded["gold"]
    # Of the days before the range, a day run of a range date recomputes those late data made
    # stale (its first max_late_days) and those silver never computed (its lookback).
    dirty = _dirty(warehouse, settings, start, recorded_silver)
    missing = {d for d in present if d not in recorded_silver and d <= last}
    silver_days = sorted({*dates, *dirty, *missing})

    events = bronze.where(F.col("event_date").isin(silver_days)).select(*EVENT_COLUMNS)
    # A new feature set version may add columns: the tables gain them (older rows read as null
    # and are never mixed with the new version's rows by training or scoring).
    warehouse.replace_days(
        account_daily(events), tables.SILVER_ACCOUNT_DAILY, silver_days, merge_schema=True
    )
    failpoint("features.after_silver")

    stale_gold = [d for d in recorded_gold if dirty and min(dirty) <= d < start]
    gold_dates = sorted({*stale_gold, *dates})
    silver = warehouse.read(tables.SILVER_ACCOUNT_DAILY)
    releases = _releases(warehouse)
    accounts = warehouse.read(tables.BRONZE_ACCOUNTS)
    params = GraphParams.from_settings(settings)
    stats = {}
    gold = None
    # Gold's plans are wide (about 300 columns through a dozen joins) over a few rows per
    # account: compiling whole stages cost more than running them interpreted
    # (bench/README.md, "The feature job day after day").
    with session_conf(warehouse.spark, {"spark.sql.codegen.wholeStage": "false"}):
        for day in gold_dates:
            snapshot = accounts.where(F.col("snapshot_date") == F.lit(latest_snapshot(day)))
            part, stats[day] = gold_features(silver, snapshot, releases, day, params)
            gold = part if gold is None else gold.unionByName(part)
        warehouse.replace_days(gold, tables.FEATURES_ACCOUNT, gold_dates, merge_schema=True)
    rows = _rows_by_date(warehouse, gold_dates, dates)

    failpoint("features.before_record")
    _record(
        warehouse,
        [("silver", d, last, version, signatures[d], FEATURE_SET_VERSION) for d in silver_days]
        + [("gold", d, last, version, [], FEATURE_SET_VERSION) for d in gold_dates],
    )
    results = []
    for day in dates:
        # The first date's run is the one that recomputes what lies before the range.
        before = day == start
        results.append(
            FeaturesResult(
                feature_date=day,
                bronze_version=version,
                silver_days=tuple(d for d in silver_days if d == day or (before and d < start)),
                gold_dates=tuple(d for d in gold_dates if d == day or (before and d < start)),
                dirty_days=tuple(dirty) if before else (),
                rows=rows.get(day, 0),
                infra_cc_rounds=stats[day].infra_cc_rounds,
                coord_cc_rounds=stats[day].coord_cc_rounds,
            )
        )
    return FeaturesRange(results, *(stop or (None, None)))


def _rows_by_date(
    warehouse: Warehouse, written: list[dt.date], wanted: list[dt.date]
) -> dict[dt.date, int]:
    """Gold rows per feature date just written: from the Delta log for one date, else one
    count over the written partitions."""
    if len(written) == 1:
        return {written[0]: warehouse.rows_written(tables.FEATURES_ACCOUNT)}
    gold = warehouse.read(tables.FEATURES_ACCOUNT).where(F.col("feature_date").isin(wanted))
    return {r[0]: r[1] for r in gold.groupBy("feature_date").count().collect()}


def backfill_features(rt: Runtime, start: dt.date, end: dt.date) -> list[FeaturesResult]:
    """The feature dates from start to end (same tables as daily runs); raises where it stops."""
    done = run_features_range(rt, start, end)
    if done.error is not None:
        raise done.error
    return done.results
