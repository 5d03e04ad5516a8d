"""Job: score one day with the champion model -> gold/account_scores and gold/flag_details.

What it promises (issue 6, contracts/outputs.md):
- The alias `champion` is resolved ONCE per run (`MlflowClient.get_model_version_by_alias`); that
  version is recorded with every row. No champion -> `NoChampionModel`, saying how to make one.
- A model whose `feature_set_version` or `feature_names` do not match the day's feature table is
  refused (`ModelFeatureMismatch`) before anything is scored or written.
- Every account in gold/account_features for the day (the accounts active in the feature window,
  which includes every account with an event that day) gets one row in gold/account_scores; if an
  account with an event that day has no feature row, the day stops (`DataQualityError`) instead of
  silently leaving it out.
- Scoring runs on the executors (`mapInPandas`): the model's files are downloaded once on the
  driver (`mlflow.artifacts.download_artifacts`), zipped and shipped with
  `SparkContext.addArchive`, so each executor fetches and unpacks its own copy and each task loads
  the model once (a Python worker keeps it for the next tasks). This works on a cluster too
  (tests/integration/test_pipeline_cluster.py): executors never need to reach the driver's disk or
  the MLflow store. (`addFile` of a folder is refused outside local mode, hence the archive.)
- Re-running a day replaces exactly that day's partitions (`replaceWhere score_date = D`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from hydrawatch import tables
from hydrawatch.commits import retry_conflicts
from hydrawatch.errors import DataQualityError, HydrawatchError, NoChampionModel
from hydrawatch.failpoints import failpoint
from hydrawatch.settings import Settings
from models import scoring

CHAMPION = "champion"
# Accounts per scoring task: enough that loading the model (imports + files) is a small share
# of a task, few enough that a day of a few million accounts spreads over the whole cluster.
ROWS_PER_SCORING_TASK = 50_000
# How many account ids an error message lists as examples (the rest are counted).
EXAMPLES_IN_MESSAGES = 3


class MissingInput(HydrawatchError):
    """A table the job reads does not exist or holds nothing for the day."""


class ChampionUnavailable(HydrawatchError):
    """The champion version's artifact files cannot be downloaded or loaded."""


@dataclass(frozen=True)
class ChampionModel:
    """The champion as resolved for one run."""

    name: str
    version: str
    threshold: float
    feature_names: tuple[str, ...]
    feature_set_version: str | None
    ship_dir: str  # unique per run: the folder zipped for SparkContext.addArchive
    model_subpath: str  # the MLflow model folder inside ship_dir

    @property
    def label(self) -> str:
        return f"model {self.name} version {self.version} (champion)"


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


def run_score(spark: SparkSession, settings: Settings, score_date: dt.date) -> ScoreResult:
    """Score `score_date` with the champion and write the day's scores and flag details."""
    workdir = tempfile.mkdtemp(prefix="hydrawatch-score-")
    try:
        model = resolve_champion(settings, workdir)
        return _score_day(spark, settings, score_date, model)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _score_day(
    spark: SparkSession, settings: Settings, score_date: dt.date, model: ChampionModel
) -> ScoreResult:
    features_path = settings.table(tables.FEATURES_ACCOUNT)
    _require_table(
        spark, features_path, "the feature table", "hydrawatch backfill --steps features"
    )
    day_features = (
        spark.read.format("delta")
        .load(features_path)
        .where(F.col("feature_date") == F.lit(score_date))
    )
    # One small action: the feature set versions of the day (normally one) and the row count.
    per_version = day_features.groupBy("feature_set_version").count().limit(5).collect()
    versions = [r["feature_set_version"] for r in per_version]
    rows = sum(int(r["count"]) for r in per_version)
    if not versions:
        raise MissingInput(
            f"no features for {score_date} in {features_path}; run "
            f"`hydrawatch backfill --start {score_date} --end {score_date} --steps features`"
        )

    scoring.check_model_matches(
        model.feature_names,
        model.feature_set_version,
        scoring.feature_columns(day_features.columns),
        versions,
        model.label,
    )
    _check_active_accounts_have_features(spark, settings, score_date, day_features)

    frame = scoring.features_for_day(day_features, score_date, model.feature_names)
    frame = frame.repartition(scoring_partitions(rows, spark.sparkContext.defaultParallelism))
    scored = score_on_executors(spark, frame, model)
    rolled = scoring.cluster_rollup(scoring.flag_by_score(scored, model.threshold))
    rolled = rolled.persist()
    try:
        _write_day(
            account_scores(rolled, score_date, model),
            settings.table(tables.GOLD_ACCOUNT_SCORES),
            score_date,
        )
        failpoint("score.after_scores")
        _write_day(
            flag_details(rolled, score_date, model),
            settings.table(tables.FLAG_DETAILS),
            score_date,
        )
    finally:
        rolled.unpersist()

    # One aggregate over what was written (not over the scoring plan, which would score again).
    counts = (
        spark.read.format("delta")
        .load(settings.table(tables.FLAG_DETAILS))
        .where(F.col("score_date") == F.lit(score_date))
        .agg(
            F.count(F.lit(1)).alias("flagged"),
            F.sum((F.col("flagged_by") == "score").cast("int")).alias("by_score"),
        )
        .first()
    )
    scored_n = (
        spark.read.format("delta")
        .load(settings.table(tables.GOLD_ACCOUNT_SCORES))
        .where(F.col("score_date") == F.lit(score_date))
        .count()
    )
    flagged = int(counts["flagged"] or 0)
    by_score = int(counts["by_score"] or 0)
    return ScoreResult(
        score_date=score_date,
        model_name=model.name,
        model_version=model.version,
        threshold=model.threshold,
        accounts_scored=scored_n,
        flagged=flagged,
        flagged_by_score=by_score,
        flagged_by_cluster=flagged - by_score,
        scores_table=settings.table(tables.GOLD_ACCOUNT_SCORES),
        details_table=settings.table(tables.FLAG_DETAILS),
    )


def scoring_partitions(rows: int, parallelism: int) -> int:
    """Tasks for scoring `rows` accounts: one per ROWS_PER_SCORING_TASK, at most the cluster's
    parallelism. Each task loads the model once (seconds of imports), so a small day should not
    pay that in many tasks, and a big day should use every core."""
    return max(1, min(max(1, parallelism), math.ceil(rows / ROWS_PER_SCORING_TASK)))


def resolve_champion(settings: Settings, workdir: str) -> ChampionModel:
    """Resolve alias `champion` once and download that version's files under `workdir`."""
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from models.registry import client

    mlf = client(settings)
    try:
        mv = mlf.get_model_version_by_alias(settings.model_name, CHAMPION)
    except MlflowException:
        raise NoChampionModel(
            f"no version of model {settings.model_name} holds alias `champion` in "
            f"{_safe_uri(settings.tracking_uri)}: run `hydrawatch retrain --as-of D` "
            "then `hydrawatch promote`"
        ) from None
    version = str(mv.version)
    # A folder name unique to this run: Spark refuses a file or archive name registered twice.
    target = tempfile.mkdtemp(prefix=f"model-v{version}-", dir=workdir)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{settings.model_name}/{version}", dst_path=target
        )
        metadata = dict(Model.load(local).metadata or {})
        # Loaded once on the driver too: a version whose files are gone or incomplete is
        # refused here, before anything is scored, not in the middle of the executors' work.
        mlflow.pyfunc.load_model(local)
    except Exception as err:
        raise ChampionUnavailable(
            f"model {settings.model_name} version {version} (champion) cannot be loaded: its "
            f"artifact files are missing or incomplete ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:160]}); nothing was scored; promote a version that "
            "loads (`hydrawatch promote --version V`) or `hydrawatch rollback`"
        ) from None
    tags = dict(mv.tags or {})
    threshold = metadata.get("threshold", tags.get("threshold"))
    names = metadata.get("feature_names", tags.get("feature_names"))
    if isinstance(names, str):
        names = json.loads(names) if names.startswith("[") else names.split(",")
    fsv = metadata.get("feature_set_version", tags.get("feature_set_version"))
    if threshold is None:
        raise HydrawatchError(
            f"model {settings.model_name} version {version} records no threshold; "
            "it was not logged by `hydrawatch retrain`: promote another version"
        )
    return ChampionModel(
        name=settings.model_name,
        version=version,
        threshold=float(threshold),
        feature_names=tuple(n for n in (names or []) if n),
        feature_set_version=None if fsv is None else str(fsv),
        ship_dir=target,
        model_subpath=os.path.relpath(local, target),
    )


def score_on_executors(spark: SparkSession, frame: DataFrame, model: ChampionModel) -> DataFrame:
    """`frame` plus `score` and `contrib__<feature>`, predicted by the model on the executors."""
    # A folder cannot be shipped with addFile to a cluster (Spark refuses local directories
    # outside local mode); an archive is unpacked by each executor under SparkFiles.get(name).
    ship_dir = os.path.normpath(model.ship_dir)
    archive = shutil.make_archive(ship_dir, "zip", root_dir=ship_dir)
    spark.sparkContext.addArchive(archive)
    shipped = (os.path.basename(archive), model.model_subpath)
    names = list(model.feature_names)
    out_schema = StructType(
        list(frame.schema.fields)
        + [StructField("score", DoubleType(), False)]
        + [StructField(f"{scoring.CONTRIB_PREFIX}{n}", DoubleType(), False) for n in names]
    )

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _predict_batches(batches, shipped, names)

    return frame.mapInPandas(predict, out_schema)


# Per Python worker: workers are reused across tasks, so a model is loaded once per worker and
# shipped folder, not once per batch.
_LOADED: dict[tuple[str, str], object] = {}


def _predict_batches(
    batches: Iterator[pd.DataFrame], shipped: tuple[str, str], names: Sequence[str]
) -> Iterator[pd.DataFrame]:
    import numpy as np
    from pyspark import SparkFiles

    model = _LOADED.get(shipped)
    if model is None:
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(os.path.join(SparkFiles.get(shipped[0]), shipped[1]))
        _LOADED.clear()  # keep only the current champion in memory
        _LOADED[shipped] = model
    contrib_cols = [f"{scoring.CONTRIB_PREFIX}{n}" for n in names]
    for pdf in batches:
        if pdf.empty:
            continue
        pred = model.predict(pdf[list(names)])  # type: ignore[attr-defined]
        # One concat, not a column insert per feature (pandas fragments the frame otherwise).
        added = {"score": np.clip(pred["score"].to_numpy(dtype="float64"), 0.0, 1.0)}
        added.update({col: pred[col].to_numpy(dtype="float64") for col in contrib_cols})
        yield pd.concat([pdf, pd.DataFrame(added, index=pdf.index)], axis=1)


def account_scores(rolled: DataFrame, day: dt.date, model: ChampionModel) -> DataFrame:
    """The contract columns of gold/account_scores for the day."""
    return rolled.select(
        F.lit(day).alias("score_date"),
        F.col("account_id").cast("string").alias("account_id"),
        F.col("score").cast("double").alias("score"),
        F.col("flagged").cast("boolean").alias("flagged"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).alias("model_version"),
    )


def flag_details(rolled: DataFrame, day: dt.date, model: ChampionModel) -> DataFrame:
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
        F.lit(model.threshold).alias("threshold"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).alias("model_version"),
    )


def _check_active_accounts_have_features(
    spark: SparkSession, settings: Settings, day: dt.date, day_features: DataFrame
) -> None:
    events_path = settings.table(tables.BRONZE_USAGE_EVENTS)
    _require_table(spark, events_path, "bronze usage events", "hydrawatch backfill --steps ingest")
    active = (
        spark.read.format("delta")
        .load(events_path)
        .where(F.col("event_date") == F.lit(day))
        .select("account_id")
        .distinct()
    )
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


def _require_table(spark: SparkSession, path: str, what: str, how: str) -> None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        raise MissingInput(f"{what} does not exist at {path}; run `{how}` first")


def _write_day(df: DataFrame, path: str, day: dt.date) -> None:
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"score_date = DATE'{day.isoformat()}'")
        .partitionBy("score_date")
    )
    retry_conflicts(lambda: writer.save(path), f"replace {day} in {path}")


def _safe_uri(uri: str) -> str:
    # A tracking URI can carry a password (postgresql://user:pw@host/db); never print it.
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri
