"""Bench: `hydrawatch backfill --steps ingest,features` over a simulated window, start-up included.

Simulates `--days` tiny days once under `--workdir` (seed 11, from 2026-02-01; reused), then per
run starts a fresh `hydrawatch backfill --start .. --end .. --steps ingest,features` process on
an empty warehouse and times it from launch to exit (Python, Prefect's embedded server, the JVM
and Spark's start included, as a person pays them). `--code DIR` runs the command line of
another checkout (e.g. a `git worktree` of the commit before a change) with this virtual
environment, for a before/after pair on the same landing data.

    .venv/bin/python -m bench.backfill --days 14 --runs 3
    mkdir /tmp/hw-before && git archive <commit> | tar -x -C /tmp/hw-before
    ln -s "$PWD/.jars" /tmp/hw-before/.jars
    .venv/bin/python -m bench.backfill --days 14 --runs 3 --code /tmp/hw-before --label before

The last line is a markdown table row: code, days, load average before, wall runs and median,
CPU runs and median (seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 2, 1)
SEED = 11


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _env(workdir: Path, warehouse: Path, code: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HYDRAWATCH_LANDING": str(workdir / "landing"),
            "HYDRAWATCH_TRUTH": str(workdir / "truth"),
            "HYDRAWATCH_WAREHOUSE": str(warehouse),
            "HYDRAWATCH_EXPORTS": str(workdir / "exports"),
            "HYDRAWATCH_SPARK_MASTER": "local[2]",
            "HYDRAWATCH_SPARK_UI": "false",
            "MLFLOW_TRACKING_URI": f"file://{workdir / 'mlruns'}",
            "PREFECT_HOME": str(workdir / "prefect"),
            "PYTHONPATH": str(code),
        }
    )
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _hydrawatch(code: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall seconds of the command and CPU seconds of its process tree (the JVM and the Python
    workers included: on a shared machine the CPU figure moves less with the load)."""
    cmd = [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *args]
    t0, c0 = time.perf_counter(), _cpu()
    proc = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    took, cpu = time.perf_counter() - t0, _cpu() - c0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"bench: `hydrawatch {' '.join(args)}` exited {proc.returncode}")
    return took, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/hydrawatch-bench/backfill")
    ap.add_argument("--days", type=int, default=14, help="days simulated")
    ap.add_argument("--backfill-days", type=int, default=0, help="days backfilled (0: all)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--code", default=str(REPO), help="checkout whose command line runs")
    ap.add_argument("--label", default="", help="names the code in the table (default: commit)")
    args = ap.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    code = Path(args.code).resolve()
    end = START + dt.timedelta(days=args.days - 1)
    last = START + dt.timedelta(days=(args.backfill_days or args.days) - 1)
    landing = workdir / "landing"
    if not (landing / "usage_events" / f"date={end}").exists():
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        env = _env(workdir, workdir / "sim-warehouse", REPO)
        took, _ = _hydrawatch(
            REPO, env, "simulate", "--start", str(START), "--days", str(args.days),
            "--scale", "tiny", "--seed", str(SEED),
        )  # fmt: skip
        print(f"simulated {args.days} tiny days in {took:.1f} s")
    commit = (
        args.label
        or subprocess.run(
            ["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    )
    load = load_average()
    times, cpus = [], []
    for i in range(args.runs):
        warehouse = workdir / f"warehouse-{commit}"
        shutil.rmtree(warehouse, ignore_errors=True)
        env = _env(workdir, warehouse, code)
        took, cpu = _hydrawatch(
            code, env, "backfill", "--start", str(START), "--end", str(last),
            "--steps", "ingest,features",
        )  # fmt: skip
        times.append(took)
        cpus.append(cpu)
        print(f"run {i + 1}: {took:.1f} s wall, {cpu:.1f} s CPU, load after {load_average()}")
    runs = " / ".join(f"{t:.1f}" for t in times)
    cpu_runs = " / ".join(f"{t:.1f}" for t in cpus)
    print(
        f"| {commit} | {(last - START).days + 1} | {load} | {runs} | {statistics.median(times):.1f} "
        f"| {cpu_runs} | {statistics.median(cpus):.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
