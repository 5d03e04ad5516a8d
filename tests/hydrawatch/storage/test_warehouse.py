"""The warehouse: where a table lives, pinned reads, a day's replacement, the upsert MERGE."""

from __future__ import annotations

import datetime as dt

import pytest

from hydrawatch.storage import tables
from hydrawatch.storage.tables import Table
from hydrawatch.storage.warehouse import MissingTable, Warehouse

D1, D2, D3 = dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 3)
EVENTS = Table("test/events", "event_date", ("event_id",))
SCHEMA = "event_id string, event_date date, delivery_date date, v int"


def _rows(wh: Warehouse, table: Table) -> list[tuple]:
    return sorted(tuple(r) for r in wh.read(table).collect())


def test_locations_and_missing_tables(spark, settings):
    wh = Warehouse(spark, settings)
    assert (
        wh.location(tables.GOLD_ACCOUNT_SCORES) == f"{settings.warehouse_uri}/gold/account_scores"
    )
    assert wh.location(tables.TRUTH_ACCOUNTS) == f"{settings.truth_uri}/accounts"
    assert not wh.exists(EVENTS)
    assert wh.read_if_exists(EVENTS) is None and wh.day(EVENTS, D1) is None
    with pytest.raises(MissingTable, match="does not exist yet"):
        wh.read_pinned(EVENTS)


def test_replace_days_pinned_reads_and_the_earliest_delivery_merge(spark, settings):
    wh = Warehouse(spark, settings)
    frame = spark.createDataFrame
    wh.replace_days(frame([("e1", D1, D1, 1), ("e2", D1, D1, 2)], SCHEMA), EVENTS, [D1])
    pinned, version = wh.read_pinned(EVENTS)
    # A day replaced: only its rows change.
    wh.replace_days(frame([("e3", D2, D2, 3)], SCHEMA), EVENTS, [D2])
    wh.replace_days(frame([("e2", D1, D1, 20)], SCHEMA), EVENTS, [D1])
    assert _rows(wh, EVENTS) == [("e2", D1, D1, 20), ("e3", D2, D2, 3)]
    assert sorted(tuple(r) for r in pinned.collect()) == [("e1", D1, D1, 1), ("e2", D1, D1, 2)]
    assert wh.version(EVENTS) == version + 2

    # The ingest MERGE: the earlier delivery of a key wins; a key the day no longer delivers goes.
    later = frame([("e2", D1, D3, 99), ("e4", D3, D3, 4)], SCHEMA)
    rule = dict(update_if="s.delivery_date <= t.delivery_date")
    wh.merge(later, EVENTS, delete_if=f"t.delivery_date = DATE'{D3}'", **rule)
    assert _rows(wh, EVENTS) == [("e2", D1, D1, 20), ("e3", D2, D2, 3), ("e4", D3, D3, 4)]
    again = frame([("e5", D3, D3, 5)], SCHEMA)
    wh.merge(again, EVENTS, delete_if=f"t.delivery_date = DATE'{D3}'", **rule)
    assert _rows(wh, EVENTS) == [("e2", D1, D1, 20), ("e3", D2, D2, 3), ("e5", D3, D3, 5)]
    assert [tuple(r) for r in wh.day(EVENTS, D3).collect()] == [("e5", D3, D3, 5)]


def test_a_merge_creates_the_table_and_the_latest_snapshot(spark, settings):
    wh = Warehouse(spark, settings)
    runs = Table("test/runs", key=("kind", "day"))
    wh.merge(spark.createDataFrame([("silver", D1, 1)], "kind string, day date, n int"), runs)
    wh.merge(spark.createDataFrame([("silver", D1, 2)], "kind string, day date, n int"), runs)
    assert _rows(wh, runs) == [("silver", D1, 2)]

    assert wh.latest_snapshot(D2) is None
    snap = "account_id string, snapshot_date date"
    for day in (D1, D3):
        wh.replace_days(spark.createDataFrame([("a", day)], snap), tables.BRONZE_ACCOUNTS, [day])
    assert [r.snapshot_date for r in wh.latest_snapshot(D2).collect()] == [D1]
    assert [r.snapshot_date for r in wh.latest_snapshot(D3).collect()] == [D3]


def test_a_day_rewritten_with_new_columns_adds_them_to_the_table(spark, settings):
    """A feature set version that adds features writes into a table made by the older one."""
    from pyspark.testing import assertDataFrameEqual

    wh = Warehouse(spark, settings)
    old = spark.createDataFrame(
        [("a", D1, 1.0), ("a", D2, 2.0)], "account_id string, feature_date date, f_old double"
    )
    wh.replace_days(old, tables.FEATURES_ACCOUNT, [D1, D2], merge_schema=True)
    new = spark.createDataFrame(
        [("a", D2, 3.0, 0.5)], "account_id string, feature_date date, f_old double, f_new double"
    )
    wh.replace_days(new, tables.FEATURES_ACCOUNT, [D2], merge_schema=True)
    got = wh.read(tables.FEATURES_ACCOUNT)
    assert got.columns == ["account_id", "feature_date", "f_old", "f_new"]
    assertDataFrameEqual(got, [("a", D1, 1.0, None), ("a", D2, 3.0, 0.5)], checkRowOrder=False)


def test_contract_tables_carry_constraints_and_comments_and_refuse_bad_rows(
    spark, make_settings, tmp_path
):
    import datetime as dt

    from hydrawatch.storage import tables
    from hydrawatch.storage.warehouse import ConstraintViolated, Warehouse

    settings = make_settings(tmp_path)
    warehouse = Warehouse(spark, settings)
    day = dt.date(2026, 2, 10)
    schema = (
        "score_date date, account_id string, score double, flagged boolean, model_name string, "
        "model_version string"
    )
    table = tables.GOLD_ACCOUNT_SCORES
    good = spark.createDataFrame([(day, "a1", 0.4, False, "m", "1")], schema)
    warehouse.replace_days(good, table, [day])
    where = warehouse.location(table)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{where}`").first()
    assert detail["properties"]["delta.constraints.score_in_unit_range"] == (
        "score >= 0 AND score <= 1"
    )
    assert detail["description"] == table.comment
    columns = {
        r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE delta.`{where}`").collect()
    }
    assert columns["score"].startswith("calibrated probability")
    version = warehouse.version(table)
    # The comments and constraints were commits of their own after the write: the row count of
    # the last write still reads through them.
    assert version > 0 and warehouse.rows_written(table) == 1

    bad = spark.createDataFrame([(day, "a1", 1.5, True, "m", "1")], schema)
    with pytest.raises(ConstraintViolated) as refused:
        warehouse.replace_days(bad, table, [day])
    assert str(refused.value) == (
        f"{where} refused the write: CHECK constraint score_in_unit_range is violated; nothing "
        "was committed (a bug upstream of this table: report it)"
    )
    assert refused.value.exit_code == 4
    assert warehouse.version(table) == version  # nothing committed
    assert [r.score for r in warehouse.read(table).collect()] == [0.4]
    warehouse.describe(table)  # again: nothing to add
    assert warehouse.version(table) == version
