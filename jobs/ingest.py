"""The ingest job: one delivery day of landing data -> bronze Delta tables, with an audit row.

`run_ingest(rt, D)` promises (details and reason codes in docs/ingest.md):
- every landing line of day D is kept, dropped as a duplicate or quarantined with a reason, and
  the audit says which, per file and per feed (lines = kept + duplicates + quarantined);
- `bronze/usage_events` holds each `event_id` once, in the partition of its UTC day; the earliest
  delivery of an id wins whatever order days are ingested in;
- re-running D, before or after later days ran, leaves every table as one run of D would;
- a missing or empty usage or accounts folder raises `NoLandingData`, and a quarantine share above
  `settings.quarantine_max_share` raises `DataQualityError`, both before anything is written.
Validation itself is the pure `hydrawatch.validation`; every read and write goes through
`hydrawatch.storage` (the landing listing through pyarrow.fs, before any Spark session).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.contracts import ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES, USAGE_EVENTS, Feed, ddl
from hydrawatch.errors import DataQualityError, NoLandingData
from hydrawatch.failpoints import failpoint
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.storage import files, tables
from hydrawatch.storage.warehouse import Warehouse
from hydrawatch.validation import (
    DUPLICATE_EARLIER,
    DUPLICATE_WITHIN,
    KEPT,
    QUARANTINED,
    check_lines,
    classify_lines,
    rank_duplicates,
)

LANDING_SUFFIXES = (".jsonl", ".jsonl.gz")
RELEASES_FILES = ("model_releases.jsonl", "model_releases.jsonl.gz")

USAGE_SCHEMA = f"{ddl(USAGE_EVENTS)}, event_date date, delivery_date date, source_file string"
ACCOUNTS_SCHEMA = f"{ddl(ACCOUNTS)}, snapshot_date date, source_file string"
LABELS_SCHEMA = f"{ddl(LABEL_DECISIONS)}, delivery_date date, source_file string"
RELEASES_SCHEMA = f"{ddl(MODEL_RELEASES)}, source_file string"
QUARANTINE_SCHEMA = (
    "delivery_date date, feed string, source_file string, raw_line string, reason string, "
    "detail string"
)
AUDIT_SCHEMA = (
    "delivery_date date, feed string, status string, lines bigint, kept bigint, "
    "duplicates bigint, duplicates_within bigint, duplicates_earlier bigint, quarantined bigint, "
    "quarantined_by_reason map<string,bigint>, late_by_day map<date,bigint>, "
    "touched_event_dates array<date>, "
    "files array<struct<file:string,lines:bigint,kept:bigint,duplicates:bigint,quarantined:bigint>>"
)

_log = logging.getLogger(__name__)

# Feed status in the audit: delivered, folder/file absent, or present without a line.
OK, MISSING, EMPTY = "ok", "missing", "empty"


@dataclass(frozen=True)
class FileCounts:
    file: str
    lines: int
    kept: int
    duplicates: int
    quarantined: int


@dataclass(frozen=True)
class FeedAudit:
    feed: str
    status: str
    lines: int = 0
    kept: int = 0
    duplicates_within: int = 0
    duplicates_earlier: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    late_by_day: dict[dt.date, int] = field(default_factory=dict)
    touched_event_dates: tuple[dt.date, ...] = ()
    files: tuple[FileCounts, ...] = ()

    @property
    def duplicates(self) -> int:
        return self.duplicates_within + self.duplicates_earlier


@dataclass(frozen=True)
class IngestResult:
    delivery_date: dt.date
    feeds: dict[str, FeedAudit]
    touched_event_dates: tuple[dt.date, ...]
    summary: str


# --- landing I/O -------------------------------------------------------------------------------


def list_landing_files(folder: str) -> list[str] | None:
    """The JSON Lines files of a landing folder (as Spark names them), sorted; None when the
    folder does not exist. Listed through pyarrow.fs: no Spark job, works on object stores."""
    found = files.list_files(folder)
    if found is None:
        return None
    return [
        f.uri
        for f in found
        if f.name.endswith(LANDING_SUFFIXES) and not f.name.startswith((".", "_"))
    ]


def _existing_file(candidates: list[str]) -> str | None:
    for uri in candidates:
        entry = files.file_entry(uri)
        if entry is not None:
            return entry.uri
    return None


def _read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    if not paths:
        return spark.createDataFrame([], "source_file string, raw_line string")
    # gzip is decoded by the text source from the .gz suffix; each line keeps its file's path.
    return spark.read.text(paths).select(
        F.col("_metadata.file_path").alias("source_file"), F.col("value").alias("raw_line")
    )


# --- counting ------------------------------------------------------------------------------------


def _status_projection(feed: Feed, classified: DataFrame, with_dates: bool) -> DataFrame:
    return classified.select(
        F.lit(feed.name).alias("feed"),
        "source_file",
        "line_status",
        "reason",
        (F.col("event_date") if with_dates else F.lit(None).cast("date")).alias("event_date"),
    )


def _feed_audit(
    feed: str, status: str, files: list[str], rows: list, delivery_date: dt.date
) -> FeedAudit:
    per_file: dict[str, Counter] = {f: Counter() for f in files}
    totals: Counter = Counter()
    reasons: Counter = Counter()
    late: Counter = Counter()
    touched: set[dt.date] = set()
    for row in rows:
        if row["line_status"] == "_owned":
            touched.add(row["event_date"])
            continue
        per_file.setdefault(row["source_file"], Counter())[row["line_status"]] += row["n"]
        totals[row["line_status"]] += row["n"]
        if row["line_status"] == QUARANTINED:
            reasons[row["reason"]] += row["n"]
        if row["line_status"] == KEPT and row["event_date"] is not None:
            touched.add(row["event_date"])
            if row["event_date"] < delivery_date:
                late[row["event_date"]] += row["n"]
    file_counts = tuple(
        FileCounts(
            file=name,
            lines=sum(c.values()),
            kept=c[KEPT],
            duplicates=c[DUPLICATE_WITHIN] + c[DUPLICATE_EARLIER],
            quarantined=c[QUARANTINED],
        )
        for name, c in sorted(per_file.items())
    )
    return FeedAudit(
        feed=feed,
        status=EMPTY if status == OK and not sum(totals.values()) else status,
        lines=sum(totals.values()),
        kept=totals[KEPT],
        duplicates_within=totals[DUPLICATE_WITHIN],
        duplicates_earlier=totals[DUPLICATE_EARLIER],
        quarantined=totals[QUARANTINED],
        quarantined_by_reason=dict(sorted(reasons.items())),
        late_by_day=dict(sorted(late.items())),
        touched_event_dates=tuple(sorted(touched)),
        files=file_counts,
    )


def _top_reasons(audit: FeedAudit, n: int = 3) -> str:
    top = sorted(audit.quarantined_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{reason} {count}" for reason, count in top) or "none"


def _summary(delivery_date: dt.date, audits: dict[str, FeedAudit]) -> str:
    lines = [f"ingest {delivery_date}:"]
    for audit in audits.values():
        if audit.status == MISSING:
            note = " (no decisions today)" if audit.feed == LABEL_DECISIONS.name else ""
            lines.append(f"  WARNING {audit.feed}: missing{note}")
            continue
        text = (
            f"  {audit.feed}: {audit.lines} lines, {audit.kept} kept, {audit.duplicates} duplicates"
            f" ({audit.duplicates_within} within, {audit.duplicates_earlier} earlier),"
            f" {audit.quarantined} quarantined"
        )
        if audit.quarantined:
            text += f" ({_top_reasons(audit, n=len(audit.quarantined_by_reason))})"
        lines.append(text)
        if audit.late_by_day:
            late = ", ".join(f"{d} {n}" for d, n in audit.late_by_day.items())
            lines.append(f"    late events by day: {late}")
        if audit.touched_event_dates:
            days = ", ".join(str(d) for d in audit.touched_event_dates)
            lines.append(f"    event days touched: {days}")
    return "\n".join(lines)


# --- writing -------------------------------------------------------------------------------------


def _quarantine_rows(feed: Feed, classified: DataFrame, day: dt.date) -> DataFrame:
    return classified.where(F.col("line_status") == QUARANTINED).select(
        F.lit(day).alias("delivery_date"),
        F.lit(feed.name).alias("feed"),
        "source_file",
        # Parquet strings should be valid UTF-8: bad bytes become U+FFFD (the reason says so).
        F.make_valid_utf8("raw_line").alias("raw_line"),
        "reason",
        "detail",
    )


def _audit_frame(spark: SparkSession, day: dt.date, audits: dict[str, FeedAudit]) -> DataFrame:
    rows = [
        (
            day,
            a.feed,
            a.status,
            a.lines,
            a.kept,
            a.duplicates,
            a.duplicates_within,
            a.duplicates_earlier,
            a.quarantined,
            a.quarantined_by_reason,
            a.late_by_day,
            list(a.touched_event_dates),
            [(f.file, f.lines, f.kept, f.duplicates, f.quarantined) for f in a.files],
        )
        for a in audits.values()
    ]
    return spark.createDataFrame(rows, AUDIT_SCHEMA)


def _gate(
    audits: dict[str, FeedAudit], folders: dict[str, str], day: dt.date, max_share: float
) -> None:
    for feed in (USAGE_EVENTS.name, ACCOUNTS.name):
        if audits[feed].lines == 0:
            raise NoLandingData(
                f"no {feed} delivery for {day}: the files in {folders[feed]} hold no line; "
                "run the day again once upstream has delivered it"
            )
    usage = audits[USAGE_EVENTS.name]
    share = usage.quarantined / usage.lines
    if share > max_share:
        raise DataQualityError(
            f"quarantine gate failed for {day}: {usage.quarantined} of {usage.lines} usage lines "
            f"quarantined ({share:.1%} > {max_share:.1%}); top reasons: {_top_reasons(usage)}; "
            "nothing was written for the day, see the landing files in "
            f"{folders[USAGE_EVENTS.name]}"
        )


class _Timer:
    """Debug timings of the ingest steps (one per run)."""

    def __init__(self):
        self._last = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        _log.debug("ingest: %s (%.1f s)", step, now - self._last)
        self._last = now


def _write(
    warehouse: Warehouse,
    day: dt.date,
    window_sql: str,
    frames: dict[str, DataFrame],
    audits: dict[str, FeedAudit],
    releases_delivered: bool,
    timed: _Timer,
) -> None:
    """Write the day to bronze. The MERGEs keep the earliest delivery of a key and delete the
    rows D wrote before and no longer delivers, so a re-run replaces exactly D's rows."""
    earliest_wins = "s.delivery_date <= t.delivery_date"
    owned_by_day = f"t.delivery_date = DATE'{day}'"
    usage_source = (
        frames[USAGE_EVENTS.name]
        .where(F.col("dup_rank") == 1)
        .select(*USAGE_EVENTS.names, "event_date", F.lit(day).alias("delivery_date"), "source_file")
    )
    # The window scope lets Delta prune to the partitions an earlier copy can be in.
    warehouse.merge(
        usage_source,
        tables.BRONZE_USAGE_EVENTS,
        scope=window_sql,
        update_if=earliest_wins,
        delete_if=f"{owned_by_day} AND ({window_sql})",
    )
    timed("usage_events merged")
    failpoint("ingest.after_usage_events")

    accounts = frames[ACCOUNTS.name].where(F.col("line_status") == KEPT)
    warehouse.replace_days(
        accounts.select(*ACCOUNTS.names, F.lit(day).alias("snapshot_date"), "source_file"),
        tables.BRONZE_ACCOUNTS,
        [day],
    )
    timed("accounts written")

    labels_source = (
        frames[LABEL_DECISIONS.name]
        .where(F.col("dup_rank") == 1)
        .select(*LABEL_DECISIONS.names, F.lit(day).alias("delivery_date"), "source_file")
    )
    warehouse.merge(
        labels_source, tables.BRONZE_LABELS, update_if=earliest_wins, delete_if=owned_by_day
    )
    timed("labels merged")

    if releases_delivered:
        releases = frames[MODEL_RELEASES.name].where(F.col("line_status") == KEPT)
        warehouse.overwrite(
            releases.select(*MODEL_RELEASES.names, "source_file"), tables.BRONZE_MODEL_RELEASES
        )
        timed("model_releases written")

    quarantine = None
    for feed in (USAGE_EVENTS, ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES):
        part = _quarantine_rows(feed, frames[feed.name], day)
        quarantine = part if quarantine is None else quarantine.unionByName(part)
    warehouse.replace_days(quarantine, tables.BRONZE_QUARANTINE, [day])
    timed("quarantine written")

    failpoint("ingest.before_audit")
    # The audit goes last: its row for the day says the day's ingest completed.
    warehouse.replace_days(_audit_frame(warehouse.spark, day, audits), tables.INGEST_AUDIT, [day])
    timed("audit written")


def _require(files: list[str] | None, folder: str, feed: str, delivery_date: dt.date) -> list[str]:
    if files is None:
        raise NoLandingData(
            f"no {feed} delivery for {delivery_date}: folder {folder} does not exist; "
            "run the day again once upstream has delivered it"
        )
    if not files:
        raise NoLandingData(
            f"no {feed} delivery for {delivery_date}: folder {folder} holds no .jsonl[.gz] file; "
            "run the day again once upstream has delivered it"
        )
    return files


class UnreadableLandingFile(DataQualityError):
    """A landing file Spark cannot read to its end (truncated or corrupt gzip, vanished)."""


_READ_FAILURE = re.compile(r"FAILED_READ_FILE\S*\s+Encountered error while reading file (\S+)\.\s")
_CAUSE = re.compile(r"Caused by: (?:[\w$]+\.)*([\w$]+(?:Exception|Error)(?::[^\n]*)?)")


def _unreadable(err: Exception, day: dt.date) -> UnreadableLandingFile | None:
    """`UnreadableLandingFile` naming the file when Spark failed reading one, else None.

    A truncated gzip has lost an unknown number of lines: none of them can be quarantined or
    counted, so the day stops (nothing written) until upstream delivers the file again.
    """
    text = str(err)
    found = _READ_FAILURE.search(text)
    if found is None:
        return None
    cause = _CAUSE.search(text)
    why = cause.group(1).strip()[:160] if cause else "unreadable"
    return UnreadableLandingFile(
        f"landing file {found.group(1)} of delivery {day} cannot be read to its end ({why}): "
        "a truncated or corrupt delivery; nothing was written for the day; have upstream "
        "deliver the file again, then re-run the day"
    )


@contextmanager
def _session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    previous = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


# The validation projection (two dozen VARIANT fields, each with its checks) compiles, under
# whole-stage code generation, to one method too long for the JVM to JIT (> 8 kB of bytecode):
# it would run interpreted, and compiling it alone took ~6 s. Per-expression code generation
# splits it into small methods.
_INGEST_CONF = {"spark.sql.codegen.wholeStage": "false"}


def run_ingest(rt: Runtime, delivery_date: dt.date) -> IngestResult:
    """Ingest delivery day `delivery_date` from the landing root into bronze (see module doc)."""
    # The landing folders are listed first, without Spark: a day whose delivery is missing
    # stops here, before a session is started.
    landing = _landing_files(rt.settings, delivery_date)
    with _session_conf(rt.spark, _INGEST_CONF):
        return _run_ingest(rt.warehouse, rt.settings, delivery_date, landing)


def _classified(
    spark: SparkSession,
    paths: list[str],
    feed: Feed,
    day: dt.date,
    prior: DataFrame | None = None,
    event_window: tuple[dt.date, dt.date] | None = None,
) -> DataFrame:
    """A feed's landing lines checked, ranked and classified (`classify_lines`), cached: the
    counting action and the writes after it read it."""
    checked = check_lines(_read_lines(spark, paths), feed, event_window)
    return classify_lines(
        rank_duplicates(checked, feed.key, feed.names), feed.key, day, prior
    ).persist(StorageLevel.MEMORY_AND_DISK)


@dataclass(frozen=True)
class _LandingDay:
    folders: dict[str, str]
    usage: list[str]
    accounts: list[str]
    labels: list[str] | None  # None: no labels folder for the day
    releases: str | None  # the release calendar file, if delivered


def _landing_files(settings: Settings, day: dt.date) -> _LandingDay:
    landing = settings.landing_uri
    folders = {
        f.name: f"{landing}/{f.name}/date={day}" for f in (USAGE_EVENTS, ACCOUNTS, LABEL_DECISIONS)
    }

    def required(feed: Feed) -> list[str]:
        return _require(list_landing_files(folders[feed.name]), folders[feed.name], feed.name, day)

    return _LandingDay(
        folders=folders,
        usage=required(USAGE_EVENTS),
        accounts=required(ACCOUNTS),
        labels=list_landing_files(folders[LABEL_DECISIONS.name]),
        releases=_existing_file([f"{landing}/{name}" for name in RELEASES_FILES]),
    )


def _run_ingest(
    warehouse: Warehouse, settings: Settings, delivery_date: dt.date, landing: _LandingDay
) -> IngestResult:
    timed = _Timer()
    spark = warehouse.spark
    day = delivery_date
    first_day = day - dt.timedelta(days=settings.max_late_days)
    # An earlier copy of one of D's event_ids sits in a delivery of the last max_late_days days,
    # whose own events go back max_late_days further: the MERGE looks at all of that, matching on
    # event_id alone, so a re-delivered event with a different ts still cannot land twice.
    prior_first = first_day - dt.timedelta(days=settings.max_late_days)
    window_sql = f"t.event_date BETWEEN DATE'{prior_first}' AND DATE'{day}'"
    folders = landing.folders
    usage_files, account_files = landing.usage, landing.accounts
    label_files, release_file = landing.labels, landing.releases

    # Validate and classify every feed; each classified frame is cached once and read by the
    # one counting action and by the writes after it.
    usage_prior = None
    owned_by_day = None
    bronze_usage = warehouse.read_if_exists(tables.BRONZE_USAGE_EVENTS)
    if bronze_usage is not None:
        in_window = bronze_usage.where(F.col("event_date").between(F.lit(prior_first), F.lit(day)))
        usage_prior = in_window.select("event_id", "event_date", "delivery_date")
        owned_by_day = in_window.where(F.col("delivery_date") == F.lit(day)).select(
            F.lit(USAGE_EVENTS.name).alias("feed"),
            F.lit(None).cast("string").alias("source_file"),
            F.lit("_owned").alias("line_status"),
            F.lit(None).cast("string").alias("reason"),
            "event_date",
        )
    usage = _classified(spark, usage_files, USAGE_EVENTS, day, usage_prior, (first_day, day))
    accounts = _classified(spark, account_files, ACCOUNTS, day)

    labels_prior = None
    bronze_labels = warehouse.read_if_exists(tables.BRONZE_LABELS)
    if bronze_labels is not None:
        labels_prior = bronze_labels.select(*LABEL_DECISIONS.key, "delivery_date")
    labels = _classified(spark, label_files or [], LABEL_DECISIONS, day, labels_prior)
    releases = _classified(spark, [release_file] if release_file else [], MODEL_RELEASES, day)
    cached = (usage, accounts, labels, releases)

    try:
        counted = (
            _status_projection(USAGE_EVENTS, usage, with_dates=True)
            .unionByName(_status_projection(ACCOUNTS, accounts, with_dates=False))
            .unionByName(_status_projection(LABEL_DECISIONS, labels, with_dates=False))
            .unionByName(_status_projection(MODEL_RELEASES, releases, with_dates=False))
        )
        if owned_by_day is not None:
            counted = counted.unionByName(owned_by_day)
        # The one action before writing: bounded by files x statuses x reasons x event days.
        try:
            rows = (
                counted.groupBy("feed", "source_file", "line_status", "reason", "event_date")
                .agg(F.count(F.lit(1)).alias("n"))
                .collect()
            )
        except Exception as err:
            unreadable = _unreadable(err, day)
            if unreadable is None:
                raise
            raise unreadable from None
        timed("validated and counted")
        by_feed: dict[str, list] = defaultdict(list)
        for row in rows:
            by_feed[row["feed"]].append(row)

        audits = {
            USAGE_EVENTS.name: _feed_audit(
                USAGE_EVENTS.name, OK, usage_files, by_feed[USAGE_EVENTS.name], day
            ),
            ACCOUNTS.name: _feed_audit(
                ACCOUNTS.name, OK, account_files, by_feed[ACCOUNTS.name], day
            ),
            LABEL_DECISIONS.name: _feed_audit(
                LABEL_DECISIONS.name,
                OK if label_files is not None else MISSING,
                label_files or [],
                by_feed[LABEL_DECISIONS.name],
                day,
            ),
            MODEL_RELEASES.name: _feed_audit(
                MODEL_RELEASES.name,
                OK if release_file else MISSING,
                [release_file] if release_file else [],
                by_feed[MODEL_RELEASES.name],
                day,
            ),
        }
        _gate(audits, folders, day, settings.quarantine_max_share)

        frames = {
            USAGE_EVENTS.name: usage,
            ACCOUNTS.name: accounts,
            LABEL_DECISIONS.name: labels,
            MODEL_RELEASES.name: releases,
        }
        _write(warehouse, day, window_sql, frames, audits, release_file is not None, timed)
    finally:
        for frame in cached:
            frame.unpersist()

    touched = audits[USAGE_EVENTS.name].touched_event_dates
    summary = _summary(day, audits)
    print(summary)
    return IngestResult(
        delivery_date=day, feeds=audits, touched_event_dates=touched, summary=summary
    )
