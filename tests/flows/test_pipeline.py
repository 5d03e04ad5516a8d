"""The daily and backfill flows: order, artifacts, resume, stopping, retries, one writer per day."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading

import pytest

from hydrawatch.errors import ConcurrentRun, NoLandingData
from hydrawatch.runtime import Runtime

D1, D2, D3 = dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 3)
STEPS = ["ingest", "features", "score", "publish"]


@pytest.fixture
def flow_settings(make_settings, tmp_path):
    # The session's MLflow store (tests/conftest.py); no champion of this test's model in it.
    return make_settings(
        tmp_path,
        day_lock="file",
        day_lock_wait_seconds=1,
    )


def test_daily_runs_the_steps_in_order_and_leaves_a_summary(
    spark, prefect_harness, stand_ins, flow_settings, read_artifact
):
    from flows.pipeline import daily_flow

    result = daily_flow(run_date=D1, rt=Runtime(flow_settings, spark=spark))

    assert stand_ins.calls == [(s, D1) for s in STEPS]
    assert (result.ran, result.skipped) == (STEPS, [])
    md = read_artifact("hydrawatch-day-2026-02-01", result.flow_run_id)
    for line in (
        "| rows in | 100 |",
        "| quarantined | 3 |",
        "| accounts scored | 40 |",
        "| flagged | 5 |",
        "| new clusters | 1 |",
        "| model version | 3 |",
    ):
        assert line in md
    assert f"{flow_settings.warehouse_uri}/gold/account_scores" in md
    # The day's records were committed under its lock, whose epoch the commit carries.
    from delta.tables import DeltaTable

    progress_at = f"{flow_settings.warehouse_uri}/meta/flow_progress"
    last = DeltaTable.forPath(spark, progress_at).history(1).first()
    assert last["userMetadata"] == "hydrawatch lock day 2026-02-01 epoch 1"


def test_a_drift_failure_is_reported_and_does_not_fail_a_published_day(
    spark, prefect_harness, stand_ins, flow_settings, read_artifact, monkeypatch
):
    from flows.pipeline import daily_flow
    from jobs import drift

    def broken(rt, day, model=None):
        raise RuntimeError("champion training data unreadable")

    monkeypatch.setattr(drift, "run_drift", broken)
    result = daily_flow(run_date=D3, rt=Runtime(flow_settings, spark=spark))

    assert result.ran == STEPS and "drift" not in result.results
    md = read_artifact("hydrawatch-day-2026-02-03", result.flow_run_id)
    assert "Hydrawatch day 2026-02-03: completed" in md
    assert "| DRIFT REPORT FAILED | RuntimeError: champion training data unreadable |" in md


def test_backfill_stops_naming_the_day_and_continues_where_it_stopped(
    spark, prefect_harness, stand_ins, flow_settings, read_artifact
):
    from flows.pipeline import BackfillStopped, backfill_flow

    stand_ins.fail[("features", D2)] = [NoLandingData("no usage_events delivery for 2026-02-02")]
    with pytest.raises(BackfillStopped) as stopped:
        backfill_flow(D1, D3, STEPS, rt=Runtime(flow_settings, spark=spark))
    assert "backfill stopped at 2026-02-02" in str(stopped.value)
    assert "no usage_events delivery" in str(stopped.value)
    # Ingest and features each run once over the range; features stops at D2, so score and
    # publish run for D1 only.
    assert stand_ins.calls == [
        ("ingest", D1),
        ("ingest", D2),
        ("ingest", D3),
        ("features", D1),
        ("features", D2),
        ("score", D1),
        ("publish", D1),
    ]
    # The failed day's artifact says why; an expected failure is not retried.
    assert "FAILED: no usage_events delivery" in read_artifact("hydrawatch-day-2026-02-02")
    assert "Stopped at 2026-02-02" in read_artifact("hydrawatch-backfill")

    stand_ins.calls.clear()
    again = backfill_flow(D1, D3, STEPS, rt=Runtime(flow_settings, spark=spark))
    # Day 1 and day 2's ingest completed for the same inputs: skipped; the rest runs (day 3's
    # ingest too: it comes after day 2's features, the first pair to run).
    assert stand_ins.calls == [
        ("ingest", D3),
        ("features", D2),
        ("features", D3),
        ("score", D2),
        ("score", D3),
        ("publish", D2),
        ("publish", D3),
    ]
    assert [(d.day, d.skipped) for d in again.days] == [(D1, STEPS), (D2, ["ingest"]), (D3, [])]
    assert again.skipped_days == [D1]

    # New landing data for day 2: day 1 stays done, day 2 and everything after it run again.
    folder = flow_settings.landing_uri + "/usage_events/date=2026-02-02"
    os.makedirs(folder)
    with open(f"{folder}/late.jsonl", "w") as f:
        f.write("{}\n")
    stand_ins.calls.clear()
    backfill_flow(D1, D3, STEPS, rt=Runtime(flow_settings, spark=spark))
    assert stand_ins.calls == [
        ("ingest", D2),
        ("ingest", D3),
        ("features", D2),
        ("features", D3),
        ("score", D2),
        ("score", D3),
        ("publish", D2),
        ("publish", D3),
    ]

    # Everything done: nothing runs; --force runs it all again.
    stand_ins.calls.clear()
    assert backfill_flow(D1, D3, STEPS, rt=Runtime(flow_settings, spark=spark)).skipped_days == [
        D1,
        D2,
        D3,
    ]
    assert stand_ins.calls == []
    backfill_flow(D1, D3, ["ingest"], rt=Runtime(flow_settings, spark=spark), force=True)
    assert stand_ins.calls == [("ingest", D1), ("ingest", D2), ("ingest", D3)]


def test_overlapping_backfills_do_not_interleave(spark, prefect_harness, stand_ins, flow_settings):
    from flows.pipeline import backfill_flow

    inside, release = threading.Event(), threading.Event()

    def hold(day):
        inside.set()
        assert release.wait(60)

    stand_ins.hooks["ingest"] = hold
    thread = threading.Thread(
        target=lambda: backfill_flow(D1, D2, ["ingest"], rt=Runtime(flow_settings, spark=spark))
    )
    thread.start()
    try:
        assert inside.wait(120)
        stand_ins.hooks.clear()
        with pytest.raises(ConcurrentRun) as second:
            backfill_flow(D2, D3, ["ingest"], rt=Runtime(flow_settings, spark=spark))
    finally:
        release.set()
        thread.join(120)
    assert "day 2026-02-02 is being written by another run" in str(second.value)
    assert ("ingest", D3) not in stand_ins.calls


def test_unexpected_errors_are_retried_expected_ones_are_not(
    spark, prefect_harness, stand_ins, flow_settings, monkeypatch
):
    from flows import pipeline

    fast = pipeline.ingest_task.with_options(retry_delay_seconds=0)
    monkeypatch.setitem(pipeline.STEP_TASKS, "ingest", fast)
    stand_ins.fail[("ingest", D1)] = [OSError("connection reset reading landing")]
    pipeline.daily_flow(run_date=D1, steps=["ingest"], rt=Runtime(flow_settings, spark=spark))
    assert stand_ins.calls == [("ingest", D1), ("ingest", D1)]

    stand_ins.calls.clear()
    stand_ins.fail[("ingest", D2)] = [NoLandingData("no delivery"), NoLandingData("no delivery")]
    with pytest.raises(NoLandingData):
        pipeline.daily_flow(run_date=D2, steps=["ingest"], rt=Runtime(flow_settings, spark=spark))
    assert stand_ins.calls == [("ingest", D2)]


def test_every_failure_marks_the_day_failed_in_its_artifact_and_progress(
    spark, prefect_harness, stand_ins, flow_settings, read_artifact, monkeypatch
):
    """An internal error (a bug) is recorded as failed too, with exit code 70 and its class;
    an expected failure with its own code; a later good run clears the mark."""
    from flows import pipeline, progress

    monkeypatch.setitem(
        pipeline.STEP_TASKS, "features", pipeline.features_task.with_options(retries=0)
    )
    stand_ins.fail[("features", D1)] = [KeyError("feature_date"), NoLandingData("no accounts")]
    rt = Runtime(flow_settings, spark=spark)
    with pytest.raises(KeyError):
        pipeline.daily_flow(run_date=D1, rt=rt)
    md = read_artifact("hydrawatch-day-2026-02-01")
    assert md.startswith(
        "# Hydrawatch day 2026-02-01: FAILED: internal error (KeyError: 'feature_date')"
    )
    internal = ("features", 70, "internal error (KeyError: 'feature_date')")
    assert progress.failures(rt.warehouse) == {D1: internal}
    assert set(progress.completed(rt.warehouse)) == {(D1, "ingest")}

    with pytest.raises(NoLandingData):
        pipeline.daily_flow(run_date=D1, steps=["features", "score"], rt=rt)
    assert progress.failures(rt.warehouse) == {D1: ("features", 3, "no accounts")}

    pipeline.daily_flow(run_date=D1, steps=["features", "score", "publish"], rt=rt)
    assert progress.failures(rt.warehouse) == {}
    assert set(progress.completed(rt.warehouse)) == {(D1, s) for s in STEPS}


def test_a_held_day_and_drift_reach_the_operators_alert_receiver(
    spark, prefect_harness, stand_ins, make_settings, tmp_path, webhook_receiver, make_whsec,
    monkeypatch,
):  # fmt: skip
    """Publish held back (exit code 5) and a drifted day each POST one signed alert."""
    from flows import pipeline
    from hydrawatch.errors import EXIT_GATE, PublicationHeld
    from jobs import drift

    secret = make_whsec(b"pipeline-alerts-secret-32-bytes!")
    with webhook_receiver([secret]) as rx:
        settings = make_settings(
            tmp_path, day_lock="file", day_lock_wait_seconds=1, alert_url=rx.url,
            alert_secret=secret,
        )  # fmt: skip
        rt = Runtime(settings, spark=spark)
        stand_ins.fail[("publish", D1)] = [PublicationHeld("2026-02-01 held back: 900 flagged")]
        with pytest.raises(PublicationHeld):
            pipeline.daily_flow(run_date=D1, rt=rt)

        def drifted(rt, day, model=None):
            return drift.DriftResult(day, "ok", "3", 0.25, 0.61, 0.1, ["requests_1d"])

        monkeypatch.setattr(drift, "run_drift", drifted)
        pipeline.daily_flow(run_date=D2, rt=rt)
        got = [json.loads(body) for body, _ in rx.accepted]
    assert [(a["type"], a["day"], a.get("exit_code")) for a in got] == [
        ("hydrawatch.publication.held", "2026-02-01", EXIT_GATE),
        ("hydrawatch.drift", "2026-02-02", None),
    ]
    assert got[0]["message"] == "2026-02-01 held back: 900 flagged"
    assert got[1]["message"].startswith(
        "2026-02-02: population stability index past 0.25 for requests_1d (max 0.61)"
    )


def test_late_is_counted_from_the_end_of_the_day():
    from flows.pipeline import late_by

    end_of_d1 = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    assert late_by(D1, 8, end_of_d1 + dt.timedelta(hours=8)) is None
    assert late_by(D1, 8, end_of_d1 + dt.timedelta(hours=9, minutes=30)) == (
        "1.5h past its due time"
    )


def test_two_runs_for_the_same_day_do_not_interleave(
    spark, prefect_harness, stand_ins, flow_settings
):
    from flows.pipeline import daily_flow

    inside, release = threading.Event(), threading.Event()

    def hold(day):
        inside.set()
        assert release.wait(60)

    stand_ins.hooks["ingest"] = hold
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.setdefault(
            "result",
            daily_flow(run_date=D1, steps=["ingest"], rt=Runtime(flow_settings, spark=spark)),
        )
    )
    thread.start()
    try:
        assert inside.wait(120)
        said: list[str] = []
        watched = Runtime(flow_settings, spark=spark, reporter=said.append)
        with pytest.raises(ConcurrentRun) as second:
            daily_flow(run_date=D1, steps=["ingest"], rt=watched)
    finally:
        release.set()
        thread.join(120)
    assert "day 2026-02-01 is being written by another run" in str(second.value)
    assert any("waiting up to 1s" in line for line in said)
    assert first["result"].ran == ["ingest"]
    assert stand_ins.calls == [("ingest", D1)]


def test_evaluate_flow_reports_against_the_truth_and_leaves_an_artifact(
    spark, prefect_harness, make_settings, tmp_path, read_artifact
):
    from flows.pipeline import evaluate_flow
    from testkit.registry import log_and_register
    from testkit.synthetic import FEATURE_NAMES, FEATURE_SET_VERSION, write_synthetic

    settings = make_settings(tmp_path)
    world = write_synthetic(spark, settings, D1, days=4)
    truth = world.truth.set_index("account_id")["is_attacker"]
    y = world.features["account_id"].map(truth).astype(int)
    _, version = log_and_register(
        Runtime(settings),
        world.features[list(FEATURE_NAMES)],
        y,
        feature_set_version=FEATURE_SET_VERSION,
    )

    result = evaluate_flow(world.last_day, D2, version, rt=Runtime(settings, spark=spark))

    assert result.source == "features" and result.model_version == version
    campaigns = result.report[result.report["group"] == "campaign"]
    assert set(campaigns["name"]) == set(world.truth["campaign_id"].dropna())
    md = read_artifact("hydrawatch-evaluate")
    assert f"# Hydrawatch evaluation {D2}..{world.last_day}" in md
    assert f"| recall | {result.overall['recall']:.3f} |" in md
    for name in campaigns["name"]:
        assert f"| campaign | {name} |" in md
