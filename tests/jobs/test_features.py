"""The feature job on real Delta tables: late data, point in time, backfill == daily, re-runs."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from features.catalogue import FEATURE_NAMES
from hydrawatch.contracts import ACCOUNTS, USAGE_EVENTS, ddl
from hydrawatch.errors import NoLandingData
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.features import dirty_days, run_features

D1, D2 = dt.date(2026, 2, 10), dt.date(2026, 2, 11)
EVENTS_DDL = ddl(USAGE_EVENTS) + ", event_date date, delivery_date date, source_file string"
ACCOUNTS_DDL = ddl(ACCOUNTS) + ", snapshot_date date, source_file string"
AUDIT_DDL = (
    "delivery_date date, feed string, late_by_day map<date,bigint>, touched_event_dates array<date>"
)

T2 = "2222222222222222"


@pytest.fixture(scope="module")
def deliveries(usage_event):
    """The bronze events of deliveries D1 and D2: the suite's sample event as ingest stores it."""

    def ev(eid, account, ts, delivery, **kw):
        t = dt.datetime.fromisoformat(ts)
        return {
            **usage_event(eid, t),
            "account_id": account,
            "event_date": t.date(),
            "delivery_date": delivery,
            "source_file": "f.jsonl",
            **kw,
        }

    # Delivery D1: u1's morning, and an account whose billing country differs from its IPs.
    d1 = [
        ev("e1", "u1", "2026-02-10T10:00:00", D1),
        ev("e2", "u1", "2026-02-10T10:00:20", D1, cot_elicitation=True),
        ev("e3", "u1", "2026-02-10T10:01:00", D1, prompt_template_hash=T2),
        ev("e4", "far", "2026-02-10T08:00:00", D1, ip_country="BR"),
    ]
    # Delivery D2: a late event of D1 for u1, u1's D2 request, and a single-event account on
    # IPv6 with every optional field missing and no snapshot row.
    d2 = [
        ev("e5", "u1", "2026-02-10T12:00:00", D2),
        ev("e6", "u1", "2026-02-11T09:00:00", D2),
        ev(
            "e7",
            "solo",
            "2026-02-11T03:00:00",
            D2,
            client_ip="2001:DB8:0:0:1::7",
            asn=None,
            ip_country=None,
            user_agent=None,
        ),
    ]
    return d1, d2


def account(aid, snapshot, **kw):
    return {
        "account_id": aid,
        "org_id": None,
        "created_at": dt.datetime(2026, 2, 1),
        "signup_channel": "education",
        "verification": "email",
        "billing_country": "DE",
        "payment_fingerprint": None,
        "email_domain_hash": None,
        "plan": "free",
        "status": "active",
        "snapshot_date": snapshot,
        "source_file": "a.jsonl",
        **kw,
    }


SNAPSHOTS = [
    account("u1", D1),
    account("far", D1),
    # On D2 u1 moved to `scale` and got suspended: D1's features must not see either.
    account("u1", D2, plan="scale", status="suspended"),
    account("far", D2),
]


def _write(spark, rows, schema, path, partition=None, mode="append"):
    from pyspark.sql.types import StructType

    st = StructType.fromDDL(schema)
    df = spark.createDataFrame([[r[f.name] for f in st.fields] for r in rows], st)
    w = df.write.format("delta").mode(mode)
    if partition:
        w = w.partitionBy(partition)
    w.save(path)


def deliver(spark, settings, day: dt.date, events: list[dict]):
    """What ingest leaves behind for a delivery day: bronze rows, snapshot, audit row."""
    _write(spark, events, EVENTS_DDL, tables.BRONZE_USAGE_EVENTS.location(settings), "event_date")
    snaps = [a for a in SNAPSHOTS if a["snapshot_date"] == day]
    _write(spark, snaps, ACCOUNTS_DDL, tables.BRONZE_ACCOUNTS.location(settings), "snapshot_date")
    touched = sorted({e["event_date"] for e in events})
    late = {d: sum(e["event_date"] == d for e in events) for d in touched if d < day}
    audit = [
        {
            "delivery_date": day,
            "feed": "usage_events",
            "late_by_day": late,
            "touched_event_dates": touched,
        }
    ]
    _write(spark, audit, AUDIT_DDL, tables.INGEST_AUDIT.location(settings))


def gold(spark, settings):
    return spark.read.format("delta").load(tables.FEATURES_ACCOUNT.location(settings))


def silver(spark, settings):
    return spark.read.format("delta").load(tables.SILVER_ACCOUNT_DAILY.location(settings))


def row(df, account_id, day):
    rows = df.where((F.col("account_id") == account_id) & (F.col("feature_date") == day)).collect()
    assert len(rows) == 1
    return rows[0].asDict()


@pytest.mark.slow
def test_daily_with_late_data_equals_backfill_and_reruns_are_identical(
    spark, make_settings, tmp_path, deliveries
):
    delivery_1, delivery_2 = deliveries
    daily = make_settings(tmp_path / "daily")
    with pytest.raises(NoLandingData, match="run ingest"):
        run_features(Runtime(daily, spark=spark), D1)

    # --- daily: D1 as delivered on D1 -----------------------------------------------------
    deliver(spark, daily, D1, delivery_1)
    r1 = run_features(Runtime(daily, spark=spark), D1)
    assert r1.silver_days == (D1,) and r1.gold_dates == (D1,) and r1.rows == 2
    before = row(gold(spark, daily), "u1", D1)
    assert before["requests_1d"] == 3.0
    assert before["peak_per_minute_1d"] == 2.0
    assert before["cot_share_1d"] == pytest.approx(1 / 3)
    assert before["plan_level"] == 0.0  # free on D1
    assert row(gold(spark, daily), "far", D1)["ip_country_mismatch_share_7d"] == 1.0

    # --- delivery D2 brings a late event of D1: D1 is dirty and recomputed ------------------
    deliver(spark, daily, D2, delivery_2)
    assert dirty_days(Runtime(daily, spark=spark), D2) == [D1]
    r2 = run_features(Runtime(daily, spark=spark), D2)
    assert r2.dirty_days == (D1,)
    assert r2.silver_days == (D1, D2) and r2.gold_dates == (D1, D2)
    assert dirty_days(Runtime(daily, spark=spark), D2) == []

    g = gold(spark, daily)
    u1 = row(g, "u1", D1)
    # By hand: D1 events at 10:00:00, 10:00:20, 10:01:00 and (late) 12:00:00.
    gaps = [20.0, 40.0, 7140.0]
    assert u1["requests_1d"] == 4.0
    assert u1["requests_7d"] == 4.0  # u1's D2 request is after D1: not counted
    assert u1["active_hours_1d"] == 2.0
    assert u1["interarrival_cv_1d"] == pytest.approx(
        statistics.pstdev(gaps) / statistics.mean(gaps)
    )
    assert u1["top_template_share_1d"] == 0.75
    p = [0.75, 0.25]
    assert u1["template_entropy_1d"] == pytest.approx(-sum(x * math.log(x) for x in p))
    assert u1["cot_share_1d"] == 0.25
    assert u1["plan_level"] == 0.0  # still D1's snapshot
    assert u1["signup_education"] == 1.0
    assert u1["account_age_days"] == pytest.approx(10.0)  # Feb 1 00:00 to end of Feb 10

    u1_d2 = row(g, "u1", D2)
    assert u1_d2["requests_1d"] == 1.0 and u1_d2["requests_7d"] == 5.0
    assert u1_d2["plan_level"] == 2.0  # D2's snapshot
    # Gap across days: 12:00 on D1 to 09:00 on D2 joins the 7-day gaps.
    gaps7 = [*gaps, 21 * 3600.0]
    assert u1_d2["interarrival_cv_7d"] == pytest.approx(
        statistics.pstdev(gaps7) / statistics.mean(gaps7)
    )

    solo = row(g, "solo", D2)
    assert solo["requests_1d"] == 1.0
    assert solo["interarrival_cv_1d"] == -1.0
    assert solo["in_snapshot"] == 0.0 and solo["account_age_days"] == -1.0
    assert solo["distinct_ip_prefixes_7d"] == 1.0 and solo["distinct_asns_7d"] == 0.0
    assert solo["infra_cluster_id"] == "solo" and solo["infra_cluster_size"] == 1.0
    # No null anywhere in the table.
    nulls = g.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in g.columns]).first()
    assert all(v == 0 for v in nulls.asDict().values())
    assert set(FEATURE_NAMES) <= set(g.columns)
    assert dict(g.dtypes)["requests_1d"] == "double"

    # --- backfill after everything arrived: the same tables ---------------------------------
    back = make_settings(tmp_path / "backfill")
    deliver(spark, back, D1, delivery_1)
    deliver(spark, back, D2, delivery_2)
    from jobs.features import backfill_features

    results = backfill_features(Runtime(back, spark=spark), D1, D2)
    assert [r.dirty_days for r in results] == [(), ()]
    assertDataFrameEqual(gold(spark, back), gold(spark, daily))
    assertDataFrameEqual(silver(spark, back), silver(spark, daily))

    # --- re-running a day replaces it exactly ------------------------------------------------
    before_gold, before_silver = gold(spark, back).collect(), silver(spark, back).collect()
    again = run_features(Runtime(back, spark=spark), D1)
    assert again.gold_dates == (D1,)
    assertDataFrameEqual(gold(spark, back), before_gold)
    assertDataFrameEqual(silver(spark, back), before_silver)
