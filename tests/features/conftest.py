"""Bronze-shaped inline frames for the feature tests (schema of docs/architecture.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from hydrawatch.contracts import ACCOUNTS, USAGE_EVENTS, ddl

EVENTS_DDL = ddl(USAGE_EVENTS) + ", `event_date` date, `delivery_date` date, `source_file` string"
ACCOUNTS_DDL = ddl(ACCOUNTS) + ", `snapshot_date` date, `source_file` string"
RELEASES_DDL = "`model` string, `released_at` timestamp"

# What the feature tests' expected values were worked out with, over the suite's sample event
# (fixture `usage_event`); the other fields are not read by the feature transforms.
_EVENT_VALUES = {
    "input_tokens": 100,
    "output_tokens": 200,
    "user_agent": "sdk/1.0",
    "prompt_template_hash": "aaaaaaaaaaaaaaaa",
    "task_category": "chat",
    "source_file": "f.jsonl",
}

_ACCOUNT_DEFAULTS = {
    "org_id": None,
    "created_at": dt.datetime(2026, 1, 1),
    "signup_channel": "self_serve",
    "verification": "email",
    "billing_country": "DE",
    "payment_fingerprint": None,
    "email_domain_hash": None,
    "plan": "free",
    "status": "active",
    "source_file": "a.jsonl",
}


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def event_rows(sample: dict, rows: list[dict]) -> list[dict]:
    out = []
    for i, r in enumerate(rows):
        row = {**sample, **_EVENT_VALUES, "event_id": f"e{i:05d}", **r}
        row["ts"] = ts(row["ts"]) if isinstance(row["ts"], str) else row["ts"]
        row.setdefault("event_date", row["ts"].date())
        row.setdefault("delivery_date", row["event_date"])
        out.append(row)
    return out


@pytest.fixture
def make_events(spark, usage_event):
    """`make_events([{account_id, ts, ...}])`: bronze usage_events rows with defaults."""
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(EVENTS_DDL)
    sample = usage_event()

    def make(rows: list[dict]):
        full = event_rows(sample, rows)
        return spark.createDataFrame([[r[f.name] for f in schema.fields] for r in full], schema)

    return make


@pytest.fixture
def make_accounts(spark):
    """`make_accounts([{account_id, ...}], snapshot_date)`: bronze accounts rows."""
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(ACCOUNTS_DDL)

    def make(rows: list[dict], snapshot_date: dt.date):
        full = [{**_ACCOUNT_DEFAULTS, "snapshot_date": snapshot_date, **r} for r in rows]
        return spark.createDataFrame([[r[f.name] for f in schema.fields] for r in full], schema)

    return make


@pytest.fixture
def make_releases(spark):
    def make(rows: list[tuple[str, str]]):
        return spark.createDataFrame([(m, ts(t)) for m, t in rows], RELEASES_DDL)

    return make
