"""Unlabelled negatives: no suspect cluster, and old enough to have been labelled."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from models.dataset import account_sample, unlabelled_candidates

AS_OF = dt.date(2026, 2, 14)


def _features(spark):
    d = lambda k: AS_OF - dt.timedelta(days=k)  # noqa: E731
    rows = [
        # (account, feature day, infra cluster, coord cluster)
        ("old", d(10), "old", "old"),
        ("old", d(1), "old", "old"),
        ("edge", d(7), "edge", "edge"),  # first seen exactly 7 days before: mature
        ("new", d(6), "new", "new"),  # first seen 6 days before: too new to be a negative
        ("new", d(0), "new", "new"),
        ("linked", d(12), "atk", "linked"),  # shares an infrastructure cluster with an attacker
        ("atk", d(12), "atk", "atk"),
        ("future", AS_OF + dt.timedelta(days=1), "future", "future"),
    ]
    return spark.createDataFrame(
        rows,
        "account_id string, feature_date date, infra_cluster_id string, coord_cluster_id string",
    )


def _labels(spark):
    current = spark.createDataFrame([("atk",)], "account_id string")
    labelled = spark.createDataFrame(
        [("atk", 1, "atk", "atk")],
        "account_id string, label int, infra_cluster_id string, coord_cluster_id string",
    )
    return current, labelled


def test_accounts_first_seen_inside_the_maturity_window_are_not_negatives(spark):
    current, labelled = _labels(spark)
    out = unlabelled_candidates(_features(spark), current, labelled, AS_OF, maturity_days=7)
    assertDataFrameEqual(
        out.select("account_id", "feature_date"),
        [
            ("old", AS_OF - dt.timedelta(days=10)),
            ("old", AS_OF - dt.timedelta(days=1)),
            ("edge", AS_OF - dt.timedelta(days=7)),
        ],
        checkRowOrder=False,
    )


def test_without_a_maturity_window_new_accounts_are_candidates(spark):
    current, labelled = _labels(spark)
    out = unlabelled_candidates(_features(spark), current, labelled, AS_OF, maturity_days=0)
    got = {r.account_id for r in out.select("account_id").distinct().collect()}
    assert got == {"old", "edge", "new"}


def test_account_sample_does_not_depend_on_partitioning_or_order(spark):
    rows = spark.createDataFrame([(f"acct-{i}", i) for i in range(400)], "account_id string, v int")
    one = account_sample(rows.coalesce(1), 0.25, seed=7)
    shuffled = account_sample(rows.repartition(5).orderBy((rows.v * 7919) % 400), 0.25, seed=7)
    assertDataFrameEqual(one, shuffled)
    kept = one.count()
    assert 60 <= kept <= 140  # a quarter of 400, give or take the hash
    assert account_sample(rows, 0.25, seed=8).exceptAll(one).count() > 0  # the seed matters
    assert account_sample(rows, 1.0, seed=7).count() == 400
    assert account_sample(rows, 0.0, seed=7).count() == 0


def test_structural_suspects_are_neither_labelled_nor_negatives(spark):
    """Members of a cluster flagged on structure (on the day it was flagged, eligible by the
    member guard) are left out of the negatives on every day."""
    from models.dataset import structure_suspects

    d = lambda k: AS_OF - dt.timedelta(days=k)  # noqa: E731
    features = spark.createDataFrame(
        [
            # (account, feature day, infra cluster, coord cluster)
            ("c1", d(10), None, "k"),
            ("c1", d(9), None, None),
            ("c2", d(10), None, "k"),
            ("r1", d(10), None, "k"),  # in the flagged cluster, but a reseller's account
            ("s1", d(9), None, "k"),  # cluster "k" of another day: not flagged then
            ("old", d(10), "old", "old"),
        ],
        "account_id string, feature_date date, infra_cluster_id string, coord_cluster_id string",
    )
    flagged = spark.createDataFrame(
        [(d(10), "coordination", "k")], "feature_date date, cluster_kind string, cluster_id string"
    )
    eligible = spark.createDataFrame([("c1",), ("c2",), ("s1",), ("old",)], "account_id string")
    suspects = structure_suspects(flagged, features, eligible)
    assert {r.account_id for r in suspects.collect()} == {"c1", "c2"}
    current, labelled = _labels(spark)
    out = unlabelled_candidates(features, current, labelled, AS_OF, 0, suspects)
    assert {r.account_id for r in out.select("account_id").distinct().collect()} == {
        "r1",
        "s1",
        "old",
    }
