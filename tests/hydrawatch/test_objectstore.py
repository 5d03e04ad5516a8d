"""Which Delta log store and jars a session gets for roots on S3, and the start-up refusal of a
single-driver log store (hydrawatch/objectstore.py). The commits themselves, against a real S3 API
server and several drivers, are tested in tests/integration/test_s3_commits.py."""

from __future__ import annotations

import os

import pytest

from hydrawatch.errors import HydrawatchError
from hydrawatch.objectstore import (
    CONDITIONAL_LOG_STORE,
    SINGLE_DRIVER_LOG_STORE,
    object_store_conf,
    on_s3,
)
from hydrawatch.spark import build_spark

DELTA_JARS = ["/jars/delta-spark_4.2_2.13-4.4.0.jar", "/jars/delta-storage-4.4.0.jar"]
S3_JAR_NAMES = ["hadoop-aws-3.5.0.jar", "hydrawatch-s3-logstore.jar", "s3-2.35.4.jar"]


@pytest.fixture
def jars_dir(tmp_path):
    """A jars folder laid out as infra/setup.sh leaves it (empty files stand for the jars)."""
    (tmp_path / "jars" / "s3a").mkdir(parents=True)
    for name in S3_JAR_NAMES:
        (tmp_path / "jars" / "s3a" / name).write_bytes(b"")
    return tmp_path / "jars"


def test_schemes_on_s3():
    assert on_s3("s3a://bucket/warehouse") and on_s3("S3://bucket/w")
    assert not on_s3("/data/warehouse") and not on_s3("gs://bucket/w")
    assert not on_s3("file:///data/s3a://x") and not on_s3("s3a-like/folder")


def test_local_roots_add_nothing(make_settings, tmp_path):
    assert object_store_conf(make_settings(tmp_path), DELTA_JARS) == {}


def test_s3_warehouse_gets_the_connector_after_delta_and_the_conditional_log_store(
    make_settings, tmp_path, jars_dir
):
    settings = make_settings(tmp_path, warehouse="s3a://bucket/warehouse", jars_dir=str(jars_dir))
    conf = object_store_conf(settings, DELTA_JARS)
    s3_jars = [str(jars_dir / "s3a" / name) for name in S3_JAR_NAMES]
    assert conf == {
        "spark.jars": ",".join(DELTA_JARS + s3_jars),
        "spark.driver.extraClassPath": os.pathsep.join(DELTA_JARS + s3_jars),
        "spark.delta.logStore.s3a.impl": CONDITIONAL_LOG_STORE,
        "spark.delta.logStore.s3.impl": CONDITIONAL_LOG_STORE,
    }


def test_single_driver_log_store_on_an_s3_warehouse_is_refused_in_one_line(
    make_settings, tmp_path, jars_dir
):
    settings = make_settings(
        tmp_path,
        warehouse="s3://bucket/warehouse",
        jars_dir=str(jars_dir),
        s3_log_store="single-driver",
    )
    with pytest.raises(HydrawatchError) as refused:
        object_store_conf(settings, DELTA_JARS)
    message = str(refused.value)
    assert "\n" not in message
    assert "loses commits when two drivers write one table" in message
    assert "HYDRAWATCH_SINGLE_WRITER=true" in message
    assert "s3://bucket/warehouse" in message
    # build_spark (with the real jars folder) refuses before starting a JVM.
    real_jars = make_settings(
        tmp_path, warehouse="s3://bucket/warehouse", s3_log_store="single-driver"
    )
    with pytest.raises(HydrawatchError, match="HYDRAWATCH_SINGLE_WRITER"):
        build_spark(real_jars)


def test_single_driver_log_store_with_a_declared_single_writer(make_settings, tmp_path, jars_dir):
    settings = make_settings(
        tmp_path,
        warehouse="s3a://bucket/warehouse",
        jars_dir=str(jars_dir),
        s3_log_store="single-driver",
        single_writer=True,
    )
    conf = object_store_conf(settings, DELTA_JARS)
    assert conf["spark.delta.logStore.s3a.impl"] == SINGLE_DRIVER_LOG_STORE


def test_single_driver_log_store_is_no_risk_without_delta_tables_on_s3(
    make_settings, tmp_path, jars_dir
):
    # Landing and exports on S3, the warehouse local: the jars, and no refusal.
    settings = make_settings(
        tmp_path,
        landing="s3a://bucket/landing",
        exports="s3a://bucket/exports",
        jars_dir=str(jars_dir),
        s3_log_store="single-driver",
    )
    conf = object_store_conf(settings, DELTA_JARS)
    assert conf["spark.jars"].endswith("s3-2.35.4.jar")


def test_missing_s3_jars_is_a_one_line_error(make_settings, tmp_path):
    settings = make_settings(tmp_path, warehouse="s3a://bucket/w", jars_dir=str(tmp_path))
    with pytest.raises(HydrawatchError, match=r"S3 connector jars are missing .*make setup"):
        object_store_conf(settings, DELTA_JARS)


def test_log_store_settings_from_the_environment(monkeypatch):
    from hydrawatch.settings import Settings

    monkeypatch.setenv("HYDRAWATCH_S3_LOG_STORE", "single-driver")
    monkeypatch.setenv("HYDRAWATCH_SINGLE_WRITER", "true")
    settings = Settings()
    assert (settings.s3_log_store, settings.single_writer) == ("single-driver", True)
    monkeypatch.setenv("HYDRAWATCH_S3_LOG_STORE", "dynamodb")
    with pytest.raises(ValueError):
        Settings()
