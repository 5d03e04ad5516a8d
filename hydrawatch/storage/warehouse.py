"""The Delta warehouse: every read and write of a pipeline table goes through `Warehouse`.

What it promises:
- `location(table)`: where a table lives (`hydrawatch.storage.tables`), the one place a table's
  name becomes a path.
- Reads: `read` (the current version; `MissingTable` when the table does not exist yet),
  `read_if_exists` (None instead), `read_pinned` (read at the table's current version and say
  which, so a run can record exactly what it saw), `day` (a day's rows of a table by its day
  column), `latest_snapshot` (the newest `bronze/accounts` snapshot on or before a day, the one
  place that query is written).
- Writes, each one idempotent and run through the conflict retry (`conflicts.retry_conflicts`):
  `replace_days` (a day's rows, `replaceWhere` on the table's day column: the partitions a run
  owns), `overwrite` (a whole snapshot table), `append` (audit records), `merge` (an upsert on
  the table's key, which creates the table on its first write; optional scope, update condition
  and deletion of the target rows the source no longer has).
- Nothing else in the project opens a Delta table by path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.errors import DataQualityError, HydrawatchError
from hydrawatch.settings import Settings
from hydrawatch.storage import tables
from hydrawatch.storage.conflicts import retry_conflicts
from hydrawatch.storage.tables import Table

# Delta refuses a VACUUM retention under its default (7 days) unless its check is turned off.
DELTA_DEFAULT_RETENTION_HOURS = 168


class MissingTable(HydrawatchError):
    """A table a job reads does not exist yet."""


class ConstraintViolated(DataQualityError):
    """A write broke a CHECK constraint of its table; nothing of it was committed."""


def sql_dates(days: Iterable[dt.date]) -> str:
    return ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(days)))


class Warehouse:
    """Delta reads and writes of the pipeline's tables, for one Spark session and settings."""

    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark = spark
        self.settings = settings

    def location(self, table: Table) -> str:
        return table.location(self.settings)

    # --- reads ---------------------------------------------------------------------------------

    def exists(self, table: Table) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def _missing(self, table: Table) -> MissingTable:
        return MissingTable(
            f"table {self.location(table)} does not exist yet: run the step that writes it"
        )

    def read(self, table: Table, *, version: int | None = None) -> DataFrame:
        if not self.exists(table):
            raise self._missing(table)
        return self._load(table, version)

    def _load(self, table: Table, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.location(table))

    def read_if_exists(self, table: Table) -> DataFrame | None:
        return self._load(table) if self.exists(table) else None

    def version(self, table: Table) -> int:
        """The table's current version (its latest commit)."""
        from delta.tables import DeltaTable

        history = DeltaTable.forPath(self.spark, self.location(table)).history(1)
        return int(history.select("version").first()[0])

    def read_pinned(self, table: Table) -> tuple[DataFrame, int]:
        """The table at its current version, and that version: later commits are not seen."""
        if not self.exists(table):
            raise self._missing(table)
        version = self.version(table)
        return self._load(table, version), version

    def day(self, table: Table, day: dt.date) -> DataFrame | None:
        """The table's rows of `day` (by its day column), or None when the table does not exist."""
        df = self.read_if_exists(table)
        return None if df is None else df.where(F.col(table.day) == F.lit(day))

    def latest_snapshot(self, day: dt.date) -> DataFrame | None:
        """The newest `bronze/accounts` snapshot on or before `day`, or None when there is none."""
        accounts = self.read_if_exists(tables.BRONZE_ACCOUNTS)
        if accounts is None:
            return None
        on_or_before = accounts.where(F.col("snapshot_date") <= F.lit(day))
        latest = on_or_before.agg(F.max("snapshot_date")).first()[0]
        if latest is None:
            return None
        return accounts.where(F.col("snapshot_date") == F.lit(latest))

    def rows_written(self, table: Table) -> int:
        """Rows of the table's last data write, from the Delta log (no pass over the data).

        A table's first write is followed by metadata-only commits (its comments and
        constraints, see `describe`), which carry no row count: they are skipped."""
        from delta.tables import DeltaTable

        metadata_commits = len(table.constraints) + len(table.column_comments) + 1
        where = self.location(table)
        history = DeltaTable.forPath(self.spark, where).history(metadata_commits + 1)
        for commit in history.orderBy(F.col("version").desc()).collect():
            metrics = commit["operationMetrics"] or {}
            if "numOutputRows" in metrics:
                return int(metrics["numOutputRows"])
        return 0

    # --- writes --------------------------------------------------------------------------------

    def replace_days(
        self,
        df: DataFrame,
        table: Table,
        days: Iterable[dt.date],
        *,
        merge_schema: bool = False,
        also: str | None = None,
    ) -> None:
        """Replace exactly the rows of `days` (the table's day column) with `df`; with `also`
        (a predicate), only the rows of those days that it selects (one model's shadow rows).

        `merge_schema`: a new feature set version may add columns; the table gains them (older
        rows read as null). Writes to disjoint partitions never conflict; the small unpartitioned
        tables conflict with another day's run and are simply written again.
        """
        days = sorted(set(days))
        predicate = f"{table.day} IN ({sql_dates(days)})"
        if also:
            predicate = f"{predicate} AND ({also})"
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        if table.partition:
            writer = writer.partitionBy(table.partition)
        where = self.location(table)
        self._checked(table, lambda: writer.save(where), f"replace {predicate} in {where}")

    def overwrite(self, df: DataFrame, table: Table, *, overwrite_schema: bool = False) -> None:
        """Replace the whole table (a snapshot such as the release calendar)."""
        options = {"overwriteSchema": "true"} if overwrite_schema else {}
        self._save(df, table, "overwrite", options)

    def append(self, df: DataFrame, table: Table, *, merge_schema: bool = False) -> None:
        """Add rows (audit records). `merge_schema`: the table gains the frame's new columns
        (older rows read as null)."""
        self._save(df, table, "append", {"mergeSchema": "true"} if merge_schema else {})

    def _save(self, df: DataFrame, table: Table, mode: str, options: dict[str, str]) -> None:
        writer = df.write.format("delta").mode(mode).options(**options)
        if table.partition:
            writer = writer.partitionBy(table.partition)
        where = self.location(table)
        self._checked(table, lambda: writer.save(where), f"{mode} {where}")

    def merge(
        self,
        source: DataFrame,
        table: Table,
        *,
        scope: str | None = None,
        update_if: str | None = None,
        delete_if: str | None = None,
        evolve_schema: bool = False,
    ) -> None:
        """Upsert `source` (one row per key of `table`) into the table: MERGE on the key.

        A matched row is replaced (only where `update_if` holds, e.g. "the earlier delivery
        wins"); a new key is inserted; with `delete_if`, a target row the source does not have
        and that the predicate selects is deleted (a re-run replacing exactly what it owns).
        `scope` (a predicate on the target `t`) bounds the partitions read and changed. The first
        write creates the table (appending: a run creating it beside another must not wipe the
        other's rows; the concurrent create is a conflict, retried as a MERGE). The predicates
        name the target `t` and the source `s`. `evolve_schema`: the table gains the source's new
        columns (older rows read as null).
        """
        from delta.tables import DeltaTable

        where = self.location(table)
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.key)
        if scope:
            on = f"({scope}) AND {on}"

        def write() -> None:
            if not self.exists(table):
                writer = source.write.format("delta").mode("append")
                if table.partition:
                    writer = writer.partitionBy(table.partition)
                writer.save(where)
                return
            merge = (
                DeltaTable.forPath(self.spark, where)
                .alias("t")
                .merge(source.alias("s"), on)
                .whenMatchedUpdateAll(condition=update_if)
                .whenNotMatchedInsertAll()
            )
            if delete_if:
                merge = merge.whenNotMatchedBySourceDelete(condition=delete_if)
            if evolve_schema:
                merge = merge.withSchemaEvolution()
            merge.execute()

        self._checked(table, write, f"merge into {where}")

    # --- upkeep (jobs/maintain.py) -------------------------------------------------------------

    def files(self, table: Table) -> tuple[int, int]:
        """(active data files, their bytes) of the table's current version."""
        row = self.spark.sql(f"DESCRIBE DETAIL delta.`{self.location(table)}`").first()
        return int(row["numFiles"]), int(row["sizeInBytes"])

    def commit_times(self, table: Table) -> dict[int, dt.datetime]:
        """{version: commit time (UTC)} of the versions the table's log still has."""
        from delta.tables import DeltaTable

        history = DeltaTable.forPath(self.spark, self.location(table)).history()
        return {
            int(r["version"]): r["timestamp"].replace(tzinfo=dt.UTC)
            for r in history.select("version", "timestamp").collect()
            if r["timestamp"] is not None
        }

    def set_properties(self, table: Table, properties: dict[str, str]) -> None:
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
        self.spark.sql(f"ALTER TABLE delta.`{self.location(table)}` SET TBLPROPERTIES ({pairs})")

    def update(self, table: Table, assignments: str, where: str) -> None:
        """UPDATE rows in place (rewrites the files holding them)."""
        self.spark.sql(f"UPDATE delta.`{self.location(table)}` SET {assignments} WHERE {where}")

    def compact(self, table: Table, where: str | None = None) -> None:
        """OPTIMIZE (bin-packing) of the table, or of the partitions `where` selects."""
        from delta.tables import DeltaTable

        optimize = DeltaTable.forPath(self.spark, self.location(table)).optimize()
        if where:
            optimize = optimize.where(where)
        optimize.executeCompaction()

    def vacuum(self, table: Table, hours: int) -> None:
        """VACUUM with `hours` of retention; under Delta's own default (7 days) its safety check
        is turned off for this call only (the caller chose the retention)."""
        from delta.tables import DeltaTable

        delta = DeltaTable.forPath(self.spark, self.location(table))
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        if hours >= DELTA_DEFAULT_RETENTION_HOURS:
            delta.vacuum(hours)
            return
        previous = self.spark.conf.get(check, "true")
        self.spark.conf.set(check, "false")
        try:
            delta.vacuum(hours)
        finally:
            self.spark.conf.set(check, previous)

    # --- constraints and comments ---------------------------------------------------------------

    def _checked(self, table: Table, write, what: str) -> None:
        """Run the write through the conflict retry; a broken CHECK constraint becomes one line;
        a table with constraints or comments gets them after its first write."""
        try:
            self._fenced(lambda: retry_conflicts(write, what))
        except Exception as err:
            violated = _violated_constraint(err)
            if violated is None:
                raise
            raise ConstraintViolated(
                f"{self.location(table)} refused the write: CHECK constraint {violated} is "
                "violated; nothing was committed (a bug upstream of this table: report it)"
            ) from None
        if table.constraints or table.comment:
            self.describe(table)

    def _fenced(self, write) -> None:
        """Commit only while every lock this context holds is still ours (hydrawatch/locks.py:
        a holder whose lease lapsed must not write), and record the locks' epochs in the
        commit's `userMetadata`."""
        from hydrawatch import locks

        locks.check_fences()
        note = locks.commit_note()
        if not note:
            write()
            return
        key = "spark.databricks.delta.commitInfo.userMetadata"
        self.spark.conf.set(key, note)
        try:
            write()
        finally:
            self.spark.conf.unset(key)

    def describe(self, table: Table) -> None:
        """Add the table's CHECK constraints and comments that it does not have yet (idempotent:
        a constraint already there is left alone)."""
        where = self.location(table)
        detail = self.spark.sql(f"DESCRIBE DETAIL delta.`{where}`").first()
        props = detail["properties"] or {}
        for name, expression in table.constraints:
            if f"delta.constraints.{name.lower()}" not in props:
                self.spark.sql(
                    f"ALTER TABLE delta.`{where}` ADD CONSTRAINT {name} CHECK ({expression})"
                )
        if table.comment and detail["description"] != table.comment:
            comment = table.comment.replace("'", "\\'")
            self.spark.sql(
                f"ALTER TABLE delta.`{where}` SET TBLPROPERTIES ('comment' = '{comment}')"
            )
            for column, text in table.column_comments:
                text = text.replace("'", "\\'")
                self.spark.sql(
                    f"ALTER TABLE delta.`{where}` ALTER COLUMN {column} COMMENT '{text}'"
                )


def _violated_constraint(err: Exception) -> str | None:
    """The name of the CHECK constraint a Delta write error reports, or None."""
    import re

    text = str(err)
    found = re.search(r"CHECK constraint (\S+)", text)
    if found and ("violated" in text or "DELTA_VIOLATE_CONSTRAINT" in text):
        return found.group(1)
    return None
