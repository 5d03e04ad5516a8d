"""One writer per day: the file lock and the Prefect concurrency limit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from hydrawatch.errors import ConcurrentRun
from hydrawatch.locks import day_lock, limit_name, lock_mode

DAY = dt.date(2026, 2, 10)


def _hold_in_thread(settings, day, entered, release):
    def run():
        with day_lock(settings, day):
            entered.set()
            release.wait(60)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(60)
    return thread


def test_auto_mode_uses_prefect_only_with_a_server(make_settings, tmp_path):
    assert lock_mode(make_settings(tmp_path)) == "file"
    assert lock_mode(make_settings(tmp_path, prefect_api_url="http://127.0.0.1:4200/api")) == (
        "prefect"
    )
    assert lock_mode(make_settings(tmp_path, day_lock="file", prefect_api_url="http://x")) == "file"


@pytest.mark.parametrize("mode", ["file", "prefect"])
def test_second_writer_says_why_it_waits_then_stops(make_settings, tmp_path, mode, request):
    if mode == "prefect":
        request.getfixturevalue("prefect_harness")
    settings = make_settings(tmp_path, day_lock=mode)
    entered, release = threading.Event(), threading.Event()
    holder = _hold_in_thread(settings, DAY, entered, release)
    said: list[str] = []
    try:
        with pytest.raises(ConcurrentRun) as err, day_lock(settings, DAY, said.append, 1.0):
            pass
        # Another day is not blocked.
        with day_lock(settings, DAY + dt.timedelta(days=1), said.append, 1.0) as held:
            assert "2026-02-11" in held
    finally:
        release.set()
        holder.join(60)
    assert str(err.value).startswith("day 2026-02-10 is being written by another run")
    assert len(said) == 1 and "waiting up to 1s" in said[0]
    if mode == "prefect":
        assert limit_name(DAY) in said[0]
    else:
        assert "pid" in said[0]
    # Released: the next writer gets it at once.
    with day_lock(settings, DAY, said.append, 0):
        pass
    assert len(said) == 1


def test_second_writer_proceeds_when_the_first_finishes_in_time(make_settings, tmp_path):
    settings = make_settings(tmp_path, day_lock="file")
    entered, release = threading.Event(), threading.Event()
    holder = _hold_in_thread(settings, DAY, entered, release)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    said: list[str] = []
    with day_lock(settings, DAY, said.append, 30):
        assert release.is_set()
    holder.join(60)
    assert "waiting" in said[0]


def test_file_lock_refuses_an_object_store_warehouse(make_settings, tmp_path):
    from hydrawatch.errors import HydrawatchError

    settings = make_settings(tmp_path, day_lock="file", warehouse="s3a://bucket/warehouse")
    with pytest.raises(HydrawatchError, match="needs a local warehouse"), day_lock(settings, DAY):
        pass


def test_a_warehouse_keeps_the_lock_mode_its_first_run_used(make_settings, tmp_path):
    """A process locking in another mode than the warehouse's recorded one refuses in one line
    before it takes any lock (it could never see the other mode's holders)."""
    import json
    import subprocess
    import sys

    from hydrawatch.locks import MODE_RECORD, LockModeMismatch

    by_file = make_settings(tmp_path, day_lock="file")
    with day_lock(by_file, DAY):
        pass
    record = json.loads((tmp_path / "warehouse" / MODE_RECORD).read_text())
    assert record["mode"] == "file"
    # A served worker's settings (a Prefect server set): refused without contacting it.
    served = make_settings(tmp_path, prefect_api_url="http://127.0.0.1:9/api")
    with pytest.raises(LockModeMismatch) as err, day_lock(served, DAY):
        pass
    message = str(err.value)
    assert message.startswith("this warehouse's runs lock with file locks (recorded in ")
    assert "unset PREFECT_API_URL or set HYDRAWATCH_DAY_LOCK=file" in message
    assert "\n" not in message
    # The same mode, from another process, still locks.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import datetime as dt; from hydrawatch.settings import Settings; "
            "from hydrawatch.locks import day_lock\n"
            f"with day_lock(Settings(warehouse={str(tmp_path / 'warehouse')!r}, day_lock='file'), "
            "dt.date(2026, 2, 11)) as held: print(held)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "day=2026-02-11.lock" in done.stdout
    # A record that is not one is named, not trusted.
    (tmp_path / "warehouse" / MODE_RECORD).write_text("garbage")
    with pytest.raises(LockModeMismatch, match="is not a lock-mode record"), day_lock(by_file, DAY):
        pass


def test_a_holder_whose_lock_was_taken_over_commits_nothing(spark, make_settings, tmp_path):
    """Every acquisition bumps the lock's epoch; the warehouse checks it before each commit and
    writes it into the commit's userMetadata. A holder whose epoch is no longer current (its
    lease lapsed and another run took the day) gets `LockLost` and the table is unchanged."""
    from delta.tables import DeltaTable

    from hydrawatch.locks import LockLost, held_fences
    from hydrawatch.storage.tables import Table
    from hydrawatch.storage.warehouse import Warehouse

    settings = make_settings(tmp_path, day_lock="file")
    warehouse = Warehouse(spark, settings)
    table = Table("meta/fence_probe")
    rows = spark.createDataFrame([(1,)], "n int")
    assert held_fences() == ()
    with day_lock(settings, DAY):
        (first,) = held_fences()
        assert first.epoch == 1
        warehouse.append(rows, table)
    with day_lock(settings, DAY):
        (second,) = held_fences()
        assert second.epoch == 2
        warehouse.append(rows, table)
        # A new holder's acquisition, as after a lapsed lease: the epoch moves past ours.
        (tmp_path / "warehouse" / "_locks" / "day=2026-02-10.epoch").write_text("3")
        with pytest.raises(LockLost) as lost:
            warehouse.append(rows, table)
    assert held_fences() == ()
    assert str(lost.value).startswith(
        "the lock of day 2026-02-10 was taken over by another run (epoch 3, this run acquired 2)"
    )
    history = DeltaTable.forPath(spark, warehouse.location(table)).history().collect()
    assert sorted((h["version"], h["userMetadata"]) for h in history) == [
        (0, "hydrawatch lock day 2026-02-10 epoch 1"),
        (1, "hydrawatch lock day 2026-02-10 epoch 2"),
    ]
    assert warehouse.read(table).count() == 2
    # Outside any lock a write records no lock (and is not refused).
    warehouse.append(rows, table)
    last = DeltaTable.forPath(spark, warehouse.location(table)).history(1).first()
    assert last["userMetadata"] is None
