"""Synthetic bronze usage events of a given size, written as Delta in the bronze layout.

`write_synthetic_bronze(spark, path, events, accounts, day, seed)` generates rows with Spark's
own generators (`range`, `rand`, `hash`: no Python per row), so 10M rows take about as long
as writing them. Account activity is skewed (a few heavy accounts, many light ones), each
account draws from a small pool of templates, and a tenth of the accounts run a shared script
in step (the same templates in the same hours), so the coordination step has work to do.
Only for the bench: the shapes are plausible, not a model of real traffic.
"""

from __future__ import annotations

import argparse
import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.contracts import STATUSES, SURFACES, TASK_CATEGORIES


def _pick(values: tuple[str, ...], u: F.Column) -> F.Column:
    arr = F.array(*[F.lit(v) for v in values])
    return F.element_at(arr, (F.floor(u * len(values)) + 1).cast("int"))


def synthetic_events(
    spark: SparkSession, events: int, accounts: int, day: dt.date, seed: int = 7
) -> DataFrame:
    start = dt.datetime.combine(day, dt.time())
    r = spark.range(events)
    u = [F.rand(seed + i) for i in range(8)]
    # Squaring a uniform skews activity towards low account numbers (heavy users).
    acc = F.floor(F.pow(u[0], 2) * accounts).cast("long")
    in_step = (acc % 10) == 0  # the "campaign": a tenth of the accounts in step
    sec = F.floor(u[1] * 86400).cast("long")
    hour = F.floor(sec / 3600)
    tpl_idx = F.when(in_step, hour % 5).otherwise(F.pmod(F.hash(acc, F.floor(u[2] * 4)), 100000))
    return r.select(
        F.concat(F.lit("ev-"), F.col("id").cast("string")).alias("event_id"),
        (F.lit(start).cast("timestamp") + F.make_interval(secs=sec)).alias("ts"),
        F.concat(F.lit("acc-"), acc.cast("string")).alias("account_id"),
        F.lit(None).cast("string").alias("org_id"),
        F.concat(F.lit("key-"), acc.cast("string")).alias("api_key_id"),
        _pick(SURFACES, u[3]).alias("surface"),
        F.when(u[4] < 0.2, "atlas-3.5").otherwise("atlas-3").alias("model"),
        F.floor(u[5] * 2000).cast("long").alias("input_tokens"),
        F.floor(u[6] * 4000).cast("long").alias("output_tokens"),
        F.floor(u[7] * 3000).cast("long").alias("latency_ms"),
        _pick(STATUSES, F.pow(u[3], 6)).alias("status"),
        F.format_string(
            "10.%d.%d.%d", F.pmod(acc, 200), F.pmod(F.floor(acc / 7), 250), F.pmod(acc, 97)
        ).alias("client_ip"),
        (64500 + F.pmod(acc, 50)).alias("asn"),
        F.when(u[4] < 0.9, "DE").otherwise("BR").alias("ip_country"),
        F.concat(F.lit("sdk/"), F.pmod(acc, 20).cast("string")).alias("user_agent"),
        F.lpad(F.hex(tpl_idx), 16, "0").alias("prompt_template_hash"),
        F.when(u[2] < 0.5, F.lpad(F.hex(F.pmod(acc, 1000)), 16, "0")).alias("system_prompt_hash"),
        _pick(TASK_CATEGORIES, u[5]).alias("task_category"),
        (u[6] < 0.1).alias("cot_elicitation"),
        (u[7] < 0.05).alias("rubric_grading"),
        F.when(u[5] < 0.3, F.floor(u[6] * 5)).otherwise(0).cast("long").alias("tool_count"),
        (u[7] > 0.95).alias("has_image"),
        (F.floor(u[1] * 7) + 1).cast("long").alias("turns"),
        F.lit(day).alias("event_date"),
        F.lit(day).alias("delivery_date"),
        F.lit("synthetic.jsonl.gz").alias("source_file"),
    )


def write_synthetic_bronze(
    spark: SparkSession, path: str, events: int, accounts: int, day: dt.date, seed: int = 7
) -> None:
    (
        synthetic_events(spark, events, accounts, day, seed)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"event_date = DATE'{day.isoformat()}'")
        .partitionBy("event_date")
        .save(path)
    )


def main() -> None:
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path", required=True, help="Delta table to write (bronze/usage_events)")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--accounts", type=int, default=0, help="default: events / 50")
    p.add_argument("--date", default="2026-02-10")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    spark = build_spark(Settings(spark_ui=False), app_name="hydrawatch-bench-synth")
    write_synthetic_bronze(
        spark,
        a.path,
        a.events,
        a.accounts or max(1, a.events // 50),
        dt.date.fromisoformat(a.date),
        a.seed,
    )
    spark.stop()


if __name__ == "__main__":
    main()
