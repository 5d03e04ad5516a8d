"""silver/account_daily: additive partial aggregates per (account_id, event_date).

`account_daily(events)` turns bronze usage events of one or more event days into one row per
account and day. Every column is a count, a sum, a sum of squares, a maximum, a distinct set or
a map of counts, so any window of days is rebuilt from these rows alone (sums add, maxima take
the max, maps add key-wise, sets union): gold never reads raw events of earlier days, and a day
recomputed from its own bronze partition replaces exactly its own rows.

The events are repartitioned by (account_id, event_date); the gap window and every grouping
below reuse that partitioning, with no further exchange. The plan still holds that exchange
twice, once per branch (most likely because the two branches are pruned to different columns), so
the raw rows cross two shuffles (bench/README.md, 2026-12-01). Maps and sets are stored
sorted, so a re-run writes identical rows whatever the shuffle order.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.ip import ip_prefix
from hydrawatch.contracts import STATUSES, TASK_CATEGORIES

KEY = ("account_id", "event_date")
# Unknown IP country in the per-country counts (the field is optional in the contract).
UNKNOWN_COUNTRY = "--"

# Bronze columns the aggregation reads (partition pruning plus column pruning).
EVENT_COLUMNS = (
    "event_id",
    "ts",
    "event_date",
    "account_id",
    "model",
    "input_tokens",
    "output_tokens",
    "status",
    "client_ip",
    "asn",
    "ip_country",
    "user_agent",
    "prompt_template_hash",
    "system_prompt_hash",
    "task_category",
    "cot_elicitation",
    "rubric_grading",
    "tool_count",
    "has_image",
    "turns",
)


def _kv(kind: str, num: F.Column | None = None, text: F.Column | None = None) -> F.Column:
    """One keyed count's key: a number, a text, or both (template at an hour), never built
    into a new string per event (the minute, hour and template@hour keys used to be)."""
    return F.struct(
        F.lit(kind).alias("kind"),
        (num if num is not None else F.lit(None)).cast("bigint").alias("num"),
        (text if text is not None else F.lit(None)).cast("string").alias("text"),
    )


def _count(cond: F.Column) -> F.Column:
    return F.count(F.when(cond, True))


def account_daily(events: DataFrame) -> DataFrame:
    """Per (account_id, event_date) partial aggregates of bronze usage events."""
    ev = (
        events.select(*EVENT_COLUMNS)
        .repartition(*KEY)
        .withColumn("t", F.unix_micros("ts").cast("double") / 1e6)
        .withColumn("hod", F.hour("ts"))
        .withColumn("minute", F.floor(F.col("t") / 60))
    )
    by_time = Window.partitionBy(*KEY).orderBy("ts", "event_id")
    gap = F.col("t") - F.lag("t").over(by_time)
    ev_gaps = ev.withColumn("gap", gap)

    main = ev_gaps.groupBy(*KEY).agg(
        F.count(F.lit(1)).alias("requests"),
        F.sum("input_tokens").alias("input_tokens"),
        F.sum("output_tokens").alias("output_tokens"),
        *[_count(F.col("status") == s).alias(f"n_{s}") for s in STATUSES],
        *[_count(F.col("task_category") == c).alias(f"n_cat_{c}") for c in TASK_CATEGORIES],
        _count(F.col("cot_elicitation")).alias("n_cot"),
        _count(F.col("rubric_grading")).alias("n_rubric"),
        _count(F.col("tool_count") > 0).alias("n_tool_use"),
        F.sum("tool_count").alias("tool_count_sum"),
        _count(F.col("has_image")).alias("n_image"),
        F.sum("turns").alias("turns_sum"),
        F.count("gap").alias("gap_n"),
        F.coalesce(F.sum("gap"), F.lit(0.0)).alias("gap_sum"),
        F.coalesce(F.sum(F.col("gap") * F.col("gap")), F.lit(0.0)).alias("gap_sumsq"),
        F.min("t").alias("first_t"),
        F.max("t").alias("last_t"),
        F.collect_set("client_ip").alias("_ips"),
        F.sort_array(F.collect_set("asn")).alias("asns"),
        F.sort_array(F.collect_set("user_agent")).alias("user_agents"),
        F.sort_array(F.collect_set("system_prompt_hash")).alias("system_prompts"),
    )

    # Every per-key count of the day (minute, hour of day, template, template at an hour,
    # model, IP country) comes from one exploded stream and one grouping, which reuse the
    # partitioning above: no further exchange of raw rows.
    keyed = ev.select(
        *KEY,
        F.explode(
            F.array(
                _kv("n", num=F.col("minute")),
                _kv("h", num=F.col("hod")),
                _kv("t", text=F.col("prompt_template_hash")),
                _kv("a", num=F.col("hod"), text=F.col("prompt_template_hash")),
                _kv("m", text=F.col("model")),
                _kv("c", text=F.coalesce("ip_country", F.lit(UNKNOWN_COUNTRY))),
            )
        ).alias("k"),
    ).select(*KEY, "k.kind", "k.num", "k.text")
    counts = keyed.groupBy(*KEY, "kind", "num", "text").count()

    # Each map is collected by its own aggregate and sorted by `sort_array`, not filtered out
    # of one list with lambdas: higher-order functions run interpreted, and in Spark 4.2 every
    # element they read looks the SQL conf up anew (`PhysicalDataType` -> `SQLConf.get` builds a
    # `ReadOnlySQLConf` per call on executors). That was 36 % of the stage's CPU (bench/README.md).
    kind = F.col("kind")

    def counts_map(k: str, key: F.Column) -> F.Column:
        entry = F.struct(key.alias("key"), F.col("count"))
        return F.map_from_entries(F.sort_array(F.collect_list(F.when(kind == k, entry))))

    # The string keys are built once per distinct key of an account-day, not per event.
    action = F.concat_ws("@", "text", F.col("num").cast("string"))
    per_key = counts.groupBy(*KEY).agg(
        F.max(F.when(kind == "n", F.col("count"))).alias("peak_per_minute"),
        F.max(F.when(kind == "h", F.col("count"))).alias("peak_per_hour"),
        F.count(F.when(kind == "h", True)).alias("active_hours"),
        counts_map("h", F.col("num").cast("int")).alias("hour_counts"),
        counts_map("t", F.col("text")).alias("template_counts"),
        F.sort_array(F.collect_list(F.when(kind == "a", action))).alias("actions"),
        counts_map("m", F.col("text")).alias("model_counts"),
        counts_map("c", F.col("text")).alias("ip_country_counts"),
    )
    # The prefix (several regular expressions) is cut from each distinct address of the day,
    # not from every event: 52.8 s -> 42.9 s for the silver stage at 1M events (bench/README.md).
    prefixes = F.filter(F.transform("_ips", ip_prefix), lambda p: p.isNotNull())
    main = main.withColumn("ip_prefixes", F.sort_array(F.array_distinct(prefixes))).drop("_ips")
    out = main.join(per_key, list(KEY), "inner")
    return out.select(*SILVER_COLUMNS)


SILVER_COLUMNS = (
    "account_id",
    "event_date",
    "requests",
    "input_tokens",
    "output_tokens",
    *[f"n_{s}" for s in STATUSES],
    *[f"n_cat_{c}" for c in TASK_CATEGORIES],
    "n_cot",
    "n_rubric",
    "n_tool_use",
    "tool_count_sum",
    "n_image",
    "turns_sum",
    "gap_n",
    "gap_sum",
    "gap_sumsq",
    "first_t",
    "last_t",
    "peak_per_minute",
    "peak_per_hour",
    "active_hours",
    "hour_counts",
    "template_counts",
    "actions",
    "model_counts",
    "ip_country_counts",
    "ip_prefixes",
    "asns",
    "user_agents",
    "system_prompts",
)
