"""The pipeline past one machine: the same code against a real standalone master, by settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.server]

PROBE = textwrap.dedent(
    """
    import json, sys
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark
    settings = Settings()
    spark = build_spark(settings, app_name="cluster-probe", **{"spark.executor.memory": "1g"})
    df = spark.range(0, 10000, numPartitions=4).selectExpr("id", "id % 7 as k")
    df.write.format("delta").mode("overwrite").save(sys.argv[1])
    agg = spark.read.format("delta").load(sys.argv[1]).groupBy("k").count().orderBy("k").collect()
    hosts = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print(json.dumps({"counts": [r["count"] for r in agg], "executors": hosts,
                      "master": spark.sparkContext.master}))
    spark.stop()
    """
)


def test_delta_round_trip_runs_on_standalone_workers(standalone_cluster, tmp_path, spark):
    env = dict(os.environ, HYDRAWATCH_SPARK_MASTER=standalone_cluster)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "t")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["master"] == standalone_cluster
    assert result["executors"] == 2
    expected = [len([i for i in range(10000) if i % 7 == k]) for k in range(7)]
    assert result["counts"] == expected
    # The table the cluster wrote is an ordinary Delta table the local session reads the same.
    local = spark.read.format("delta").load(str(tmp_path / "t"))
    assert local.count() == 10000
