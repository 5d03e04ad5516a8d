"""Delta commit conflicts between writers of different days are retried; nothing else is."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from hydrawatch.storage import conflicts as commits
from hydrawatch.storage.conflicts import is_conflict, retry_conflicts

pytestmark = pytest.mark.faults
SCHEMA = "day date, feed string, n int"


def _replace(spark, path: str, day: dt.date, n: int):
    return (
        spark.createDataFrame([(day, "usage_events", n)], SCHEMA)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"day = DATE'{day}'")
        .save(path)
    )


def test_concurrent_day_writes_to_an_unpartitioned_table_all_land(spark, tmp_path, monkeypatch):
    """Like meta/ingest_audit: one small unpartitioned table, one predicate per day."""
    path = str(tmp_path / "meta")
    days = [dt.date(2026, 2, d) for d in (1, 2, 3)]
    spark.createDataFrame([(d, "usage_events", 0) for d in days], SCHEMA).write.format(
        "delta"
    ).save(path)
    monkeypatch.setattr(commits, "PAUSE_SECONDS", (0.0, 0.2))
    conflicts: list[str] = []
    real = commits.is_conflict

    def counting(err):
        hit = real(err)
        if hit:
            conflicts.append(type(err).__name__)
        return hit

    monkeypatch.setattr(commits, "is_conflict", counting)
    errors: list[BaseException] = []
    rounds = 4

    def writer(day):
        try:
            for n in range(1, rounds + 1):
                retry_conflicts(lambda n=n: _replace(spark, path, day, n), f"day {day}", 20)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(d,)) for d in days[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert errors == []
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
    assert rows == [(days[0], "usage_events", 0)] + [(d, "usage_events", rounds) for d in days[1:]]
    # The writers did collide (the point of the test) and every collision was retried.
    assert conflicts and set(conflicts) <= {
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
    }


def test_other_errors_are_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("not a conflict")

    with pytest.raises(ValueError):
        retry_conflicts(broken, "broken")
    assert calls == [1]
    assert not is_conflict(ValueError("DELTA_CONCURRENT in a message of something else"))
