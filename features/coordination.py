"""Coordination (SynchroTrap): accounts running the same scripts in the same week.

An account's actions are the distinct prompt templates it sent in the `window_days` days up to
the feature date (silver `template_counts`), for every account active on the feature date.
Templates sent by more than `max_action_accounts` accounts in the window are dropped first (a
popular template is not coordination, and it would make LSH buckets and the candidate pairs
quadratic); accounts left with fewer than `min_actions` templates are not compared. MinHash LSH
(`pyspark.ml.feature.MinHashLSH`, `approxSimilarityJoin`) finds pairs with Jaccard similarity
>= `min_jaccard` without comparing all pairs; the similarity of every pair it returns is exact.
Connected components of those links are the coordination clusters.

Why a week of templates and not (template, clock hour) pairs of one day, as SynchroTrap's
hourly actions: a hydra account spreads a few dozen requests a day over a large shared template
pool, so two accounts of one campaign rarely hit the same template in the same hour. On the
simulator (docs/features.md, "Coordination") the best (template, hour) Jaccard of an attacker
was ~0.1 (nobody linked at 0.5), while over a week of templates the campaigns form pure clusters
at 0.25 and solo developers stay unlinked. The time is kept by the window: accounts that share a
template pool in the same week.
"""

from __future__ import annotations

import datetime as dt

from pyspark.ml.feature import HashingTF, MinHashLSH
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.graph import DRIVER_MAX_ROWS, connected_components
from features.windows import in_window

# 2^20 hashed action slots: collisions between a day's distinct actions are negligible.
NUM_FEATURES = 1 << 20


def action_sets(
    silver: DataFrame,
    feature_date: dt.date,
    window_days: int,
    max_action_accounts: int,
    min_actions: int,
) -> DataFrame:
    """(account_id, actions) of accounts active on the feature date: their templates of the
    window after the popularity cap, at least `min_actions` of them."""
    active = silver.where(F.col("event_date") == F.lit(feature_date)).select("account_id")
    acts = (
        silver.where(in_window(feature_date, window_days))
        .select("account_id", F.explode(F.map_keys("template_counts")).alias("action"))
        .distinct()
    )
    popular = (
        acts.groupBy("action")
        .agg(F.count(F.lit(1)).alias("n"))
        .where(F.col("n") > max_action_accounts)
    )
    kept = acts.join(active, "account_id").join(popular, "action", "left_anti")
    return (
        kept.groupBy("account_id")
        .agg(F.array_sort(F.collect_set("action")).alias("actions"))
        .where(F.size("actions") >= min_actions)
    )


def similar_pairs(sets: DataFrame, min_jaccard: float, num_tables: int, seed: int) -> DataFrame:
    """(a, b, similarity) for a < b with Jaccard(actions) >= min_jaccard."""
    tf = HashingTF(inputCol="actions", outputCol="vec", numFeatures=NUM_FEATURES, binary=True)
    vecs = tf.transform(sets).select("account_id", "vec")
    model = MinHashLSH(inputCol="vec", outputCol="hashes", numHashTables=num_tables, seed=seed).fit(
        vecs
    )
    hashed = model.transform(vecs)
    # approxSimilarityJoin keeps distance < threshold; the tiny margin makes it "<=".
    max_dist = 1.0 - min_jaccard
    pairs = model.approxSimilarityJoin(hashed, hashed, max_dist + 1e-9, distCol="dist")
    return (
        pairs.select(
            F.col("datasetA.account_id").alias("a"),
            F.col("datasetB.account_id").alias("b"),
            (F.lit(1.0) - F.col("dist")).alias("similarity"),
        )
        .where(F.col("a") < F.col("b"))
        .distinct()
    )


def coordination_features(
    silver: DataFrame,
    feature_date: dt.date,
    *,
    window_days: int,
    min_jaccard: float,
    min_actions: int,
    max_action_accounts: int,
    num_tables: int,
    seed: int,
    max_iter: int,
    driver_max_rows: int = DRIVER_MAX_ROWS,
) -> tuple[DataFrame, int]:
    """Per account active on the feature date: actions, links, and its coordination cluster.

    Returns (frame with account_id, coord_templates_7d, coord_degree, coord_max_similarity,
    coord_cluster_id (null when unlinked); connected-component rounds, 0 when nobody linked).
    """
    active = silver.where(F.col("event_date") == F.lit(feature_date)).select("account_id")
    sets = action_sets(
        silver, feature_date, window_days, max_action_accounts, min_actions
    ).localCheckpoint()
    n_actions = active.join(
        sets.select("account_id", F.size("actions").alias("coord_templates_7d")),
        "account_id",
        "left",
    ).select("account_id", F.coalesce("coord_templates_7d", F.lit(0)).alias("coord_templates_7d"))
    if sets.isEmpty():
        empty = n_actions.select(
            "account_id",
            "coord_templates_7d",
            F.lit(0).alias("coord_degree"),
            F.lit(0.0).alias("coord_max_similarity"),
            F.lit(None).cast("string").alias("coord_cluster_id"),
        )
        return empty, 0
    pairs = similar_pairs(sets, min_jaccard, num_tables, seed).localCheckpoint()
    both = pairs.select(F.col("a").alias("account_id"), "similarity").unionByName(
        pairs.select(F.col("b").alias("account_id"), "similarity")
    )
    links = both.groupBy("account_id").agg(
        F.count(F.lit(1)).alias("coord_degree"),
        F.max("similarity").alias("coord_max_similarity"),
    )
    membership = pairs.select(
        F.col("a").alias("node"), F.concat_ws("|", "a", "b").alias("group")
    ).unionByName(pairs.select(F.col("b").alias("node"), F.concat_ws("|", "a", "b").alias("group")))
    comps, rounds = connected_components(membership, max_iter, driver_max_rows)
    out = (
        n_actions.join(links, "account_id", "left")
        .join(
            comps.select(
                F.col("node").alias("account_id"), F.col("component").alias("coord_cluster_id")
            ),
            "account_id",
            "left",
        )
        .select(
            "account_id",
            "coord_templates_7d",
            F.coalesce("coord_degree", F.lit(0)).alias("coord_degree"),
            F.coalesce("coord_max_similarity", F.lit(0.0)).alias("coord_max_similarity"),
            "coord_cluster_id",
        )
    )
    return out, rounds
