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
        "actions",
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
            2, 2, 2, {10: 2, 13: 1}, {a: 2, b: 1}, [f"{a}@10", f"{b}@13"],
            {"atlas-3": 2, "atlas-3.5": 1}, {"--": 1, "DE": 2},
            ["2001:db8:1::/48", "203.0.113.0/24"], [64500], ["sdk/1.0"],
        ),
        (
            "b", D, 1, 100, 200, 0, 0, 0, 0, 0, 0, 0.0, 0.0,
            1, 1, 1, {23: 1}, {a: 1}, [f"{a}@23"],
            {"atlas-3": 1}, {"DE": 1},
            ["203.0.113.0/24"], [], [],
        ),
    ]  # fmt: skip
    assertDataFrameEqual(out.select(*cols), expected, checkRowOrder=False)


def test_ties_batches_days_and_hour_order(spark, make_events):
    """Events at one instant, an account-day spread over many Arrow batches, two days of one
    account, and actions sorted as text ("a@10" before "a@9")."""
    a = "aaaaaaaaaaaaaaaa"
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
        "first_t", "peak_per_minute", "peak_per_hour", "active_hours", "hour_counts", "actions",
    ]  # fmt: skip
    t9 = dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC).timestamp()
    t1 = dt.datetime(2026, 2, 11, 1, tzinfo=dt.UTC).timestamp()
    expected = [
        ("c", D, 4, 3, 3600.0, 30.0**2 + 3570.0**2, t9, 3, 3, 2, {9: 3, 10: 1},
         [f"{a}@10", f"{a}@9"]),
        ("c", D + dt.timedelta(days=1), 1, 0, 0.0, 0.0, t1, 1, 1, 1, {1: 1}, [f"{a}@1"]),
    ]  # fmt: skip
    got = sorted((tuple(r[c] for c in cols) for r in out), key=lambda r: r[1])
    assert got == expected


def test_templates_of_different_lengths_sort_their_actions_as_text(make_events):
    rows = [
        {"account_id": "d", "ts": "2026-02-10T01:00:00", "prompt_template_hash": "ab"},
        {"account_id": "d", "ts": "2026-02-10T01:00:01", "prompt_template_hash": "ab0"},
        {"account_id": "d", "ts": "2026-02-10T12:00:00", "prompt_template_hash": "ab"},
    ]
    out = account_daily(make_events(rows)).select("actions", "template_counts").first()
    # Byte order: "0" (0x30) sorts before "@" (0x40), so "ab0@1" comes first.
    assert out["actions"] == ["ab0@1", "ab@1", "ab@12"]
    assert out["template_counts"] == {"ab": 2, "ab0": 1}
