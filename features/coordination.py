"""Coordination (SynchroTrap): accounts doing the same things at the same time.

An account's actions on the feature date are its distinct (prompt template, clock hour) pairs
(silver `actions`). Actions done by more than `max_action_accounts` accounts are dropped first
(a popular template in a busy hour is not coordination, and it would make LSH buckets and the
candidate pairs quadratic); accounts left with fewer than `min_actions` actions are not
compared. MinHash LSH (`pyspark.ml.feature.MinHashLSH`, `approxSimilarityJoin`) finds pairs with
Jaccard similarity >= `min_jaccard` without comparing all pairs; the similarity of every pair it
returns is exact. Connected components of those links are the coordination clusters.
"""

from __future__ import annotations

import datetime as dt

from pyspark.ml.feature import HashingTF, MinHashLSH
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.graph import connected_components

# 2^20 hashed action slots: collisions between a day's distinct actions are negligible.
NUM_FEATURES = 1 << 20


def action_sets(
    silver: DataFrame, feature_date: dt.date, max_action_accounts: int, min_actions: int
) -> DataFrame:
    """(account_id, actions) of the feature date after the popularity cap and the minimum."""
    day = silver.where(F.col("event_date") == F.lit(feature_date))
    acts = day.select("account_id", F.explode("actions").alias("action"))
    popular = (
        acts.groupBy("action")
        .agg(F.count(F.lit(1)).alias("n"))
        .where(F.col("n") > max_action_accounts)
    )
    kept = acts.join(popular, "action", "left_anti")
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
    min_jaccard: float,
    min_actions: int,
    max_action_accounts: int,
    num_tables: int,
    seed: int,
    max_iter: int,
) -> tuple[DataFrame, int]:
    """Per account active on the feature date: actions, links, and its coordination cluster.

    Returns (frame with account_id, coord_actions_1d, coord_degree, coord_max_similarity,
    coord_cluster_id (null when unlinked); connected-component rounds, 0 when nobody linked).
    """
    day = silver.where(F.col("event_date") == F.lit(feature_date))
    n_actions = day.select("account_id", F.size("actions").alias("coord_actions_1d"))
    sets = action_sets(silver, feature_date, max_action_accounts, min_actions).localCheckpoint()
    if sets.isEmpty():
        empty = n_actions.select(
            "account_id",
            "coord_actions_1d",
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
    comps, rounds = connected_components(membership, max_iter)
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
            "coord_actions_1d",
            F.coalesce("coord_degree", F.lit(0)).alias("coord_degree"),
            F.coalesce("coord_max_similarity", F.lit(0.0)).alias("coord_max_similarity"),
            "coord_cluster_id",
        )
    )
    return out, rounds
