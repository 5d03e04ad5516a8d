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
    with pytest.raises(Exception, match=r"(?i)not exist|FileNotFound|No such file"):
        spark.read.format("delta").option("versionAsOf", 0).load(loose.location(settings)).count()
    # And every current row is still there.
    assert spark.read.format("delta").load(loose.location(settings)).count() == 36
    assert client(settings).get_registered_model(settings.model_name) is not None
