"""Daily drift report: PSI of each feature and of the score against the champion's training data.

`run_drift(rt, score_date)` compares the day's `gold/account_features` rows and
`gold/account_scores` scores with a reference: the feature rows of the champion's training
window (`REFERENCE_DAYS` feature dates up to the champion version's `as_of` tag), and the
champion's scores of those rows (at most `REFERENCE_SCORE_ROWS`, a seeded sample). Bins come
from the reference quantiles (`settings.drift_bins`). It replaces the day's partition of
`meta/drift` (one row per feature and one for `score`, `drifted` past
`settings.drift_psi_bound`) and returns the verdict. Missing inputs (no champion, no `as_of`,
no reference rows) give a result with `status` saying why, not a failure: drift is a report on
a day that has already been scored and published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features import drift
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import champion
from models.champion import ModelVersion

REFERENCE_DAYS = 7
REFERENCE_SCORE_ROWS = 50_000
SCORE_FEATURE = "score"
SAMPLE_SEED = 7


@dataclass(frozen=True)
class DriftResult:
    score_date: dt.date
    status: str  # "ok", or why no report was made
    model_version: str | None = None
    bound: float | None = None
    max_psi: float | None = None
    score_psi: float | None = None
    drifted: list[str] = field(default_factory=list)
    reference: str | None = None
    table: str | None = None


def _cuts(df: DataFrame, columns: list[str], bins: int) -> dict[str, list[float]]:
    probs = [i / bins for i in range(1, bins)]
    # Bounded: (bins - 1) numbers per column reach the driver.
    found = df.approxQuantile(columns, probs, 0.001)
    return {c: drift.clean_cuts(q) for c, q in zip(columns, found, strict=True)}


def run_drift(rt: Runtime, score_date: dt.date, model: ModelVersion | None = None) -> DriftResult:
    """The day's drift report against the champion (`model`, as the calling flow resolved it for
    the run; resolved here otherwise)."""
    settings, warehouse = rt.settings, rt.warehouse
    model = model or champion.resolve(rt, champion.CHAMPION)
    if model is None:
        return DriftResult(score_date, "skipped: no champion model")
    version, as_of = model.version, model.as_of
    if as_of is None:
        return DriftResult(score_date, f"skipped: champion v{version} records no as_of", version)
    feats = warehouse.read_if_exists(tables.FEATURES_ACCOUNT)
    if feats is None:
        return DriftResult(score_date, "skipped: no feature table", version)
    start = as_of - dt.timedelta(days=REFERENCE_DAYS - 1)
    window = f"{start}..{as_of}"
    reference = feats.where(F.col("feature_date").between(F.lit(start), F.lit(as_of)))
    current = feats.where(F.col("feature_date") == F.lit(score_date))
    columns = [c for c in model.feature_names if c in feats.columns]
    ref_rows = reference.count()
    if ref_rows == 0 or not columns:
        return DriftResult(score_date, f"skipped: no feature rows in {window}", version)

    with champion.load(rt, model) as loaded:
        cuts = _cuts(reference, columns, settings.drift_bins)
        sample = reference.select("account_id", *columns)
        if ref_rows > REFERENCE_SCORE_ROWS:
            sample = sample.sample(fraction=REFERENCE_SCORE_ROWS / ref_rows, seed=SAMPLE_SEED)
        ref_scores = loaded.score_spark(sample).select(F.col("score").alias("value")).cache()
        score_cuts = drift.clean_cuts(
            ref_scores.approxQuantile(
                "value", [i / settings.drift_bins for i in range(1, settings.drift_bins)], 0.001
            )
        )
        scores_today = warehouse.day(tables.GOLD_ACCOUNT_SCORES, score_date)
        cur_scores = (
            scores_today.select(F.col("score").cast("double").alias("value"))
            if scores_today is not None
            else rt.spark.createDataFrame([], "value double")
        )
        lit_score = F.lit(SCORE_FEATURE).alias("feature")
        ref_long = drift.to_long(reference, columns).unionByName(
            ref_scores.select(lit_score, "value")
        )
        cur_long = drift.to_long(current, columns).unionByName(
            cur_scores.select(lit_score, "value")
        )
        report = drift.psi(
            ref_long, cur_long, {**cuts, SCORE_FEATURE: score_cuts}, settings.drift_psi_bound
        ).select(
            F.lit(score_date).alias("score_date"),
            "feature",
            "psi",
            "drifted",
            F.lit(float(settings.drift_psi_bound)).alias("bound"),
            "ref_rows",
            "cur_rows",
            F.lit(version).alias("model_version"),
            F.lit(start).alias("reference_start"),
            F.lit(as_of).alias("reference_end"),
        )
        warehouse.replace_days(report.coalesce(1), tables.DRIFT, [score_date])
        ref_scores.unpersist()
    # Bounded: one row per feature of the catalogue, plus the score.
    rows = warehouse.day(tables.DRIFT, score_date).select("feature", "psi", "drifted").collect()
    psis = {r.feature: float(r.psi) for r in rows}
    return DriftResult(
        score_date=score_date,
        status="ok",
        model_version=version,
        bound=float(settings.drift_psi_bound),
        max_psi=max(psis.values()) if psis else None,
        score_psi=psis.get(SCORE_FEATURE),
        drifted=sorted(r.feature for r in rows if r.drifted),
        reference=f"feature dates {window} (champion v{version} as_of {as_of})",
        table=warehouse.location(tables.DRIFT),
    )
