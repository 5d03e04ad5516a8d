"""silver/account_daily: additive partial aggregates per (account_id, event_date).

`account_daily(events)` turns bronze usage events of one or more event days into one row per
account and day. Every column is a count, a sum, a sum of squares, a maximum, a distinct set or
a map of counts, so any window of days is rebuilt from these rows alone (sums add, maxima take
the max, maps add key-wise, sets union): gold never reads raw events of earlier days, and a day
recomputed from its own bronze partition replaces exactly its own rows.

How it runs: the events cross one exchange, hash-partitioned by (account_id, event_date), and
each partition is aggregated in one vectorised Arrow pass (`mapInArrow`). Its rows are numbered
by account-day and sorted by time within it, and numpy and Arrow compute kernels give every
column per account-day (`features.segments`); no Python runs per row. This replaces a plan of
built-in Spark expressions (a window for the gaps, a six-way explode of keyed counts, two
groupings and a join) that took 2.9x DuckDB's time on the same aggregation at 10M events:
Spark has no built-in aggregate for a map of counts, so each map cost a grouping of exploded
rows, and the raw rows were shuffled and sorted once per branch (bench/README.md).

Memory: a partition's events are held in its Python worker during the pass, about 400 bytes an
event at the peak (1.24M events: 180 MB of Arrow, 480 MB more resident), so the number of
shuffle partitions bounds it (10M events over the default 8: about 600 MB a worker).

The gaps are the differences between consecutive event times of an account-day in time order;
events at the same instant give a gap of 0 whatever their order, so no tie-breaker is needed.
Maps and sets are stored sorted (strings by their UTF-8 bytes, as Spark's `sort_array`), so a
re-run writes identical rows whatever the shuffle order. IP prefixes (`features.ip`) are cut
once per distinct address of a partition.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from features.ip import prefixes_of
from features.segments import (
    Groups,
    count_map,
    distinct_list,
    distinct_mapped_list,
    keyed_counts,
    ranks,
)
from hydrawatch.contracts import STATUSES, TASK_CATEGORIES

KEY = ("account_id", "event_date")
# Unknown IP country in the per-country counts (the field is optional in the contract).
UNKNOWN_COUNTRY = "--"

# Bronze columns the aggregation reads (partition pruning plus column pruning).
EVENT_COLUMNS = (
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

_COUNTS = MapType(StringType(), LongType(), valueContainsNull=False)
_STRINGS = ArrayType(StringType(), containsNull=False)


def _long(name: str, nullable: bool = False) -> StructField:
    return StructField(name, LongType(), nullable)


# What the Arrow pass returns: silver's columns and types. Nullability is silver's: sums of a
# nullable field and the time columns may be NULL.
_PASS_SCHEMA = StructType(
    [
        StructField("account_id", StringType(), True),
        StructField("event_date", DateType(), True),
        _long("requests"),
        _long("input_tokens", True),
        _long("output_tokens", True),
        *[_long(f"n_{s}") for s in STATUSES],
        *[_long(f"n_cat_{c}") for c in TASK_CATEGORIES],
        _long("n_cot"),
        _long("n_rubric"),
        _long("n_tool_use"),
        _long("tool_count_sum", True),
        _long("n_image"),
        _long("turns_sum", True),
        _long("gap_n"),
        StructField("gap_sum", DoubleType(), False),
        StructField("gap_sumsq", DoubleType(), False),
        StructField("first_t", DoubleType(), True),
        StructField("last_t", DoubleType(), True),
        _long("peak_per_minute", True),
        _long("peak_per_hour", True),
        _long("active_hours"),
        StructField(
            "hour_counts", MapType(IntegerType(), LongType(), valueContainsNull=False), False
        ),
        StructField("template_counts", _COUNTS, False),
        StructField("model_counts", _COUNTS, False),
        StructField("ip_country_counts", _COUNTS, False),
        # Element nullability as the Spark expression that built this column before wrote it.
        StructField("ip_prefixes", ArrayType(StringType(), True), False),
        StructField("asns", ArrayType(LongType(), containsNull=False), False),
        StructField("user_agents", _STRINGS, False),
        StructField("system_prompts", _STRINGS, False),
    ]
)

_US_PER_HOUR = 3_600_000_000


# The fields that only feed counts cross the exchange as one integer (`_flags`), not as two
# strings and four booleans: the rows to shuffle and to convert to Arrow are the cost of this
# step (10M events, warm session: 31 -> 24 s for the exchange and the transfer alone).
# Layout, low bits first: the status's 1-based position in STATUSES (0: none), the task
# category's in TASK_CATEGORIES, then one bit each for the FLAG_BITS conditions.
STATUS_BITS = len(STATUSES).bit_length()
CATEGORY_BITS = len(TASK_CATEGORIES).bit_length()
FLAG_BITS = ("n_cot", "n_rubric", "n_tool_use", "n_image")


def _position(values: tuple[str, ...], col: str) -> F.Column:
    return F.coalesce(F.array_position(F.array(*[F.lit(v) for v in values]), F.col(col)), F.lit(0))


def _flags() -> F.Column:
    conditions = {
        "n_cot": F.col("cot_elicitation"),
        "n_rubric": F.col("rubric_grading"),
        "n_tool_use": F.col("tool_count") > 0,
        "n_image": F.col("has_image"),
    }
    packed = _position(STATUSES, "status") + F.shiftleft(
        _position(TASK_CATEGORIES, "task_category"), STATUS_BITS
    )
    for i, name in enumerate(FLAG_BITS):
        bit = F.when(F.coalesce(conditions[name], F.lit(False)), 1).otherwise(0)
        packed = packed + F.shiftleft(bit, STATUS_BITS + CATEGORY_BITS + i)
    return packed.cast("int")


def account_daily(events: DataFrame) -> DataFrame:
    """Per (account_id, event_date) partial aggregates of bronze usage events."""
    counted_only = {"status", "task_category", "cot_elicitation", "rubric_grading", "has_image"}
    return (
        events.select(
            *[c for c in EVENT_COLUMNS if c not in counted_only], _flags().alias("_flags")
        )
        .repartition(*KEY)
        .mapInArrow(_aggregate_partition, _PASS_SCHEMA)
        .select(*SILVER_COLUMNS)
    )


def _aggregate_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One shuffle partition's events (Arrow batches) -> one silver row per account-day."""
    batches = [b for b in batches if b.num_rows]
    if not batches:
        return
    table = pa.Table.from_batches(batches).combine_chunks()
    del batches  # the combined copy is all that is read from here on
    n = table.num_rows

    def column(name: str) -> pa.Array:
        return table.column(name).combine_chunks()

    def flags(mask: pa.Array) -> np.ndarray:
        return mask.fill_null(False).to_numpy(zero_copy_only=False)

    ts = column("ts")
    if ts.null_count:
        raise ValueError("silver: a usage event without ts reached the feature job")
    micros = ts.cast(pa.int64()).to_numpy()

    # The group of a row is its (account, day); a NULL in either is a key of its own, as in
    # Spark's grouping.
    account, day = column("account_id"), column("event_date")
    _, account_rank, account_valid = ranks(account)
    day_num = day.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    day_valid = flags(day.is_valid())
    day_code = np.where(
        day_valid, day_num - (day_num[day_valid].min() if day_valid.any() else 0) + 1, 0
    )
    account_code = np.where(account_valid, account_rank + 1, 0)
    groups = Groups.from_codes(account_code * (int(day_code.max()) + 1) + day_code)
    order, segs = groups.in_time_order(micros)
    first_rows = pa.array(order[segs.starts])
    sizes = groups.sizes

    def counts(mask: np.ndarray) -> pa.Array:
        return pa.array(groups.count_true(mask), pa.int64())

    def total(name: str) -> pa.Array:
        # NULL when no event of the group has a value, as Spark's sum.
        values = column(name)
        sums = groups.sum(values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64))
        present = groups.count_true(flags(values.is_valid()))
        return pa.array(sums, pa.int64(), mask=present == 0)

    t = micros[order].astype(np.float64) / 1e6
    gap = np.zeros(n)
    gap[1:] = t[1:] - t[:-1]
    gap[segs.starts] = 0.0
    hod = (micros // _US_PER_HOUR) % 24
    hour_offsets, hours, hour_n = keyed_counts(groups, hod, np.ones(n, dtype=bool), 24)

    packed = column("_flags").to_numpy(zero_copy_only=False)
    status = packed & ((1 << STATUS_BITS) - 1)
    category = (packed >> STATUS_BITS) & ((1 << CATEGORY_BITS) - 1)

    def count_bit(name: str) -> pa.Array:
        bit = STATUS_BITS + CATEGORY_BITS + FLAG_BITS.index(name)
        return pa.array(groups.count_true((packed >> bit) & 1 == 1), pa.int64())

    out = {
        "account_id": account.take(first_rows),
        "event_date": day.take(first_rows),
        "requests": pa.array(sizes, pa.int64()),
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        **{f"n_{s}": counts(status == i + 1) for i, s in enumerate(STATUSES)},
        **{f"n_cat_{c}": counts(category == i + 1) for i, c in enumerate(TASK_CATEGORIES)},
        "n_cot": count_bit("n_cot"),
        "n_rubric": count_bit("n_rubric"),
        "n_tool_use": count_bit("n_tool_use"),
        "tool_count_sum": total("tool_count"),
        "n_image": count_bit("n_image"),
        "turns_sum": total("turns"),
        "gap_n": pa.array(sizes - 1, pa.int64()),
        "gap_sum": pa.array(segs.sum(gap)),
        "gap_sumsq": pa.array(segs.sum(gap * gap)),
        "first_t": pa.array(segs.first(t)),
        "last_t": pa.array(segs.last(t)),
        "peak_per_minute": pa.array(segs.longest_run(np.floor(t / 60)), pa.int64()),
        "peak_per_hour": pa.array(np.maximum.reduceat(hour_n, hour_offsets[:-1]), pa.int64()),
        "active_hours": pa.array(np.diff(hour_offsets).astype(np.int64)),
        "hour_counts": pa.MapArray.from_arrays(
            pa.array(hour_offsets), pa.array(hours.astype(np.int32)), pa.array(hour_n)
        ),
        "template_counts": count_map(groups, column("prompt_template_hash")),
        "model_counts": count_map(groups, column("model")),
        "ip_country_counts": count_map(groups, column("ip_country").fill_null(UNKNOWN_COUNTRY)),
        # The prefix is cut once per distinct address of the partition, not per event.
        "ip_prefixes": distinct_mapped_list(groups, column("client_ip"), prefixes_of),
        "asns": distinct_list(groups, column("asn")),
        "user_agents": distinct_list(groups, column("user_agent")),
        "system_prompts": distinct_list(groups, column("system_prompt_hash")),
    }
    yield pa.RecordBatch.from_pydict(out)


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
    "model_counts",
    "ip_country_counts",
    "ip_prefixes",
    "asns",
    "user_agents",
    "system_prompts",
)
