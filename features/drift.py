"""Population stability index (PSI) of distributions, as pure DataFrame transforms.

`psi(reference, current, cuts, bound)` takes two long frames (`feature`, `value`) and, per
feature, the interior cut points of its bins (taken from the reference's quantiles by the caller,
so the bins hold about equal shares of the reference). A value falls in bin k = the number of cut
points strictly below it; a null value has its own bin. Per feature:

    PSI = sum over bins of (cur_share - ref_share) * ln(cur_share / ref_share)

with shares floored at `EPS` so an empty bin counts as a large but finite shift. The result has
one row per feature: `feature`, `psi`, `drifted` (psi > bound), `ref_rows`, `cur_rows`.
Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 a real shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

EPS = 1e-4
NULL_BIN = -1


def to_long(df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """(`feature`, `value` double) rows, one per input row and column."""
    pairs = [
        F.struct(F.lit(c).alias("feature"), F.col(c).cast("double").alias("value")) for c in columns
    ]
    return df.select(F.explode(F.array(*pairs)).alias("kv")).select("kv.feature", "kv.value")


def clean_cuts(quantiles: Sequence[float | None]) -> list[float]:
    """Sorted distinct cut points (quantiles of a skewed feature repeat, e.g. many zeros)."""
    return sorted({float(q) for q in quantiles if q is not None})


def _cuts_map(cuts: Mapping[str, Sequence[float]]) -> Column:
    entries = []
    for feature, points in cuts.items():
        entries += [
            F.lit(feature),
            F.array(*[F.lit(float(p)) for p in points]).cast("array<double>"),
        ]
    return F.create_map(*entries)


def assign_bins(long: DataFrame, cuts: Mapping[str, Sequence[float]]) -> DataFrame:
    points = F.coalesce(
        F.element_at(_cuts_map(cuts), F.col("feature")), F.array().cast("array<double>")
    )
    below = F.size(F.filter(points, lambda p: p < F.col("value")))
    return long.withColumn("bin", F.when(F.col("value").isNull(), F.lit(NULL_BIN)).otherwise(below))


def _shares(long: DataFrame, cuts, prefix: str) -> DataFrame:
    per_feature = Window.partitionBy("feature")
    return (
        assign_bins(long, cuts)
        .groupBy("feature", "bin")
        .agg(F.count(F.lit(1)).alias(f"{prefix}_n"))
        .withColumn(f"{prefix}_rows", F.sum(f"{prefix}_n").over(per_feature))
        .withColumn(f"{prefix}_share", F.col(f"{prefix}_n") / F.col(f"{prefix}_rows"))
    )


def psi(
    reference: DataFrame,
    current: DataFrame,
    cuts: Mapping[str, Sequence[float]],
    bound: float,
) -> DataFrame:
    """PSI per feature of `current` against `reference` (both long: `feature`, `value`)."""
    ref = _shares(reference, cuts, "ref")
    cur = _shares(current, cuts, "cur")
    both = ref.join(cur, ["feature", "bin"], "full")
    ref_share = F.greatest(F.coalesce(F.col("ref_share"), F.lit(0.0)), F.lit(EPS))
    cur_share = F.greatest(F.coalesce(F.col("cur_share"), F.lit(0.0)), F.lit(EPS))
    return (
        both.withColumn("term", (cur_share - ref_share) * F.log(cur_share / ref_share))
        .groupBy("feature")
        .agg(
            F.sum("term").alias("psi"),
            F.coalesce(F.max("ref_rows"), F.lit(0)).cast("bigint").alias("ref_rows"),
            F.coalesce(F.max("cur_rows"), F.lit(0)).cast("bigint").alias("cur_rows"),
        )
        .withColumn("drifted", F.col("psi") > F.lit(float(bound)))
    )
