"""Pure scoring transforms: roll-up rule, reason codes, risk tiers, model/feature-set checks."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from models import scoring

D = dt.date(2026, 2, 10)


def _scored(spark, rows):
    return spark.createDataFrame(
        rows, "account_id string, score double, coord_cluster_id string, infra_cluster_id string"
    )


def test_rollup_flags_rest_of_cluster_only_when_count_and_share_reached(spark):
    rows = [
        # coordination cluster c1: 3 of 5 flagged by score -> rolled up (3 >= K, 0.6 >= F)
        ("a1", 0.95, "c1", "i1"),
        ("a2", 0.91, "c1", None),
        ("a3", 0.99, "c1", None),
        ("a4", 0.10, "c1", None),
        ("a5", 0.20, "c1", "i9"),
        # c2: 2 of 2 flagged, share 1.0 but fewer than K -> no roll-up
        ("b1", 0.95, "c2", None),
        ("b2", 0.95, "c2", None),
        # c3: 3 of 7 flagged -> share below F, no roll-up
        *[(f"c{i}", 0.95 if i < 3 else 0.1, "c3", None) for i in range(7)],
        # infra cluster i1 has a1 and one other account (size 2): not rolled up, a lone account
        ("x1", 0.05, None, "i1"),
        ("z1", 0.05, None, None),
    ]
    out = scoring.cluster_rollup(scoring.flag_by_score(_scored(spark, rows), 0.9)).select(
        "account_id",
        "flagged",
        "flagged_by",
        "cluster_kind",
        "cluster_id",
        "cluster_size",
        "rollup_reason",
    )
    got = {r.account_id: r for r in out.collect()}
    assert got["a4"].flagged and got["a4"].flagged_by == "cluster"
    assert got["a4"].rollup_reason == "member of flagged coordination cluster c1 (3 of 5 flagged)"
    assert got["a5"].flagged and got["a5"].cluster_id == "c1" and got["a5"].cluster_size == 5
    assert got["a1"].flagged_by == "score" and got["a1"].rollup_reason is not None
    assert not any(got[a].flagged for a in ("c3", "c4", "c5", "c6"))
    assert got["b1"].flagged_by == "score" and got["b1"].rollup_reason is None
    assert got["b1"].cluster_kind == "coordination" and got["b1"].cluster_size == 2
    # x1 shares infrastructure with a1 only: reported, not flagged
    assert not got["x1"].flagged and got["x1"].cluster_kind == "infrastructure"
    assert got["x1"].cluster_size == 2
    assert got["z1"].cluster_id is None and got["z1"].cluster_size == 1
    assert got["z1"].flagged_by is None and not got["z1"].flagged


def test_rollup_by_infrastructure_cluster(spark):
    rows = [(f"a{i}", 0.95 if i < 4 else 0.0, f"solo{i}", "ipnet") for i in range(6)]
    out = scoring.cluster_rollup(scoring.flag_by_score(_scored(spark, rows), 0.5))
    got = {r.account_id: r for r in out.collect()}
    assert got["a5"].flagged and got["a5"].flagged_by == "cluster"
    assert got["a5"].rollup_reason == (
        "member of flagged infrastructure cluster ipnet (4 of 6 flagged)"
    )


def test_reason_codes_top_positive_contributions_largest_first(spark):
    names = ["f_a", "f_b", "f_c", "f_d", "f_e", "f_f", "f_g"]
    contrib = [0.5, -1.0, 2.0, 0.5, 0.0, 0.1, 0.3]
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    row = {"account_id": "a1", "rollup_reason": "member of flagged coordination cluster c1"}
    row.update(dict(zip(names, values, strict=True)))
    row.update({f"contrib__{n}": c for n, c in zip(names, contrib, strict=True)})
    df = spark.createDataFrame([Row(**row)])
    phrases = {"f_c": "share of requests asking for step-by-step reasoning"}
    out = scoring.reason_codes(df, names, phrases).select("reasons", "reasons_text").first()
    assert [(r.feature, r.value, r.contribution) for r in out.reasons] == [
        ("f_c", 3.0, 2.0),
        ("f_a", 1.0, 0.5),  # tie with f_d broken by name
        ("f_d", 4.0, 0.5),
        ("f_g", 7.0, 0.3),
        ("f_f", 6.0, 0.1),
    ]
    assert out.reasons_text.startswith(
        "share of requests asking for step-by-step reasoning = 3.000 (+2.00); f a = 1.000 (+0.50)"
    )
    assert out.reasons_text.endswith("(+0.10); member of flagged coordination cluster c1")


def test_risk_tier_bands(spark):
    df = spark.createDataFrame(
        [(0.95, 1), (0.75, 1), (0.5, 1), (0.5, 12), (0.5, 60)], "score double, size bigint"
    )
    got = df.select(scoring.risk_tier(df.score, df.size).alias("t")).collect()
    assert [r.t for r in got] == ["critical", "high", "medium", "high", "critical"]


def test_first_flagged_dates_ignores_later_days(spark):
    hist = spark.createDataFrame(
        [
            ("a", D - dt.timedelta(days=3), False),
            ("a", D - dt.timedelta(days=2), True),
            ("a", D, True),
            ("b", D + dt.timedelta(days=1), True),
            ("c", D, True),
        ],
        "account_id string, score_date date, flagged boolean",
    )
    assertDataFrameEqual(
        scoring.first_flagged_dates(hist, D),
        [
            Row(account_id="a", first_flagged_date=D - dt.timedelta(days=2)),
            Row(account_id="c", first_flagged_date=D),
        ],
    )


def test_feature_columns_excludes_keys_and_cluster_ids():
    cols = [
        "account_id",
        "feature_date",
        "f1",
        "feature_set_version",
        "infra_cluster_id",
        "coord_cluster_id",
        "f2",
    ]
    assert scoring.feature_columns(cols) == ["f1", "f2"]
