"""Bench: how the coordination step (MinHash LSH + connected components) grows with accounts.

Synthetic silver rows (`account_id`, `event_date`, `template_counts`) for 7 days and N accounts
are generated with Spark's own functions: most accounts send a few personal templates a day
plus popular public ones (which the popularity cap drops), and a tenth run a shared script in
groups of 20 (each draws 8 of its group's 30 templates a day), so LSH has real pairs to find and
components to join. `features.coordination.coordination_features` then runs on them with the
pipeline's default parameters, and the count of its output forces the whole plan. Each size
runs in a fresh process (start-up excluded from the step figure, reported beside it).

    .venv/bin/python -m bench.coordination --accounts 10000,50000,200000 --runs 3
    .venv/bin/python -m bench.coordination --accounts 50000,200000 --runs 1 --profile

With `--profile` each run writes Spark's event log and prints the step's stages by wall time
(executor CPU, tasks, shuffle read and write), and the summed figures of every stage, so two
sizes can be compared stage by stage (`bench/sparklog.py`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 2, 10)
GROUP = 20
POOL = 30


def synthetic_silver(spark, accounts: int, days: int = 7, seed: int = 7):
    from pyspark.sql import functions as F

    first = DAY - dt.timedelta(days=days - 1)
    grid = spark.range(accounts).crossJoin(spark.range(days).withColumnRenamed("id", "d"))
    a, d = F.col("id"), F.col("d")
    in_step = (a % 10) == 0
    k = F.sequence(F.lit(0), F.lit(7))

    def h(*cols):
        return F.pmod(F.xxhash64(F.lit(seed), *cols), F.lit(1 << 30))

    personal = F.transform(k, lambda i: F.concat(F.lit("p"), h(a, d, i).cast("string")))
    popular = F.transform(F.sequence(F.lit(0), F.lit(2)), lambda i: F.concat(F.lit("pop"), i))
    script = F.transform(
        k,
        lambda i: F.concat(
            F.lit("g"), (a / 10 / GROUP).cast("long"), F.lit("-"), h(a, d, i) % POOL
        ),
    )
    tpl = F.array_distinct(F.when(in_step, script).otherwise(F.concat(personal, popular)))
    return grid.select(
        F.concat(F.lit("acct-"), a.cast("string")).alias("account_id"),
        F.date_add(F.lit(first), d.cast("int")).alias("event_date"),
        F.map_from_arrays(tpl, F.transform(tpl, lambda _: F.lit(1).cast("long"))).alias(
            "template_counts"
        ),
    )


def _one(accounts: int, event_log: str = "") -> dict:
    from features.gold import GraphParams
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark

    settings = Settings(spark_master="local[2]", spark_ui=False, spark_event_log_dir=event_log)
    t0 = time.perf_counter()
    extra = {"spark.eventLog.compress": "false"} if event_log else {}
    spark = build_spark(settings, app_name="hydrawatch-bench-coordination", **extra)
    startup = time.perf_counter() - t0
    silver = synthetic_silver(spark, accounts).localCheckpoint()
    silver.count()
    t1, epoch1 = time.perf_counter(), time.time()
    out, rounds = GraphParams.from_settings(settings).coordination(silver, DAY)
    out = out.localCheckpoint()
    linked = out.where("coord_cluster_id IS NOT NULL").count()
    clusters = out.select("coord_cluster_id").distinct().count() - 1
    secs, epoch2 = time.perf_counter() - t1, time.time()
    # Outside the timed step. Each similar pair adds one to the degree of both of its accounts.
    pairs = (out.agg({"coord_degree": "sum"}).first()[0] or 0) // 2
    spark.stop()
    result = {
        "accounts": accounts,
        "startup_s": startup,
        "step_s": secs,
        "linked": linked,
        "pairs": pairs,
        "clusters": clusters,
        "rounds": rounds,
    }
    if event_log:
        result["stages"] = _stage_profile(event_log, epoch1, epoch2)
    return result


def _stage_profile(event_log: str, t1: float, t2: float) -> dict:
    from bench import sparklog

    log = sparklog.load(sparklog.latest_app(event_log))
    stages = log.stages_of(log.jobs_between(t1 - 0.5, t2 + 0.5))
    top = sorted(stages, key=lambda st: -st.wall_s)[:10]
    return {
        "count": len(stages),
        "wall_s": sum(st.wall_s for st in stages),
        "cpu_s": sum(st.cpu_s for st in stages),
        "shuffle_write_mb": sum(st.shuffle_write_mb for st in stages),
        "spill_disk_mb": sum(st.spill_disk_mb for st in stages),
        "top": [
            [
                st.wall_s,
                st.cpu_s,
                st.tasks,
                st.shuffle_read_mb,
                st.shuffle_write_mb,
                st.shuffle_write_records,
                st.spill_disk_mb,
                st.name[:60],
            ]
            for st in top
        ],
    }


def _print_profile(accounts: int, prof: dict) -> None:
    print(
        f"{accounts} accounts: {prof['count']} stages, {prof['wall_s']:.1f}s summed stage wall, "
        f"{prof['cpu_s']:.1f}s executor CPU, {prof['shuffle_write_mb']:.0f} MB shuffle written, "
        f"{prof['spill_disk_mb']:.0f} MB spilled to disk"
    )
    print("  wall s   CPU s  tasks  shuffle read MB  write MB  write rows  spill MB  stage")
    for wall, cpu, tasks, rd, wr, recs, spill, name in prof["top"]:
        print(
            f"  {wall:6.1f} {cpu:7.1f} {tasks:6d} {rd:16.1f} {wr:9.1f} {recs:11d} {spill:9.1f}"
            f"  {name}"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Coordination step cost against account count")
    p.add_argument("--accounts", default="10000,50000,200000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="event log and stage breakdown")
    a = p.parse_args(argv)
    rows = []
    for n in (int(x) for x in a.accounts.split(",")):
        runs = []
        for _ in range(a.runs):
            event_log = tempfile.mkdtemp(prefix="hw-bench-evlog-") if a.profile else ""
            cmd = [sys.executable, "-m", "bench.coordination", "_one", str(n), event_log]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if event_log:
                shutil.rmtree(event_log, ignore_errors=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            if a.profile:
                _print_profile(n, runs[-1]["stages"])
        med = statistics.median(r["step_s"] for r in runs)
        rows.append((n, med, runs[0]))
        print(
            f"{n} accounts: "
            + " ".join(f"{r['step_s']:.1f}" for r in runs)
            + f"s, { {k: v for k, v in runs[0].items() if k != 'stages'} }"
        )
    print(
        "| accounts | linked | similar pairs | clusters | CC rounds | median step (s) "
        "| s per 10k accounts |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, med, r in rows:
        print(
            f"| {n} | {r['linked']} | {r['pairs']} | {r['clusters']} | {r['rounds']} | {med:.1f} "
            f"| {med / n * 10000:.2f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_one":
        print(json.dumps(_one(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")))
    else:
        main()
