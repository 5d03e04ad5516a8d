"""Bench: the whole feature job (`jobs.features.run_features`) day after day, and where it spends.

Copies the feature job's inputs (bronze usage events, account snapshots, model releases and
`meta/ingest_audit`) out of a warehouse into a fresh folder, so silver and gold start empty,
then runs `run_features` for each day of `--start`..`--end` in one Spark session, as a backfill
does, with Spark's event log on. Per day it prints the wall time, the Spark jobs, stages and
tasks it ran and the driver JVM's CPU seconds; then the call sites the jobs came from, most
expensive first. At tiny scale (the demo and the tests) the fixed cost per day (Delta log
work, small actions, jobs per day) is what this shows; at large scale, the silver stage.

    # a tiny simulated world (simulate + ingest, made once under --world), 6 days
    .venv/bin/python -m bench.feature_job --world /tmp/hydrawatch-bench/world-tiny --days 6
    # an existing warehouse
    .venv/bin/python -m bench.feature_job --warehouse data/warehouse \
        --start 2026-02-01 --end 2026-02-07

The last line is a markdown table row: scale, days, load average before the run, start-up,
median and total feature-job seconds per day, Spark jobs per day, JVM CPU seconds per day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INPUT_TABLES = (
    "bronze/usage_events",
    "bronze/accounts",
    "bronze/model_releases",
    "meta/ingest_audit",
)


def jvm_cpu_seconds(spark) -> float:
    """User + system CPU seconds of the driver JVM so far (local mode: all of Spark's work)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def make_world(root: str, start: dt.date, days: int, scale: str, seed: int, master: str) -> None:
    """simulate + ingest `days` days into `root` (once; reused when its warehouse exists)."""
    from hydrawatch.runtime import Runtime
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark
    from jobs.ingest import run_ingest
    from jobs.simulate import run_simulate

    s = _settings(root, master, "")
    spark = build_spark(s, app_name="hydrawatch-bench-world")
    run_simulate(Runtime(s, spark=spark), start, days, scale, seed)
    for i in range(days):
        run_ingest(Runtime(s, spark=spark), start + dt.timedelta(days=i))
    spark.stop()
    assert isinstance(s, Settings)


def _settings(root: str, master: str, event_log: str):
    from hydrawatch.settings import Settings

    return Settings(
        landing=f"{root}/landing",
        warehouse=f"{root}/warehouse",
        exports=f"{root}/exports",
        truth=f"{root}/truth",
        spark_master=master,
        spark_ui=False,
        spark_event_log_dir=event_log,
    )


def jfr_options(path: str) -> None:
    """Record the Spark JVM started after this call with Java Flight Recorder into `path`."""
    if path:
        os.environ["JAVA_TOOL_OPTIONS"] = (
            f"-XX:StartFlightRecording=filename={path},settings=profile,dumponexit=true"
        )


def run(
    source_warehouse: str,
    start: dt.date,
    end: dt.date,
    master: str,
    event_log: str,
    conf: dict[str, str] | None = None,
) -> list[dict]:
    from bench import sparklog
    from hydrawatch.runtime import Runtime
    from hydrawatch.spark import build_spark
    from jobs.features import run_features

    work = tempfile.mkdtemp(prefix="hw-bench-featjob-")
    for name in INPUT_TABLES:
        src = Path(source_warehouse) / name
        if src.exists():
            shutil.copytree(src, Path(work) / "warehouse" / name)
    settings = _settings(work, master, event_log)
    t0 = time.time()
    spark = build_spark(
        settings,
        app_name="hydrawatch-bench-feature-job",
        **{"spark.eventLog.compress": "false", **(conf or {})},
    )
    startup = time.time() - t0
    days, cpu0 = [], jvm_cpu_seconds(spark)
    day = start
    while day <= end:
        t1 = time.time()
        result = run_features(Runtime(settings, spark=spark), day)
        t2 = time.time()
        cpu1 = jvm_cpu_seconds(spark)
        days.append(
            {
                "day": day,
                "t0": t1,
                "t1": t2,
                "wall": t2 - t1,
                "cpu": cpu1 - cpu0,
                "rows": result.rows,
                "silver": len(result.silver_days),
            }
        )
        cpu0 = cpu1
        day += dt.timedelta(days=1)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    app = sparklog.latest_app(event_log)
    log = sparklog.load(app)
    for d in days:
        jobs = log.jobs_between(d["t0"] - 0.5, d["t1"] + 0.5)
        stages = log.stages_of(jobs)
        d["jobs"] = len(jobs)
        d["stages"] = len(stages)
        d["tasks"] = sum(s.tasks for s in stages)
        d["job_wall"] = sum(j.wall_s for j in jobs)
    return [{"startup": startup, "log": log}, *days]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="The feature job day by day: time, jobs, call sites")
    p.add_argument("--warehouse", help="existing warehouse with bronze and meta/ingest_audit")
    p.add_argument("--world", help="folder for a simulated world (made once, then reused)")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--days", type=int, default=6)
    p.add_argument("--start", default="2026-02-01")
    p.add_argument("--end", default="")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--event-log", default="", help="keep Spark's event log here")
    p.add_argument("--sites", type=int, default=15, help="call sites to list")
    p.add_argument("--jfr", default="", help="record the JVM with Flight Recorder into this file")
    p.add_argument(
        "--conf", action="append", default=[], help="a Spark setting KEY=VALUE (repeatable)"
    )
    a = p.parse_args(argv)
    start = dt.date.fromisoformat(a.start)
    end = dt.date.fromisoformat(a.end) if a.end else start + dt.timedelta(days=a.days - 1)
    if not (a.warehouse or a.world):
        p.error("give --warehouse or --world")
    warehouse = a.warehouse
    if a.world:
        warehouse = os.path.join(a.world, "warehouse")
        if not os.path.isdir(os.path.join(warehouse, "bronze", "usage_events")):
            t0 = time.time()
            cmd = [sys.executable, "-m", "bench.feature_job", "_world", a.world, a.start]
            cmd += [str((end - start).days + 1), a.scale, str(a.seed), a.master]
            subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
            print(f"world ({a.scale}, {(end - start).days + 1} days): {time.time() - t0:.0f}s")
    load = load_average()
    event_log = a.event_log or tempfile.mkdtemp(prefix="hw-bench-evlog-")
    jfr_options(a.jfr)
    conf = dict(c.split("=", 1) for c in a.conf)
    out = run(warehouse, start, end, a.master, event_log, conf)
    head, days = out[0], out[1:]
    print("| day | silver days | gold rows | wall (s) | JVM CPU (s) | jobs | stages | tasks |")
    print("|---|---|---|---|---|---|---|---|")
    for d in days:
        print(
            f"| {d['day']} | {d['silver']} | {d['rows']} | {d['wall']:.1f} | {d['cpu']:.1f} "
            f"| {d['jobs']} | {d['stages']} | {d['tasks']} |"
        )
    from bench import sparklog

    log = head["log"]
    all_jobs = [j for d in days for j in log.jobs_between(d["t0"] - 0.5, d["t1"] + 0.5)]
    print(f"\nSpark jobs by call site over {len(days)} days (jobs, summed job wall seconds):")
    for site, n, secs in sparklog.by_call_site(all_jobs)[: a.sites]:
        print(f"  {secs:7.1f}s {n:4d}  {site}")
    stages = sorted(log.stages_of(all_jobs), key=lambda s: -s.wall_s)[:8]
    print("\nslowest stages (wall s, executor CPU s, tasks, shuffle write MB, name):")
    for s in stages:
        print(
            f"  {s.wall_s:7.1f} {s.cpu_s:7.1f} {s.tasks:5d} {s.shuffle_write_mb:8.1f}  {s.name[:70]}"
        )
    walls = [d["wall"] for d in days]
    print(
        "\n| scale | days | load before | start-up (s) | median day (s) | total (s) "
        "| jobs/day | JVM CPU s/day |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {a.scale if a.world else 'warehouse'} | {len(days)} | {load} | {head['startup']:.1f} "
        f"| {statistics.median(walls):.1f} | {sum(walls):.1f} "
        f"| {statistics.median(d['jobs'] for d in days):.0f} "
        f"| {statistics.median(d['cpu'] for d in days):.1f} |"
    )
    if not a.event_log:
        shutil.rmtree(event_log, ignore_errors=True)
    if a.jfr:
        from bench.jfr_summary import summarise

        print("\n" + summarise(a.jfr))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_world":
        root, start, days, scale, seed, master = sys.argv[2:8]
        make_world(root, dt.date.fromisoformat(start), int(days), scale, int(seed), master)
    else:
        main()
