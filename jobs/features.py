"""The feature job: bronze usage events -> silver/account_daily -> gold/account_features.

`run_features(rt, feature_date)` recomputes silver for the feature date, for the
earlier days late deliveries have touched since they were computed (`dirty_days`, at most
`settings.max_late_days` back) and for days of the 28-day lookback that bronze has but silver
never computed (the first run of a fresh warehouse); then gold for the feature date and for
every earlier feature date already computed that a recomputed day feeds. Each write replaces
exactly its partitions (`replaceWhere`), so re-running a day gives the same tables, and a
backfill (`backfill_features`, one day after the other) gives the same tables as daily runs.

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


def _snapshot(warehouse: Warehouse, feature_date: dt.date) -> DataFrame:
    snapshot = warehouse.latest_snapshot(feature_date)
    if snapshot is None:
        raise FeaturesInputMissing(
            f"no account snapshot on or before {feature_date} in bronze/accounts; "
            f"ingest the accounts delivery for {feature_date} first"
        )
    return snapshot


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


def run_features(rt: Runtime, feature_date: dt.date) -> FeaturesResult:
    """Silver and gold for `feature_date`, plus the earlier days late data made stale."""
    from features.catalogue import FEATURE_SET_VERSION

    settings, warehouse = rt.settings, rt.warehouse
    first = feature_date - dt.timedelta(days=LOOKBACK_DAYS - 1)
    # The deliveries that touched each day are read BEFORE bronze is pinned: a delivery's audit
    # row is written after its bronze merge, so every delivery named here is in the pinned
    # version. Read after, a delivery ingested meanwhile (another day's run) would be recorded as
    # computed while its late events are not in this run's silver, and no run would see it dirty.
    signatures = delivery_signatures(warehouse, _days(first, feature_date))
    bronze, version = _bronze(warehouse)
    present = {
        r["event_date"]
        for r in bronze.where(
            (F.col("event_date") >= F.lit(first)) & (F.col("event_date") <= F.lit(feature_date))
        )
        .select("event_date")
        .distinct()
        .collect()
    }
    if feature_date not in present:
        raise NoLandingData(
            f"no usage events in bronze for {feature_date}; run ingest for {feature_date} first"
        )
    recorded = _recorded(warehouse)
    recorded_silver, recorded_gold = recorded["silver"], recorded["gold"]
    dirty = _dirty(warehouse, settings, feature_date, recorded_silver)
    missing = {d for d in present if d not in recorded_silver}
    silver_days = sorted({feature_date, *dirty, *missing})

    events = bronze.where(F.col("event_date").isin(silver_days)).select(*EVENT_COLUMNS)
    # A new feature set version may add columns: the tables gain them (older rows read as null
    # and are never mixed with the new version's rows by training or scoring).
    warehouse.replace_days(
        account_daily(events), tables.SILVER_ACCOUNT_DAILY, silver_days, merge_schema=True
    )
    failpoint("features.after_silver")

    stale_gold = [d for d in recorded_gold if dirty and min(dirty) <= d < feature_date]
    gold_dates = sorted({*stale_gold, feature_date})
    silver = warehouse.read(tables.SILVER_ACCOUNT_DAILY)
    releases = _releases(warehouse)
    params = GraphParams.from_settings(settings)
    rows = infra_rounds = coord_rounds = 0
    for day in gold_dates:
        gold, stats = gold_features(silver, _snapshot(warehouse, day), releases, day, params)
        warehouse.replace_days(gold, tables.FEATURES_ACCOUNT, [day], merge_schema=True)
        if day == feature_date:
            rows = warehouse.rows_written(tables.FEATURES_ACCOUNT)
            infra_rounds, coord_rounds = stats.infra_cc_rounds, stats.coord_cc_rounds

    failpoint("features.before_record")
    _record(
        warehouse,
        [
            ("silver", d, feature_date, version, signatures[d], FEATURE_SET_VERSION)
            for d in silver_days
        ]
        + [("gold", d, feature_date, version, [], FEATURE_SET_VERSION) for d in gold_dates],
    )
    return FeaturesResult(
        feature_date=feature_date,
        bronze_version=version,
        silver_days=tuple(silver_days),
        gold_dates=tuple(gold_dates),
        dirty_days=tuple(dirty),
        rows=rows,
        infra_cc_rounds=infra_rounds,
        coord_cc_rounds=coord_rounds,
    )


def backfill_features(rt: Runtime, start: dt.date, end: dt.date) -> list[FeaturesResult]:
    """`run_features` for every day from start to end, in order (same tables as daily runs)."""
    return [run_features(rt, d) for d in _days(start, end)]
