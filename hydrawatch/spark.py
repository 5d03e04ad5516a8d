"""The one place a SparkSession is built.

`build_spark(settings)` returns a session with Delta Lake, loading Delta's jars from the folder
infra/setup.sh filled with Maven (`spark.jars`, never `spark.jars.packages`), so nothing is
downloaded at run time. The same builder serves `local[*]` and a `spark://` standalone master:
`spark.jars` ships the jars to the executors too. With a `local` master every port the driver
opens (RPC, block manager, web UI) listens on 127.0.0.1 only.

Start-up: when infra/setup.sh has made a class-data archive of the driver JVM
(`CLASS_ARCHIVE` in the jars folder, `python -m hydrawatch.spark`), the driver maps Spark's
classes from it instead of loading them one by one (bench/README.md has what it saves). A missing or stale archive (another JVM or pyspark) is ignored by the JVM.
Delta's jars are on the driver's class path as well as in `spark.jars`, so the archive holds
their classes too.

The JVMs compile with C2 later than HotSpot's server defaults (`BATCH_JIT`): a job's JVM lives
minutes, not days, and C2 compilations were a fifth of its CPU.

Python workers get an allocation environment (`spark.executorEnv.*`): 4 KiB pages instead of
transparent huge pages, and a pyarrow pool that keeps the pages it frees. On a machine whose
memory its host backs lazily (a VM) each fresh huge page costs milliseconds; the silver pass's
first tasks lost seconds to them.

The process environment is left as it was: the variables the driver JVM and the executors' Python
are launched with (`PYSPARK_PYTHON`, and `SPARK_LOCAL_IP` on a local master) are set only while
the session starts (the JVM copies the environment at launch), then restored.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import threading
from collections.abc import Iterator

from hydrawatch.errors import HydrawatchError
from hydrawatch.objectstore import object_store_conf
from hydrawatch.settings import Settings


def delta_jars(jars_dir: str) -> list[str]:
    jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
    if not any(os.path.basename(j).startswith("delta-spark_") for j in jars):
        raise HydrawatchError(
            f"the Delta jars are missing from {jars_dir}; run `make setup` (resolves them with Maven)"
        )
    return jars


CLASS_ARCHIVE = "spark-classes.jsa"
# A stale archive is skipped by the JVM; its warnings would only be noise on the console.
_QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"


# C2 (the optimising JIT) compiles a method once it has run 5,000 times or looped 40,000 times
# (HotSpot's defaults, tuned for servers that run for days). A batch job's JVM lives for minutes
# and spent a large share of its CPU in the C2 compiler thread on methods that never repaid it.
# Ten times the thresholds (C1's compiled code runs meanwhile) keep the hot loops compiled;
# thirty times made the tasks themselves slower (bench/README.md, "JIT thresholds").
BATCH_JIT = (
    "-XX:Tier4InvocationThreshold=50000 -XX:Tier4CompileThreshold=60000 "
    "-XX:Tier4BackEdgeThreshold=400000"
)


def driver_java_options(settings: Settings) -> str:
    """Extra JVM options of the driver: the batch JIT thresholds, and the class-data archive of
    the jars folder if set-up made one."""
    archive = os.path.join(settings.jars_dir, CLASS_ARCHIVE)
    jit = [BATCH_JIT] if settings.spark_batch_jit else []
    cds = [f"-XX:SharedArchiveFile={archive}", _QUIET_CDS] if os.path.isfile(archive) else []
    return " ".join(jit + cds)


_LAUNCH = threading.Lock()


@contextlib.contextmanager
def _launch_environment(extra: dict[str, str]) -> Iterator[None]:
    """`extra` (where not already set) in the environment while a session starts, then restored."""
    with _LAUNCH:
        added = {k: v for k, v in extra.items() if k not in os.environ}
        os.environ.update(added)
        try:
            yield
        finally:
            for key in added:
                os.environ.pop(key, None)


@contextlib.contextmanager
def session_conf(spark, conf: dict[str, str]) -> Iterator[None]:
    """`conf` set on the session for the queries run inside the block, then as it was."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def build_spark(settings: Settings, app_name: str = "hydrawatch", **extra_conf: str):
    """Build (or return the running) SparkSession configured for Delta and for `settings`."""
    from pyspark.sql import SparkSession

    # Executors must run the same interpreter as the driver (the project's virtualenv); the
    # SparkContext reads it from the environment when it starts.
    launch_env = {"PYSPARK_PYTHON": sys.executable}

    jars = delta_jars(settings.jars_dir)
    conf: dict[str, str] = {
        "spark.jars": ",".join(jars),
        # The driver (always on this machine) also has them on its class path, so the class-data
        # archive can hold Delta's classes: those a jar added at run time loads are never archived.
        "spark.driver.extraClassPath": os.pathsep.join(jars),
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
        # A task writing a partitioned Delta table keeps one open file per partition value, up
        # to four, instead of first sorting all its rows by the partition column: a job writes
        # one day, or a few in a backfill, and the sort copied every row. Past four values in
        # one task Spark sorts the rest, as without it. Spark's own file writes plan their sort
        # ahead and are not affected.
        "spark.sql.maxConcurrentOutputFileWriters": "4",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta's log replay defaults to 50 partitions, far too many for tables of thousands of
        # files (setting spark_delta_snapshot_partitions; bench/CHANGELOG.md).
        "spark.databricks.delta.snapshotPartitions": str(settings.spark_delta_snapshot_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Batches to Python workers are bounded by rows (maxRecordsPerBatch, 10,000). With a
        # byte bound as well (64 MB by default), Spark 4.2 measures the whole batch after every
        # row it adds, walking every column vector, a large share of the silver step's task
        # CPU. Int.MaxValue is the value that turns the measuring off.
        "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1),
        "spark.sql.ansi.enabled": "true",
        # upper/lower by the JVM, not ICU: the first ICU case mapping in a JVM initialises
        # Spark's collation tables, seconds of one task's CPU, and every text the jobs case-map is ASCII (timestamps, type names), where both agree.
        "spark.sql.icu.caseMappings.enabled": "false",
        # Python workers (the silver pass, scoring) allocate with 4 KiB pages. By default numpy
        # asks the kernel for transparent huge pages for every array over 4 MB, and pyarrow's
        # mimalloc uses them too; on a machine whose memory is backed lazily by its host (a
        # VM, as the bench box), a fresh 2 MiB page costs milliseconds where 512 small ones
        # cost microseconds, and the silver pass's first wave spent seconds of system time on
        # them (bench/CHANGELOG.md, 2026-12-04).
        "spark.executorEnv.NUMPY_MADVISE_HUGEPAGE": "0",
        "spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL": "jemalloc",
        # and keeps what it frees (pyarrow's jemalloc returns pages to the OS at once by
        # default), so the next task of a worker reuses pages instead of faulting in new ones;
        # an idle worker exits after a minute, which bounds what it keeps.
        "spark.executorEnv.JE_ARROW_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
    }
    # Roots on S3: the connector's jars and a Delta log store safe with several drivers.
    conf.update(object_store_conf(settings, jars))
    if settings.is_local_master:
        # One machine: the driver's RPC, block manager and web UI listen on loopback only. By
        # default the UI binds every interface (0.0.0.0:4040) and the driver a LAN address; the
        # UI's address comes from the JVM's environment only.
        launch_env["SPARK_LOCAL_IP"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    if options := driver_java_options(settings):
        conf["spark.driver.extraJavaOptions"] = options
    if settings.spark_batch_jit:
        # A standalone cluster's executors are JVMs of this application alone, as short-lived.
        conf["spark.executor.extraJavaOptions"] = BATCH_JIT
    if settings.spark_event_log_dir:
        os.makedirs(settings.spark_event_log_dir, exist_ok=True)
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = settings.spark_event_log_dir
    conf.update(extra_conf)

    builder = SparkSession.builder.master(settings.spark_master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    with _launch_environment(launch_env):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _warm_up(spark, root: str) -> None:
    """A little of every kind of work the jobs do (Delta, Parquet, shuffles, Arrow to Python),
    so the classes they load are in the archive."""
    from pyspark.sql import functions as F

    df = spark.range(2000).select(
        (F.col("id") % 37).cast("string").alias("k"),
        F.timestamp_seconds(F.col("id") * 60).alias("ts"),
        F.col("id").alias("v"),
    )
    path = os.path.join(root, "t")
    df.write.format("delta").partitionBy("k").save(path)
    read = spark.read.format("delta").load(path).where(F.col("k") != "0")
    agg = read.groupBy("k").agg(F.sum("v").alias("s"), F.collect_set("v").alias("vs"))
    passed = read.repartition("k").mapInArrow(lambda batches: batches, read.schema)
    agg.join(passed, "k").write.format("delta").mode("overwrite").save(path + "2")
    spark.read.format("delta").load(path + "2").count()


def make_class_archive(settings: Settings, target: str) -> None:
    """Run a warm-up in a fresh driver JVM that dumps the classes it loaded to `target` at exit."""
    import tempfile

    tmp = target + ".tmp"
    spark = build_spark(
        settings,
        app_name="hydrawatch-class-archive",
        **{"spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={tmp} {_QUIET_CDS}"},
    )
    proc = spark.sparkContext._gateway.proc
    with tempfile.TemporaryDirectory(prefix="hydrawatch-cds-") as root:
        _warm_up(spark, root)
    spark.stop()
    # The archive is written when the JVM exits, which it does once its stdin closes.
    proc.stdin.close()
    proc.wait(timeout=300)
    if not os.path.isfile(tmp):
        raise HydrawatchError(f"the driver JVM wrote no class archive to {tmp}")
    os.replace(tmp, target)


if __name__ == "__main__":
    _settings = Settings(spark_master="local[2]", spark_ui=False)
    make_class_archive(_settings, os.path.join(_settings.jars_dir, CLASS_ARCHIVE))
