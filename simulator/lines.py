"""Landing lines: typed rows -> JSON Lines text, with the contract's imperfections.

Each function returns a frame of (`date` 'YYYY-MM-DD' of the delivery folder, `file` index,
`gz`, `line`, ordering columns) ready to be written as text. Lines are built with `to_json`
(nulls written as JSON null), times as RFC 3339 UTC with milliseconds. A configurable share of
lines is broken on purpose, one kind in equal shares from `MALFORMATIONS`; the kinds match the
ingest job's quarantine reasons.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from hydrawatch.contracts import ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES, USAGE_EVENTS, Feed
from simulator.accounts import NEVER
from simulator.config import SimConfig
from simulator.rand import randint, uniform

TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
EXTRA_FIELD = ',"gateway_region":"eu-west-1","sampling":1.0}'

# kind -> (regex over the JSON text, replacement), per feed. `not_json` and `truncated` are
# built separately. Every replacement breaks exactly one contract rule.
MALFORMATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "usage_events": {
        "missing_field": (r'"account_id":"[^"]*",', ""),
        "wrong_type": (r'"input_tokens":[0-9]+', '"input_tokens":"many"'),
        "bad_enum": (r'"surface":"[^"]*"', '"surface":"mobile_app"'),
        "out_of_range": (r'"output_tokens":[0-9]+', '"output_tokens":-1'),
        "bad_timestamp": (r'"ts":"[^"]*"', '"ts":"31/02/2026 25:61"'),
    },
    "accounts": {
        "missing_field": (r'"created_at":"[^"]*",', ""),
        "wrong_type": (r'"plan":"([a-z]+)"', '"plan":["$1"]'),
        "bad_enum": (r'"signup_channel":"[^"]*"', '"signup_channel":"walk_in"'),
        "bad_timestamp": (r'"created_at":"[^"]*"', '"created_at":"yesterday"'),
    },
    "labels": {
        "missing_field": (r'"label":"[^"]*",', ""),
        "wrong_type": (r'"decided_at":"[^"]*"', '"decided_at":1700000000'),
        "bad_enum": (r'"label":"[^"]*"', '"label":"suspicious"'),
    },
}


def malformed_kinds(feed: str) -> tuple[str, ...]:
    return ("not_json", "truncated", *MALFORMATIONS[feed])


def _fmt_ts(col: Column) -> Column:
    return F.date_format(col, TS_FORMAT)


def _to_json(feed: Feed, ts_field: str) -> Column:
    """The feed's fields, read from the columns of the same names, `ts_field` as RFC 3339."""
    values = {f.name: F.col(f.name) for f in feed.fields}
    values[ts_field] = _fmt_ts(F.col(ts_field))
    return F.to_json(
        F.struct(*[values[f.name].alias(f.name) for f in feed.fields]),
        {"ignoreNullFields": "false"},
    )


def _imperfect(line: Column, feed: str, rate: float, extra_rate: float, seed: int, *key) -> Column:
    """Break a share `rate` of lines (kinds in equal shares); add unknown fields to some others."""
    kinds = malformed_kinds(feed)
    broken = uniform(seed, f"{feed}:malformed", *key) < rate
    kind = randint(seed, f"{feed}:kind", 0, len(kinds), *key)
    bad = None
    for i, name in enumerate(kinds):
        if name == "not_json":
            value = F.concat(F.lit("<html><body>502 Bad Gateway</body></html> "), key[0])
        elif name == "truncated":
            value = F.substring(line, 1, F.floor(F.length(line) * 0.6).cast("int"))
        else:
            pattern, repl = MALFORMATIONS[feed][name]
            value = F.regexp_replace(line, pattern, repl)
        bad = F.when(kind == i, value) if bad is None else bad.when(kind == i, value)
    extra = uniform(seed, f"{feed}:extra", *key) < extra_rate
    with_extra = F.concat(F.substring(line, 1, F.length(line) - 1), F.lit(EXTRA_FIELD))
    return F.when(broken, bad).when(extra, with_extra).otherwise(line)


def _date(start: dt.date, day: Column) -> Column:
    return F.date_format(F.date_add(F.lit(start), day), "yyyy-MM-dd")


def _one_file_a_day(df: DataFrame, start: dt.date, line: Column, *order: Column) -> DataFrame:
    """`line` in one uncompressed file in the folder of the row's `day`; `order` = o1, o2, o3."""
    return df.select(
        _date(start, F.col("day")).alias("date"),
        F.lit(0).alias("file"),
        F.lit(False).alias("gz"),
        line.alias("line"),
        *[col.alias(f"o{i}") for i, col in enumerate(order, 1)],
    )


def event_lines(events: DataFrame, cfg: SimConfig, seed: int, start: dt.date) -> DataFrame:
    """Usage event lines with their delivery folder, file index and compression."""
    imp = cfg.imperfections
    line = _imperfect(
        _to_json(USAGE_EVENTS, "ts"),
        "usage_events",
        imp.malformed_rate,
        imp.extra_field_rate,
        seed,
        F.col("event_id"),
        F.col("copy"),
    )
    n_files = max(1, cfg.event_files_per_day)
    file_idx = F.pmod(F.xxhash64(F.col("event_id")), F.lit(n_files)).cast("int")
    return (
        events.withColumn("line", line)
        .withColumn("date", _date(start, F.col("delivery_day")))
        .withColumn("file", file_idx)
        .withColumn("gz", uniform(seed, "gz", F.col("date"), F.col("file")) < imp.gzip_file_share)
        .select(
            "date",
            "file",
            "gz",
            "line",
            F.col("ts_ms").alias("o1"),
            F.col("event_id").alias("o2"),
            F.col("copy").alias("o3"),
        )
    )


def snapshot_rows(accounts: DataFrame, days: DataFrame, start: dt.date) -> DataFrame:
    """The daily accounts snapshot: every account created by the end of the day, with status."""
    d = F.col("day")
    suspended = F.coalesce((d >= F.col("susp_from")) & (d < F.col("susp_until")), F.lit(False))
    created_at = F.timestamp_seconds(
        (F.unix_date(F.date_add(F.lit(start), F.col("created_day"))).cast("bigint") * 86400)
        + F.col("created_sec")
    )
    return (
        accounts.crossJoin(F.broadcast(days))
        .filter(F.col("created_day") <= d)
        .withColumn("created_at", created_at)
        .withColumn("status", F.when(suspended, "suspended").otherwise("active"))
    )


def account_lines(snapshots: DataFrame, cfg: SimConfig, seed: int, start: dt.date) -> DataFrame:
    line = _imperfect(
        _to_json(ACCOUNTS, "created_at"),
        "accounts",
        cfg.imperfections.accounts_malformed_rate,
        cfg.imperfections.extra_field_rate,
        seed,
        F.col("account_id"),
        F.col("day"),
    )
    return _one_file_a_day(snapshots, start, line, F.col("account_id"), F.lit(""), F.lit(0))


def label_rows(accounts: DataFrame, seed: int, start: dt.date, n_days: int) -> DataFrame:
    """Decisions taken inside the window: distillation labels, then benign reviews and appeals."""
    bad = accounts.filter(F.col("label_day").isNotNull()).select(
        "account_id",
        F.col("label_day").alias("day"),
        F.lit("distillation").alias("label"),
        F.col("label_source").alias("source"),
        F.col("label_campaign").alias("campaign_id"),
    )
    good = accounts.filter(F.col("benign_day").isNotNull()).select(
        "account_id",
        F.col("benign_day").alias("day"),
        F.lit("benign").alias("label"),
        F.col("benign_source").alias("source"),
        F.lit(None).cast("string").alias("campaign_id"),
    )
    rows = bad.unionByName(good).filter(
        (F.col("day") >= 0) & (F.col("day") < F.lit(min(n_days, NEVER)))
    )
    # Decisions are taken during the reviewers' working day.
    sec = randint(seed, "decided", 8 * 3600, 20 * 3600, F.col("account_id"), F.col("label"))
    decided = F.timestamp_seconds(
        F.unix_date(F.date_add(F.lit(start), F.col("day"))).cast("bigint") * 86400 + sec
    )
    return rows.withColumn("decided_at", decided)


def label_lines(labels: DataFrame, cfg: SimConfig, seed: int, start: dt.date) -> DataFrame:
    line = _imperfect(
        _to_json(LABEL_DECISIONS, "decided_at"),
        "labels",
        cfg.imperfections.labels_malformed_rate,
        0.0,
        seed,
        F.col("account_id"),
        F.col("label"),
    )
    order = (F.col("decided_at").cast("string"), F.col("account_id"), F.lit(0))
    return _one_file_a_day(labels, start, line, *order)


def release_lines(spark, releases: list[tuple[str, dt.datetime]]) -> DataFrame:
    rows = [(m, int(t.timestamp() * 1000)) for m, t in releases]
    df = spark.createDataFrame(rows, "model string, ms bigint").withColumn(
        "released_at", F.timestamp_millis(F.col("ms"))
    )
    return df.select(_to_json(MODEL_RELEASES, "released_at").alias("line"), F.col("ms").alias("o1"))
