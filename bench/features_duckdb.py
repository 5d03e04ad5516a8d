"""Bench: the feature job's silver step in DuckDB against Spark, same columns, checked equal.

Both engines read the same bronze Delta table (DuckDB reads the parquet files of its current
snapshot, found by replaying `_delta_log`), aggregate one event day per account and write the
result as parquet (DuckDB) or as the silver Delta partition (Spark, `features.daily`). The
DuckDB side is written apart from `features.daily` and computes every silver column (counts,
sums, inter-arrival gap moments, per-minute and per-hour peaks, the hour, template, model
and country maps, IP prefixes by Python's `ipaddress`, infrastructure sets). Each run is a
fresh process that reads, aggregates and writes (JVM and Spark start-up included); its rows are
counted afterwards from the written files' footers. The figure is the median wall time of
`--runs` runs per engine. Unless `--no-check`, the last run of each engine is then compared
account by account and column by column (floats to a relative 1e-9): a silver table
recomputed independently, which exits 1 if any value differs.

    .venv/bin/python -m bench.features_duckdb --events 1000000 --runs 3
    .venv/bin/python -m bench.features_duckdb --bronze data/warehouse/bronze/usage_events \
        --date 2026-02-10 --runs 3

With `--events N`, synthetic bronze of N events (bench/synth_bronze.py) is written once under
`--workdir` and reused. `--event-log DIR` keeps Spark's event log to see where the time goes.
"""

from __future__ import annotations

import argparse
import ipaddress
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
  SELECT *, epoch_us(ts) / 1e6 AS t, hour(ts)::INTEGER AS hod FROM read_parquet($files);
COPY (
  WITH gapped AS (
    SELECT *, t - lag(t) OVER (PARTITION BY account_id ORDER BY ts, event_id) AS gap FROM ev
  ),
  main AS (
    SELECT account_id,
      count(*) AS requests,
      sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
      {statuses},
      {categories},
      count(*) FILTER (cot_elicitation) AS n_cot,
      count(*) FILTER (rubric_grading) AS n_rubric,
      count(*) FILTER (tool_count > 0) AS n_tool_use,
      sum(tool_count)::BIGINT AS tool_count_sum,
      count(*) FILTER (has_image) AS n_image,
      sum(turns)::BIGINT AS turns_sum,
      count(gap) AS gap_n,
      coalesce(sum(gap), 0.0) AS gap_sum,
      coalesce(sum(gap * gap), 0.0) AS gap_sumsq,
      min(t) AS first_t, max(t) AS last_t,
      list_sort(list_distinct(list(asn))) AS asns,
      list_sort(list_distinct(list(user_agent))) AS user_agents,
      list_sort(list_distinct(list(system_prompt_hash))) AS system_prompts
    FROM gapped GROUP BY account_id
  ),
  per_hour AS (SELECT account_id, hod, count(*) AS n FROM ev GROUP BY ALL),
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
    SELECT account_id, prompt_template_hash AS k, count(*) AS n FROM ev GROUP BY ALL
  ),
  templates AS (
    SELECT account_id, map(list(k ORDER BY k), list(n ORDER BY k)) AS template_counts
    FROM per_template GROUP BY account_id
  ),
  per_model AS (SELECT account_id, model AS k, count(*) AS n FROM ev GROUP BY ALL),
  models AS (
    SELECT account_id, map(list(k ORDER BY k), list(n ORDER BY k)) AS model_counts
    FROM per_model GROUP BY account_id
  ),
  per_country AS (
    SELECT account_id, coalesce(ip_country, '--') AS k, count(*) AS n FROM ev GROUP BY ALL
  ),
  countries AS (
    SELECT account_id, map(list(k ORDER BY k), list(n ORDER BY k)) AS ip_country_counts
    FROM per_country GROUP BY account_id
  ),
  prefixes AS (
    SELECT account_id, list_sort(list_distinct(list(ip_prefix(client_ip)))) AS ip_prefixes
    FROM (SELECT DISTINCT account_id, client_ip FROM ev) GROUP BY account_id
  )
  SELECT {columns} FROM main
    JOIN hours USING (account_id)
    JOIN per_minute USING (account_id)
    JOIN templates USING (account_id)
    JOIN models USING (account_id)
    JOIN countries USING (account_id)
    JOIN prefixes USING (account_id)
) TO $out (FORMAT parquet);
"""


def ip_prefix(text: str | None) -> str | None:
    """/24 of an IPv4 address, /48 of an IPv6 one (the silver spelling), by Python's `ipaddress`.

    Written apart from `features.ip` on purpose: the parity check compares two implementations.
    """
    if text is None:
        return None
    try:
        ip = ipaddress.ip_address(text.split("%")[0].strip().lower())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return ".".join(str(ip).split(".")[:3]) + ".0/24"
    return ":".join(g.lstrip("0") or "0" for g in ip.exploded.split(":")[:3]) + "::/48"


def run_duckdb(bronze: str, day: str, out: str) -> None:
    import duckdb
    import pyarrow as pa

    from features.daily import SILVER_COLUMNS
    from hydrawatch.contracts import STATUSES, TASK_CATEGORIES

    files = active_files(bronze, ("event_date", day))
    if not files:
        raise SystemExit(f"no bronze files for event_date={day} in {bronze}")
    statuses = ",\n      ".join(f"count(*) FILTER (status = '{s}') AS n_{s}" for s in STATUSES)
    cats = ",\n      ".join(
        f"count(*) FILTER (task_category = '{c}') AS n_cat_{c}" for c in TASK_CATEGORIES
    )
    columns = ", ".join(c for c in SILVER_COLUMNS if c != "event_date")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    # No annotations: duckdb evaluates them, and `pa` is a local name here.
    def prefixes(ips):
        return pa.array([ip_prefix(x) for x in ips.to_pylist()], type=pa.string())

    con.create_function("ip_prefix", prefixes, ["VARCHAR"], "VARCHAR", type="arrow")
    quoted = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    sql = DUCKDB_SQL.format(statuses=statuses, categories=cats, columns=columns)
    sql = sql.replace("$files", quoted).replace("$out", f"'{out}'")
    for stmt in sql.split(";"):
        if stmt.strip():
            con.execute(stmt)


def run_spark(bronze: str, day: str, out: str, event_log: str) -> None:
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
    spark.stop()


def result_rows(engine: str, target: str) -> int:
    """Rows a run wrote, read from its files' parquet footers after the timed process ended
    (the jobs themselves never count their output, so neither run pays for it)."""
    import pyarrow.parquet as pq

    files = [target] if engine == "duckdb" else active_files(target)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


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


# Columns compared with a relative tolerance (sums of float gaps depend on summation order).
FLOAT_COLUMNS = ("gap_sum", "gap_sumsq", "first_t", "last_t")
MAP_COLUMNS = ("hour_counts", "template_counts", "model_counts", "ip_country_counts")


def compare(duck_out: str, spark_silver: str) -> dict[str, int]:
    """Per column, how many accounts differ between the DuckDB result and Spark's silver rows.

    `_accounts_only_in_one` counts accounts that one side has and the other has not.
    """
    import duckdb

    from features.daily import SILVER_COLUMNS

    con = duckdb.connect()
    files = "[" + ", ".join(f"'{f}'" for f in active_files(spark_silver)) + "]"
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet({files})")
    con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{duck_out}')")
    tests = []
    for c in SILVER_COLUMNS:
        if c in ("account_id", "event_date"):
            continue
        if c in FLOAT_COLUMNS:
            # A NULL on either side differs (abs() of NULL would hide it), both NULL is equal.
            bad = (
                f"(s.{c} IS NULL) <> (d.{c} IS NULL) "
                f"OR abs(s.{c} - d.{c}) > 1e-9 * greatest(1.0, abs(s.{c}))"
            )
        elif c in MAP_COLUMNS:
            bad = f"map_entries(s.{c}) IS DISTINCT FROM map_entries(d.{c})"
        else:
            bad = f"s.{c} IS DISTINCT FROM d.{c}"
        tests.append(
            f"count(*) FILTER (WHERE s.account_id IS NOT NULL AND d.account_id IS NOT NULL AND ({bad})) AS {c}"
        )
    only = "count(*) FILTER (WHERE s.account_id IS NULL OR d.account_id IS NULL)"
    sql = (
        f"SELECT {only} AS _accounts_only_in_one, count(*) AS _accounts, {', '.join(tests)} "
        "FROM s FULL OUTER JOIN d USING (account_id)"
    )
    row = con.execute(sql)
    names = [x[0] for x in row.description]
    return dict(zip(names, row.fetchone(), strict=True))


def _one_run(
    engine: str, bronze: str, day: str, event_log: str, keep: bool = False
) -> tuple[float, int, str]:
    """Wall time and result rows of one fresh-process run; its output is removed unless `keep`."""
    out = tempfile.mkdtemp(prefix=f"hw-bench-{engine}-")
    target = os.path.join(out, "result.parquet" if engine == "duckdb" else "silver")
    cmd = [sys.executable, "-m", "bench.features_duckdb", "_run", engine, bronze, day, target]
    cmd += [event_log]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{engine} run failed:\n{proc.stderr[-3000:]}")
    rows = result_rows(engine, target)
    if not keep:
        subprocess.run(["rm", "-rf", out], check=False)
    return wall, rows, target


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        engine, bronze, day, out, event_log = argv[1:6]
        if engine == "duckdb":
            run_duckdb(bronze, day, out)
        else:
            run_spark(bronze, day, out, event_log)
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
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip comparing the last runs' outputs column by column",
    )
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
    results, kept = {}, {}
    engines = a.engines.split(",")
    check = not a.no_check and set(engines) == {"duckdb", "spark"}
    for engine in engines:
        walls, rows = [], 0
        for run in range(a.runs):
            keep = check and run == a.runs - 1
            wall, rows, kept[engine] = _one_run(engine, bronze, a.date, a.event_log, keep)
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
    if check:
        diff = compare(kept["duckdb"], kept["spark"])
        for engine_out in kept.values():
            subprocess.run(["rm", "-rf", os.path.dirname(engine_out)], check=False)
        bad = {c: n for c, n in diff.items() if n and not c.startswith("_accounts")}
        if diff["_accounts_only_in_one"]:
            bad["_accounts_only_in_one"] = diff["_accounts_only_in_one"]
        verdict = "identical" if not bad else f"DIFFERENT {bad}"
        print(f"parity, {diff['_accounts']} accounts, every silver column: {verdict}")
        if bad:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
