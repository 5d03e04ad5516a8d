"""Range-native jobs: ingest and features over D1..D3 in one run each leave exactly the tables of
one run per day, in order, on deliveries with late events and duplicates across deliveries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hydrawatch.errors import NoLandingData
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.features import run_features, run_features_range
from jobs.ingest import run_ingest, run_ingest_range

DAYS = [dt.date(2026, 2, 10) + dt.timedelta(days=i) for i in range(3)]
D1, D2, D3 = DAYS
D4 = D3 + dt.timedelta(days=1)
TABLES = (
    tables.BRONZE_USAGE_EVENTS,
    tables.BRONZE_ACCOUNTS,
    tables.BRONZE_LABELS,
    tables.BRONZE_MODEL_RELEASES,
    tables.BRONZE_QUARANTINE,
    tables.INGEST_AUDIT,
    tables.SILVER_ACCOUNT_DAILY,
    tables.FEATURES_ACCOUNT,
)
TEMPLATES = [f"{i:016x}" for i in range(1, 9)]


def _write_landing(landing, records) -> None:
    """Three deliveries: six accounts (two running the same templates from one /24), late
    events (1 and 2 days late), duplicates within a delivery and across deliveries (of the day
    before and of two days before), a malformed line, an event outside its delivery's window,
    labels delivered twice."""
    ev, account, label = records.usage_event, records.account, records.label

    def day_events(day: dt.date) -> list[dict]:
        out = []
        for n, acc in enumerate(("a1", "a2", "a3", "a4", "a5", "a6")):
            same = acc in ("a1", "a2")  # a coordinated pair: same script, same network
            for k in range(6 if same else 2 + n % 3):
                out.append(
                    ev(
                        f"{acc}-{day:%d}-{k}",
                        f"{day}T{8 + k:02d}:{10 * n:02d}:00.000Z",
                        account_id=acc,
                        prompt_template_hash=TEMPLATES[k] if same else TEMPLATES[(n + k) % 8],
                        client_ip=f"198.51.100.{10 + n}" if same else f"203.0.{n}.{k + 1}",
                        system_prompt_hash="feedfacefeedface" if same else None,
                        cot_elicitation=same and k % 2 == 0,
                        model="atlas-3.5" if k % 3 == 0 else "atlas-3",
                    )
                )
        return out

    events = {d: day_events(d) for d in DAYS}
    # Late events: D1's evening arrives with D2, D1's night with D3 (2 days late), D2's with D3.
    late = {
        D2: [ev("late-1", f"{D1}T22:00:00.000Z", account_id="a3")],
        D3: [
            ev("late-2", f"{D2}T23:30:00.000Z", account_id="a1", prompt_template_hash=TEMPLATES[7]),
            ev("late-3", f"{D1}T23:59:00.000Z", account_id="a4"),
        ],
    }
    # Duplicates: within D1, D1's event again with D2 (a later copy with other content), D2's
    # late event again with D3, D1's event again with D3.
    dupes = {
        D1: [events[D1][0]],
        D2: [{**events[D1][1], "model": "copy-in-d2"}],
        D3: [late[D2][0], events[D1][5]],
    }
    bad = {
        D2: ["{not json"],
        D3: [ev("old", f"{D3 - dt.timedelta(days=5)}T10:00:00.000Z", account_id="a5")],
    }
    for day in DAYS:
        lines = events[day] + late.get(day, []) + dupes.get(day, []) + bad.get(day, [])
        half = len(lines) // 2
        landing.write("usage_events", str(day), "part-0.jsonl", lines[:half])
        landing.write("usage_events", str(day), "part-1.jsonl.gz", lines[half:])
        landing.write(
            "accounts",
            str(day),
            "part-0.jsonl",
            [account(a, payment_fingerprint="pf-x" if a in ("a1", "a2") else f"pf-{a}")
             for a in ("a1", "a2", "a3", "a4", "a5", "a6")],
        )  # fmt: skip
    decision = label("a1", f"{D1}T12:00:00Z", "distillation", "analyst_review")
    landing.write("labels", str(D2), "part-0.jsonl", [decision])
    landing.write(
        "labels",
        str(D3),
        "part-0.jsonl",
        [decision, label("a3", f"{D2}T09:00:00Z", "benign", "analyst_review")],
    )
    landing.releases(
        [
            {"model": "atlas-3", "released_at": "2025-11-01T00:00:00Z"},
            {"model": "atlas-3.5", "released_at": f"{D2}T16:00:00Z"},
        ]
    )


def _rows(spark, settings) -> dict:
    """Every table's rows as sorted plain values; meta/features_runs without the run's own
    bookkeeping (which run, which bronze version)."""
    out = {}
    for table in TABLES:
        df = spark.read.format("delta").load(table.location(settings))
        out[table.name] = sorted(
            tuple(str(v) for v in row) for row in df.select(*sorted(df.columns)).collect()
        )
    runs = spark.read.format("delta").load(tables.FEATURES_RUNS.location(settings))
    out["runs"] = sorted(
        (r["kind"], str(r["day"]), tuple(r["deliveries"] or ()), r["feature_set_version"])
        for r in runs.collect()
    )
    return out


@pytest.mark.slow
def test_range_runs_equal_day_by_day_runs(spark, make_settings, tmp_path, records):
    landing_root = tmp_path / "landing"
    _write_landing(records.Landing(landing_root), records)

    def world(name: str) -> Runtime:
        return Runtime(make_settings(tmp_path / name, landing=str(landing_root)), spark=spark)

    daily = world("daily")
    for day in DAYS:
        run_ingest(daily, day)
        run_features(daily, day)
    expected = _rows(spark, daily.settings)
    # The world has what the promise is about: late events, duplicates of both kinds.
    usage = spark.read.format("delta").load(tables.INGEST_AUDIT.location(daily.settings))
    usage = usage.where("feed = 'usage_events'").orderBy("delivery_date").collect()
    assert [r["duplicates_within"] for r in usage] == [1, 0, 0]
    assert [r["duplicates_earlier"] for r in usage] == [0, 1, 2]
    assert [sorted(r["late_by_day"].items()) for r in usage] == [[], [(D1, 1)], [(D1, 1), (D2, 1)]]
    assert [r["quarantined"] for r in usage] == [0, 1, 1]

    # The whole range in one run of each job, on an empty warehouse.
    whole = world("range")
    ingested = run_ingest_range(whole, D1, D3)
    assert ingested.error is None and [r.delivery_date for r in ingested.results] == DAYS
    featured = run_features_range(whole, D1, D3)
    assert featured.error is None and [r.feature_date for r in featured.results] == DAYS
    assert _rows(spark, whole.settings) == expected

    # After a daily run of D1: the range D2..D3 sees D1's bronze (its duplicates are earlier
    # ones), marks D1 dirty (late events for it) and recomputes D1's gold; run twice, it
    # replaces exactly what it wrote.
    after = world("after")
    run_ingest(after, D1)
    run_features(after, D1)
    run_ingest_range(after, D2, D3)
    run_ingest_range(after, D2, D3)
    rest = run_features_range(after, D2, D3)
    assert rest.results[0].dirty_days == (D1,)
    assert D1 in rest.results[0].gold_dates
    assert _rows(spark, after.settings) == expected


@pytest.mark.slow
def test_a_range_stops_at_the_first_day_without_a_delivery(spark, make_settings, tmp_path, records):
    settings = make_settings(tmp_path / "w")
    landing = records.Landing(Path(settings.landing))
    for day in (D1, D2, D4):  # D3 never arrived
        landing.write(
            "usage_events",
            str(day),
            "a.jsonl",
            [records.usage_event(f"e{day:%d}", f"{day}T08:00:00Z")],
        )
        landing.write("accounts", str(day), "a.jsonl", [records.account("acc-1")])
    rt = Runtime(settings, spark=spark)
    done = run_ingest_range(rt, D1, D4)
    assert [r.delivery_date for r in done.results] == [D1, D2]
    assert done.stopped_at == D3 and isinstance(done.error, NoLandingData)
    assert "no usage_events delivery for 2026-02-12" in str(done.error)
    audit = spark.read.format("delta").load(tables.INGEST_AUDIT.location(settings))
    assert sorted({r[0] for r in audit.select("delivery_date").collect()}) == [D1, D2]
    featured = run_features_range(rt, D1, D4)
    assert [r.feature_date for r in featured.results] == [D1, D2]
    assert featured.stopped_at == D3 and isinstance(featured.error, NoLandingData)
