import pytest

from hydrawatch.errors import HydrawatchError
from hydrawatch.spark import build_spark, delta_jars


def test_session_writes_and_reads_delta_in_utc(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.sql("select timestamp'2026-02-10 23:59:59' as ts").write.format("delta").save(path)
    row = spark.read.format("delta").load(path).selectExpr("to_date(ts) d").first()
    assert str(row.d) == "2026-02-10"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "spark.jars.packages" not in dict(spark.sparkContext.getConf().getAll())


def test_missing_jars_is_a_one_line_error(make_settings, tmp_path):
    with pytest.raises(HydrawatchError, match="make setup"):
        delta_jars(str(tmp_path))
    with pytest.raises(HydrawatchError):
        build_spark(make_settings(tmp_path, jars_dir=str(tmp_path / "nope")))
