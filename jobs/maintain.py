"""Job: keep the warehouse healthy (`hydrawatch maintain`): compact, clean, within retention.

What it promises, per Delta table of the warehouse (`hydrawatch.storage.tables.ALL` that exist):
- OPTIMIZE (bin-packing compaction) of the partitions of the last `recent_days` days of a
  partitioned table (a re-run day leaves one small file per write), of the whole of a small
  unpartitioned one. Compaction rewrites data, never changes it: every read returns the same rows.
- VACUUM with a retention of `settings.maintain_retention_hours` (default 7 days), lengthened
  for a table when a registered model version was trained on an older version of it: the files
  of every table version a model's training run recorded (`data_version.<table>` params,
  jobs/retrain.py) stay readable by time travel, and so do their log entries
  (`delta.logRetentionDuration` and `delta.deletedFileRetentionDuration` are set to at least the
  same span).
- Personal data past `settings.pii_retention_days`: bronze `client_ip` and quarantine `raw_line`
  of older days are blanked (NULL, or "" where the column cannot be null: the features read ""
  as no address) before the compaction, so the VACUUM of the same run removes the files that
  still held them once they are past the retention (docs/reliability.md). Training pins no
  version of these two tables.
- The contract tables' CHECK constraints and comments are added where missing (a warehouse made
  before they were declared).
- Its result gives, per table, the active files and bytes before and after, and the retention
  applied; compaction and cleaning never run on the simulator's truth table.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import functions as F

from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables


@dataclass(frozen=True)
class TableUpkeep:
    table: str
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    retention_hours: int
    pinned_versions: tuple[int, ...]  # table versions registered models were trained on


@dataclass(frozen=True)
class MaintainResult:
    tables: tuple[TableUpkeep, ...]

    @property
    def files_before(self) -> int:
        return sum(t.files_before for t in self.tables)

    @property
    def files_after(self) -> int:
        return sum(t.files_after for t in self.tables)


def pinned_versions(rt: Runtime) -> dict[str, set[int]]:
    """{table name: versions} the registered model's versions were trained on."""
    mlf = rt.mlflow
    try:
        versions = mlf.search_model_versions(f"name = '{rt.settings.model_name}'")
    except Exception as err:
        from models.champion import absent, unavailable

        if absent(err):
            return {}
        raise unavailable(rt, err) from None
    pinned: dict[str, set[int]] = {}
    for mv in versions:
        if not mv.run_id:
            continue
        for key, value in mlf.get_run(mv.run_id).data.params.items():
            if key.startswith("data_version."):
                pinned.setdefault(key.removeprefix("data_version."), set()).add(int(value))
    return pinned


def retention_for(base_hours: int, pinned_commit_times: list[dt.datetime], now: dt.datetime) -> int:
    """Hours of retention that keep every pinned version's files: at least `base_hours`, and
    at least the age of the oldest pinned commit plus one hour. Pure."""
    hours = base_hours
    for committed in pinned_commit_times:
        age = (now - committed).total_seconds() / 3600
        hours = max(hours, math.ceil(age) + 1)
    return hours


def run_maintain(rt: Runtime, recent_days: int = 7) -> MaintainResult:
    warehouse = rt.warehouse
    pinned = pinned_versions(rt)
    now = dt.datetime.now(dt.UTC)
    done = []
    for table in tables.ALL:
        if table.root != "warehouse" or not warehouse.exists(table):
            continue
        # A table created before its constraints and comments were declared gets them here.
        if table.constraints or table.comment:
            warehouse.describe(table)
        files_before, bytes_before = warehouse.files(table)
        if table.name in PERSONAL_COLUMNS:
            _blank_personal(warehouse, table, now, rt.settings.pii_retention_days)
        keep = sorted(pinned.get(table.name, set()))
        times = warehouse.commit_times(table)
        hours = retention_for(
            rt.settings.maintain_retention_hours, [times[v] for v in keep if v in times], now
        )
        days = math.ceil(hours / 24)
        warehouse.set_properties(
            table,
            {
                "delta.logRetentionDuration": f"interval {max(days, 30)} days",
                "delta.deletedFileRetentionDuration": f"interval {days} days",
            },
        )
        where = None
        if table.partition:
            cutoff = now.date() - dt.timedelta(days=recent_days)
            # Recent by the data's own days: a backfill of an old window compacts that window.
            latest = warehouse.read(table).agg(F.max(table.partition)).first()[0]
            if latest is not None:
                cutoff = min(cutoff, latest - dt.timedelta(days=recent_days))
            where = f"{table.partition} >= '{cutoff.isoformat()}'"
        warehouse.compact(table, where)
        warehouse.vacuum(table, hours)
        files_after, bytes_after = warehouse.files(table)
        upkeep = TableUpkeep(
            table.name, files_before, bytes_before, files_after, bytes_after, hours, tuple(keep)
        )
        done.append(upkeep)
        rt.say(f"{table.name}: {files_before} -> {files_after} files, retention {hours}h")
    return MaintainResult(tuple(done))


# table -> the personal column it holds past the ingest (the threat model's privacy rule)
PERSONAL_COLUMNS = {
    tables.BRONZE_USAGE_EVENTS.name: "client_ip",
    tables.BRONZE_QUARANTINE.name: "raw_line",
}


def _blank_personal(warehouse, table, now: dt.datetime, retention_days: int) -> None:
    column = PERSONAL_COLUMNS[table.name]
    cutoff = now.date() - dt.timedelta(days=retention_days)
    current = warehouse.read(table)
    nullable = current.schema[column].nullable
    # No min/max statistics of the personal column in the log from now on (the log's commits
    # outlive the data files they describe, up to the log retention).
    others = ",".join(f"`{c}`" for c in current.columns if c not in (column, table.partition))
    warehouse.set_properties(table, {"delta.dataSkippingStatsColumns": others})
    blank = "NULL" if nullable else "''"
    still = f"{column} IS NOT NULL" + ("" if nullable else f" AND {column} <> ''")
    warehouse.update(
        table, f"{column} = {blank}", f"{table.day} < DATE'{cutoff.isoformat()}' AND {still}"
    )
