"""When a day's delivery is complete: the pure rule on hand-made listings, and the wait on real
folders with a controlled clock (the quiet period and the deadline are minutes to hours)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from hydrawatch.delivery import DeliveryRule, delivery_status, feed_status, wait_for_delivery
from hydrawatch.errors import EXIT_NO_DELIVERY, NoLandingData
from hydrawatch.storage.files import FileEntry

D = dt.date(2026, 2, 10)
RULE = DeliveryRule(quiet_seconds=600, marker="_SUCCESS", require_marker=False)
NOW_MS = 1_000_000_000


def _file(name: str, age_s: float) -> FileEntry:
    return FileEntry(f"file:/x/{name}", name, 10, int(NOW_MS - age_s * 1000))


def test_the_rule_on_listings():
    assert feed_status("usage_events", None, NOW_MS, RULE) == "usage_events: no folder yet"
    assert feed_status("accounts", [], NOW_MS, RULE) == "accounts: no data file yet"
    # only a marker (or hidden files): still no data
    only_marker = [_file("_SUCCESS", 900), _file(".part-0.crc", 900)]
    assert feed_status("accounts", only_marker, NOW_MS, RULE) == "accounts: no data file yet"
    fresh = [_file("part-0.jsonl", 900), _file("part-1.jsonl.gz", 120)]
    assert feed_status("usage_events", fresh, NOW_MS, RULE) == (
        "usage_events: last file changed 120s ago, less than the 600s quiet period"
    )
    # the marker completes a folder at once, whatever the ages
    assert feed_status("usage_events", [*fresh, _file("_SUCCESS", 1)], NOW_MS, RULE) is None
    quiet = [_file("part-0.jsonl", 900), _file("part-1.jsonl.gz", 600)]
    assert feed_status("usage_events", quiet, NOW_MS, RULE) is None
    strict = DeliveryRule(600, "_SUCCESS", require_marker=True)
    assert (
        feed_status("usage_events", quiet, NOW_MS, strict) == "usage_events: no _SUCCESS marker yet"
    )

    both = delivery_status({"usage_events": quiet, "accounts": None}, NOW_MS, RULE)
    assert (both.complete, both.waiting_for) == (False, ("accounts: no folder yet",))
    done = delivery_status({"usage_events": quiet, "accounts": quiet}, NOW_MS, RULE)
    assert (done.complete, done.waiting_for) == (True, ())


class Clock:
    """Time that moves only when the waiter sleeps; `on_sleep` lets upstream deliver meanwhile."""

    def __init__(self, start: float):
        self.now, self.sleeps, self.on_sleep = start, [], None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(self)


def _deliver(root, feed: str, mtime: float, name: str = "part-0.jsonl") -> None:
    folder = root / feed / f"date={D}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text('{"x": 1}\n')
    os.utime(path, (mtime, mtime))


def test_the_wait_ends_when_the_delivery_is_quiet(make_settings, tmp_path):
    settings = make_settings(
        tmp_path,
        delivery_quiet_seconds=600,
        delivery_poll_seconds=60,
        delivery_deadline_seconds=3600,
    )
    landing = tmp_path / "landing"
    start = 2_000_000_000.0
    _deliver(landing, "usage_events", start - 30)  # still being written
    clock, said = Clock(start), []

    def upstream(c: Clock) -> None:
        if c.now == start + 60:  # the accounts snapshot lands a minute later
            _deliver(landing, "accounts", c.now)

    clock.on_sleep = upstream
    waited = wait_for_delivery(settings, D, say=said.append, clock=clock, sleep=clock.sleep)
    # usage quiet from start + 570, accounts from start + 660 (600 s after it landed), and a
    # poll falls on it: the quiet period is "at least", so the wait ends there
    assert waited == 660 and clock.sleeps == [60] * 11
    assert said[0] == (
        "2026-02-10: waiting for the delivery (usage_events: last file changed 30s ago, less "
        "than the 600s quiet period; accounts: no folder yet)"
    )


def test_the_marker_ends_the_wait_at_once(make_settings, tmp_path):
    settings = make_settings(tmp_path, delivery_quiet_seconds=600)
    landing = tmp_path / "landing"
    start = 2_000_000_000.0
    for feed in ("usage_events", "accounts"):
        _deliver(landing, feed, start)
        _deliver(landing, feed, start, name="_SUCCESS")
    clock = Clock(start)
    assert wait_for_delivery(settings, D, clock=clock, sleep=clock.sleep) == 0


def test_no_delivery_by_the_deadline_stops_with_exit_code_3(make_settings, tmp_path):
    settings = make_settings(tmp_path, delivery_poll_seconds=600, delivery_deadline_seconds=1500)
    _deliver(tmp_path / "landing", "usage_events", 1.0)  # old and quiet; accounts never come
    clock = Clock(2_000_000_000.0)
    late: list[tuple[float, str]] = []
    with pytest.raises(NoLandingData) as stopped:
        wait_for_delivery(
            settings,
            D,
            clock=clock,
            sleep=clock.sleep,
            late_at=2_000_000_000.0 + 1000,
            on_late=lambda missing: late.append((clock(), missing)),
        )
    assert clock.sleeps == [600, 600, 300]  # the last poll falls on the deadline
    # told once, at the first poll past the due time, before the run fails
    assert late == [(2_000_000_000.0 + 1200, "accounts: no folder yet")]
    assert stopped.value.exit_code == EXIT_NO_DELIVERY
    assert str(stopped.value) == (
        "the delivery for 2026-02-10 was not complete after waiting 1500s (accounts: no folder "
        "yet); run the day again once upstream has delivered it (hydrawatch daily --date "
        "2026-02-10)"
    )
