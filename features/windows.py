"""Windowed account features (1, 7 and 28 days up to a feature date) from silver daily rows.

`window_features(silver, feature_date)` reads only silver rows of the 28 days ending on the
feature date (rows of later days are ignored, so an event after the feature date never changes
its features) and returns one row per account active in those days with the volume, rhythm,
content-shape and IP-country columns of the catalogue, plus `_`-prefixed helper columns other
steps use. `release_features` adds the model-release family from the release calendar.
Ratios use defined defaults when their denominator is zero (see the catalogue).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.daily import UNKNOWN_COUNTRY
from hydrawatch.contracts import STATUSES, TASK_CATEGORIES

LOOKBACK_DAYS = 28
RELEASE_WINDOW_DAYS = 7


def in_window(feature_date: dt.date, days: int) -> Column:
    first = feature_date - dt.timedelta(days=days - 1)
    return (F.col("event_date") >= F.lit(first)) & (F.col("event_date") <= F.lit(feature_date))


def lookback(silver: DataFrame, feature_date: dt.date) -> DataFrame:
    """Silver rows of the 28 days ending on the feature date (partition-pruned)."""
    return silver.where(in_window(feature_date, LOOKBACK_DAYS))


def ratio(num: Column, den: Column, default: float = 0.0) -> Column:
    return F.when(den > 0, num.cast("double") / den).otherwise(F.lit(default))


def entropy(sum_c_log_c: Column, total: Column) -> Column:
    """Entropy in nats of a count distribution, from N = sum(c) and sum(c * ln c)."""
    return F.when(total > 0, F.log(total) - sum_c_log_c / total).otherwise(F.lit(0.0))


def _clog(c: Column) -> Column:
    return F.when(c > 0, c * F.log(c)).otherwise(F.lit(0.0))


def window_features(silver: DataFrame, feature_date: dt.date) -> DataFrame:
    """Volume, rhythm, content and IP-country features per account for one feature date."""
    s = lookback(silver, feature_date)
    w = {n: in_window(feature_date, n) for n in (1, 7, 28)}

    def wsum(col: str | Column, n: int) -> Column:
        c = F.col(col) if isinstance(col, str) else col
        return F.sum(F.when(w[n], c).otherwise(F.lit(0)))

    def wmax(col: str, n: int) -> Column:
        return F.coalesce(F.max(F.when(w[n], F.col(col))), F.lit(0))

    # Gaps between the last request of an active day and the first of the next active day.
    by_day = Window.partitionBy("account_id").orderBy("event_date")
    days = s.withColumn("_prev_day", F.lag("event_date").over(by_day)).withColumn(
        "_bridge", F.col("first_t") - F.lag("last_t").over(by_day)
    )

    def bridge_in(n: int) -> Column:
        first = feature_date - dt.timedelta(days=n - 1)
        return w[n] & F.col("_prev_day").isNotNull() & (F.col("_prev_day") >= F.lit(first))

    aggs: list[Column] = []
    for n in (1, 7, 28):
        aggs += [
            wsum("requests", n).alias(f"_req_{n}"),
            wsum("input_tokens", n).alias(f"_in_{n}"),
            wsum("output_tokens", n).alias(f"_out_{n}"),
            *[wsum(f"n_{st}", n).alias(f"_n_{st}_{n}") for st in STATUSES],
            wsum("active_hours", n).alias(f"_hours_{n}"),
            wmax("peak_per_minute", n).alias(f"_ppm_{n}"),
            wmax("peak_per_hour", n).alias(f"_pph_{n}"),
            wsum("n_cot", n).alias(f"_cot_{n}"),
            wsum("n_rubric", n).alias(f"_rubric_{n}"),
            wsum("n_cat_policy_sensitive", n).alias(f"_policy_{n}"),
            wsum("n_tool_use", n).alias(f"_tool_{n}"),
            wsum("n_image", n).alias(f"_image_{n}"),
            F.count(F.when(w[n], True)).alias(f"_days_{n}"),
        ]
    for n in (1, 7):
        bridge = F.when(bridge_in(n), F.col("_bridge"))
        aggs += [
            (wsum("gap_n", n) + F.count(bridge)).alias(f"_gn_{n}"),
            (wsum("gap_sum", n) + F.coalesce(F.sum(bridge), F.lit(0.0))).alias(f"_gs_{n}"),
            (wsum("gap_sumsq", n) + F.coalesce(F.sum(bridge * bridge), F.lit(0.0))).alias(
                f"_gq_{n}"
            ),
        ]
    aggs += [wsum(f"n_cat_{c}", 7).alias(f"_cat_{c}") for c in TASK_CATEGORIES]
    aggs += [wsum("tool_count_sum", 7).alias("_toolsum_7"), wsum("turns_sum", 7).alias("_turns_7")]
    base = days.groupBy("account_id").agg(*aggs)

    cols: list[Column] = [F.col("account_id")]
    for n in (1, 7, 28):
        d = f"{n}d"
        req = F.col(f"_req_{n}")
        cols += [
            req.alias(f"requests_{d}"),
            F.col(f"_in_{n}").alias(f"input_tokens_{d}"),
            F.col(f"_out_{n}").alias(f"output_tokens_{d}"),
            (F.col(f"_out_{n}") / F.greatest(F.col(f"_in_{n}"), F.lit(1))).alias(
                f"output_input_ratio_{d}"
            ),
            *[ratio(F.col(f"_n_{st}_{n}"), req).alias(f"{st}_share_{d}") for st in STATUSES],
            F.col(f"_hours_{n}").alias(f"active_hours_{d}"),
            ratio(req, F.col(f"_hours_{n}")).alias(f"requests_per_active_hour_{d}"),
            F.col(f"_ppm_{n}").alias(f"peak_per_minute_{d}"),
            F.col(f"_pph_{n}").alias(f"peak_per_hour_{d}"),
            ratio(F.col(f"_cot_{n}"), req).alias(f"cot_share_{d}"),
            ratio(F.col(f"_rubric_{n}"), req).alias(f"rubric_share_{d}"),
            ratio(F.col(f"_policy_{n}"), req).alias(f"policy_sensitive_share_{d}"),
            ratio(F.col(f"_tool_{n}"), req).alias(f"tool_use_share_{d}"),
            ratio(F.col(f"_image_{n}"), req).alias(f"image_share_{d}"),
        ]
    for n in (7, 28):
        cols.append(F.col(f"_days_{n}").alias(f"active_days_{n}d"))
    for n in (1, 7):
        gn, gs, gq = (F.col(f"_{k}_{n}") for k in ("gn", "gs", "gq"))
        mean = gs / gn
        var = F.greatest(gq / gn - mean * mean, F.lit(0.0))
        cv = F.when(gn < 2, F.lit(-1.0)).when(mean <= 0, F.lit(0.0)).otherwise(F.sqrt(var) / mean)
        cols.append(cv.alias(f"interarrival_cv_{n}d"))
    req7 = F.col("_req_7")
    for c in TASK_CATEGORIES:
        if c != "policy_sensitive":
            cols.append(ratio(F.col(f"_cat_{c}"), req7).alias(f"category_{c}_share_7d"))
    cat_cols = [F.col(f"_cat_{c}") for c in TASK_CATEGORIES]
    cols += [
        entropy(sum(_clog(c) for c in cat_cols), req7).alias("category_entropy_7d"),
        ratio(F.greatest(*cat_cols), req7).alias("top_category_share_7d"),
        ratio(F.col("_toolsum_7"), req7).alias("mean_tool_count_7d"),
        ratio(F.col("_turns_7"), req7).alias("mean_turns_7d"),
    ]
    out = base.select(*cols)

    return out.join(_keyed_features(s, w), "account_id", "left")


def _keyed_features(s: DataFrame, w: dict[int, Column]) -> DataFrame:
    """Hour-of-day, template and IP-country distributions from one exploded stream of maps."""
    keyed = s.select(
        "account_id",
        "event_date",
        F.explode(
            F.concat(
                _tagged("h", F.col("hour_counts")),
                _tagged("t", F.col("template_counts")),
                _tagged("c", F.col("ip_country_counts")),
            )
        ).alias("e"),
    ).select("account_id", "event_date", "e.kind", "e.key", "e.c")
    per = keyed.groupBy("account_id", "kind", "key").agg(
        *[F.sum(F.when(w[n], F.col("c")).otherwise(0)).alias(f"c{n}") for n in (1, 7, 28)]
    )
    is_h, is_t = F.col("kind") == "h", F.col("kind") == "t"
    known_c = (F.col("kind") == "c") & (F.col("key") != UNKNOWN_COUNTRY)
    aggs: list[Column] = []
    for n in (7, 28):
        c = F.when(is_h, F.col(f"c{n}"))
        aggs += [
            entropy(F.sum(_clog(c)), F.sum(c)).alias(f"hour_of_day_entropy_{n}d"),
            F.count(F.when(is_h & (F.col(f"c{n}") > 0), True)).alias(f"hours_of_day_active_{n}d"),
            F.count(F.when(known_c & (F.col(f"c{n}") > 0), True)).alias(
                f"distinct_ip_countries_{n}d"
            ),
        ]
    for n in (1, 7, 28):
        c = F.when(is_t, F.col(f"c{n}"))
        total = F.sum(c)
        distinct = F.count(F.when(is_t & (F.col(f"c{n}") > 0), True))
        aggs += [
            distinct.alias(f"distinct_templates_{n}d"),
            ratio(distinct, total).alias(f"templates_per_request_{n}d"),
            ratio(F.max(c), total).alias(f"top_template_share_{n}d"),
            entropy(F.coalesce(F.sum(_clog(c)), F.lit(0.0)), total).alias(f"template_entropy_{n}d"),
        ]
    return per.groupBy("account_id").agg(*aggs)


def _tagged(kind: str, m: Column) -> Column:
    """Map entries as an array of (kind, key, c) structs, so several maps explode as one.

    Zipped from the map's keys and values rather than transformed with a lambda: higher-order
    functions run interpreted, and slowly in Spark 4.2 (features/daily.py says why)."""
    return F.arrays_zip(
        F.array_repeat(F.lit(kind), F.size(m)).alias("kind"),
        F.map_keys(m).cast("array<string>").alias("key"),
        F.map_values(m).alias("c"),
    )


def release_features(silver: DataFrame, releases: DataFrame, feature_date: dt.date) -> DataFrame:
    """Model-release family per account: share on new models and the jump onto the latest one.

    `releases` is the release calendar (`model`, `released_at`); releases after the feature
    date are ignored (point in time).
    """
    s = lookback(silver, feature_date)
    end = dt.datetime.combine(feature_date + dt.timedelta(days=1), dt.time())
    rel = (
        releases.where(F.col("released_at") < F.lit(end))
        .groupBy("model")
        .agg(F.min("released_at").alias("released_at"))
        .withColumn("release_date", F.to_date("released_at"))
    )
    first7 = feature_date - dt.timedelta(days=RELEASE_WINDOW_DAYS - 1)
    latest = (
        rel.where(F.col("release_date") >= F.lit(first7))
        .orderBy(F.col("released_at").desc(), F.col("model").desc())
        .limit(1)
        .select(F.col("model").alias("_latest"), F.col("release_date").alias("_r"))
    )
    m = s.select("account_id", "event_date", F.explode("model_counts").alias("model", "c")).join(
        F.broadcast(rel.select("model", "release_date")), "model", "left"
    )
    # A left join on TRUE keeps every row when no model was released in the last 7 days.
    m = m.join(F.broadcast(latest), F.lit(True), "left")
    age = F.datediff(F.col("event_date"), F.col("release_date"))
    is_new = F.col("release_date").isNotNull() & (age >= 0) & (age < RELEASE_WINDOW_DAYS)
    w1, w7 = in_window(feature_date, 1), in_window(feature_date, 7)
    on_latest = F.col("model") == F.col("_latest")
    post = (F.col("event_date") >= F.col("_r")) & w7
    pre = (F.col("event_date") < F.col("_r")) & (F.col("event_date") >= F.date_sub("_r", 7))
    first_day = (F.col("event_date") >= F.col("_r")) & (F.col("event_date") <= F.date_add("_r", 1))

    def csum(cond: Column) -> Column:
        return F.sum(F.when(cond, F.col("c")).otherwise(0))

    agg = m.groupBy("account_id").agg(
        csum(w1).alias("_r1"),
        csum(w7).alias("_r7"),
        csum(w1 & is_new).alias("_new1"),
        csum(w7 & is_new).alias("_new7"),
        csum(post).alias("_post"),
        csum(post & on_latest).alias("_post_on"),
        csum(pre).alias("_pre"),
        csum(pre & on_latest).alias("_pre_on"),
        csum(first_day & (F.col("event_date") <= F.lit(feature_date))).alias("_fd"),
        csum(first_day & (F.col("event_date") <= F.lit(feature_date)) & on_latest).alias("_fd_on"),
        F.count_distinct(F.when(w7 & (F.col("c") > 0), F.col("model"))).alias("distinct_models_7d"),
    )
    return agg.select(
        "account_id",
        ratio(F.col("_new1"), F.col("_r1")).alias("new_model_share_1d"),
        ratio(F.col("_new7"), F.col("_r7")).alias("new_model_share_7d"),
        (ratio(F.col("_post_on"), F.col("_post")) - ratio(F.col("_pre_on"), F.col("_pre"))).alias(
            "release_jump_7d"
        ),
        ratio(F.col("_fd_on"), F.col("_fd")).alias("release_first_day_share"),
        "distinct_models_7d",
    )
