"""`hydrawatch simulate`: write synthetic landing data and the evaluation truth table.

`run_simulate(rt, start, days, scale, seed)` writes, per the landing contract,
`usage_events/`, `accounts/` and `labels/` folders for each day of the window plus
`model_releases.jsonl`, and the Delta table `<truth>/accounts` (outside the landing root).
Spark writes into a temporary folder next to the target; the job then moves the part files to
their `.jsonl` / `.jsonl.gz` names through `hydrawatch.storage.files` (works on object stores too).
Re-running replaces exactly the day folders it writes. Same arguments, same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.storage import files, tables
from simulator import world
from simulator.accounts import NEVER, build_accounts
from simulator.config import SimConfig, config_for
from simulator.events import build_events
from simulator.lines import (
    account_lines,
    event_lines,
    label_lines,
    label_rows,
    release_lines,
    snapshot_rows,
)

_TMP = "_simulate_tmp"
_PART = re.compile(r"part-(\d+)")


class SimulationError(HydrawatchError):
    """The simulator was asked for something it cannot make."""


@dataclass(frozen=True)
class SimulateResult:
    start: dt.date
    days: int
    scale: str
    seed: int
    event_lines: int  # usage lines written (duplicates and malformed included)
    account_lines: int
    label_lines: int
    accounts: int  # accounts in the truth table
    attacker_accounts: int
    truth_uri: str


def _check_args(settings: Settings, spark: SparkSession, days: int, seed: int) -> None:
    if days < 1:
        raise SimulationError(f"--days must be at least 1, got {days}")
    if seed < 0:
        raise SimulationError(f"--seed must be >= 0, got {seed}")
    landing = settings.landing_uri.rstrip("/") + "/"
    truth = settings.truth_uri.rstrip("/") + "/"
    if truth.startswith(landing) or landing.startswith(truth):
        raise SimulationError(
            f"the truth table ({settings.truth_uri}) must live outside the landing root "
            f"({settings.landing_uri}); set HYDRAWATCH_TRUTH elsewhere"
        )
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "Z", "+00:00"):
        raise SimulationError(
            f"the Spark session time zone is {tz}; build it with build_spark (UTC)"
        )


def _write_text(
    lines: DataFrame,
    target_root: str,
    tmp: str,
    n_parts: int,
    dates: list[str],
    stem: str,
    with_gz: bool = False,
) -> None:
    """Write `lines` (date, file, gz, line, o1..o3) as `<target_root>/date=D/<stem>-NNN.jsonl[.gz]`."""
    files.delete(tmp)
    for gz in (False, True) if with_gz else (False,):
        part = lines.filter(F.col("gz") == F.lit(gz))
        (
            part.repartition(max(1, n_parts), "date", "file")
            .sortWithinPartitions("date", "file", "o1", "o2", "o3")
            .select("date", "line")
            .write.mode("overwrite")
            .option("compression", "gzip" if gz else "none")
            .partitionBy("date")
            .text(f"{tmp}/{'gz' if gz else 'plain'}")
        )
    for date in dates:
        target = f"{target_root}/date={date}"
        files.delete(target)
        files.make_dirs(target)
        n = 0
        for kind, ext in (("plain", ".jsonl"), ("gz", ".jsonl.gz")):
            folder = f"{tmp}/{kind}/date={date}"
            names = [
                name
                for name, is_dir in files.names(folder)
                if not is_dir and name.startswith("part-")
            ]
            names.sort(key=lambda name: int(_PART.match(name).group(1)))
            for name in names:
                files.move(f"{folder}/{name}", f"{target}/{stem}-{n:03d}{ext}")
                n += 1
    files.delete(tmp)


def run_simulate(
    rt: Runtime,
    start: dt.date,
    days: int,
    scale: str,
    seed: int,
    config: SimConfig | None = None,
) -> SimulateResult:
    """Write `days` days of landing data from `start` for `scale`, and the truth table.

    Without `config`, the world is `config_for(scale, seed)`: its campaigns' styles are drawn
    with the same seed. A given `config` (e.g. `config_for(scale, seed, labelled=...,
    unlabelled=...)`) fixes the world's knobs and campaigns; `seed` drives every other draw.
    """
    settings, spark = rt.settings, rt.spark
    _check_args(settings, spark, days, seed)
    cfg = config or config_for(scale, seed)
    horizon = max(cfg.horizon_days, days)
    landing = settings.landing_uri
    tmp = f"{landing}/{_TMP}"
    dates = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]

    accounts = build_accounts(spark, cfg, seed, horizon).persist()
    day_frame = spark.range(0, days, 1, 1).select(F.col("id").cast("int").alias("day"))

    # usage events
    events = build_events(accounts, day_frame, cfg, seed, start, days)
    imp = cfg.imperfections
    skip = {i for i in (*imp.missing_usage_days, *imp.empty_usage_days) if 0 <= i < days}
    ev_lines = event_lines(events, cfg, seed, start)
    if skip:
        ev_lines = ev_lines.filter(~F.col("date").isin([dates[i] for i in sorted(skip)]))
    # Cached once: the plain and the gzip files are two writes of the same lines.
    ev_lines = ev_lines.persist(StorageLevel.MEMORY_AND_DISK)
    n_event_lines = ev_lines.count()
    usage_root = f"{landing}/usage_events"
    written = [d for i, d in enumerate(dates) if i not in skip]
    _write_text(
        ev_lines,
        usage_root,
        f"{tmp}/usage",
        days * cfg.event_files_per_day,
        written,
        "events",
        with_gz=imp.gzip_file_share > 0,
    )
    ev_lines.unpersist()
    for i in sorted(skip):
        files.delete(f"{usage_root}/date={dates[i]}")
        if i in imp.empty_usage_days and i not in imp.missing_usage_days:
            files.make_dirs(f"{usage_root}/date={dates[i]}")
            files.touch(f"{usage_root}/date={dates[i]}/events-000.jsonl")

    # accounts snapshots and labels
    snaps = snapshot_rows(accounts, day_frame, start)
    acc_lines = account_lines(snaps, cfg, seed, start)
    _write_text(acc_lines, f"{landing}/accounts", f"{tmp}/accounts", days, dates, "accounts")
    labels = label_rows(accounts, seed, start, days).persist()
    lab_lines = label_lines(labels, cfg, seed, start)
    _write_text(lab_lines, f"{landing}/labels", f"{tmp}/labels", days, dates, "labels")
    for d in dates:  # a day without decisions still gets its (empty) delivery
        if not files.names(f"{landing}/labels/date={d}"):
            files.make_dirs(f"{landing}/labels/date={d}")
            files.touch(f"{landing}/labels/date={d}/labels-000.jsonl")

    # release calendar: one file at the landing root
    rel = release_lines(spark, world.releases(start, cfg.release_day, cfg.release_hour))
    files.delete(f"{tmp}/releases")
    rel.coalesce(1).sortWithinPartitions("o1").select("line").write.mode("overwrite").text(
        f"{tmp}/releases"
    )
    part = [n for n, is_dir in files.names(f"{tmp}/releases") if n.startswith("part-")]
    files.delete(f"{landing}/model_releases.jsonl")
    files.move(f"{tmp}/releases/{part[0]}", f"{landing}/model_releases.jsonl")
    files.delete(tmp)

    rt.warehouse.overwrite(
        truth_frame(accounts, start, days), tables.TRUTH_ACCOUNTS, overwrite_schema=True
    )
    # One small aggregate over the cached accounts: counts for the result.
    stats = (
        accounts.filter(F.col("created_day") < days)
        .agg(
            F.count("*").alias("n"),
            F.sum(F.col("is_attacker").cast("int")).alias("a"),
            F.sum(F.lit(days) - F.greatest(F.col("created_day"), F.lit(0))).alias("snapshot_lines"),
        )
        .first()
    )
    result = SimulateResult(
        start=start,
        days=days,
        scale=cfg.scale,
        seed=seed,
        event_lines=n_event_lines,
        account_lines=int(stats["snapshot_lines"] or 0),
        label_lines=labels.count(),
        accounts=int(stats["n"]),
        attacker_accounts=int(stats["a"] or 0),
        truth_uri=rt.warehouse.location(tables.TRUTH_ACCOUNTS),
    )
    labels.unpersist()
    accounts.unpersist()
    return result


def truth_frame(accounts: DataFrame, start: dt.date, days: int) -> DataFrame:
    """The evaluation truth: accounts that exist by the end of the window, one row each."""

    def day(col: str):
        return F.when(F.col(col) < NEVER, F.date_add(F.lit(start), F.col(col)))

    return accounts.filter(F.col("created_day") < days).select(
        "account_id",
        "population",
        "campaign_id",
        "style",
        "is_attacker",
        "hard_negative",
        F.date_add(F.lit(start), F.col("created_day")).alias("created_date"),
        day("act_start").alias("first_active_date"),
        day("act_end").alias("end_date"),
        day("label_day").alias("distillation_label_date"),
        day("benign_day").alias("benign_label_date"),
        day("susp_from").alias("suspended_date"),
        day("susp_until").alias("reinstated_date"),
        F.col("group_key"),
        F.col("generation"),
        F.col("signup_channel"),
    )
