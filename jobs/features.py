"""The feature job: bronze usage events -> silver/account_daily -> gold/account_features.

`run_features(spark, settings, feature_date)` recomputes silver for the feature date, for the
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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.daily import EVENT_COLUMNS, account_daily
from features.gold import GraphParams, gold_features
from features.windows import LOOKBACK_DAYS
from hydrawatch import tables
from hydrawatch.commits import retry_conflicts
from hydrawatch.errors import HydrawatchError, NoLandingData
from hydrawatch.failpoints import failpoint
from hydrawatch.settings import Settings

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


def _is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _sql_dates(days) -> str:
    return ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(days))


def delivery_signatures(
    spark: SparkSession, settings: Settings, days: list[dt.date]
) -> dict[dt.date, list[str]]:
    """Per event day: the usage deliveries (`delivery_date[:late count]`) that touched it.

    Read from meta/ingest_audit's `touched_event_dates`; a day no audit row mentions (or no
    audit table) has an empty signature. Bounded: a handful of days, a few rows each.
    """
    path = settings.table(tables.INGEST_AUDIT)
    if not days or not _is_delta(spark, path):
        return {d: [] for d in days}
    audit = spark.read.format("delta").load(path)
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


def _recorded(spark: SparkSession, settings: Settings) -> dict[str, dict[dt.date, list[str]]]:
    """meta/features_runs as {kind: {day: deliveries}} (a few rows per computed day)."""
    out: dict[str, dict[dt.date, list[str]]] = {"silver": {}, "gold": {}}
    path = settings.table(tables.FEATURES_RUNS)
    if not _is_delta(spark, path):
        return out
    for r in spark.read.format("delta").load(path).select("kind", "day", "deliveries").collect():
        out.setdefault(r["kind"], {})[r["day"]] = sorted(r["deliveries"] or [])
    return out


def dirty_days(spark: SparkSession, settings: Settings, feature_date: dt.date) -> list[dt.date]:
    """Earlier event days whose silver is stale: a delivery touched them since they were computed.

    Only days within `settings.max_late_days` before the feature date are considered (no
    delivery can touch an older day, landing contract), and only days silver already computed
    (a day never computed is simply computed, not "dirty").
    """
    return _dirty(spark, settings, feature_date, _recorded(spark, settings)["silver"])


def _dirty(
    spark: SparkSession,
    settings: Settings,
    feature_date: dt.date,
    recorded: dict[dt.date, list[str]],
) -> list[dt.date]:
    if settings.max_late_days == 0:
        return []
    candidates = _days(feature_date - dt.timedelta(days=settings.max_late_days), feature_date)[:-1]
    computed = [d for d in candidates if d in recorded]
    current = delivery_signatures(spark, settings, computed)
    return [d for d in computed if current[d] != recorded[d]]


def _bronze(spark: SparkSession, settings: Settings) -> tuple[DataFrame, int]:
    from delta.tables import DeltaTable

    path = settings.table(tables.BRONZE_USAGE_EVENTS)
    if not _is_delta(spark, path):
        raise NoLandingData(f"no bronze usage events at {path}; run ingest first")
    version = DeltaTable.forPath(spark, path).history(1).select("version").first()["version"]
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    return df, int(version)


def _snapshot(spark: SparkSession, settings: Settings, feature_date: dt.date) -> DataFrame:
    path = settings.table(tables.BRONZE_ACCOUNTS)
    if _is_delta(spark, path):
        accounts = spark.read.format("delta").load(path)
        latest = (
            accounts.where(F.col("snapshot_date") <= F.lit(feature_date))
            .agg(F.max("snapshot_date"))
            .first()[0]
        )
        if latest is not None:
            return accounts.where(F.col("snapshot_date") == F.lit(latest))
    raise FeaturesInputMissing(
        f"no account snapshot on or before {feature_date} in bronze/accounts; "
        f"ingest the accounts delivery for {feature_date} first"
    )


def _releases(spark: SparkSession, settings: Settings) -> DataFrame:
    path = settings.table(tables.BRONZE_MODEL_RELEASES)
    if _is_delta(spark, path):
        return spark.read.format("delta").load(path).select("model", "released_at")
    # No calendar delivered yet: no model counts as new (the release features are 0).
    return spark.createDataFrame([], "model string, released_at timestamp")


def _write_partitions(df: DataFrame, path: str, column: str, days) -> None:
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        # A new feature set version may add columns: the table gains them (older rows read as
        # null and are never mixed with the new version's rows by training or scoring).
        .option("mergeSchema", "true")
        .option("replaceWhere", f"{column} IN ({_sql_dates(days)})")
        .partitionBy(column)
    )
    retry_conflicts(lambda: writer.save(path), f"replace {column} {days} in {path}")


def _rows_written(spark: SparkSession, path: str) -> int:
    """Rows of the last write, from the Delta log (no second pass over the data)."""
    from delta.tables import DeltaTable

    metrics = DeltaTable.forPath(spark, path).history(1).first()["operationMetrics"] or {}
    return int(metrics.get("numOutputRows", 0))


def _record(spark: SparkSession, settings: Settings, rows: list[tuple]) -> None:
    from delta.tables import DeltaTable

    path = settings.table(tables.FEATURES_RUNS)
    new = spark.createDataFrame(rows, RUNS_DDL)

    def write() -> None:
        if not _is_delta(spark, path):
            # Append, not overwrite: a run creating the table beside another must not wipe the
            # other's rows (a concurrent create is a conflict, retried as a MERGE).
            new.write.format("delta").mode("append").save(path)
            return
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(new.alias("s"), "t.kind = s.kind AND t.day = s.day")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    retry_conflicts(write, f"record in {path}")


def run_features(spark: SparkSession, settings: Settings, feature_date: dt.date) -> FeaturesResult:
    """Silver and gold for `feature_date`, plus the earlier days late data made stale."""
    from features.catalogue import FEATURE_SET_VERSION

    first = feature_date - dt.timedelta(days=LOOKBACK_DAYS - 1)
    # The deliveries that touched each day are read BEFORE bronze is pinned: a delivery's audit
    # row is written after its bronze merge, so every delivery named here is in the pinned
    # version. Read after, a delivery ingested meanwhile (another day's run) would be recorded as
    # computed while its late events are not in this run's silver, and no run would see it dirty.
    signatures = delivery_signatures(spark, settings, _days(first, feature_date))
    bronze, version = _bronze(spark, settings)
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
    recorded = _recorded(spark, settings)
    recorded_silver, recorded_gold = recorded["silver"], recorded["gold"]
    dirty = _dirty(spark, settings, feature_date, recorded_silver)
    missing = {d for d in present if d not in recorded_silver}
    silver_days = sorted({feature_date, *dirty, *missing})

    silver_path = settings.table(tables.SILVER_ACCOUNT_DAILY)
    events = bronze.where(F.col("event_date").isin(silver_days)).select(*EVENT_COLUMNS)
    _write_partitions(account_daily(events), silver_path, "event_date", silver_days)
    failpoint("features.after_silver")

    stale_gold = [d for d in recorded_gold if dirty and min(dirty) <= d < feature_date]
    gold_dates = sorted({*stale_gold, feature_date})
    silver = spark.read.format("delta").load(silver_path)
    releases = _releases(spark, settings)
    params = GraphParams.from_settings(settings)
    gold_path = settings.table(tables.FEATURES_ACCOUNT)
    rows = infra_rounds = coord_rounds = 0
    for day in gold_dates:
        gold, stats = gold_features(silver, _snapshot(spark, settings, day), releases, day, params)
        _write_partitions(gold, gold_path, "feature_date", [day])
        if day == feature_date:
            rows = _rows_written(spark, gold_path)
            infra_rounds, coord_rounds = stats.infra_cc_rounds, stats.coord_cc_rounds

    failpoint("features.before_record")
    _record(
        spark,
        settings,
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


def backfill_features(
    spark: SparkSession, settings: Settings, start: dt.date, end: dt.date
) -> list[FeaturesResult]:
    """`run_features` for every day from start to end, in order (same tables as daily runs)."""
    return [run_features(spark, settings, d) for d in _days(start, end)]
