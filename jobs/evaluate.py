"""Evaluation report: per campaign and per legitimate population, against the simulator's truth
when there is one, else against the labels known as of the report's last day.

Promise: `run_evaluate(rt, as_of, start=None, version=None)` decides which accounts
were flagged on days `start..as_of` (all days up to `as_of` without `start`): from
`gold/account_scores` when that table exists and `version` is not given, otherwise by scoring
`gold/account_features` with the given version (default: the champion) at its stored threshold,
through the model boundary (`models.champion`: resolved once, loaded, checked, scored).
It joins the flags with `<truth>/accounts` (the simulator's truth, when the truth root holds one)
or, on real data, with the labels known as of `as_of` (`judged_by = "labels"`: the latest
decision per account delivered and decided by then, appeals included; a `distillation` account
belongs to its label's campaign, or `(unnamed)`; a `benign` one to population
`labelled benign`; unlabelled accounts are unknown and left out), reports recall, precision,
false-positive rate and days
from a campaign's first activity (first event, else first feature row) to its first flag, logs
the report (CSV + JSON + metrics) to one MLflow run in `settings.mlflow_experiment`, and returns
it. An account counts on the days it sent traffic (`active_days`). Only per-group aggregates
reach the driver.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import (
    BRONZE_LABELS,
    BRONZE_USAGE_EVENTS,
    FEATURES_ACCOUNT,
    GOLD_ACCOUNT_SCORES,
)
from hydrawatch.storage.warehouse import Warehouse
from models import champion
from models.champion import LoadedModel
from models.evaluation import active_days, summarise, truth_groups
from models.inputs import current_labels, read_truth
from models.registry import ensure_experiment


@dataclass(frozen=True)
class EvaluateResult:
    run_id: str
    source: str  # "account_scores" or "features"
    model_version: str
    start: dt.date | None
    as_of: dt.date
    report: pd.DataFrame
    overall: dict[str, float] = field(default_factory=dict)
    judged_by: str = "truth"  # "truth" (the simulator's) or "labels" (known as of as_of)


def _window(df: DataFrame, col: str, start: dt.date | None, as_of: dt.date) -> DataFrame:
    df = df.where(F.col(col) <= F.lit(as_of))
    return df.where(F.col(col) >= F.lit(start)) if start else df


# The feature that says an account sent traffic on the feature day itself.
def flags_from_scores(scores: DataFrame) -> DataFrame:
    """Per account: ever flagged, first flagged day (from `gold/account_scores` rows)."""
    return scores.groupBy("account_id").agg(
        F.max(F.col("flagged").cast("int")).cast("boolean").alias("flagged"),
        F.min(F.when(F.col("flagged"), F.col("score_date"))).alias("first_flag_date"),
    )


def score_features(features: DataFrame, model: LoadedModel, threshold: float) -> DataFrame:
    """Score feature rows with a loaded model on the executors: account_id, score_date, score,
    flagged (score at or above `threshold`)."""
    names = list(model.model.feature_names)
    rows = features.select(
        "account_id",
        F.col("feature_date").alias("score_date"),
        *[F.col(n).cast("double").alias(n) for n in names],
    )
    scored = model.score_spark(rows).select("account_id", "score_date", "score")
    return scored.withColumn("flagged", F.col("score") >= F.lit(threshold))


def first_activity(warehouse: Warehouse, features: DataFrame) -> DataFrame:
    if warehouse.exists(BRONZE_USAGE_EVENTS):
        events, _ = warehouse.read_pinned(BRONZE_USAGE_EVENTS)
        return events.groupBy("account_id").agg(F.min("event_date").alias("first_activity_date"))
    return features.groupBy("account_id").agg(F.min("feature_date").alias("first_activity_date"))


def _training_run(rt: Runtime, model_version: str) -> str | None:
    """The MLflow run that logged `model_version` (None for several versions or an unknown one)."""
    if not model_version or "," in model_version:
        return None
    try:
        return champion.version(rt, model_version).run_id
    except HydrawatchError:
        return None


def _report(
    warehouse: Warehouse, truth: DataFrame, features: DataFrame, scores: DataFrame
) -> tuple[pd.DataFrame, dict[str, float]]:
    # Only accounts with traffic in the window count: an attacker with no request in it could
    # not have been flagged (it was banned, or rotated out), and counting it would make a
    # one-day report meaningless.
    flags = flags_from_scores(scores.join(active_days(features), ["account_id", "score_date"]))
    accounts = (
        truth.select("account_id", "population", "campaign_id", "is_attacker")
        .join(flags, "account_id", "inner")
        .join(first_activity(warehouse, features), "account_id", "left")
    )
    groups = truth_groups(accounts).toPandas()  # one row per campaign / population
    return summarise(groups)


def _metric_safe(name: str) -> str:
    # MLflow metric keys allow letters, digits, _ - . / and spaces only.
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def run_evaluate(
    rt: Runtime,
    as_of: dt.date,
    *,
    start: dt.date | None = None,
    version: str | None = None,
) -> EvaluateResult:
    import mlflow

    settings, warehouse = rt.settings, rt.warehouse
    truth, truth_version = read_truth(warehouse)
    judged_by = "truth"
    versions: dict[str, int] = {}
    if truth is not None:
        versions["truth/accounts"] = truth_version
    elif warehouse.exists(BRONZE_LABELS):
        labels, label_version = warehouse.read_pinned(BRONZE_LABELS)
        truth = labels_as_truth(labels, as_of)
        judged_by, versions[BRONZE_LABELS.name] = "labels", label_version
    else:
        raise HydrawatchError(
            f"nothing to evaluate against: no truth table at {settings.truth_uri}/accounts and "
            f"no labels at {warehouse.location(BRONZE_LABELS)}; ingest the labels first"
        )
    features, fv = warehouse.read_pinned(FEATURES_ACCOUNT)
    features = _window(features, "feature_date", start, as_of)
    versions[FEATURES_ACCOUNT.name] = fv
    with contextlib.ExitStack() as stack:
        if version is None and warehouse.exists(GOLD_ACCOUNT_SCORES):
            scores, sv = warehouse.read_pinned(GOLD_ACCOUNT_SCORES)
            scores = _window(scores, "score_date", start, as_of)
            versions[GOLD_ACCOUNT_SCORES.name] = sv
            used = scores.select("model_version").distinct().limit(20).toPandas()["model_version"]
            model_version = ",".join(sorted(str(v) for v in used))
            source = "account_scores"
        else:
            model = champion.version(rt, version) if version else champion.resolve_champion(rt)
            model_version = model.version
            loaded = stack.enter_context(champion.load(rt, model))
            scores = score_features(features, loaded, float(model.threshold))
            source = "features"
        # The groups are computed while the model's files are there (scoring is lazy).
        report, overall = _report(warehouse, truth, features, scores)
    experiment_id = ensure_experiment(rt)
    tags = {"hydrawatch.kind": "evaluation", "as_of": as_of.isoformat()}
    parent = _training_run(rt, model_version)
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
                "judged_by": judged_by,
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
    return EvaluateResult(
        run.info.run_id, source, model_version, start, as_of, report, overall, judged_by
    )


def labels_as_truth(labels: DataFrame, as_of: dt.date) -> DataFrame:
    """The labels known as of `as_of` in the truth table's shape: account_id, population,
    campaign_id, is_attacker (labelled accounts only)."""
    decided = current_labels(labels, as_of)
    attacker = F.col("label") == "distillation"
    return decided.select(
        "account_id",
        F.when(attacker, F.lit(None).cast("string"))
        .otherwise(F.lit("labelled benign"))
        .alias("population"),
        F.when(attacker, F.coalesce(F.col("campaign_id"), F.lit("(unnamed)"))).alias("campaign_id"),
        attacker.alias("is_attacker"),
    )
