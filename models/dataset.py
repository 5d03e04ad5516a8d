"""Point-in-time training rows: pure Spark transforms, no I/O.

Promises (docs/model.md explains the choices):
- `feature_columns(df)` is the model's feature list: every numeric column of
  `gold/account_features` except the key, the trailing metadata columns and `MODEL_EXCLUDED`,
  in table order.
- `labelled_rows` gives one row per labelled account: its current decision as of `as_of` (the
  caller passes `current_labels(labels, as_of)`, restricted to decisions taken by `as_of`) joined
  with the account's latest feature row dated strictly before the day of that decision and not
  after `as_of`. No feature row seen by training was computed after the decision it is labelled
  with, and no decision delivered after `as_of` is used.
- `unlabelled_rows` gives a deterministic, bounded sample of accounts without a decision as
  negatives (one pseudo-randomly chosen feature day each, so they spread over time like the
  labelled rows), leaving out accounts that share a cluster with a labelled distillation account
  (likely attackers not yet labelled), accounts the caller names as structural suspects (members
  of a cluster the structural rule flags: a coordinated young operation nobody labelled yet is
  unknown, not benign) and accounts first seen less than the label-maturity window before
  `as_of` (too new to have been labelled yet). `weight_pop` = 1 / sampling
  fraction lets the sample stand for all unlabelled accounts when precision and false-positive
  rates are estimated.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.clusters import CLUSTER_KINDS

KEY_COLUMNS = ("account_id", "feature_date")
# Catalogue features the model does not read. Raw IP-diversity counts grow with volume: trees on
# them alone flagged resellers (17 countries, hundreds of /24s) like hydra accounts, and at tiny
# scale too few resellers reach training to teach otherwise. The model reads the same counts per
# request (`*_per_request_*`) instead; the raw counts stay in the table for analysts.
MODEL_EXCLUDED = (
    "distinct_ip_countries_7d",
    "distinct_ip_countries_28d",
    "distinct_ip_prefixes_7d",
    "distinct_asns_7d",
)
META_COLUMNS = ("feature_set_version", "infra_cluster_id", "coord_cluster_id")
POSITIVE_LABEL = "distillation"
# Columns every training row carries besides the features.
ROW_COLUMNS = (
    "account_id",
    "feature_date",
    "label",
    "is_labelled",
    "label_campaign_id",
    "weight_pop",
    "infra_cluster_id",
    "coord_cluster_id",
)
_NUMERIC = (T.DoubleType, T.FloatType, T.LongType, T.IntegerType, T.ShortType, T.DecimalType)


def feature_columns(features: DataFrame) -> list[str]:
    skip = set(KEY_COLUMNS) | set(META_COLUMNS) | set(MODEL_EXCLUDED)
    return [
        f.name
        for f in features.schema.fields
        if f.name not in skip and isinstance(f.dataType, _NUMERIC)
    ]


def decisions_known(labels: DataFrame, as_of: dt.date) -> DataFrame:
    """Label rows a retrain as of `as_of` may see: delivered and decided by the end of that day."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    return labels.where(
        (F.col("delivery_date") <= F.lit(as_of)) & (F.col("decided_at") < F.lit(end))
    )


def _select_row(df: DataFrame, feature_names: list[str], label, is_labelled, campaign, weight):
    return df.select(
        "account_id",
        "feature_date",
        label.cast("int").alias("label"),
        F.lit(is_labelled).alias("is_labelled"),
        campaign.cast("string").alias("label_campaign_id"),
        weight.cast("double").alias("weight_pop"),
        "infra_cluster_id",
        "coord_cluster_id",
        *[F.col(c).cast("double").alias(c) for c in feature_names],
    )


def labelled_rows(
    features: DataFrame, current: DataFrame, as_of: dt.date, feature_names: list[str]
) -> DataFrame:
    """One row per labelled account: its latest features from before its current decision."""
    decisions = current.select(
        "account_id",
        F.to_date("decided_at").alias("_decided_day"),
        (F.col("label") == POSITIVE_LABEL).alias("_positive"),
        F.col("campaign_id").alias("_campaign"),
    )
    joined = features.where(F.col("feature_date") <= F.lit(as_of)).join(decisions, "account_id")
    joined = joined.where(F.col("feature_date") < F.col("_decided_day"))
    latest = Window.partitionBy("account_id").orderBy(F.col("feature_date").desc())
    picked = joined.withColumn("_rn", F.row_number().over(latest)).where(F.col("_rn") == 1)
    return _select_row(
        picked, feature_names, F.col("_positive"), True, F.col("_campaign"), F.lit(1.0)
    )


def suspect_clusters(labelled: DataFrame) -> DataFrame:
    """Cluster ids (either kind) holding a labelled distillation account, one column `cluster`."""
    pos = labelled.where(F.col("label") == 1)
    return (
        pos.select(F.col("infra_cluster_id").alias("cluster"))
        .union(pos.select(F.col("coord_cluster_id").alias("cluster")))
        .where(F.col("cluster").isNotNull())
        .distinct()
    )


def unlabelled_candidates(
    features: DataFrame,
    current: DataFrame,
    labelled: DataFrame,
    as_of: dt.date,
    maturity_days: int = 0,
    suspects: DataFrame | None = None,
) -> DataFrame:
    """Feature rows (up to `as_of`) of accounts with no decision, no suspect cluster, not among
    `suspects` (column `account_id`), and a first feature row at least `maturity_days` before
    `as_of`."""
    rows = features.where(F.col("feature_date") <= F.lit(as_of)).join(
        current.select("account_id"), "account_id", "left_anti"
    )
    if maturity_days > 0:
        # Labels arrive days after the behaviour: an account first seen in the last
        # `maturity_days` had no time to be labelled, so it is unknown, not a negative. (On the
        # demo window every unlabelled campaign account among the negatives was 1-2 days old:
        # replacements for banned accounts, pushing the threshold above a whole campaign.)
        cutoff = as_of - dt.timedelta(days=maturity_days)
        mature = (
            rows.groupBy("account_id")
            .agg(F.min("feature_date").alias("_first"))
            .where(F.col("_first") <= F.lit(cutoff))
            .select("account_id")
        )
        rows = rows.join(mature, "account_id")
    # An account linked to a suspect cluster on any day stays out on every day.
    tainted = (
        rows.select(
            "account_id",
            F.explode(F.array("infra_cluster_id", "coord_cluster_id")).alias("cluster"),
        )
        .join(F.broadcast(suspect_clusters(labelled)), "cluster")
        .select("account_id")
        .distinct()
    )
    out = rows.join(tainted, "account_id", "left_anti")
    if suspects is not None:
        out = out.join(suspects.select("account_id").distinct(), "account_id", "left_anti")
    return out


def structure_suspects(
    flagged_clusters: DataFrame, features: DataFrame, eligible: DataFrame
) -> DataFrame:
    """Accounts (`account_id`) that were members of a cluster flagged on structure on some day
    and could be flagged through it (`eligible`: account_id, the structural rule's member
    guard). `flagged_clusters`: feature_date, cluster_kind, cluster_id, as
    `models.scoring.structure_flags` gives them."""
    member_rows = None
    for kind, col in CLUSTER_KINDS:
        part = features.select(
            "account_id",
            "feature_date",
            F.lit(kind).alias("cluster_kind"),
            F.col(col).cast("string").alias("cluster_id"),
        )
        member_rows = part if member_rows is None else member_rows.unionByName(part)
    key = ["feature_date", "cluster_kind", "cluster_id"]
    return (
        member_rows.join(flagged_clusters.select(*key), key)
        .join(eligible.select("account_id"), "account_id")
        .select("account_id")
        .distinct()
    )


def account_sample(rows: DataFrame, fraction: float, seed: int) -> DataFrame:
    """The rows of a deterministic `fraction` of accounts, chosen by a hash of `account_id`.

    Unlike `DataFrame.sample`, which rows are kept does not depend on how they are partitioned
    or ordered, so the same inputs and seed always give the same sample.
    """
    bucket = F.pmod(F.xxhash64(F.col("account_id"), F.lit(seed)), F.lit(1_000_000))
    return rows.where(bucket < F.lit(round(fraction * 1_000_000)))


def unlabelled_rows(
    candidates: DataFrame, feature_names: list[str], fraction: float, seed: int
) -> DataFrame:
    """A deterministic `fraction` of candidate accounts, one pseudo-random feature day each."""
    fraction = min(1.0, max(0.0, fraction))
    sampled = account_sample(candidates, fraction, seed)
    pick = Window.partitionBy("account_id").orderBy(
        F.xxhash64(F.col("account_id"), F.col("feature_date"), F.lit(seed + 1)),
        F.col("feature_date"),
    )
    one = sampled.withColumn("_rn", F.row_number().over(pick)).where(F.col("_rn") == 1)
    weight = 1.0 / fraction if fraction > 0 else 0.0
    return _select_row(
        one, feature_names, F.lit(0), False, F.lit(None).cast("string"), F.lit(weight)
    )


def with_truth(rows: DataFrame, truth: DataFrame | None) -> DataFrame:
    """Attach the simulator's truth (population, is_attacker) for reporting only, never training."""
    if truth is None:
        return rows.withColumn("population", F.lit(None).cast("string")).withColumn(
            "is_attacker", F.lit(None).cast("boolean")
        )
    t = truth.select(
        "account_id",
        F.col("population").cast("string"),
        F.col("is_attacker").cast("boolean"),
    )
    return rows.join(t, "account_id", "left")
