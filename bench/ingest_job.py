"""Bench: where one day's ingest spends its time, job by job and stage by stage.

Ingests one delivery day of an existing landing folder (e.g. a world of `bench/end_to_end.py`)
into a fresh, empty warehouse with Spark's event log on, then lists the Spark jobs by Python
call site and the slowest stages with their executor CPU (`bench/sparklog.py`). Each run is a
fresh process, so the figures match what `hydrawatch ingest` pays; `--runs` gives the median.

    .venv/bin/python -m bench.ingest_job --landing /tmp/hw-e2e/small-11-2026-02-10/landing \
        --date 2026-02-10 --runs 3
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


def _run(landing: str, day: dt.date, master: str, event_log: str) -> dict:
    from bench import sparklog
    from bench.feature_job import _settings as roots
    from hydrawatch.runtime import Runtime
    from hydrawatch.spark import build_spark
    from jobs.ingest import run_ingest

    work = tempfile.mkdtemp(prefix="hw-bench-ingest-")
    settings = roots(work, master, event_log).model_copy(update={"landing": landing})
    t0 = time.time()
    spark = build_spark(
        settings, app_name="hydrawatch-bench-ingest", **{"spark.eventLog.compress": "false"}
    )
    t1 = time.time()
    result = run_ingest(Runtime(settings, spark=spark), day)
    t2 = time.time()
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    log = sparklog.load(sparklog.latest_app(event_log))
    jobs = log.jobs_between(t1 - 0.5, t2 + 0.5)
    stages = sorted(log.stages_of(jobs), key=lambda s: -s.wall_s)[:8]
    return {
        "startup_s": t1 - t0,
        "ingest_s": t2 - t1,
        "events": result.feeds["usage_events"].kept,
        "sites": [list(s) for s in sparklog.by_call_site(jobs)[:10]],
        "stages": [[s.wall_s, s.cpu_s, s.tasks, s.name[:70]] for s in stages],
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        landing, day, master, event_log = argv[1:5]
        out = _run(landing, dt.date.fromisoformat(day), master, event_log)
        print(json.dumps(out))
        return
    p = argparse.ArgumentParser(description="One day's ingest: time, jobs, slowest stages")
    p.add_argument("--landing", required=True, help="landing root holding the day's delivery")
    p.add_argument("--date", required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--master", default="local[2]")
    a = p.parse_args(argv)
    runs = []
    for _ in range(a.runs):
        event_log = tempfile.mkdtemp(prefix="hw-bench-evlog-")
        cmd = [sys.executable, "-m", "bench.ingest_job", "_run", a.landing, a.date, a.master]
        proc = subprocess.run([*cmd, event_log], cwd=REPO, capture_output=True, text=True)
        shutil.rmtree(event_log, ignore_errors=True)
        if proc.returncode != 0:
            raise SystemExit(f"ingest run failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    last = runs[-1]
    print("Spark jobs of the last run by call site (summed job wall s, jobs):")
    for site, n, secs in last["sites"]:
        print(f"  {secs:7.1f}s {n:4d}  {site}")
    print("slowest stages (wall s, executor CPU s, tasks, name):")
    for wall, cpu, tasks, name in last["stages"]:
        print(f"  {wall:7.1f} {cpu:7.1f} {tasks:5d}  {name}")
    med = statistics.median(r["ingest_s"] for r in runs)
    print(
        f"ingest of {last['events']} events: median {med:.1f}s over {len(runs)} runs ("
        + " ".join(f"{r['ingest_s']:.1f}" for r in runs)
        + f"), start-up {last['startup_s']:.1f}s apart, "
        f"{last['events'] / med:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
