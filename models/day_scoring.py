"""Scoring one feature day into a pair of tables: the daily score step and shadow scoring.

What it promises (issue 6, contracts/outputs.md; `jobs/score.py` and `jobs/shadow.py` call it):
- A model whose `feature_set_version` or `feature_names` do not match the day's feature table is
  refused (`ModelFeatureMismatch`) before anything is scored or written.
- Every account in gold/account_features for the day (the accounts active in the feature window,
  which includes every account with an event that day) gets one row in the scores table; if an
  account with an event that day has no feature row, the day stops (`DataQualityError`) instead
  of silently leaving it out.
- Scoring runs on the executors (`models.champion.LoadedModel.score_spark`): the model's files are
  downloaded once on the driver and shipped as an archive, so executors never need to reach the
  driver's disk or the MLflow store; this works on a cluster too
  (tests/integration/test_pipeline_cluster.py).
- The roll-up and the structural flags (`models.scoring`) run on the day's clusters.
- `PUBLISHED` targets: re-running a day replaces exactly that day's partitions; `SHADOW`
  targets: only that model version's rows of the day.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.clusters import cluster_evidence, org_sizes
from hydrawatch.errors import DataQualityError, HydrawatchError
from hydrawatch.failpoints import failpoint
from hydrawatch.storage import tables
from hydrawatch.storage.warehouse import Warehouse
from models import scoring
from models.champion import LoadedModel, ModelVersion
from models.scoring import StructureRule

# Accounts per scoring task: enough that loading the model (imports + files) is a small share
# of a task, few enough that a day of a few million accounts spreads over the whole cluster.
ROWS_PER_SCORING_TASK = 50_000
# How many account ids an error message lists as examples (the rest are counted).
EXAMPLES_IN_MESSAGES = 3


class MissingInput(HydrawatchError):
    """A table the job reads does not exist or holds nothing for the day."""


@dataclass(frozen=True)
class ScoreResult:
    score_date: dt.date
    model_name: str
    model_version: str
    threshold: float
    accounts_scored: int
    flagged: int
    flagged_by_score: int
    flagged_by_cluster: int
    scores_table: str
    details_table: str


@dataclass(frozen=True)
class Targets:
    """Where a scored day goes: the published pair, or the shadow pair (one model's rows)."""

    scores: tables.Table
    details: tables.Table
    shadow: bool = False


PUBLISHED = Targets(tables.GOLD_ACCOUNT_SCORES, tables.FLAG_DETAILS)
SHADOW = Targets(tables.SHADOW_SCORES, tables.SHADOW_FLAG_DETAILS, shadow=True)


def score_day(
    warehouse: Warehouse, score_date: dt.date, loaded: LoadedModel, targets: Targets = PUBLISHED
) -> ScoreResult:
    """Score the day with a loaded model into `targets` (a shadow run replaces only its own
    model version's rows of the day)."""
    model = loaded.model
    spark = warehouse.spark
    day_features = warehouse.day(tables.FEATURES_ACCOUNT, score_date)
    # One small action: the feature set versions of the day (normally one) and the row count.
    per_version = day_features.groupBy("feature_set_version").count().limit(5).collect()
    versions = [r["feature_set_version"] for r in per_version]
    rows = sum(int(r["count"]) for r in per_version)
    if not versions:
        raise MissingInput(
            f"no features for {score_date} in {warehouse.location(tables.FEATURES_ACCOUNT)}; run "
            f"`hydrawatch backfill --start {score_date} --end {score_date} --steps features`"
        )

    loaded.check(scoring.feature_columns(day_features.columns), versions)
    _check_active_accounts_have_features(warehouse, score_date, day_features)

    frame = scoring.features_for_day(day_features, score_date, model.feature_names)
    frame = frame.repartition(scoring_partitions(rows, spark.sparkContext.defaultParallelism))
    # Before the model is shipped to the executors: a failure here leaves no archive registered.
    structure = structure_evidence(warehouse, score_date, day_features)
    scored = loaded.score_spark(frame)
    flagged = scoring.flag_by_score(scored, model.threshold)
    members = structure.members if structure is not None else _org_sizes(warehouse, score_date)
    if members is not None:
        flagged = flagged.join(members, "account_id", "left")
    rolled = scoring.cluster_rollup(
        flagged,
        structure=None if structure is None else structure.clusters,
        rule=StructureRule.from_settings(warehouse.settings),
    )
    rolled = rolled.persist()
    # A shadow day holds one set of rows per model version: each run replaces only its own.
    own = f"model_version = '{model.version}'" if targets.shadow else None
    try:
        warehouse.replace_days(
            account_scores(rolled, score_date, model), targets.scores, [score_date], also=own
        )
        if not targets.shadow:
            failpoint("score.after_scores")
        warehouse.replace_days(
            flag_details(rolled, score_date, model), targets.details, [score_date], also=own
        )
    finally:
        rolled.unpersist()

    written_details = warehouse.day(targets.details, score_date)
    written_scores = warehouse.day(targets.scores, score_date)
    if own:
        written_details, written_scores = written_details.where(own), written_scores.where(own)
    # One aggregate over what was written (not over the scoring plan, which would score again).
    counts = written_details.agg(
        F.count(F.lit(1)).alias("flagged"),
        F.sum((F.col("flagged_by") == "score").cast("int")).alias("by_score"),
    ).first()
    scored_n = written_scores.count()
    flagged = int(counts["flagged"] or 0)
    by_score = int(counts["by_score"] or 0)
    return ScoreResult(
        score_date=score_date,
        model_name=model.name,
        model_version=model.version,
        threshold=float(model.threshold),
        accounts_scored=scored_n,
        flagged=flagged,
        flagged_by_score=by_score,
        flagged_by_cluster=flagged - by_score,
        scores_table=warehouse.location(targets.scores),
        details_table=warehouse.location(targets.details),
    )


@dataclass(frozen=True)
class StructureInputs:
    clusters: DataFrame  # the day's clusters flagged on structure (`scoring.structure_flags`)
    members: DataFrame  # account_id, org_accounts (`features.clusters.org_sizes`)


def _org_sizes(warehouse: Warehouse, day: dt.date) -> DataFrame | None:
    snapshot = warehouse.latest_snapshot(day)
    return None if snapshot is None else org_sizes(snapshot.select("account_id", "org_id"))


def structure_evidence(
    warehouse: Warehouse, day: dt.date, day_features: DataFrame
) -> StructureInputs | None:
    """What the structural flags of the day read, or None when they are turned off
    (`structure_flags=false`)."""
    settings = warehouse.settings
    if not settings.structure_flags:
        return None
    silver = warehouse.day(tables.SILVER_ACCOUNT_DAILY, day)
    snapshot = warehouse.latest_snapshot(day)
    if silver is None or snapshot is None:
        raise MissingInput(
            f"structural flags for {day} need silver/account_daily and an accounts snapshot; "
            f"run `hydrawatch backfill --start {day} --end {day} --steps ingest,features`"
        )
    orgs = snapshot.select("account_id", "org_id")
    evidence = cluster_evidence(day_features, silver, orgs)
    # Few rows (the flagged clusters): computed once, joined into the roll-up.
    clusters = scoring.structure_flags(evidence, StructureRule.from_settings(settings))
    return StructureInputs(clusters.localCheckpoint(), org_sizes(orgs))


def scoring_partitions(rows: int, parallelism: int) -> int:
    """Tasks for scoring `rows` accounts: one per ROWS_PER_SCORING_TASK, at most the cluster's
    parallelism. Each task loads the model once (seconds of imports), so a small day should not
    pay that in many tasks, and a big day should use every core."""
    return max(1, min(max(1, parallelism), math.ceil(rows / ROWS_PER_SCORING_TASK)))


def account_scores(rolled: DataFrame, day: dt.date, model: ModelVersion) -> DataFrame:
    """The contract columns of gold/account_scores for the day."""
    return rolled.select(
        F.lit(day).alias("score_date"),
        F.col("account_id").cast("string").alias("account_id"),
        F.col("score").cast("double").alias("score"),
        F.col("flagged").cast("boolean").alias("flagged"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).alias("model_version"),
    )


def flag_details(rolled: DataFrame, day: dt.date, model: ModelVersion) -> DataFrame:
    """The day's flagged accounts with reasons and cluster, for the publish job."""
    flagged = rolled.where(F.col("flagged"))
    explained = scoring.reason_codes(flagged, model.feature_names)
    return explained.select(
        F.lit(day).alias("score_date"),
        "account_id",
        "score",
        "flagged_by",
        "cluster_kind",
        "cluster_id",
        "cluster_size",
        "cluster_flagged",
        "reasons",
        "reasons_text",
        "rollup_reason",
        F.lit(float(model.threshold)).alias("threshold"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).alias("model_version"),
    )


def _check_active_accounts_have_features(
    warehouse: Warehouse, day: dt.date, day_features: DataFrame
) -> None:
    if not warehouse.exists(tables.BRONZE_USAGE_EVENTS):
        raise MissingInput(
            f"bronze usage events does not exist at "
            f"{warehouse.location(tables.BRONZE_USAGE_EVENTS)}; run "
            "`hydrawatch backfill --steps ingest` first"
        )
    active = warehouse.day(tables.BRONZE_USAGE_EVENTS, day).select("account_id").distinct()
    missing = active.join(day_features.select("account_id"), "account_id", "left_anti")
    n = missing.count()
    if n:
        examples = [
            r.account_id
            for r in missing.orderBy("account_id").limit(EXAMPLES_IN_MESSAGES).collect()
        ]
        raise DataQualityError(
            f"{n} account(s) with events on {day} have no features for that day "
            f"(e.g. {', '.join(examples)}); recompute the day's features before scoring"
        )
