"""Hash-based draws: in range, roughly uniform, and independent of partitioning."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from simulator.rand import draw, hash64, hex16, pick, randint, uniform, weighted


def _draws(spark, parts: int):
    df = spark.range(0, 4000, 1, parts)
    return df.select(
        "id",
        uniform(3, "u", F.col("id")).alias("u"),
        randint(3, "r", 5, 9, F.col("id")).alias("r"),
        weighted([("a", 1), ("b", 3)], uniform(3, "w", F.col("id"))).alias("w"),
        pick(("x", "y"), uniform(3, "p", F.col("id"))).alias("p"),
        hex16(hash64(3, "h", F.col("id"))).alias("h"),
    )


def test_draws_do_not_depend_on_partitioning_and_have_the_right_shape(spark):
    one = _draws(spark, 1)
    many = _draws(spark, 7).repartition(3)
    assert one.exceptAll(many).count() == 0
    stats = one.agg(
        F.min("u"),
        F.max("u"),
        F.avg("u"),
        F.min("r"),
        F.max("r"),
        F.avg((F.col("w") == "b").cast("double")),
        F.count_distinct("p"),
        F.min(F.length("h")),
        F.sum(F.col("h").rlike("^[0-9a-f]{16}$").cast("int")),
    ).first()
    assert stats[0] >= 0.0 and stats[1] < 1.0 and 0.47 < stats[2] < 0.53
    assert (stats[3], stats[4]) == (5, 8)
    assert 0.72 < stats[5] < 0.78
    assert stats[6] == 2 and stats[7] == 16 and stats[8] == 4000


def test_other_seed_gives_other_draws(spark):
    df = spark.range(0, 100, 1, 1)
    a = df.select(uniform(1, "u", F.col("id")).alias("u"))
    b = df.select(uniform(2, "u", F.col("id")).alias("u"))
    assert a.exceptAll(b).count() == 100


def test_python_draw_equals_the_spark_draw(spark):
    cases = [
        (7, "u", (3,)),
        (0, "", ()),
        (123456, "style:events_per_account_day", ("cmp-reasoning", 0)),
        (9, "a salt longer than thirty-two bytes, to cross a stripe", ("x", -5, 5_000_000_000)),
    ]
    df = spark.range(0, 1, 1, 1)
    spark_values = df.select(
        *[uniform(seed, salt, *parts).alias(f"c{i}") for i, (seed, salt, parts) in enumerate(cases)]
    ).first()
    assert [draw(seed, salt, *parts) for seed, salt, parts in cases] == list(spark_values)
    assert draw(7, "u", 3) != draw(8, "u", 3)
    with pytest.raises(TypeError):
        draw(7, "u", 1.5)
