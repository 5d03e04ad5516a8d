"""Each intended malformation breaks the contract rule it is named after; extra fields do not."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from hydrawatch.contracts import FEEDS
from simulator.checks import validate_line
from simulator.lines import _imperfect, malformed_kinds

# Valid lines of the other feeds; the usage event is the suite's sample (fixture `usage_event`).
GOOD = {
    "accounts": {
        "account_id": "acct_1",
        "org_id": None,
        "created_at": "2026-01-10T13:45:12.000Z",
        "signup_channel": "education",
        "verification": "email",
        "billing_country": None,
        "payment_fingerprint": None,
        "email_domain_hash": "0123456789abcdef",
        "plan": "free",
        "status": "active",
    },
    "labels": {
        "account_id": "acct_1",
        "decided_at": "2026-02-10T09:00:00.000Z",
        "label": "distillation",
        "source": "partner_report",
        "campaign_id": "cmp-agentic",
    },
}
EXPECTED = {
    "not_json": "not_json",
    "truncated": "not_json",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "bad_enum": "bad_enum",
    "out_of_range": "out_of_range",
    "bad_timestamp": "bad_timestamp",
}


@pytest.fixture(scope="module")
def good(usage_event) -> dict[str, dict]:
    return {"usage_events": usage_event(), **GOOD}


def _lines(spark, good: dict, feed: str, rate: float, extra: float) -> list[str]:
    df = spark.range(0, 300, 1, 1).select(
        F.concat(F.lit("k"), F.col("id").cast("string")).alias("key"),
        F.lit(json.dumps(good[feed], separators=(",", ":"))).alias("line"),
    )
    out = df.select(_imperfect(F.col("line"), feed, rate, extra, 9, F.col("key")).alias("x"))
    return [r.x for r in out.collect()]  # 300 tiny rows


@pytest.mark.parametrize("feed", ["usage_events", "accounts", "labels"])
def test_every_malformation_breaks_its_rule(spark, good, feed):
    spec = FEEDS[feed]
    assert validate_line(spec, json.dumps(good[feed])) is None
    reasons = {validate_line(spec, line) for line in _lines(spark, good, feed, 1.0, 0.0)}
    assert None not in reasons
    assert reasons == {EXPECTED[k] for k in malformed_kinds(feed)}


def test_extra_fields_keep_lines_valid(spark, good):
    lines = _lines(spark, good, "usage_events", 0.0, 1.0)
    assert all(validate_line(FEEDS["usage_events"], line) is None for line in lines)
    assert all(json.loads(line)["gateway_region"] == "eu-west-1" for line in lines)
