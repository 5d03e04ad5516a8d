"""Bench: the day's volume and content aggregations in DuckDB against the Spark feature job.

Both engines read the same bronze Delta table (DuckDB reads the parquet files of its current
snapshot, found by replaying `_delta_log`), aggregate one event day per account and write the
result as parquet (DuckDB) or as the silver Delta partition (Spark, `features.daily`). Each run
is a fresh process, so JVM and Spark start-up are included; the figure is the median wall time
of `--runs` runs per engine. Spark computes strictly more than DuckDB here (inter-arrival gaps,
per-minute peaks, IP prefixes, infrastructure sets, coordination actions), so the ratio is an
upper bound on Spark's overhead for the same work.

    .venv/bin/python -m bench.features_duckdb --events 1000000 --runs 3
    .venv/bin/python -m bench.features_duckdb --bronze data/warehouse/bronze/usage_events \
        --date 2026-02-10 --runs 3

With `--events N`, synthetic bronze of N events (bench/synth_bronze.py) is written once under
`--workdir` and reused. `--event-log DIR` keeps Spark's event log to see where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parent.parent


def active_files(table: str, partition: tuple[str, str] | None = None) -> list[str]:
    """Data files of a Delta table's current snapshot (checkpoint + later JSON commits)."""
    log = Path(table) / "_delta_log"
    files: dict[str, dict] = {}
    start = 0
    last = log / "_last_checkpoint"
    if last.exists():
        import duckdb

        cp = json.loads(last.read_text())
        version = int(cp["version"])
        parts = cp.get("parts")
        names = (
            [
                f"{version:020d}.checkpoint.{i:010d}.{parts:010d}.parquet"
                for i in range(1, parts + 1)
            ]
            if parts
            else [f"{version:020d}.checkpoint.parquet"]
        )
        con = duckdb.connect()
        for name in names:
            rows = con.execute(
                "SELECT add.path, add.partitionValues FROM read_parquet(?) WHERE add IS NOT NULL",
                [str(log / name)],
            ).fetchall()
            for path, pv in rows:
                files[path] = dict(pv) if not isinstance(pv, dict) else pv
        start = version + 1
    commits = sorted(p for p in log.glob("*.json") if p.stem.isdigit() and int(p.stem) >= start)
    for commit in commits:
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                files[action["add"]["path"]] = action["add"].get("partitionValues") or {}
            elif "remove" in action:
                files.pop(action["remove"]["path"], None)
    out = []
    for path, pv in files.items():
        if partition and pv.get(partition[0]) != partition[1]:
            continue
        out.append(str(Path(table) / unquote(path)))
    return sorted(out)


DUCKDB_SQL = """
CREATE OR REPLACE TEMP VIEW ev AS
  SELECT * FROM read_parquet($files);
COPY (
  WITH main AS (
    SELECT account_id,
      count(*) AS requests,
      sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
      count(*) FILTER (status = 'ok') AS n_ok,
      count(*) FILTER (status = 'rate_limited') AS n_rate_limited,
      count(*) FILTER (status = 'refused') AS n_refused,
      count(*) FILTER (status = 'error') AS n_error,
      {categories},
      count(*) FILTER (cot_elicitation) AS n_cot,
      count(*) FILTER (rubric_grading) AS n_rubric,
      count(*) FILTER (tool_count > 0) AS n_tool_use,
      sum(tool_count) AS tool_count_sum,
      count(*) FILTER (has_image) AS n_image,
      sum(turns) AS turns_sum
    FROM ev GROUP BY account_id
  ),
  per_hour AS (
    SELECT account_id, hour(ts) AS hod, count(*) AS n FROM ev GROUP BY ALL
  ),
  hours AS (
    SELECT account_id, max(n) AS peak_per_hour, count(*) AS active_hours,
      map(list(hod ORDER BY hod), list(n ORDER BY hod)) AS hour_counts
    FROM per_hour GROUP BY account_id
  ),
  per_minute AS (
    SELECT account_id, max(n) AS peak_per_minute FROM (
      SELECT account_id, date_trunc('minute', ts) AS m, count(*) AS n FROM ev GROUP BY ALL
    ) GROUP BY account_id
  ),
  per_template AS (
    SELECT account_id, prompt_template_hash AS t, count(*) AS n FROM ev GROUP BY ALL
  ),
  templates AS (
    SELECT account_id, count(*) AS distinct_templates, max(n) AS top_template_n,
      map(list(t ORDER BY t), list(n ORDER BY t)) AS template_counts
    FROM per_template GROUP BY account_id
  )
  SELECT * FROM main
    JOIN hours USING (account_id)
    JOIN per_minute USING (account_id)
    JOIN templates USING (account_id)
) TO $out (FORMAT parquet);
"""


def run_duckdb(bronze: str, day: str, out: str) -> int:
    import duckdb

    from hydrawatch.contracts import TASK_CATEGORIES

    files = active_files(bronze, ("event_date", day))
    if not files:
        raise SystemExit(f"no bronze files for event_date={day} in {bronze}")
    cats = ",\n      ".join(
        f"count(*) FILTER (task_category = '{c}') AS n_cat_{c}" for c in TASK_CATEGORIES
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    quoted = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    sql = DUCKDB_SQL.format(categories=cats).replace("$files", quoted).replace("$out", f"'{out}'")
    for stmt in sql.split(";"):
        if stmt.strip():
            con.execute(stmt)
    return con.execute("SELECT count(*) FROM read_parquet(?)", [out]).fetchone()[0]


def run_spark(bronze: str, day: str, out: str, event_log: str) -> int:
    import datetime as dt

    from pyspark.sql import functions as F

    from features.daily import EVENT_COLUMNS, account_daily
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark

    settings = Settings(spark_ui=False, spark_event_log_dir=event_log)
    # Plain-text event log, so `stage_times` can read it without a zstd module.
    extra = {"spark.eventLog.compress": "false"} if event_log else {}
    spark = build_spark(settings, app_name="hydrawatch-bench-features", **extra)
    d = dt.date.fromisoformat(day)
    events = (
        spark.read.format("delta")
        .load(bronze)
        .where(F.col("event_date") == F.lit(d))
        .select(*EVENT_COLUMNS)
    )
    (
        account_daily(events)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("event_date")
        .save(out)
    )
    n = spark.read.format("delta").load(out).count()
    spark.stop()
    return n


def stage_times(event_log: str, top: int = 12) -> list[tuple[float, str, int]]:
    """(seconds, stage name, tasks) of the latest Spark application's slowest stages."""
    apps = sorted(Path(event_log).glob("*"), key=lambda p: p.stat().st_mtime)
    if not apps:
        return []
    files = sorted(apps[-1].rglob("events_*")) if apps[-1].is_dir() else [apps[-1]]
    out = []
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            if '"SparkListenerStageCompleted"' not in line:
                continue
            info = json.loads(line)["Stage Info"]
            secs = (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000
            out.append((secs, info["Stage Name"].split(" at ")[0], info["Number of Tasks"]))
    return sorted(out, reverse=True)[:top]


def _one_run(engine: str, bronze: str, day: str, event_log: str) -> tuple[float, int]:
    out = tempfile.mkdtemp(prefix=f"hw-bench-{engine}-")
    target = os.path.join(out, "result.parquet" if engine == "duckdb" else "silver")
    cmd = [sys.executable, "-m", "bench.features_duckdb", "_run", engine, bronze, day, target]
    cmd += [event_log]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{engine} run failed:\n{proc.stderr[-3000:]}")
    rows = int(proc.stdout.strip().splitlines()[-1])
    subprocess.run(["rm", "-rf", out], check=False)
    return wall, rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        engine, bronze, day, out, event_log = argv[1:6]
        fn = run_duckdb if engine == "duckdb" else run_spark
        rows = fn(bronze, day, out) if engine == "duckdb" else fn(bronze, day, out, event_log)
        print(rows)
        return
    p = argparse.ArgumentParser(description="DuckDB vs Spark: the day's account aggregations")
    p.add_argument("--bronze", help="existing bronze/usage_events Delta table")
    p.add_argument("--events", type=int, help="use synthetic bronze with this many events")
    p.add_argument("--accounts", type=int, default=0, help="synthetic accounts (events / 50)")
    p.add_argument("--date", default="2026-02-10")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--engines", default="duckdb,spark")
    p.add_argument("--workdir", default="/tmp/hydrawatch-bench")
    p.add_argument("--event-log", default="", help="folder for Spark event logs")
    a = p.parse_args(argv)
    if not (a.bronze or a.events):
        p.error("give --bronze or --events")
    bronze = a.bronze
    if a.events:
        bronze = os.path.join(a.workdir, f"bronze-{a.events}", "usage_events")
        if not os.path.isdir(os.path.join(bronze, "_delta_log")):
            t0 = time.perf_counter()
            cmd = [sys.executable, "-m", "bench.synth_bronze", "--path", bronze]
            cmd += ["--events", str(a.events), "--date", a.date]
            if a.accounts:
                cmd += ["--accounts", str(a.accounts)]
            subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
            print(f"synthetic bronze: {a.events} events in {time.perf_counter() - t0:.1f}s")
    results = {}
    for engine in a.engines.split(","):
        walls, rows = [], 0
        for _ in range(a.runs):
            wall, rows = _one_run(engine, bronze, a.date, a.event_log)
            walls.append(wall)
        results[engine] = statistics.median(walls)
        print(
            f"{engine:7s} median {results[engine]:7.1f}s  runs "
            + " ".join(f"{w:.1f}" for w in walls)
            + f"  ({rows} account rows)"
        )
    if a.event_log and "spark" in results:
        print("slowest Spark stages of the last run (seconds, stage, tasks):")
        for secs, name, tasks in stage_times(a.event_log):
            print(f"  {secs:7.1f}  {name}  ({tasks} tasks)")
    if "duckdb" in results and "spark" in results:
        print(f"spark / duckdb = {results['spark'] / results['duckdb']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
