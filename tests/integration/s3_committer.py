"""One writing driver of the multi-driver commit test (tests/integration/test_s3_commits.py).

`python s3_committer.py TABLE NAME COMMITS [--create]` builds its Spark session from the
environment's settings, as every hydrawatch command does (its own driver JVM), creates TABLE if
told to, prints `ready`, waits for `go` on stdin, then appends COMMITS one-row commits
(NAME, seq), each tagged `NAME/seq` in the commit's userMetadata, through the pipeline's own
conflict retry (`hydrawatch.storage.conflicts.retry_conflicts`), and prints `done`. One driver and one
session serve all its commits; the `done` line carries the wall time of the commits and the
CPU time of the driver's JVM and Python process since they started (JSON). Then `report` prints the table's history and rows as one JSON
line (`report {...}`) from this driver; anything else ends it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _say(word: str) -> None:
    print(word, flush=True)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _commit(spark, table: str, name: str, seq: int) -> None:
    from pyspark.sql import functions as F

    from hydrawatch.storage.conflicts import retry_conflicts

    # Made in the JVM: a DataFrame from a Python list would start a Python worker per commit.
    row = spark.range(1).select(F.lit(name).alias("process"), F.lit(seq).cast("int").alias("seq"))

    def append() -> None:
        (
            row.write.format("delta")
            .mode("append")
            .option("userMetadata", f"{name}/{seq}")
            .save(table)
        )

    retry_conflicts(append, f"commit {name}/{seq}")


def _report(spark, table: str) -> dict:
    from delta.tables import DeltaTable

    history = (
        DeltaTable.forPath(spark, table)
        .history()
        .select("version", "operation", "userMetadata")
        .collect()
    )
    rows = spark.read.format("delta").load(table).select("process", "seq").collect()
    return {
        "history": [[h.version, h.operation, h.userMetadata] for h in history],
        "rows": [[r.process, r.seq] for r in rows],
    }


def main(argv: list[str]) -> None:
    table, name, commits = argv[0], argv[1], int(argv[2])
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark

    spark = build_spark(Settings(), app_name=f"hydrawatch-s3-commits-{name}")
    if "--create" in argv:
        spark.sql(f"CREATE TABLE delta.`{table}` (process STRING, seq INT) USING delta")
    _say("ready")
    if sys.stdin.readline().strip() != "go":
        return
    started = time.monotonic()
    for seq in range(commits):
        _commit(spark, table, name, seq)
    jvm = spark.sparkContext._gateway.proc.pid
    cost = {
        "seconds": round(time.monotonic() - started, 1),
        "jvm_cpu_seconds": _cpu_seconds(jvm),
        "python_cpu_seconds": _cpu_seconds(os.getpid()),
    }
    _say("done " + json.dumps(cost))
    if sys.stdin.readline().strip() == "report":
        _say("report " + json.dumps(_report(spark, table)))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
