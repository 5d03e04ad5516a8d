"""Bench: one simulated day through every step (ingest, features, score, publish), step by step.

Each step runs in a fresh process (`python -m bench.end_to_end _step STEP ...`), so its wall
time includes JVM and Spark start-up, the way `hydrawatch daily` pays it; the process tree's
peak resident memory (driver JVM, Python workers) is sampled from /proc every 0.2 s. The
landing data is simulated once per (scale, seed, day) under `--root` and reused; every run
starts from an empty warehouse, so each run does the same work.

Scoring needs a champion: the bench registers one from a bounded sample of the day's features
and the simulator's truth (`tests/testkit/registry.log_and_register`). It measures speed, not model
quality (that is `hydrawatch evaluate`'s job). Beside the score step it times plain LightGBM on
the driver over the same feature rows (the booster's `predict` on a pandas frame), the
throughput a single machine gets without Spark.

    .venv/bin/python -m bench.end_to_end --scale small --runs 3
    .venv/bin/python -m bench.end_to_end --scale full --runs 1 --root /tmp/hw-e2e

The last lines are markdown rows for bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = ("ingest", "features", "score", "publish")
# Feature rows the bench model is trained on (a bounded sample reaches the driver).
MODEL_SAMPLE = 20_000


def _settings(root: str, master: str):
    from bench.feature_job import _settings as roots

    db = f"sqlite:///{root}/mlflow/mlflow.db"
    return roots(root, master, "").model_copy(update={"mlflow_tracking_uri": db})


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, from /proc (kB)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(stat[1]), []).append(p)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[p] = int(line.split()[1])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run `cmd`; (wall seconds, peak RSS of its process tree in MiB, its stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:6])} failed:\n{err[-3000:]}")
    return wall, peak[0] / 1024, out


def _step(step: str, root: str, day: dt.date, master: str) -> dict:
    """One step in this process; prints a JSON line with its own figures."""
    from hydrawatch.runtime import Runtime
    from hydrawatch.spark import build_spark

    settings = _settings(root, master)
    t0 = time.perf_counter()
    spark = build_spark(settings, app_name=f"hydrawatch-bench-{step}")
    rt = Runtime(settings, spark=spark)
    startup = time.perf_counter() - t0
    out: dict = {"step": step, "startup_s": startup}
    t1 = time.perf_counter()
    if step == "simulate":
        from jobs.simulate import run_simulate

        scale, seed = os.environ["HW_BENCH_SCALE"], int(os.environ["HW_BENCH_SEED"])
        r = run_simulate(rt, day, 1, scale, seed)
        out["rows"] = r.event_lines
    elif step == "ingest":
        from jobs.ingest import run_ingest

        r = run_ingest(rt, day)
        out["rows"] = r.feeds["usage_events"].kept
    elif step == "features":
        from jobs.features import run_features

        out["rows"] = run_features(rt, day).rows
    elif step == "model":
        out.update(_bench_model(rt, day))
    elif step == "score":
        from jobs.score import run_score

        out["rows"] = run_score(rt, day).accounts_scored
    elif step == "publish":
        from jobs.publish import run_publish

        r = run_publish(rt, day)
        out["rows"] = getattr(r, "rows", 0)
    elif step == "lightgbm":
        out.update(_plain_lightgbm(rt, day))
    out["job_s"] = time.perf_counter() - t1
    spark.stop()
    return out


def _bench_model(rt, day: dt.date) -> dict:
    """Register a champion from a bounded sample of the day's features and the truth."""
    from hydrawatch.storage import tables
    from models.champion import CHAMPION
    from models.dataset import account_sample
    from models.scoring import feature_columns

    # The tests' one-call registration of a small model (tests/testkit).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from testkit.registry import log_and_register

    feats = rt.warehouse.day(tables.FEATURES_ACCOUNT, day)
    truth = rt.warehouse.read(tables.TRUTH_ACCOUNTS)
    names = feature_columns(feats.columns)
    rows = feats.join(truth.select("account_id", "is_attacker"), "account_id")
    n = rows.count()
    frac = min(1.0, MODEL_SAMPLE / max(n, 1))
    # By a hash of the account, not `sample`: which rows `sample` keeps depends on their order
    # in each partition after the join, so every run trained another model and flagged another
    # count (5,010 against 5,033 on the same day).
    pdf = (
        account_sample(rows, frac, seed=7)
        .select("account_id", *names, "is_attacker")
        .toPandas()
        .sort_values("account_id", kind="mergesort")
        .reset_index(drop=True)
    )
    version = feats.select("feature_set_version").first()[0]
    _, v = log_and_register(
        rt,
        pdf[names],
        pdf["is_attacker"].astype(int),
        feature_names=names,
        feature_set_version=version,
        alias=CHAMPION,
    )
    return {"rows": len(pdf), "version": v}


def _plain_lightgbm(rt, day: dt.date) -> dict:
    """The champion's pyfunc (LightGBM + calibration + contributions) on the driver, no Spark."""
    from hydrawatch.storage import tables
    from models import champion

    with champion.load(rt, champion.resolve_champion(rt)) as loaded:
        pdf = rt.warehouse.day(tables.FEATURES_ACCOUNT, day).toPandas()
        t0 = time.perf_counter()
        loaded.predict(pdf)
        secs = time.perf_counter() - t0
    return {"rows": len(pdf), "predict_s": secs}


def _run_step(step: str, root: str, day: dt.date, master: str) -> dict:
    cmd = [sys.executable, "-m", "bench.end_to_end", "_step", step, root, day.isoformat(), master]
    wall, peak, out = measured(cmd)
    info = json.loads(out.strip().splitlines()[-1])
    info.update(wall_s=wall, peak_mib=peak)
    return info


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="One simulated day through every step, timed")
    p.add_argument("--scale", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--date", default="2026-02-10")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--root", default="/tmp/hydrawatch-bench-e2e")
    a = p.parse_args(argv)
    day = dt.date.fromisoformat(a.date)
    world = os.path.join(a.root, f"{a.scale}-{a.seed}-{a.date}")
    landing_done = os.path.join(world, "landing", ".bench-complete")
    if not os.path.exists(landing_done):
        shutil.rmtree(world, ignore_errors=True)
        os.environ.update(HW_BENCH_SCALE=a.scale, HW_BENCH_SEED=str(a.seed))
        sim = _run_step("simulate", world, day, a.master)
        Path(landing_done).write_text(json.dumps(sim))
        print(
            f"simulate {a.scale} day: {sim['wall_s']:.1f}s wall, {sim['peak_mib']:.0f} MiB peak, "
            f"{sim['rows']} event lines"
        )
    results: dict[str, list[dict]] = {s: [] for s in (*STEPS, "lightgbm")}
    for run in range(a.runs):
        for sub in ("warehouse", "exports", "mlflow"):
            shutil.rmtree(os.path.join(world, sub), ignore_errors=True)
        os.makedirs(os.path.join(world, "mlflow"), exist_ok=True)
        for step in STEPS:
            if step == "score":
                _run_step("model", world, day, a.master)
            info = _run_step(step, world, day, a.master)
            results[step].append(info)
            print(
                f"run {run + 1} {step:9s} {info['wall_s']:7.1f}s wall "
                f"({info['startup_s']:.1f}s start-up) {info['peak_mib']:6.0f} MiB peak, "
                f"{info['rows']} rows"
            )
        info = _run_step("lightgbm", world, day, a.master)
        results["lightgbm"].append(info)
    events = results["ingest"][0]["rows"]
    print(f"\nmachine: {os.cpu_count()} cores, load before last run {os.getloadavg()[0]:.1f}")
    print("| step | rows | wall median (s) | job median (s) | peak RSS median (MiB) | rows/s |")
    print("|---|---|---|---|---|---|")
    total = 0.0
    for step in STEPS:
        rs = results[step]
        wall = statistics.median(r["wall_s"] for r in rs)
        job = statistics.median(r["job_s"] for r in rs)
        total += wall
        peak = statistics.median(r["peak_mib"] for r in rs)
        rows = rs[0]["rows"]
        print(f"| {step} | {rows} | {wall:.1f} | {job:.1f} | {peak:.0f} | {rows / job:,.0f} |")
    print(f"| day, 4 steps | {events} events | {total:.1f} | | | {events / total:,.0f} events/s |")
    score_job = statistics.median(r["job_s"] for r in results["score"])
    lgbm = statistics.median(r["predict_s"] for r in results["lightgbm"])
    n = results["lightgbm"][0]["rows"]
    print(
        f"scoring {n} accounts: Spark score job {score_job:.1f}s ({n / score_job:,.0f}/s, "
        f"incl. reasons, roll-up and writes) vs plain LightGBM predict on the driver "
        f"{lgbm:.1f}s ({n / max(lgbm, 1e-9):,.0f}/s)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_step":
        step, root, day, master = sys.argv[2:6]
        print(json.dumps(_step(step, root, dt.date.fromisoformat(day), master), default=str))
    else:
        main()
