"""Is a day's delivery complete? The rule the scheduled run waits on (docs/operations.md).

A day's delivery is the folders `usage_events/date=D` and `accounts/date=D` under the landing root
(labels are optional on any day). It is complete when, for both feeds:
- the folder holds at least one data file, and
- it holds the marker file (`settings.delivery_marker`, `_SUCCESS` by default) when upstream writes
  one; without a marker (and `settings.delivery_require_marker` off), no file in it changed for
  `settings.delivery_quiet_seconds` (the newest modification time is at least that old).

`delivery_status` is the pure decision on listings; `wait_for_delivery` polls it every
`settings.delivery_poll_seconds` until complete or until `settings.delivery_deadline_seconds` have
passed, then stops with `NoLandingData` (exit code 3) saying what was missing. Listing goes through
`pyarrow.fs` (`hydrawatch.storage.files`): no Spark session is started to wait.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from hydrawatch.errors import NoLandingData
from hydrawatch.settings import Settings
from hydrawatch.storage import files

REQUIRED_FEEDS = ("usage_events", "accounts")


@dataclass(frozen=True)
class DeliveryRule:
    quiet_seconds: float
    marker: str
    require_marker: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryRule:
        return cls(
            settings.delivery_quiet_seconds,
            settings.delivery_marker,
            settings.delivery_require_marker,
        )


@dataclass(frozen=True)
class DeliveryStatus:
    complete: bool
    waiting_for: tuple[str, ...]  # one reason per incomplete feed, empty when complete


def feed_status(
    feed: str, listing: list[files.FileEntry] | None, now_ms: int, rule: DeliveryRule
) -> str | None:
    """Why one feed's folder is not complete yet, or None. Pure."""
    if listing is None:
        return f"{feed}: no folder yet"
    data = [f for f in listing if f.name != rule.marker and not f.name.startswith((".", "_"))]
    if not data:
        return f"{feed}: no data file yet"
    if any(f.name == rule.marker for f in listing):
        return None
    if rule.require_marker:
        return f"{feed}: no {rule.marker} marker yet"
    newest = max(f.mtime_ms for f in listing)
    quiet_for = (now_ms - newest) / 1000
    if quiet_for < rule.quiet_seconds:
        return (
            f"{feed}: last file changed {quiet_for:.0f}s ago, less than the "
            f"{rule.quiet_seconds:g}s quiet period"
        )
    return None


def delivery_status(
    listings: dict[str, list[files.FileEntry] | None], now_ms: int, rule: DeliveryRule
) -> DeliveryStatus:
    """Complete when every required feed is (`feed_status`). Pure."""
    waiting = tuple(
        reason
        for feed in REQUIRED_FEEDS
        if (reason := feed_status(feed, listings.get(feed), now_ms, rule)) is not None
    )
    return DeliveryStatus(not waiting, waiting)


def list_delivery(settings: Settings, day: dt.date) -> dict[str, list[files.FileEntry] | None]:
    return {
        feed: files.list_files(f"{settings.landing_uri}/{feed}/date={day.isoformat()}")
        for feed in REQUIRED_FEEDS
    }


def wait_for_delivery(
    settings: Settings,
    day: dt.date,
    *,
    say: Callable[[str], None] = lambda _: None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    late_at: float | None = None,
    on_late: Callable[[str], None] | None = None,
) -> float:
    """Block until the day's delivery is complete; return the seconds waited.

    Raises `NoLandingData` once `settings.delivery_deadline_seconds` have passed without it.
    `on_late` is called once, with what is still missing, when the wait is still going at the
    clock time `late_at` (the day's due time: the run is late before it has failed).
    """
    rule = DeliveryRule.from_settings(settings)
    started = clock()
    deadline = started + settings.delivery_deadline_seconds
    said: tuple[str, ...] = ()
    while True:
        now = clock()
        status = delivery_status(list_delivery(settings, day), int(now * 1000), rule)
        if status.complete:
            return now - started
        if status.waiting_for != said:
            say(f"{day}: waiting for the delivery ({'; '.join(status.waiting_for)})")
            said = status.waiting_for
        if on_late is not None and late_at is not None and now >= late_at:
            on_late("; ".join(status.waiting_for))
            on_late = None
        if now >= deadline:
            raise NoLandingData(
                f"the delivery for {day} was not complete after waiting "
                f"{settings.delivery_deadline_seconds:g}s ({'; '.join(status.waiting_for)}); "
                f"run the day again once upstream has delivered it "
                f"(hydrawatch daily --date {day})"
            )
        sleep(min(settings.delivery_poll_seconds, max(deadline - now, 0.0)))
