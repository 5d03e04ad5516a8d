"""The ingest job on hand-written landing days holding every imperfection of the contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hydrawatch.errors import DataQualityError, NoLandingData
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from hydrawatch.validation import current_labels
from jobs.ingest import run_ingest

D1, D2 = dt.date(2026, 2, 10), dt.date(2026, 2, 11)
DAY1, DAY2 = str(D1), str(D2)
BRONZE_TABLES = (
    tables.BRONZE_USAGE_EVENTS,
    tables.BRONZE_ACCOUNTS,
    tables.BRONZE_LABELS,
    tables.BRONZE_MODEL_RELEASES,
    tables.BRONZE_QUARANTINE,
)


@pytest.fixture
def r(records):
    """The record factories, plus `ev(event_id, day, **overrides)`: a valid event that day."""
    from types import SimpleNamespace

    def ev(event_id: str, day: str, **overrides) -> dict:
        ts = overrides.pop("ts", f"{day}T08:30:00.250Z")
        return records.usage_event(event_id, ts, **overrides)

    return SimpleNamespace(**vars(records), ev=ev)


def _bad_lines(r) -> list:
    """(line, reason) for each malformed kind."""
    _ev, without = r.ev, r.without
    return [
        ("{not json at all", "not_json"),
        ('{"event_id":"t1","ts":"2026-02-10T08:', "not_json"),
        (without(_ev("m1", DAY1), "account_id"), "missing_field"),
        (_ev("w1", DAY1, input_tokens="12"), "wrong_type"),
        (_ev("n1", DAY1, surface="web"), "bad_enum"),
        (_ev("r1", DAY1, output_tokens=-4), "out_of_range"),
        (_ev("r2", DAY1, turns=0), "out_of_range"),
        (_ev("h1", DAY1, prompt_template_hash="xyz"), "bad_format"),
        (_ev("i1", DAY1, client_ip="300.1.2.3"), "bad_format"),
        (_ev("c1", DAY1, ip_country="Germany"), "bad_format"),
        (_ev("s1", DAY1, ts="10/02/2026 08:30"), "bad_timestamp"),
    ]


def _write_landing(landing, r) -> None:
    _ev, account, label = r.ev, r.account, r.label
    landing.write(
        "usage_events",
        DAY1,
        "a.jsonl",
        [
            _ev("e1", DAY1),
            _ev("e2", DAY1),
            _ev("e2", DAY1),
            _ev("e3", "2026-02-09"),
            _ev("e4", "2026-02-07"),
            _ev("e5", "2026-02-06"),
            _ev("e6", DAY1, shiny_new_field={"nested": True}),
            *[bad for bad, _ in _bad_lines(r)],
        ],
    )
    landing.write(
        "usage_events",
        DAY1,
        "b.jsonl.gz",
        [_ev("e7", DAY1), _ev("e1", DAY1, model="copy-in-b"), b'{"event_id":"u\xff1"}'],
    )
    landing.write(
        "usage_events",
        DAY2,
        "a.jsonl",
        [_ev("e8", DAY2), _ev("e1", DAY1), _ev("e9", DAY1, account_id="acc-2")],
    )
    landing.write(
        "accounts",
        DAY1,
        "part-0.jsonl",
        [account("acc-1"), account("acc-2"), account("acc-2"), account("acc-3", plan="gold")],
    )
    landing.write("accounts", DAY2, "part-0.jsonl.gz", [account("acc-1", status="suspended")])
    # No labels folder on day 1: no decisions that day.
    first = label("acc-1", "2026-02-09T12:00:00Z", "distillation", "analyst_review")
    landing.write(
        "labels",
        DAY2,
        "part-0.jsonl",
        [first, label("acc-1", "2026-02-11T09:00:00Z", "benign", "appeal"), first],
    )
    landing.releases(
        [
            {"model": "atlas-3", "released_at": "2025-11-01T00:00:00Z"},
            {"model": "atlas-3.5", "released_at": "2026-02-09T16:00:00Z"},
        ]
    )


def _table(spark, settings, name):
    return spark.read.format("delta").load(name.location(settings))


def _snapshot(spark, settings) -> dict[str, list]:
    """Every bronze table's rows, sorted, as plain values."""
    out = {}
    for name in (*BRONZE_TABLES, tables.INGEST_AUDIT):
        df = _table(spark, settings, name)
        out[name] = sorted(
            tuple(str(v) for v in row) for row in df.select(*sorted(df.columns)).collect()
        )
    return out


def _relative(settings, uri: str) -> str:
    return uri.split(str(Path(settings.landing)) + "/", 1)[1]


@pytest.mark.slow
def test_ingest_in_order_rerun_and_out_of_order_converge(spark, make_settings, tmp_path, r):
    settings = make_settings(tmp_path / "w1", quarantine_max_share=1.0)
    landing = r.Landing(Path(settings.landing))
    _write_landing(landing, r)

    first = run_ingest(Runtime(settings, spark=spark), D1)

    usage = first.feeds["usage_events"]
    assert (usage.lines, usage.kept, usage.duplicates, usage.quarantined) == (21, 6, 2, 13)
    assert usage.quarantined_by_reason == {
        "bad_enum": 1,
        "bad_format": 3,
        "bad_timestamp": 1,
        "invalid_utf8": 1,
        "missing_field": 1,
        "not_json": 2,
        "out_of_range": 2,
        "ts_out_of_window": 1,
        "wrong_type": 1,
    }
    assert usage.late_by_day == {dt.date(2026, 2, 7): 1, dt.date(2026, 2, 9): 1}
    assert first.touched_event_dates == (dt.date(2026, 2, 7), dt.date(2026, 2, 9), D1)
    files = {
        _relative(settings, f.file): (f.lines, f.kept, f.duplicates, f.quarantined)
        for f in usage.files
    }
    assert files == {
        "usage_events/date=2026-02-10/a.jsonl": (18, 5, 1, 12),
        "usage_events/date=2026-02-10/b.jsonl.gz": (3, 1, 1, 1),
    }
    assert first.feeds["labels"].status == "missing"
    assert "WARNING labels: missing" in first.summary

    events = _table(spark, settings, tables.BRONZE_USAGE_EVENTS)
    got = {
        (
            r.event_id,
            str(r.event_date),
            str(r.delivery_date),
            r.model,
            _relative(settings, r.source_file),
        )
        for r in events.collect()
    }
    a1, b1 = "usage_events/date=2026-02-10/a.jsonl", "usage_events/date=2026-02-10/b.jsonl.gz"
    assert got == {
        ("e1", DAY1, DAY1, "atlas-3", a1),
        ("e2", DAY1, DAY1, "atlas-3", a1),
        ("e3", "2026-02-09", DAY1, "atlas-3", a1),
        ("e4", "2026-02-07", DAY1, "atlas-3", a1),
        ("e6", DAY1, DAY1, "atlas-3", a1),
        ("e7", DAY1, DAY1, "atlas-3", b1),
    }
    quarantine = _table(spark, settings, tables.BRONZE_QUARANTINE)
    by_line = {
        (r.feed, r.raw_line): (r.reason, str(r.delivery_date), _relative(settings, r.source_file))
        for r in quarantine.collect()
    }
    assert by_line[("usage_events", "{not json at all")] == ("not_json", DAY1, a1)
    assert by_line[("usage_events", '{"event_id":"u\ufffd1"}')] == ("invalid_utf8", DAY1, b1)
    reasons = sorted(r for (feed, _), (r, _, _) in by_line.items() if feed == "usage_events")
    assert reasons == sorted(
        [*(reason for _, reason in _bad_lines(r)), "ts_out_of_window", "invalid_utf8"]
    )
    assert [r for (feed, _), (r, _, _) in by_line.items() if feed == "accounts"] == ["bad_enum"]
    accounts = _table(spark, settings, tables.BRONZE_ACCOUNTS)
    assert sorted((r.account_id, str(r.snapshot_date)) for r in accounts.collect()) == [
        ("acc-1", DAY1),
        ("acc-2", DAY1),
    ]

    second = run_ingest(Runtime(settings, spark=spark), D2)

    usage2 = second.feeds["usage_events"]
    assert (usage2.lines, usage2.kept, usage2.duplicates_earlier, usage2.quarantined) == (
        3,
        2,
        1,
        0,
    )
    assert usage2.late_by_day == {D1: 1}
    assert second.touched_event_dates == (D1, D2)
    ids = {
        (r.event_id, str(r.event_date), str(r.delivery_date))
        for r in _table(spark, settings, tables.BRONZE_USAGE_EVENTS).collect()
    }
    assert ("e1", DAY1, DAY1) in ids and ("e9", DAY1, DAY2) in ids and ("e8", DAY2, DAY2) in ids
    assert len(ids) == 8
    labels = _table(spark, settings, tables.BRONZE_LABELS)
    assert labels.count() == 2
    assert second.feeds["labels"].duplicates_within == 1
    current = current_labels(labels, D2).select("account_id", "label", "source").collect()
    assert [tuple(r) for r in current] == [("acc-1", "benign", "appeal")]
    releases = _table(spark, settings, tables.BRONZE_MODEL_RELEASES)
    assert sorted(r.model for r in releases.collect()) == ["atlas-3", "atlas-3.5"]

    after_two_days = _snapshot(spark, settings)
    run_ingest(Runtime(settings, spark=spark), D1)
    assert _snapshot(spark, settings) == after_two_days

    # Another warehouse over the same landing, days delivered the other way round.
    reverse = make_settings(tmp_path / "w2", quarantine_max_share=1.0, landing=settings.landing)
    run_ingest(Runtime(reverse, spark=spark), D2)
    run_ingest(Runtime(reverse, spark=spark), D1)
    reversed_state = _snapshot(spark, reverse)
    for name in BRONZE_TABLES:
        assert reversed_state[name] == after_two_days[name], name
    audit_d1 = [r for r in reversed_state[tables.INGEST_AUDIT] if DAY1 in r]
    assert audit_d1 == [r for r in after_two_days[tables.INGEST_AUDIT] if DAY1 in r]


def test_missing_or_empty_delivery_stops_the_day_before_writing(spark, settings, landing, r):
    _ev = r.ev
    with pytest.raises(NoLandingData, match=r"usage_events .*date=2026-02-10 does not exist"):
        run_ingest(Runtime(settings, spark=spark), D1)
    landing.folder("usage_events", DAY1)
    with pytest.raises(NoLandingData, match=r"date=2026-02-10 holds no \.jsonl"):
        run_ingest(Runtime(settings, spark=spark), D1)
    landing.write("usage_events", DAY1, "a.jsonl", [_ev("e1", DAY1)])
    with pytest.raises(NoLandingData, match=r"no accounts delivery for 2026-02-10"):
        run_ingest(Runtime(settings, spark=spark), D1)
    assert not Path(settings.warehouse).exists()


def test_quarantine_gate_fails_loudly_and_commits_nothing(spark, settings, landing, r):
    _ev, account = r.ev, r.account
    landing.write(
        "usage_events",
        DAY1,
        "a.jsonl",
        [_ev("e1", DAY1), _ev("e2", DAY1), "{oops", _ev("e3", DAY1, surface="fax")],
    )
    landing.write("accounts", DAY1, "a.jsonl", [account("acc-1")])
    with pytest.raises(DataQualityError) as failure:
        run_ingest(Runtime(settings, spark=spark), D1)
    message = str(failure.value)
    assert "2 of 4 usage lines quarantined (50.0% > 5.0%)" in message
    assert "bad_enum 1, not_json 1" in message
    assert "\n" not in message
    assert not Path(settings.warehouse).exists()
    # The job's temporary session settings are restored, also on failure.
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "true"


def test_redelivered_event_with_another_ts_is_kept_once(spark, settings, landing, r):
    _ev, account = r.ev, r.account
    for day in (DAY1, DAY2):
        landing.write("accounts", day, "a.jsonl", [account("acc-1")])
    # The same event_id arrives again a day later, stamped a day earlier (another event day).
    landing.write("usage_events", DAY1, "a.jsonl", [_ev("x1", DAY1), _ev("k1", DAY1)])
    landing.write("usage_events", DAY2, "a.jsonl", [_ev("x1", "2026-02-09"), _ev("k2", DAY2)])

    def bronze():
        rows = spark.read.format("delta").load(tables.BRONZE_USAGE_EVENTS.location(settings))
        return sorted(
            (row.event_id, str(row.event_date), str(row.delivery_date))
            for row in rows.select("event_id", "event_date", "delivery_date").collect()
        )

    expected = [
        ("k1", DAY1, DAY1),
        ("k2", DAY2, DAY2),
        ("x1", DAY1, DAY1),
    ]
    result = run_ingest(Runtime(settings, spark=spark), D1)
    second = run_ingest(Runtime(settings, spark=spark), D2)
    assert bronze() == expected
    assert (second.feeds["usage_events"].kept, second.feeds["usage_events"].duplicates_earlier) == (
        1,
        1,
    )
    # Re-running either day, in any order, changes nothing.
    run_ingest(Runtime(settings, spark=spark), D2)
    run_ingest(Runtime(settings, spark=spark), D1)
    assert bronze() == expected
    assert result.feeds["usage_events"].kept == 2


def test_a_missing_delivery_stops_before_any_spark_session(settings):
    """The landing folders are listed through pyarrow.fs: no session is built for a day that
    has no delivery."""

    def no_spark(_settings):
        raise AssertionError("a Spark session was asked for")

    with pytest.raises(NoLandingData, match=r"folder .* does not exist"):
        run_ingest(Runtime(settings, spark_factory=no_spark), D1)
