"""The ingest job: delivery days of landing data -> bronze Delta tables, an audit row per day.

`run_ingest_range(rt, D1, D2)` ingests the deliveries D1..D2 in one job (one read of all their
folders, one counting action, one write per table) and leaves exactly the tables one
`run_ingest` per day, in order, would: each line is classified as its own delivery's run, after
the earlier ones, would classify it. `run_ingest(rt, D)` is the range of one day. Per delivery
day D, it promises (details and reason codes in docs/ingest.md):
- every landing line of day D is kept, dropped as a duplicate or quarantined with a reason, and
  the audit says which, per file and per feed (lines = kept + duplicates + quarantined);
- `bronze/usage_events` holds each `event_id` once, in the partition of its UTC day; the earliest
  delivery of an id wins whatever order days are ingested in;
- re-running D, before or after later days ran, leaves every table as one run of D would;
- a missing or empty usage or accounts folder raises `NoLandingData`, and a quarantine share above
  `settings.quarantine_max_share` raises `DataQualityError`, both before anything of D is
  written (in a range, the days before D are written, D and the days after it are not).
Validation itself is the pure `hydrawatch.validation`; every read and write goes through
`hydrawatch.storage` (the landing listing through pyarrow.fs, before any Spark session).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from hydrawatch.contracts import ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES, USAGE_EVENTS, Feed, ddl
from hydrawatch.errors import DataQualityError, HydrawatchError, NoLandingData
from hydrawatch.failpoints import failpoint
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.spark import session_conf
from hydrawatch.storage import files, tables
from hydrawatch.storage.warehouse import Warehouse
from hydrawatch.validation import (
    DUPLICATE_EARLIER,
    DUPLICATE_WITHIN,
    KEPT,
    QUARANTINED,
    check_lines,
    classify_deliveries,
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
        "delivery_date",
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


def _quarantine_rows(feed: Feed, classified: DataFrame) -> DataFrame:
    return classified.where(F.col("line_status") == QUARANTINED).select(
        "delivery_date",
        F.lit(feed.name).alias("feed"),
        "source_file",
        # Parquet strings should be valid UTF-8: bad bytes become U+FFFD (the reason says so).
        F.make_valid_utf8("raw_line").alias("raw_line"),
        "reason",
        "detail",
    )


def _audit_frame(
    spark: SparkSession, days: list[tuple[dt.date, dict[str, FeedAudit]]]
) -> DataFrame:
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
        for day, audits in days
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


def _earliest(frame: DataFrame, key: tuple[str, ...], several: bool) -> DataFrame:
    """The first line (`dup_rank` 1) of each key in its earliest delivery of the run: one MERGE
    source row per key, as the earliest single-delivery run would have left in bronze."""
    first = frame.where(F.col("dup_rank") == 1)
    if not several:
        return first
    order = Window.partitionBy(*key).orderBy("delivery_date")
    return first.withColumn("_first", F.row_number().over(order)).where("_first = 1")


def _write(
    warehouse: Warehouse,
    days: list[dt.date],
    prior_days: int,
    frames: dict[str, DataFrame],
    audits: dict[dt.date, dict[str, FeedAudit]],
    releases_delivered: bool,
    timed: _Timer,
) -> None:
    """Write the deliveries `days` (consecutive) to bronze. The MERGEs keep the earliest delivery
    of a key and delete the rows these deliveries wrote before and no longer deliver, so a
    re-run replaces exactly their rows."""
    first, last = days[0], days[-1]
    several = len(days) > 1
    in_days = F.col("delivery_date").isin(days)
    earliest_wins = "s.delivery_date <= t.delivery_date"
    owned = f"t.delivery_date BETWEEN DATE'{first}' AND DATE'{last}'"
    # An earlier copy of an event sits in a delivery of the last max_late_days days, whose own
    # events go back max_late_days further: the MERGE looks at all of that (the scope lets Delta
    # prune to those partitions), matching on event_id alone, so a re-delivered event with a
    # different ts still cannot land twice.
    window_sql = (
        f"t.event_date BETWEEN DATE'{first - dt.timedelta(days=prior_days)}' AND DATE'{last}'"
    )
    usage = frames[USAGE_EVENTS.name].where(in_days)
    usage_source = _earliest(usage, USAGE_EVENTS.key, several).select(
        *USAGE_EVENTS.names, "event_date", "delivery_date", "source_file"
    )
    warehouse.merge(
        usage_source,
        tables.BRONZE_USAGE_EVENTS,
        scope=window_sql,
        update_if=earliest_wins,
        delete_if=f"{owned} AND ({window_sql})",
    )
    timed("usage_events merged")
    failpoint("ingest.after_usage_events")

    accounts = frames[ACCOUNTS.name].where(in_days & (F.col("line_status") == KEPT))
    warehouse.replace_days(
        accounts.select(
            *ACCOUNTS.names, F.col("delivery_date").alias("snapshot_date"), "source_file"
        ),
        tables.BRONZE_ACCOUNTS,
        days,
    )
    timed("accounts written")

    labels = frames[LABEL_DECISIONS.name].where(in_days)
    labels_source = _earliest(labels, LABEL_DECISIONS.key, several).select(
        *LABEL_DECISIONS.names, "delivery_date", "source_file"
    )
    warehouse.merge(labels_source, tables.BRONZE_LABELS, update_if=earliest_wins, delete_if=owned)
    timed("labels merged")

    if releases_delivered:
        releases = frames[MODEL_RELEASES.name].where(F.col("line_status") == KEPT)
        warehouse.overwrite(
            releases.select(*MODEL_RELEASES.names, "source_file"), tables.BRONZE_MODEL_RELEASES
        )
        timed("model_releases written")

    quarantine = None
    for feed in (USAGE_EVENTS, ACCOUNTS, LABEL_DECISIONS):
        part = _quarantine_rows(feed, frames[feed.name].where(in_days))
        quarantine = part if quarantine is None else quarantine.unionByName(part)
    # The release calendar is not a per-day delivery: each day's run reads (and quarantines) it.
    each_day = warehouse.spark.createDataFrame([(d,) for d in days], "delivery_date date")
    release_lines = frames[MODEL_RELEASES.name].drop("delivery_date").crossJoin(each_day)
    quarantine = quarantine.unionByName(_quarantine_rows(MODEL_RELEASES, release_lines))
    warehouse.replace_days(quarantine, tables.BRONZE_QUARANTINE, days)
    timed("quarantine written")

    failpoint("ingest.before_audit")
    # The audit goes last: its row for a day says the day's ingest completed.
    audit = _audit_frame(warehouse.spark, [(d, audits[d]) for d in days])
    warehouse.replace_days(audit, tables.INGEST_AUDIT, days)
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


def _unreadable(err: Exception, days: list[dt.date]) -> _Unreadable | None:
    """`UnreadableLandingFile` naming the file (and its delivery day) when Spark failed reading
    one, else None.

    A truncated gzip has lost an unknown number of lines: none of them can be quarantined or
    counted, so the day stops (nothing written) until upstream delivers the file again.
    """
    text = str(err)
    found = _READ_FAILURE.search(text)
    if found is None:
        return None
    cause = _CAUSE.search(text)
    why = cause.group(1).strip()[:160] if cause else "unreadable"
    folder = _FOLDER_DAY.search(found.group(1))
    # The release calendar belongs to no delivery: it stops the first day.
    day = dt.date.fromisoformat(folder.group(1)) if folder else days[0]
    return _Unreadable(
        day,
        UnreadableLandingFile(
            f"landing file {found.group(1)} of delivery {day} cannot be read to its end ({why}): "
            "a truncated or corrupt delivery; nothing was written for the day; have upstream "
            "deliver the file again, then re-run the day"
        ),
    )


# The validation projection (two dozen VARIANT fields, each with its checks) compiles, under
# whole-stage code generation, to one method too long for the JVM to JIT (> 8 kB of bytecode):
# it would run interpreted, and compiling it alone took ~6 s. Per-expression code generation
# splits it into small methods.
_INGEST_CONF = {"spark.sql.codegen.wholeStage": "false"}


@dataclass(frozen=True)
class _LandingDay:
    day: dt.date
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
        day=day,
        folders=folders,
        usage=required(USAGE_EVENTS),
        accounts=required(ACCOUNTS),
        labels=list_landing_files(folders[LABEL_DECISIONS.name]),
        releases=_existing_file([f"{landing}/{name}" for name in RELEASES_FILES]),
    )


@dataclass(frozen=True)
class IngestRange:
    """What `run_ingest_range` did: the deliveries ingested, in order, and, when it stopped
    before the end of the range, the day it stopped at and why (nothing of it written)."""

    results: list[IngestResult]
    stopped_at: dt.date | None = None
    error: HydrawatchError | None = None


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def run_ingest(rt: Runtime, delivery_date: dt.date) -> IngestResult:
    """Ingest delivery day `delivery_date` from the landing root into bronze (see module doc):
    the range of one day."""
    done = run_ingest_range(rt, delivery_date, delivery_date)
    if done.error is not None:
        raise done.error
    return done.results[0]


def run_ingest_range(rt: Runtime, start: dt.date, end: dt.date) -> IngestRange:
    """Ingest the deliveries `start`..`end` in one job: the same tables, audit rows and
    quarantine as one `run_ingest` per day in order (module doc), each delivery counted, gated
    and audited on its own. A day that cannot be ingested (no delivery, a failed gate, an
    unreadable file) stops the range there: the days before it are written, it and the days
    after it are not, and the result says where and why."""
    # The landing folders are listed first, without Spark: a range whose first delivery is
    # missing stops here, before a session is started.
    landing: list[_LandingDay] = []
    stop: tuple[dt.date, HydrawatchError] | None = None
    for day in _days(start, end):
        try:
            landing.append(_landing_files(rt.settings, day))
        except NoLandingData as err:
            stop = (day, err)
            break
    while landing:
        try:
            with session_conf(rt.spark, _INGEST_CONF):
                results, failed = _run_ingest(rt.warehouse, rt.settings, landing)
        except _Unreadable as err:
            # A file Spark cannot read stops its day: the days before it run again without it.
            stop = (err.day, err.error)
            landing = [d for d in landing if d.day < err.day]
            continue
        if failed is not None:
            stop = failed
        return IngestRange(results, *(stop or (None, None)))
    return IngestRange([], *(stop or (None, None)))


class _Unreadable(Exception):
    def __init__(self, day: dt.date, error: UnreadableLandingFile):
        super().__init__(str(error))
        self.day, self.error = day, error


_FOLDER_DAY = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/[^/]*$")


def _delivery_date(source_file: F.Column) -> F.Column:
    """The delivery day of a landing line: its folder's `date=YYYY-MM-DD`."""
    found = F.regexp_extract(source_file, _FOLDER_DAY.pattern, 1)
    # The release calendar is in no day's folder: no delivery day.
    return F.when(found != "", F.to_date(found))


def _classified(
    spark: SparkSession,
    paths: list[str],
    feed: Feed,
    first_day: dt.date,
    prior: DataFrame | None = None,
    prior_days: int | None = None,
    across: bool = True,
    late_days: int | None = None,
) -> DataFrame:
    """A feed's landing lines of several deliveries checked, ranked within their delivery and
    classified (`classify_deliveries`), cached: the counting action and the writes read it.
    `late_days`: usage events, whose `ts` must lie in the delivery's day or that many before."""
    lines = _read_lines(spark, paths)
    lines = lines.select("*", _delivery_date(F.col("source_file")).alias("delivery_date"))
    window = None
    if late_days is not None:
        delivery = F.col("delivery_date")
        window = (F.date_sub(delivery, late_days), delivery)
    checked = check_lines(lines, feed, window, keep=("delivery_date",))
    ranked = rank_duplicates(checked, feed.key, feed.names, within=("delivery_date",))
    classified = (
        classify_deliveries(ranked, feed.key, prior, prior_days)
        if across
        else classify_lines(ranked, feed.key, first_day)
    )
    return classified.persist(StorageLevel.MEMORY_AND_DISK)


def _run_ingest(
    warehouse: Warehouse, settings: Settings, landing: list[_LandingDay]
) -> tuple[list[IngestResult], tuple[dt.date, HydrawatchError] | None]:
    timed = _Timer()
    spark = warehouse.spark
    days = [d.day for d in landing]
    start, end = days[0], days[-1]
    late = settings.max_late_days
    # A single delivery's run sees the bronze rows of the events up to 2 x max_late_days before
    # its day (module doc); of the deliveries of this run, it sees the earlier ones' candidates.
    prior_first = start - dt.timedelta(days=2 * late)
    by_day = {d.day: d for d in landing}
    release_file = landing[0].releases

    usage_prior = None
    owned = None
    bronze_usage = warehouse.read_if_exists(tables.BRONZE_USAGE_EVENTS)
    if bronze_usage is not None:
        in_window = bronze_usage.where(F.col("event_date").between(F.lit(prior_first), F.lit(end)))
        usage_prior = in_window.where(F.col("delivery_date") < F.lit(start)).select(
            "event_id", "delivery_date", "event_date"
        )
        # What these deliveries hold in bronze now (an earlier run of them): a re-run that
        # drops an event touches its day too.
        owned = in_window.where(
            F.col("delivery_date").between(F.lit(start), F.lit(end))
            & (F.col("event_date") >= F.date_sub(F.col("delivery_date"), 2 * late))
        ).select(
            F.lit(USAGE_EVENTS.name).alias("feed"),
            "delivery_date",
            F.lit(None).cast("string").alias("source_file"),
            F.lit("_owned").alias("line_status"),
            F.lit(None).cast("string").alias("reason"),
            "event_date",
        )
    usage_files = [f for d in landing for f in d.usage]
    usage = _classified(
        spark, usage_files, USAGE_EVENTS, start, usage_prior, 2 * late, late_days=late
    )
    accounts = _classified(
        spark, [f for d in landing for f in d.accounts], ACCOUNTS, start, across=False
    )
    labels_prior = None
    bronze_labels = warehouse.read_if_exists(tables.BRONZE_LABELS)
    if bronze_labels is not None:
        labels_prior = bronze_labels.where(F.col("delivery_date") < F.lit(start)).select(
            *LABEL_DECISIONS.key, "delivery_date"
        )
    labels = _classified(
        spark, [f for d in landing for f in d.labels or []], LABEL_DECISIONS, start, labels_prior
    )
    releases = _classified(
        spark, [release_file] if release_file else [], MODEL_RELEASES, start, across=False
    )
    cached = (usage, accounts, labels, releases)

    try:
        counted = (
            _status_projection(USAGE_EVENTS, usage, with_dates=True)
            .unionByName(_status_projection(ACCOUNTS, accounts, with_dates=False))
            .unionByName(_status_projection(LABEL_DECISIONS, labels, with_dates=False))
            .unionByName(_status_projection(MODEL_RELEASES, releases, with_dates=False))
        )
        if owned is not None:
            counted = counted.unionByName(owned)
        # The one action before writing: bounded by files x statuses x reasons x event days.
        try:
            rows = (
                counted.groupBy(
                    "feed", "delivery_date", "source_file", "line_status", "reason", "event_date"
                )
                .agg(F.count(F.lit(1)).alias("n"))
                .collect()
            )
        except Exception as err:
            unreadable = _unreadable(err, days)
            if unreadable is None:
                raise
            raise unreadable from None
        timed("validated and counted")
        grouped: dict[tuple[str, dt.date | None], list] = defaultdict(list)
        for row in rows:
            grouped[(row["feed"], row["delivery_date"])].append(row)

        audits: dict[dt.date, dict[str, FeedAudit]] = {}
        failed: tuple[dt.date, HydrawatchError] | None = None
        for day in days:
            got = by_day[day]
            audits[day] = {
                USAGE_EVENTS.name: _feed_audit(
                    USAGE_EVENTS.name, OK, got.usage, grouped[(USAGE_EVENTS.name, day)], day
                ),
                ACCOUNTS.name: _feed_audit(
                    ACCOUNTS.name, OK, got.accounts, grouped[(ACCOUNTS.name, day)], day
                ),
                LABEL_DECISIONS.name: _feed_audit(
                    LABEL_DECISIONS.name,
                    OK if got.labels is not None else MISSING,
                    got.labels or [],
                    grouped[(LABEL_DECISIONS.name, day)],
                    day,
                ),
                # The release calendar is read whole by every day's run.
                MODEL_RELEASES.name: _feed_audit(
                    MODEL_RELEASES.name,
                    OK if release_file else MISSING,
                    [release_file] if release_file else [],
                    grouped[(MODEL_RELEASES.name, None)],
                    day,
                ),
            }
            try:
                _gate(audits[day], got.folders, day, settings.quarantine_max_share)
            except HydrawatchError as err:
                failed = (day, err)
                break
        done = [d for d in days if failed is None or d < failed[0]]
        if done:
            frames = {
                USAGE_EVENTS.name: usage,
                ACCOUNTS.name: accounts,
                LABEL_DECISIONS.name: labels,
                MODEL_RELEASES.name: releases,
            }
            _write(warehouse, done, 2 * late, frames, audits, release_file is not None, timed)
    finally:
        for frame in cached:
            frame.unpersist()

    results = []
    for day in done:
        summary = _summary(day, audits[day])
        print(summary)
        results.append(
            IngestResult(
                delivery_date=day,
                feeds=audits[day],
                touched_event_dates=audits[day][USAGE_EVENTS.name].touched_event_dates,
                summary=summary,
            )
        )
    return results, failed
