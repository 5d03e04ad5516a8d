"""Measuring registered model versions: on a recent labelled period (the promotion gate) and
against the simulator's truth (the evaluation report).

Promises:
- `period_metrics(rt, versions, as_of)` scores every version on the same rows: the
  point-in-time rows of `models.inputs.training_frame` whose feature day lies in the last
  `settings.gate_period_days` days up to `as_of` (default: the latest feature day), and returns
  per version PR-AUC and precision / recall / FPR at that version's stored threshold.
  Each version is read, loaded and checked through the model boundary (`models.champion`, the
  exact feature contract). A version whose feature list does not match the table, or whose
  artifact files cannot be loaded, cannot be measured (its metrics are empty and `reasons` says
  why), so the gate never compares on different inputs and a broken champion does not block a
  sound challenger.
- `truth_groups(accounts)` (Spark) reduces per-account flags joined with the truth to one row per
  campaign and per legitimate population; `summarise(groups)` (pandas, those few rows) adds
  recall, precision, false-positive rate and days from a campaign's first activity to its first
  flag, and the overall figures. Nothing account-sized reaches the driver.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import FEATURES_ACCOUNT
from models import champion
from models import metrics as M
from models.inputs import training_frame


@dataclass
class PeriodMetrics:
    start: dt.date  # first feature day of the period (inclusive)
    end: dt.date
    rows: int
    positives: int
    by_version: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def latest_feature_date(rt: Runtime) -> dt.date:
    features, _ = rt.warehouse.read_pinned(FEATURES_ACCOUNT)
    return features.agg(F.max("feature_date")).first()[0]


def metrics_at_threshold(
    y: np.ndarray, score: np.ndarray, w: np.ndarray, threshold: float
) -> dict[str, float]:
    out = {"pr_auc": M.pr_auc(y, score, w)}
    at = M.rates_at(y, score, threshold, w)
    out.update(
        {
            "precision_at_threshold": at["precision"],
            "recall_at_threshold": at["recall"],
            "fpr_at_threshold": at["fpr"],
            "threshold": float(threshold),
        }
    )
    return out


def period_metrics(
    rt: Runtime,
    versions: list[str],
    as_of: dt.date | None = None,
    period_days: int | None = None,
) -> PeriodMetrics:
    end = as_of or latest_feature_date(rt)
    start = end - dt.timedelta(days=(period_days or rt.settings.gate_period_days) - 1)
    frame = training_frame(rt, end, since=start - dt.timedelta(days=1))
    rows = frame.rows
    y = rows["label"].to_numpy(int)
    w = rows["weight_pop"].to_numpy(float)
    result = PeriodMetrics(start, end, len(rows), int(y.sum()))
    for version in versions:
        model = champion.version(rt, version)
        problem = champion.contract_problem(
            model.feature_names,
            model.feature_set_version,
            frame.feature_names,
            [frame.feature_set_version],
            f"v{version}",
            exact=True,
        )
        if problem is None:
            try:
                with champion.load(rt, model) as loaded:
                    score = loaded.predict(rows)["score"].to_numpy()
            except champion.ModelUnavailable:
                # Files gone or incomplete: this version cannot be measured (nor score).
                problem = (
                    f"v{version} cannot be loaded, its artifact files are missing or incomplete"
                )
        if problem:
            result.by_version[version] = {}
            result.reasons[version] = problem
            continue
        result.by_version[version] = metrics_at_threshold(y, score, w, float(model.threshold))
    return result


def truth_groups(accounts: DataFrame) -> DataFrame:
    """Per campaign and per legitimate population aggregates (a few rows), pure Spark.

    `accounts`: one row per account of the truth table with `population`, `campaign_id`,
    `is_attacker`, `flagged` (ever flagged in the window), `first_flag_date` (date or null) and
    `first_activity_date` (date or null).
    """
    a = accounts.withColumn("_f", F.coalesce(F.col("flagged"), F.lit(False)).cast("int"))
    campaigns = (
        a.where(F.col("is_attacker"))
        .groupBy(F.coalesce(F.col("campaign_id"), F.lit("(none)")).alias("name"))
        .agg(
            F.count("*").alias("accounts"),
            F.sum("_f").alias("flagged"),
            F.min("first_activity_date").alias("first_activity"),
            F.min("first_flag_date").alias("first_flag"),
        )
        .select(
            F.lit("campaign").alias("group"),
            "name",
            "accounts",
            "flagged",
            F.datediff("first_flag", "first_activity").cast("double").alias("days_to_first_flag"),
        )
    )
    populations = (
        a.where(~F.col("is_attacker"))
        .groupBy(F.coalesce(F.col("population"), F.lit("(none)")).alias("name"))
        .agg(F.count("*").alias("accounts"), F.sum("_f").alias("flagged"))
        .select(
            F.lit("legit_population").alias("group"),
            "name",
            "accounts",
            "flagged",
            F.lit(None).cast("double").alias("days_to_first_flag"),
        )
    )
    return campaigns.unionByName(populations)


def summarise(groups: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Recall, precision and FPR per group and overall, from `truth_groups` rows (pure pandas)."""
    g = groups.sort_values(["group", "name"]).reset_index(drop=True).copy()
    g["accounts"] = g["accounts"].astype(int)
    g["flagged"] = g["flagged"].astype(int)
    is_c = (g["group"] == "campaign").to_numpy()
    tp = int(g.loc[is_c, "flagged"].sum())
    fp = int(g.loc[~is_c, "flagged"].sum())
    attackers = int(g.loc[is_c, "accounts"].sum())
    legit = int(g.loc[~is_c, "accounts"].sum())
    g["recall"] = np.where(is_c, g["flagged"] / g["accounts"].clip(lower=1), np.nan)
    g["fpr"] = np.where(~is_c, g["flagged"] / g["accounts"].clip(lower=1), np.nan)
    # A false positive belongs to no campaign: each campaign's precision counts all of them.
    denom = (g["flagged"] + fp).replace(0, np.nan)
    g["precision"] = np.where(is_c, g["flagged"] / denom, np.nan)
    overall = {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / attackers if attackers else float("nan"),
        "fpr": fp / legit if legit else float("nan"),
        "flagged": float(tp + fp),
        "attackers": float(attackers),
        "legit": float(legit),
    }
    cols = ["group", "name", "accounts", "flagged", "recall", "precision", "fpr"]
    return g[[*cols, "days_to_first_flag"]], overall


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


def labelled_active(rows: DataFrame, features: DataFrame, labels: DataFrame) -> DataFrame:
    """The rows (account_id, score_date, ...) of labelled accounts on days they sent traffic,
    with `label` (`labels`: account_id, label). Pure."""
    return rows.join(active_days(features), ["account_id", "score_date"]).join(
        labels, "account_id", "inner"
    )
