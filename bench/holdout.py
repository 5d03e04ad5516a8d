"""Bench: leave-one-campaign-out over several simulator worlds (the table of docs/model.md).

For each seed: a tiny world of `--days` days is simulated and backfilled through ingest and
features with the `hydrawatch` commands (under `--root/seed-<S>`, reused when already there: the
backfill resumes), then `hydrawatch evaluate --holdout-campaign all --as-of <day --train-days>`
trains one model per held-out campaign and scores the days after (jobs/holdout.py). The per-seed
tables are written to `--root/holdout-<seed>.csv`; the last lines printed are the markdown rows
for docs/model.md: per campaign style, whether the world labels it, the median and the worst
recall over the seeds, the worst days-to-half, the worst precision and the worst legitimate
population's FPR; and the labelled styles' recall while another campaign is held out.

    .venv/bin/python -m bench.holdout --seeds 7,11,23 --root /tmp/hw-holdout  # trains as of day 8: unlabelled accounts need 7 days to be negatives

A world takes about half an hour to backfill on the 2-core machine; the holdout itself a few
minutes per world.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 2, 1)


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HYDRAWATCH_LANDING=str(root / "landing"),
        HYDRAWATCH_WAREHOUSE=str(root / "warehouse"),
        HYDRAWATCH_EXPORTS=str(root / "exports"),
        HYDRAWATCH_TRUTH=str(root / "truth"),
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        PREFECT_HOME=str(root / "prefect"),
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    cmd = [str(REPO / ".venv" / "bin" / "hydrawatch"), *args]
    print("+", " ".join(args), flush=True)
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: {' '.join(args)} failed: {done.stdout[-400:]}{done.stderr[-400:]}")


def world(root: Path, seed: int, days: int) -> None:
    """Simulate (once) and backfill ingest and features (resumes where it stopped)."""
    env = _env(root)
    root.mkdir(parents=True, exist_ok=True)
    end = START + dt.timedelta(days=days - 1)
    if not (root / "truth").exists():
        _run(["simulate", "--start", str(START), "--days", str(days), "--seed", str(seed)], env)
    _run(["backfill", "--start", str(START), "--end", str(end), "--steps", "ingest,features"], env)


def holdout(root: Path, seed: int, days: int, train_days: int, out: Path) -> pd.DataFrame:
    """The leave-one-campaign-out table of one world, in a process of its own (its settings)."""
    cmd = [sys.executable, "-m", "bench.holdout", "_one", str(root), str(seed), str(days)]
    print(f"+ holdout seed {seed}", flush=True)
    done = subprocess.run(
        [*cmd, str(train_days), str(out)], env=_env(root), cwd=REPO, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"bench: holdout of seed {seed} failed: {done.stderr[-800:]}")
    return pd.read_csv(out)


def _one(root: str, seed: str, days: str, train_days: str, out: str) -> None:
    from hydrawatch.runtime import Runtime
    from jobs.holdout import run_holdout

    as_of = START + dt.timedelta(days=int(train_days) - 1)
    end = START + dt.timedelta(days=int(days) - 1)
    result = run_holdout(Runtime.from_environment(), as_of, end, ["all"])
    result.campaigns.assign(seed=int(seed)).to_csv(out, index=False)


def _worst(values, lowest=True):
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return math.nan
    return min(vals) if lowest else max(vals)


def _worst_fpr(g: pd.DataFrame) -> str:
    worst = g["worst_legit_fpr"].max()
    if not worst > 0:
        return "0 (no legitimate account flagged)"
    return f"{100 * worst:.2f} % ({g.loc[g['worst_legit_fpr'].idxmax(), 'worst_legit_population']})"


def summary(tables: pd.DataFrame) -> list[str]:
    """Markdown rows: per style over the seeds (median and worst case)."""
    t = tables[tables["held_out"] != "(none)"].copy()
    t["style"] = t["held_out"].str.removeprefix("cmp-")
    t["labelled"] = t["labelled_accounts"].fillna(0) > 0
    lines = [
        "| held-out campaign | labelled in its world | seeds | recall median | recall worst "
        "| flagged by structure (median share) | days to half, worst | precision, worst "
        "| worst legit FPR | labelled styles' recall, worst |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for style, g in t.groupby("style"):
        dth = [d if not math.isnan(d) else math.inf for d in g["days_to_half"]]
        lines.append(
            f"| `{style}` | {'yes' if g['labelled'].any() else 'never'} | {len(g)} "
            f"| {statistics.median(g['recall']):.3f} | {g['recall'].min():.3f} "
            f"| {statistics.median(g['structure_share']):.2f} "
            f"| {max(dth):.0f} | {g['precision'].min():.3f} "
            f"| {_worst_fpr(g)} "
            f"| {_worst(g['min_other_recall']):.3f} |"
        )
    every = tables[tables["held_out"] == "(none)"]
    if len(every):
        lines.append(
            f"| (none held out: every label) | | {len(every)} | | | | | "
            f"{every['precision'].min():.3f} | {_worst_fpr(every)} "
            f"| {_worst(every['min_other_recall']):.3f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_one"]:
        _one(*argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="7,11,23")
    p.add_argument("--days", type=int, default=12)
    p.add_argument("--train-days", type=int, default=8, help="train as of this day of the window")
    p.add_argument("--root", default="/tmp/hw-holdout")
    a = p.parse_args(argv)
    root = Path(a.root)
    tables = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        wroot = root / f"seed-{seed}"
        world(wroot, seed, a.days)
        table = holdout(wroot, seed, a.days, a.train_days, root / f"holdout-{seed}.csv")
        tables.append(table)
    all_tables = pd.concat(tables, ignore_index=True)
    all_tables.to_csv(root / "holdout-all.csv", index=False)
    print("\n".join(summary(all_tables)))


if __name__ == "__main__":
    main()
