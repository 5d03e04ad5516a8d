import pytest
from pyspark.testing import assertDataFrameEqual

from hydrawatch.errors import HydrawatchError
from hydrawatch.spark import BATCH_JIT, CLASS_ARCHIVE, build_spark, delta_jars, driver_java_options


def test_session_writes_and_reads_delta_in_utc(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.sql("select timestamp'2026-02-10 23:59:59' as ts").write.format("delta").save(path)
    row = spark.read.format("delta").load(path).selectExpr("to_date(ts) d").first()
    assert str(row.d) == "2026-02-10"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "spark.jars.packages" not in dict(spark.sparkContext.getConf().getAll())
    # Delta replays a table's log in one partition unless the setting says otherwise.
    assert spark.conf.get("spark.databricks.delta.snapshotPartitions") == "1"


def test_partitioned_delta_write_keeps_every_row_past_the_open_file_limit(spark, tmp_path):
    # One task, seven partition values: four get open files at once, the rest the sorted
    # fallback; every row lands in its own partition either way.
    assert spark.conf.get("spark.sql.maxConcurrentOutputFileWriters") == "4"
    df = spark.range(700).selectExpr("id", "id % 7 as day").coalesce(1)
    path = str(tmp_path / "p")
    df.write.format("delta").partitionBy("day").save(path)
    back = spark.read.format("delta").load(path)
    assertDataFrameEqual(back, df)
    assert back.inputFiles() and len(back.inputFiles()) == 7


def test_driver_jvm_runs_with_the_batch_jit_thresholds(spark):
    mx = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    flags = set(mx.getInputArguments())
    assert set(BATCH_JIT.split()) <= flags


def test_missing_jars_is_a_one_line_error(make_settings, tmp_path):
    with pytest.raises(HydrawatchError, match="make setup"):
        delta_jars(str(tmp_path))
    with pytest.raises(HydrawatchError):
        build_spark(make_settings(tmp_path, jars_dir=str(tmp_path / "nope")))


def test_driver_maps_the_class_archive_only_when_setup_made_one(make_settings, tmp_path):
    settings = make_settings(tmp_path, jars_dir=str(tmp_path))
    assert driver_java_options(settings) == BATCH_JIT
    (tmp_path / CLASS_ARCHIVE).write_bytes(b"")
    options = driver_java_options(settings).split()
    assert options[:3] == BATCH_JIT.split()
    assert options[3] == f"-XX:SharedArchiveFile={tmp_path / CLASS_ARCHIVE}"
    assert "-Xlog:cds=off" in options
    no_jit = make_settings(tmp_path, jars_dir=str(tmp_path), spark_batch_jit=False)
    assert (
        driver_java_options(no_jit).split()[0]
        == f"-XX:SharedArchiveFile={tmp_path / CLASS_ARCHIVE}"
    )


def test_building_a_session_leaves_the_process_environment_as_it_was(spark, monkeypatch):
    import os
    import sys

    from hydrawatch.settings import Settings

    for name in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    session = build_spark(Settings(spark_master="local[2]", spark_ui=False))
    assert dict(os.environ) == before
    # The executors' Python is still the project's interpreter (read when the context started).
    assert session.sparkContext.pythonExec == sys.executable
