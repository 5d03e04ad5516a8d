"""Structural evidence per cluster and day, hand-worked on tiny frames."""

from __future__ import annotations

import datetime as dt

import pytest

from features.clusters import cluster_evidence

D1 = dt.date(2026, 2, 10)
D2 = dt.date(2026, 2, 11)
GOLD = (
    "account_id string, feature_date date, account_age_days double, "
    "coord_max_similarity double, coord_cluster_id string, infra_cluster_id string"
)
SILVER = (
    "account_id string, event_date date, first_t double, ip_prefixes array<string>, "
    "asns array<bigint>"
)


def _frames(spark):
    gold = spark.createDataFrame(
        [
            ("a1", D1, 3.0, 0.5, "c1", "a1"),
            ("a2", D1, 5.0, 0.3, "c1", "a2"),
            ("a3", D1, 10.0, 0.4, "c1", "a3"),
            ("a4", D1, 40.0, 0.2, "c1", "a4"),
            ("a5", D1, -1.0, 0.1, "c1", "a5"),
            # the same cluster id the next day holds two accounts only
            ("a1", D2, 4.0, 0.5, "c1", "a1"),
            ("a2", D2, 6.0, 0.3, "c1", "a2"),
        ],
        GOLD,
    )
    silver = spark.createDataFrame(
        [
            ("a1", D1, 0.0, ["p1", "p2"], [1, 2]),
            ("a2", D1, 0.0, ["p2", "p3"], [2, 3]),
            ("a3", D1, 600.0, ["p4"], [4]),
            ("a5", D1, 600.0, ["p1"], [1]),
            ("a1", D2, 0.0, ["p9"], [9]),
        ],
        SILVER,
    )
    orgs = spark.createDataFrame(
        [("a1", "o1"), ("a2", "o1"), ("a3", "o2"), ("a4", None), ("a5", None)],
        "account_id string, org_id string",
    )
    return gold, silver, orgs


def _evidence_by_cluster(spark):
    """(feature_date, cluster_kind, cluster_id) -> evidence row, over the frames above."""
    return {
        (r.feature_date, r.cluster_kind, r.cluster_id): r
        for r in cluster_evidence(*_frames(spark)).collect()
    }


def test_coordination_cluster_evidence_hand_worked(spark):
    rows = _evidence_by_cluster(spark)
    c1 = rows[(D1, "coordination", "c1")]
    assert c1.members == 5
    assert c1.active_members == 4  # a4 sent nothing that day
    assert c1.young_share == pytest.approx(3 / 5)  # 3, 5 and 10 days; 40 is old, -1 unknown
    assert c1.median_age_days == 5.0  # of the known ages 3, 5, 10, 40
    assert c1.top_org_share == pytest.approx(2 / 5)  # o1 holds a1 and a2
    assert c1.ip_prefixes == 4 and c1.asns == 4  # p1..p4, ASNs 1..4
    assert c1.ip_prefixes_per_account == pytest.approx(4 / 4)
    assert c1.start_spread_minutes == pytest.approx(10.0)  # quartiles 0 s and 600 s
    assert c1.mean_similarity == pytest.approx((0.5 + 0.3 + 0.4 + 0.2 + 0.1) / 5)
    # days are separate clusters: on D2, c1 is a1 and a2, only a1 active
    d2 = rows[(D2, "coordination", "c1")]
    assert (d2.members, d2.active_members, d2.ip_prefixes, d2.asns) == (2, 1, 1, 1)
    assert d2.young_share == 1.0 and d2.top_org_share == 1.0


def test_singletons_and_inactive_clusters_get_zero_network(spark):
    rows = _evidence_by_cluster(spark)
    a4 = rows[(D1, "infrastructure", "a4")]
    assert a4.members == 1 and a4.active_members == 0
    assert a4.ip_prefixes == 0 and a4.ip_prefixes_per_account == 0.0
    assert a4.top_org_share == 0.0 and a4.young_share == 0.0
    a5 = rows[(D1, "infrastructure", "a5")]
    assert a5.median_age_days == -1.0  # no known age
    # one row per (day, kind, cluster): 5 + 2 infrastructure singletons, c1 on two days
    assert len(rows) == 5 + 2 + 2


def test_org_sizes_count_accounts_per_organisation(spark):
    from features.clusters import org_sizes

    orgs = spark.createDataFrame(
        [("r1", "res"), ("r2", "res"), ("r3", "res"), ("s1", "solo"), ("x1", None)],
        "account_id string, org_id string",
    )
    got = {r.account_id: r.org_accounts for r in org_sizes(orgs).collect()}
    assert got == {"r1": 3, "r2": 3, "r3": 3, "s1": 1, "x1": 0}
