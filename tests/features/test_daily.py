"""silver/account_daily: partial aggregates per account and day, checked by hand."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from features.daily import SILVER_COLUMNS, account_daily

D = dt.date(2026, 2, 10)


def test_account_daily_by_hand(make_events):
    events = make_events(
        [
            {"account_id": "a", "ts": "2026-02-10T10:00:00", "status": "rate_limited"},
            {"account_id": "a", "ts": "2026-02-10T10:00:40", "cot_elicitation": True},
            {
                "account_id": "a",
                "ts": "2026-02-10T13:30:00",
                "prompt_template_hash": "bbbbbbbbbbbbbbbb",
                "model": "atlas-3.5",
                "tool_count": 3,
                "task_category": "coding",
                "client_ip": "2001:db8:1:2::9",
                "ip_country": None,
                "input_tokens": 10,
                "output_tokens": 1000,
            },
            {"account_id": "b", "ts": "2026-02-10T23:59:59", "asn": None, "user_agent": None},
        ]
    )
    out = account_daily(events)
    assert tuple(out.columns) == SILVER_COLUMNS
    cols = [
        "account_id",
        "event_date",
        "requests",
        "input_tokens",
        "output_tokens",
        "n_rate_limited",
        "n_cot",
        "n_tool_use",
        "tool_count_sum",
        "n_cat_coding",
        "gap_n",
        "gap_sum",
        "gap_sumsq",
        "peak_per_minute",
        "peak_per_hour",
        "active_hours",
        "hour_counts",
        "template_counts",
        "model_counts",
        "ip_country_counts",
        "ip_prefixes",
        "asns",
        "user_agents",
    ]
    a, b = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
    expected = [
        (
            "a", D, 3, 210, 1400, 1, 1, 1, 3, 1, 2, 40.0 + 12560.0, 40.0**2 + 12560.0**2,
            2, 2, 2, {10: 2, 13: 1}, {a: 2, b: 1},
            {"atlas-3": 2, "atlas-3.5": 1}, {"--": 1, "DE": 2},
            ["2001:db8:1::/48", "203.0.113.0/24"], [64500], ["sdk/1.0"],
        ),
        (
            "b", D, 1, 100, 200, 0, 0, 0, 0, 0, 0, 0.0, 0.0,
            1, 1, 1, {23: 1}, {a: 1},
            {"atlas-3": 1}, {"DE": 1},
            ["203.0.113.0/24"], [], [],
        ),
    ]  # fmt: skip
    assertDataFrameEqual(out.select(*cols), expected, checkRowOrder=False)


def test_ties_batches_days_and_hour_order(spark, make_events):
    """Events at one instant, an account-day spread over many Arrow batches, two days of one
    account."""
    rows = [
        {"account_id": "c", "ts": "2026-02-10T09:00:00"},
        {"account_id": "c", "ts": "2026-02-10T09:00:00"},
        {"account_id": "c", "ts": "2026-02-10T09:00:30"},
        {"account_id": "c", "ts": "2026-02-10T10:00:00"},
        {"account_id": "c", "ts": "2026-02-11T01:00:00"},
    ]
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "2")
    try:
        out = account_daily(make_events(rows)).collect()
    finally:
        spark.conf.set(key, before)
    cols = [
        "account_id", "event_date", "requests", "gap_n", "gap_sum", "gap_sumsq",
        "first_t", "peak_per_minute", "peak_per_hour", "active_hours", "hour_counts",
    ]  # fmt: skip
    t9 = dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC).timestamp()
    t1 = dt.datetime(2026, 2, 11, 1, tzinfo=dt.UTC).timestamp()
    expected = [
        ("c", D, 4, 3, 3600.0, 30.0**2 + 3570.0**2, t9, 3, 3, 2, {9: 3, 10: 1}),
        ("c", D + dt.timedelta(days=1), 1, 0, 0.0, 0.0, t1, 1, 1, 1, {1: 1}),
    ]  # fmt: skip
    got = sorted((tuple(r[c] for c in cols) for r in out), key=lambda r: r[1])
    assert got == expected


def test_template_counts_sort_keys_by_their_bytes(make_events):
    rows = [
        {"account_id": "d", "ts": "2026-02-10T01:00:00", "prompt_template_hash": "ab0"},
        {"account_id": "d", "ts": "2026-02-10T01:00:01", "prompt_template_hash": "ab"},
        {"account_id": "d", "ts": "2026-02-10T12:00:00", "prompt_template_hash": "ab"},
        {"account_id": "d", "ts": "2026-02-10T12:00:01", "prompt_template_hash": "aB"},
    ]
    out = account_daily(make_events(rows)).select("template_counts").first()
    # A prefix sorts before its extensions and "B" (0x42) before "b" (0x62), as Spark sorts.
    assert list(out["template_counts"].items()) == [("aB", 1), ("ab", 2), ("ab0", 1)]
