"""Warehouse upkeep on real Delta tables: compaction cuts the active files, VACUUM removes what
no version in retention needs, and a table version a registered model was trained on stays
readable by time travel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.maintain import retention_for, run_maintain
from testkit.registry import client

DAYS = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(3)]


def _appends(spark, settings, table, rounds: int) -> None:
    """Each day written in `rounds` small appends: many small files, one commit each."""
    for n in range(rounds):
        rows = [(d, f"acc-{n}-{i}", 0.1 * i, i % 2 == 0, "m", "1") for d in DAYS for i in range(3)]
        spark.createDataFrame(
            rows,
            "score_date date, account_id string, score double, flagged boolean, "
            "model_name string, model_version string",
        ).coalesce(1).write.format("delta").mode("append").partitionBy("score_date").save(
            table.location(settings)
        )


def _parquet_files(settings, table) -> int:
    return len(list(Path(table.location(settings)).rglob("*.parquet")))


def test_retention_covers_the_oldest_pinned_version():
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert retention_for(168, [], now) == 168
    ten_days = now - dt.timedelta(days=10, minutes=30)
    assert retention_for(168, [ten_days, now], now) == 10 * 24 + 1 + 1  # 240.5h -> 241 + 1
    assert retention_for(0, [now - dt.timedelta(minutes=5)], now) == 2


def test_maintain_compacts_cleans_and_keeps_what_a_model_was_trained_on(
    spark, make_settings, tmp_path
):
    settings = make_settings(tmp_path, maintain_retention_hours=0)
    pinned, loose = tables.GOLD_ACCOUNT_SCORES, tables.SHADOW_SCORES
    _appends(spark, settings, pinned, 4)
    _appends(spark, settings, loose, 4)
    # A registered version whose training run read `pinned` at version 0 (one append: 9 rows).
    import mlflow

    rt = Runtime(settings, spark=spark)
    mlf = rt.mlflow
    experiment = mlf.create_experiment(f"maintain-{tmp_path.name}")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_param(f"data_version.{pinned.name}", 0)
    mlf.create_registered_model(settings.model_name)
    mlf.create_model_version(settings.model_name, "file:///nowhere", run_id=run.info.run_id)
    loose_before = _parquet_files(settings, loose)

    result = run_maintain(rt, recent_days=7)
    by_name = {t.table: t for t in result.tables}
    for table in (pinned, loose):
        upkeep = by_name[table.name]
        # 4 appends x 3 day partitions -> one file per partition
        assert (upkeep.files_before, upkeep.files_after) == (12, 3)
    assert by_name[pinned.name].pinned_versions == (0,)
    assert by_name[pinned.name].retention_hours >= 1 and by_name[loose.name].retention_hours == 0
    # The model's training version still reads, whole.
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(pinned.location(settings))
    assert v0.count() == 9
    # Nothing pins the other table: its compacted-away files are gone from the disk.
    assert _parquet_files(settings, loose) == 3 < loose_before
    with pytest.raises(
        Exception, match=r"(?i)time travel beyond|not exist|FileNotFound|No such file"
    ):
        spark.read.format("delta").option("versionAsOf", 0).load(loose.location(settings)).count()
    # And every current row is still there.
    assert spark.read.format("delta").load(loose.location(settings)).count() == 36
    assert client(settings).get_registered_model(settings.model_name) is not None


def test_personal_data_past_its_retention_is_gone_from_the_files(spark, make_settings, tmp_path):
    settings = make_settings(tmp_path, maintain_retention_hours=0, pii_retention_days=30)
    today = dt.datetime.now(dt.UTC).date()
    old, recent = today - dt.timedelta(days=45), today - dt.timedelta(days=1)
    old_ip, recent_ip = "203.0.113.77", "198.51.100.88"
    table = tables.BRONZE_USAGE_EVENTS
    spark.createDataFrame(
        [("e1", "acc-1", old_ip, old), ("e2", "acc-1", recent_ip, recent)],
        "event_id string, account_id string, client_ip string, event_date date",
    ).write.format("delta").partitionBy("event_date").save(table.location(settings))
    quarantine = tables.BRONZE_QUARANTINE
    spark.createDataFrame(
        [(old, "bad_json", f'{{"client_ip": "{old_ip}"'), (recent, "bad_json", "{recent")],
        "delivery_date date, reason string, raw_line string",
    ).write.format("delta").partitionBy("delivery_date").save(quarantine.location(settings))

    run_maintain(Runtime(settings, spark=spark))

    rows = {
        r.event_id: r for r in spark.read.format("delta").load(table.location(settings)).collect()
    }
    assert rows["e1"].client_ip is None and rows["e1"].account_id == "acc-1"
    assert rows["e2"].client_ip == recent_ip
    lines = spark.read.format("delta").load(quarantine.location(settings)).collect()
    assert sorted((r.delivery_date, r.raw_line) for r in lines) == [
        (old, None),
        (recent, "{recent"),
    ]
    for t in (table, quarantine):
        for path in Path(t.location(settings)).rglob("*.parquet"):
            assert old_ip.encode() not in path.read_bytes(), path
