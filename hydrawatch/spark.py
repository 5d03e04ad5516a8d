"""The one place a SparkSession is built.

`build_spark(settings)` returns a session with Delta Lake, loading Delta's jars from the folder
infra/setup.sh filled with Maven (`spark.jars`, never `spark.jars.packages`), so nothing is
downloaded at run time. The same builder serves `local[*]` and a `spark://` standalone master:
`spark.jars` ships the jars to the executors too. With a `local` master every port the driver
opens (RPC, block manager, web UI) listens on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import sys

from hydrawatch.errors import HydrawatchError
from hydrawatch.settings import Settings


def delta_jars(jars_dir: str) -> list[str]:
    jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
    if not any(os.path.basename(j).startswith("delta-spark_") for j in jars):
        raise HydrawatchError(
            f"the Delta jars are missing from {jars_dir}; run `make setup` (resolves them with Maven)"
        )
    return jars


def build_spark(settings: Settings, app_name: str = "hydrawatch", **extra_conf: str):
    """Build (or return the running) SparkSession configured for Delta and for `settings`."""
    from pyspark.sql import SparkSession

    # Executors must run the same interpreter as the driver (the project's virtualenv).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    conf: dict[str, str] = {
        "spark.jars": ",".join(delta_jars(settings.jars_dir)),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Every timestamp in the contracts is UTC; day boundaries are UTC days.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.ui.enabled": str(settings.spark_ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.spark_driver_memory,
        # Re-running a day overwrites exactly the partitions it owns.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta's log replay defaults to 50 partitions, far too many for small tables.
        "spark.databricks.delta.snapshotPartitions": str(max(1, settings.spark_shuffle_partitions)),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Batches to Python workers are bounded by rows (maxRecordsPerBatch, 10,000). With a
        # byte bound as well (64 MB by default), Spark 4.2 measures the whole batch after every
        # row it adds, walking every column vector: a fifth of the silver step's task CPU
        # (JFR, bench/README.md). Int.MaxValue is the value that turns the measuring off.
        "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1),
        "spark.sql.ansi.enabled": "true",
    }
    if settings.is_local_master:
        # One machine: the driver's RPC, block manager and web UI listen on loopback only. By
        # default the UI binds every interface (0.0.0.0:4040) and the driver a LAN address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    if settings.spark_event_log_dir:
        os.makedirs(settings.spark_event_log_dir, exist_ok=True)
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = settings.spark_event_log_dir
    conf.update(extra_conf)

    builder = SparkSession.builder.master(settings.spark_master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
