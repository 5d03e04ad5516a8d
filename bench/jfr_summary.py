"""Where a Spark JVM spent its CPU: a Java Flight Recorder file summarised by activity.

A bench started with `--jfr FILE` runs its Spark JVM with `-XX:StartFlightRecording` (through
`JAVA_TOOL_OPTIONS`, so the driver JVM of a local session records itself, executors included).
`summarise(FILE)` reads the execution samples with the JDK's `jfr` tool and sorts each sample
into one activity by the frames of its stack (the first rule that matches, rules in order):
Janino compiling generated code, Catalyst analysing and optimising plans, Delta's log and
commit work, Parquet reading and writing, shuffle, sorting, aggregation, and so on, split by
thread kind (task threads vs. driver threads). JIT compilation and GC are not in the samples;
they are read from the recording's compiler and GC events.

    .venv/bin/python -m bench.jfr_summary /tmp/run.jfr
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (activity, substrings of a frame) in priority order: the first rule any frame matches wins.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("codegen compile (Janino)", ("org.codehaus.janino", "org.codehaus.commons")),
    ("Delta log / commit", ("io.delta", "org.apache.spark.sql.delta")),
    ("Python<->JVM (py4j, arrow)", ("py4j.", "org.apache.spark.api.python")),
    (
        "Parquet write",
        (
            "parquet.hadoop.ParquetFileWriter",
            "parquet.column.impl.ColumnWriter",
            "ParquetOutputWriter",
            "parquet.hadoop.InternalParquetRecordWriter",
        ),
    ),
    ("Parquet read", ("parquet.", "VectorizedParquetRecordReader", "VectorizedColumnReader")),
    (
        "shuffle write",
        (
            "shuffle.sort",
            "UnsafeShuffleWriter",
            "BypassMergeSortShuffleWriter",
            "SortShuffleWriter",
        ),
    ),
    ("shuffle read", ("ShuffleBlockFetcherIterator", "shuffle.BlockStoreShuffleReader")),
    ("compression (lz4/zstd/snappy)", ("lz4", "zstd", "snappy", "xerial")),
    (
        "sort",
        (
            "UnsafeExternalSorter",
            "UnsafeInMemorySorter",
            "TimSort",
            "RadixSort",
            "UnsafeKVExternalSorter",
            "SortExec",
        ),
    ),
    ("window", ("execution.window",)),
    (
        "object hash / collect aggregates",
        ("ObjectAggregation", "TypedImperativeAggregate", "aggregate.Collect"),
    ),
    (
        "higher-order functions / maps",
        ("higherOrderFunctions", "ArraySort", "MapFromEntries", "ArrayBasedMapBuilder"),
    ),
    ("regex", ("java.util.regex", "RegExp")),
    (
        "hash aggregation / joins",
        (
            "HashAggregate",
            "BytesToBytesMap",
            "UnsafeFixedWidthAggregationMap",
            "HashedRelation",
            "joins.",
        ),
    ),
    ("generated code (whole stage)", ("GeneratedClass", "generated.")),
    (
        "Catalyst planning",
        (
            "sql.catalyst",
            "sql.execution.adaptive",
            "QueryExecution",
            "SparkStrategies",
            "sql.execution.SparkPlan",
        ),
    ),
    ("scheduler / RPC", ("org.apache.spark.scheduler", "org.apache.spark.rpc", "io.netty")),
    ("Hadoop FS / local IO", ("org.apache.hadoop.fs", "java.io.", "sun.nio")),
    ("JSON (Jackson)", ("jackson",)),
)


def _jfr() -> str:
    found = shutil.which("jfr")
    if found:
        return found
    java_home = os.environ.get("JAVA_HOME") or str(
        Path(shutil.which("java") or "").resolve().parents[1]
    )
    return str(Path(java_home) / "bin" / "jfr")


def _classify(frames: list[str]) -> str:
    for activity, needles in RULES:
        for frame in frames:
            if any(n in frame for n in needles):
                return activity
    return "other"


def samples(path: str):
    """(thread name, frames top first) of every execution sample in the recording."""
    out = subprocess.run(
        [_jfr(), "print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    thread, frames, in_stack = "", [], False
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("sampledThread"):
            thread = s.split('"')[1] if '"' in s else s
        elif s.startswith("stackTrace = ["):
            frames, in_stack = [], True
        elif in_stack and s == "]":
            in_stack = False
            yield thread, frames
        elif in_stack and s and s != "...":
            frames.append(s)


def _event_seconds(path: str, event: str, field: str = "duration") -> float:
    out = subprocess.run(
        [_jfr(), "print", "--events", event, path], capture_output=True, text=True, check=True
    ).stdout
    total = 0.0
    for line in out.splitlines():
        s = line.strip()
        if s.startswith(f"{field} = "):
            value = s.split("=", 1)[1].strip()
            num, _, unit = value.partition(" ")
            scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}.get(unit.strip(), 0.0)
            with contextlib.suppress(ValueError):
                total += float(num.replace(",", "")) * scale
    return total


def summarise(path: str, top: int = 14) -> str:
    by_activity: Counter[tuple[str, str]] = Counter()
    n = 0
    for thread, frames in samples(path):
        kind = "task" if thread.startswith("Executor task launch worker") else "driver"
        by_activity[(kind, _classify(frames))] += 1
        n += 1
    lines = [f"{n} CPU samples (10 ms apart per thread); share by thread kind and activity:"]
    for (kind, activity), c in by_activity.most_common(top):
        lines.append(f"  {100 * c / max(n, 1):5.1f}%  {kind:6s} {activity}")
    jit = _event_seconds(path, "jdk.Compilation")
    gc = _event_seconds(path, "jdk.GarbageCollection")
    lines.append(
        f"JIT compilation (compiler threads, not sampled above): {jit:.1f}s; GC pauses: {gc:.1f}s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(sys.argv[1]))
