"""Evaluation report against the simulator's truth: per campaign and per legitimate population.

Promise: `run_evaluate(spark, settings, as_of, start=None, version=None)` decides which accounts
were flagged on days `start..as_of` (all days up to `as_of` without `start`): from
`gold/account_scores` when that table exists and `version` is not given, otherwise by scoring
`gold/account_features` with the given version (default: the champion) at its stored threshold.
It joins the flags with `<truth>/accounts`, reports recall, precision, false-positive rate and days
from a campaign's first activity (first event, else first feature row) to its first flag, logs
the report (CSV + JSON + metrics) to one MLflow run in `settings.mlflow_experiment`, and returns
it. An account counts on the days it sent traffic (`active_days`). Only per-group aggregates
reach the driver.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.errors import HydrawatchError
from hydrawatch.settings import Settings
from hydrawatch.tables import BRONZE_USAGE_EVENTS, FEATURES_ACCOUNT, GOLD_ACCOUNT_SCORES
from models.evaluation import summarise, truth_groups
from models.inputs import delta_exists, read_pinned, read_truth
from models.registry import champion_version, ensure_experiment, load_pyfunc, version_info


@dataclass(frozen=True)
class EvaluateResult:
    run_id: str
    source: str  # "account_scores" or "features"
    model_version: str
    start: dt.date | None
    as_of: dt.date
    report: pd.DataFrame
    overall: dict[str, float] = field(default_factory=dict)


def _window(df: DataFrame, col: str, start: dt.date | None, as_of: dt.date) -> DataFrame:
    df = df.where(F.col(col) <= F.lit(as_of))
    return df.where(F.col(col) >= F.lit(start)) if start else df


# The feature that says an account sent traffic on the feature day itself.
ACTIVE_FEATURE = "requests_1d"


def active_days(features: DataFrame) -> DataFrame:
    """(account_id, score_date) of the accounts that sent at least one request that day.

    Gold holds a row for every account active in the 28 days before a feature date, so a banned
    account that went silent is still scored for four weeks; the report counts an account on
    the days it had traffic (the accounts `gold/account_scores` is promised for). A feature table
    without `requests_1d` (the synthetic test world) counts every row.
    """
    if ACTIVE_FEATURE in features.columns:
        features = features.where(F.col(ACTIVE_FEATURE) > 0)
    return features.select("account_id", F.col("feature_date").alias("score_date")).distinct()


def flags_from_scores(scores: DataFrame) -> DataFrame:
    """Per account: ever flagged, first flagged day (from `gold/account_scores` rows)."""
    return scores.groupBy("account_id").agg(
        F.max(F.col("flagged").cast("int")).cast("boolean").alias("flagged"),
        F.min(F.when(F.col("flagged"), F.col("score_date"))).alias("first_flag_date"),
    )


def score_features(
    features: DataFrame, booster_text: str, calibration, names: list[str], threshold: float
) -> DataFrame:
    """Score feature rows with a model's booster and calibration (vectorised, mapInPandas)."""

    def predict(batches):
        import lightgbm as lgb

        from models.pyfunc import score_frame

        booster = lgb.Booster(model_str=booster_text)
        for pdf in batches:
            out = score_frame(booster, calibration, names, pdf)
            yield pd.DataFrame(
                {
                    "account_id": pdf["account_id"].to_numpy(),
                    "score_date": pdf["feature_date"].to_numpy(),
                    "score": out["score"].to_numpy(),
                }
            )

    scored = features.select("account_id", "feature_date", *names).mapInPandas(
        predict, "account_id string, score_date date, score double"
    )
    return scored.withColumn("flagged", F.col("score") >= F.lit(threshold))


def first_activity(spark: SparkSession, settings: Settings, features: DataFrame) -> DataFrame:
    path = settings.table(BRONZE_USAGE_EVENTS)
    if delta_exists(spark, path):
        events, _ = read_pinned(spark, path)
        return events.groupBy("account_id").agg(F.min("event_date").alias("first_activity_date"))
    return features.groupBy("account_id").agg(F.min("feature_date").alias("first_activity_date"))


def _training_run(settings: Settings, model_version: str) -> str | None:
    """The MLflow run that logged `model_version` (None for several versions or an unknown one)."""
    if not model_version or "," in model_version:
        return None
    try:
        return version_info(settings, model_version).run_id
    except HydrawatchError:
        return None


def _metric_safe(name: str) -> str:
    # MLflow metric keys allow letters, digits, _ - . / and spaces only.
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def run_evaluate(
    spark: SparkSession,
    settings: Settings,
    as_of: dt.date,
    *,
    start: dt.date | None = None,
    version: str | None = None,
) -> EvaluateResult:
    import mlflow

    truth, truth_version = read_truth(spark, settings)
    if truth is None:
        raise HydrawatchError(
            f"no truth table at {settings.truth_uri}/accounts: the evaluation report needs the "
            "simulator's truth (run `hydrawatch simulate`)"
        )
    features, fv = read_pinned(spark, settings.table(FEATURES_ACCOUNT))
    features = _window(features, "feature_date", start, as_of)
    versions = {"truth/accounts": truth_version, FEATURES_ACCOUNT: fv}
    scores_path = settings.table(GOLD_ACCOUNT_SCORES)
    if version is None and delta_exists(spark, scores_path):
        scores, sv = read_pinned(spark, scores_path)
        scores = _window(scores, "score_date", start, as_of)
        versions[GOLD_ACCOUNT_SCORES] = sv
        used = scores.select("model_version").distinct().limit(20).toPandas()["model_version"]
        model_version = ",".join(sorted(str(v) for v in used))
        source = "account_scores"
    else:
        model_version = version or champion_version(settings)
        model = load_pyfunc(settings, model_version)
        inner = model.unwrap_python_model()
        meta = model.metadata.metadata
        scores = score_features(
            features,
            inner._booster.model_to_string(),
            inner._calibration,
            list(meta["feature_names"]),
            float(meta["threshold"]),
        )
        source = "features"
    # Only accounts with traffic in the window count: an attacker with no request in it could
    # not have been flagged (it was banned, or rotated out), and counting it would make a
    # one-day report meaningless.
    flags = flags_from_scores(scores.join(active_days(features), ["account_id", "score_date"]))
    accounts = (
        truth.select("account_id", "population", "campaign_id", "is_attacker")
        .join(flags, "account_id", "inner")
        .join(first_activity(spark, settings, features), "account_id", "left")
    )
    groups = truth_groups(accounts).toPandas()  # one row per campaign / population
    report, overall = summarise(groups)

    experiment_id = ensure_experiment(settings)
    tags = {"hydrawatch.kind": "evaluation", "as_of": as_of.isoformat()}
    parent = _training_run(settings, model_version)
    if parent:
        # Shown under the model's training run in the MLflow UI: the report is logged with it.
        tags["mlflow.parentRunId"] = parent
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"evaluate-{as_of.isoformat()}"
    ) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "start": start.isoformat() if start else "",
                "source": source,
                "model_version": model_version,
                **{f"data_version.{k}": v for k, v in versions.items()},
            }
        )
        metrics = {f"overall_{k}": v for k, v in overall.items() if pd.notna(v)}
        for row in report.itertuples():
            key = f"{row.group}.{_metric_safe(str(row.name))}"
            for m in ("recall", "precision", "fpr", "days_to_first_flag"):
                value = getattr(row, m)
                if pd.notna(value):
                    metrics[f"{key}.{m}"] = float(value)
        mlflow.log_metrics(metrics)
        mlflow.log_text(report.to_csv(index=False), "evaluation/report.csv")
        mlflow.log_text(
            json.dumps({"overall": overall, "groups": report.to_dict("records")}, default=str),
            "evaluation/report.json",
        )
    return EvaluateResult(run.info.run_id, source, model_version, start, as_of, report, overall)
