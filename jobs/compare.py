"""Job: champion and challenger side by side on the same days (`hydrawatch compare`).

What it promises:
- Both models score the same feature days through the shadow path (jobs/shadow.py): a day one of
  them has no shadow rows for is scored first; nothing published is read or written.
- Per day: accounts scored, flagged by each, by both, by one only; the accounts only one model
  flags (the top `ONLY_ONE_SHOWN` of each by score, with that model's reasons).
- Against the labels known as of `labels_as_of` (default: the last day; the latest decision per
  account, appeals included, as retrain sees them): precision, recall and PR-AUC of each with 95 %
  bootstrap intervals (models/compare.py), over the labelled accounts on the days they sent
  traffic. Unlabelled accounts are left out of these figures.
- Flag rates per population proxy of the accounts snapshot (sign-up channel, plan).
- Logged as one MLflow run in experiment `hydrawatch-compare` (params: both versions, the days,
  the labels' date; metrics: the figures and their intervals; artifacts: the report, PR curves,
  calibration curves, flag rate by day, the accounts only one flags as CSV).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from hydrawatch.errors import HydrawatchError, UsageError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import champion
from models.compare import ModelFigures, label_metrics
from models.day_scoring import SHADOW, score_day
from models.evaluation import labelled_active
from models.inputs import current_labels
from models.registry import ensure_experiment

COMPARE_EXPERIMENT = "hydrawatch-compare"
ONLY_ONE_SHOWN = 20
POPULATION_PROXIES = ("signup_channel", "plan")


@dataclass(frozen=True)
class DayCounts:
    score_date: dt.date
    scored: int
    flagged_a: int
    flagged_b: int
    both: int
    only_a: int
    only_b: int


@dataclass(frozen=True)
class CompareResult:
    start: dt.date
    end: dt.date
    version_a: str  # the champion (or the first version named)
    version_b: str  # the challenger (or the second)
    labels_as_of: dt.date
    days: tuple[DayCounts, ...]
    figures: dict[str, ModelFigures]
    populations: pd.DataFrame  # proxy, value, accounts, rate_a, rate_b
    only_a: pd.DataFrame  # score_date, account_id, score_a, score_b, reasons_text
    only_b: pd.DataFrame
    run_id: str
    scored_now: tuple[str, ...]  # "v<N> <day>" shadow days this run had to score first


def _versions(
    rt: Runtime, version_a: str | None, version_b: str | None
) -> tuple[champion.ModelVersion, champion.ModelVersion]:
    a = champion.version(rt, version_a) if version_a else champion.resolve_champion(rt)
    b = champion.named_or_alias(rt, version_b, champion.CHALLENGER)
    if a.version == b.version:
        raise UsageError(f"both sides are v{a.version}: name two different versions")
    return a, b


def _ensure_shadow(rt: Runtime, model: champion.ModelVersion, days: list[dt.date]) -> list[str]:
    """Score into the shadow tables the days `model` has no shadow rows for."""
    warehouse = rt.warehouse
    have: set[dt.date] = set()
    existing = warehouse.read_if_exists(tables.SHADOW_SCORES)
    if existing is not None:
        have = {
            r.score_date
            for r in existing.where(F.col("model_version") == model.version)
            .where(F.col("score_date").between(min(days), max(days)))
            .select("score_date")
            .distinct()
            .collect()
        }
    missing = [d for d in days if d not in have]
    if missing:
        with champion.load(rt, model) as loaded:
            for day in missing:
                score_day(warehouse, day, loaded, SHADOW)
                rt.say(f"{day} shadow v{model.version}: scored for the comparison")
    return [f"v{model.version} {d}" for d in missing]


def _side_by_side(rt: Runtime, a: str, b: str, days: list[dt.date]) -> DataFrame:
    warehouse = rt.warehouse
    scores = warehouse.read(tables.SHADOW_SCORES).where(
        F.col("score_date").between(min(days), max(days))
    )

    def side(version: str, tag: str) -> DataFrame:
        return scores.where(F.col("model_version") == version).select(
            "score_date",
            "account_id",
            F.col("score").alias(f"score_{tag}"),
            F.col("flagged").alias(f"flagged_{tag}"),
        )

    return side(a, "a").join(side(b, "b"), ["score_date", "account_id"], "inner")


def _labels(rt: Runtime, as_of: dt.date) -> DataFrame:
    warehouse = rt.warehouse
    if not warehouse.exists(tables.BRONZE_LABELS):
        return warehouse.spark.createDataFrame([], "account_id string, label int")
    decided = current_labels(warehouse.read(tables.BRONZE_LABELS), as_of)
    return decided.select(
        "account_id", (F.col("label") == "distillation").cast("int").alias("label")
    )


def run_compare(
    rt: Runtime,
    start: dt.date,
    end: dt.date,
    *,
    version_a: str | None = None,
    version_b: str | None = None,
    labels_as_of: dt.date | None = None,
    seed: int = 7,
) -> CompareResult:
    if end < start:
        raise UsageError(f"--end {end} is before --start {start}")
    a, b = _versions(rt, version_a, version_b)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    scored_now = _ensure_shadow(rt, a, days) + _ensure_shadow(rt, b, days)
    rows = _side_by_side(rt, a.version, b.version, days).persist()
    try:
        per_day = (
            rows.groupBy("score_date")
            .agg(
                F.count(F.lit(1)).alias("scored"),
                F.sum(F.col("flagged_a").cast("int")).alias("flagged_a"),
                F.sum(F.col("flagged_b").cast("int")).alias("flagged_b"),
                F.sum((F.col("flagged_a") & F.col("flagged_b")).cast("int")).alias("both"),
            )
            .orderBy("score_date")
            .collect()
        )
        if not per_day:
            raise HydrawatchError(f"no scored accounts on {start}..{end}: run the features first")
        counts = tuple(
            DayCounts(
                r.score_date,
                int(r.scored),
                int(r.flagged_a),
                int(r.flagged_b),
                int(r.both),
                int(r.flagged_a) - int(r.both),
                int(r.flagged_b) - int(r.both),
            )
            for r in per_day
        )
        as_of = labels_as_of or end
        # An account counts on the days it sent traffic: gold scores a banned, silent account
        # for four weeks, and its misses would measure the ban, not the model (as evaluate).
        features = rt.warehouse.read(tables.FEATURES_ACCOUNT).where(
            F.col("feature_date").between(start, end)
        )
        labelled = labelled_active(rows, features, _labels(rt, as_of))
        # Bounded: the labelled accounts of the days (a few thousand at most), not every row.
        known = labelled.toPandas()
        figures = label_metrics(known, seed)
        populations = _population_rates(rt, rows, end)
        only_a, only_b = _only_one(rt, rows, a.version, b.version)
    finally:
        rows.unpersist()
    result = CompareResult(
        start,
        end,
        a.version,
        b.version,
        as_of,
        counts,
        figures,
        populations,
        only_a,
        only_b,
        run_id="",
        scored_now=tuple(scored_now),
    )
    return dataclasses.replace(result, run_id=_log(rt, result, known))


def _population_rates(rt: Runtime, rows: DataFrame, day: dt.date) -> pd.DataFrame:
    snapshot = rt.warehouse.latest_snapshot(day)
    if snapshot is None:
        return pd.DataFrame(columns=["proxy", "value", "rows", "rate_a", "rate_b"])
    joined = rows.join(snapshot.select("account_id", *POPULATION_PROXIES), "account_id", "left")
    parts = []
    for proxy in POPULATION_PROXIES:
        part = (
            joined.groupBy(F.coalesce(F.col(proxy), F.lit("(none)")).alias("value"))
            .agg(
                F.count(F.lit(1)).alias("rows"),
                F.avg(F.col("flagged_a").cast("double")).alias("rate_a"),
                F.avg(F.col("flagged_b").cast("double")).alias("rate_b"),
            )
            .toPandas()
        )
        part.insert(0, "proxy", proxy)
        parts.append(part)
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["proxy", "value"])
        .reset_index(drop=True)[["proxy", "value", "rows", "rate_a", "rate_b"]]
    )


def _only_one(rt: Runtime, rows: DataFrame, a: str, b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    details = rt.warehouse.read(tables.SHADOW_FLAG_DETAILS)
    out = []
    for tag, version, other in (("a", a, "b"), ("b", b, "a")):
        mine = rows.where(F.col(f"flagged_{tag}") & ~F.col(f"flagged_{other}"))
        reasons = details.where(F.col("model_version") == version).select(
            "score_date", "account_id", "flagged_by", "reasons_text"
        )
        top = (
            mine.join(reasons, ["score_date", "account_id"], "left")
            .orderBy(F.col(f"score_{tag}").desc(), "account_id")
            .limit(ONLY_ONE_SHOWN)
            .toPandas()
        )
        out.append(top)
    return out[0], out[1]


def report_markdown(result: CompareResult) -> str:
    a, b = f"v{result.version_a}", f"v{result.version_b}"
    lines = [
        f"# Hydrawatch compare: {a} (champion) and {b} on {result.start}..{result.end}",
        "",
        f"| day | scored | flagged {a} | flagged {b} | both | only {a} | only {b} |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in result.days:
        lines.append(
            f"| {d.score_date} | {d.scored} | {d.flagged_a} | {d.flagged_b} | {d.both} | "
            f"{d.only_a} | {d.only_b} |"
        )
    fa, fb = result.figures["a"], result.figures["b"]
    lines += [
        "",
        f"Against the labels known on {result.labels_as_of} ({fa.labelled_rows} labelled rows, "
        f"{fa.positives} distillation); 95 % bootstrap intervals over accounts:",
        "",
        f"| metric | {a} | {b} |",
        "|---|---|---|",
        f"| precision | {fa.precision.text()} | {fb.precision.text()} |",
        f"| recall | {fa.recall.text()} | {fb.recall.text()} |",
        f"| PR-AUC | {fa.pr_auc.text()} | {fb.pr_auc.text()} |",
        "",
        f"| population | rows | flag rate {a} | flag rate {b} |",
        "|---|---|---|---|",
    ]
    for r in result.populations.itertuples():
        lines.append(f"| {r.proxy}={r.value} | {r.rows} | {r.rate_a:.4f} | {r.rate_b:.4f} |")
    for title, frame, tag in ((a, result.only_a, "a"), (b, result.only_b, "b")):
        lines += ["", f"Only {title} flags (top {ONLY_ONE_SHOWN} by its score):", ""]
        if frame.empty:
            lines.append("none")
            continue
        lines += ["| day | account | score | reasons |", "|---|---|---|---|"]
        for r in frame.itertuples():
            reasons = str(getattr(r, "reasons_text", "") or "").replace("|", "/")
            score = getattr(r, f"score_{tag}")
            lines.append(f"| {r.score_date} | {r.account_id} | {score:.3f} | {reasons} |")
    return "\n".join(lines) + "\n"


def _log(rt: Runtime, result: CompareResult, known: pd.DataFrame) -> str:
    import mlflow

    experiment_id = ensure_experiment(rt, COMPARE_EXPERIMENT)
    metrics: dict[str, float] = {}
    for tag, fig in result.figures.items():
        for name in ("precision", "recall", "pr_auc"):
            interval = getattr(fig, name)
            for part in ("value", "low", "high"):
                value = getattr(interval, part)
                if value == value:  # not NaN
                    suffix = "" if part == "value" else f"_{part}"
                    metrics[f"{name}_{tag}{suffix}"] = float(value)
    metrics["flagged_a_total"] = float(sum(d.flagged_a for d in result.days))
    metrics["flagged_b_total"] = float(sum(d.flagged_b for d in result.days))
    metrics["both_total"] = float(sum(d.both for d in result.days))
    a, b = result.version_a, result.version_b
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"compare-v{a}-v{b}-{result.start}-{result.end}"
    ) as run:
        mlflow.log_params(
            {
                "model_name": rt.settings.model_name,
                "version_a": a,
                "version_b": b,
                "start": str(result.start),
                "end": str(result.end),
                "labels_as_of": str(result.labels_as_of),
            }
        )
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "compare.md").write_text(report_markdown(result))
            both = [result.only_a.assign(only="a"), result.only_b.assign(only="b")]
            pd.concat(both, ignore_index=True).to_csv(folder / "only_one_flags.csv", index=False)
            _plots(folder, known, result.days, a, b)
            mlflow.log_artifacts(str(folder))
    return run.info.run_id


def _plots(folder: Path, known: pd.DataFrame, counts, a: str, b: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve

    y = known["label"].to_numpy(int) if not known.empty else None
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for tag, version in (("a", a), ("b", b)):
        if y is not None and 0 < y.sum() < len(y):
            p, r, _ = precision_recall_curve(y, known[f"score_{tag}"])
            ax[0].plot(r, p, label=f"v{version}")
            frac, mean = calibration_curve(y, known[f"score_{tag}"], n_bins=10)
            ax[1].plot(mean, frac, marker="o", label=f"v{version}")
    ax[0].set(xlabel="recall", ylabel="precision", title="PR curve (labelled rows)")
    ax[1].plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax[1].set(xlabel="mean score", ylabel="share distillation", title="calibration")
    for axis in ax:
        axis.legend()
    fig.tight_layout()
    fig.savefig(folder / "pr_and_calibration.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    days = [str(d.score_date) for d in counts]
    ax.plot(days, [d.flagged_a / max(d.scored, 1) for d in counts], marker="o", label=f"v{a}")
    ax.plot(days, [d.flagged_b / max(d.scored, 1) for d in counts], marker="o", label=f"v{b}")
    ax.set(ylabel="flag rate", title="flag rate by day")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(folder / "flag_rate_by_day.png")
    plt.close(fig)
