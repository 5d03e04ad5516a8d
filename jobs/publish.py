"""Job: publish one scored day -> gold/suspicious_accounts, the export folder, the webhook.

What it promises (issue 6, contracts/outputs.md):
- A data-quality gate runs first and publishes nothing when it fails (`DataQualityError`, one
  line): the day's ingest audit is missing or not ok (usage events or the accounts snapshot), its
  quarantine share is above `settings.quarantine_max_share`. Then a gate a person can release
  (`PublicationHeld`): the flagged count jumps beyond `JUMP_FACTOR` x the median of the last
  `JUMP_HISTORY_DAYS` published days (only when at least `JUMP_MIN_COUNT` accounts are flagged,
  so small numbers never trip it); `hydrawatch publish --accept-jump --reason` releases the day,
  and meta/publications records who released it and why.
- gold/suspicious_accounts for the day (replaceWhere score_date = D): the contract columns, then
  `model_name`, `flagged_by`, `cluster_kind`, `reasons_text`. Nothing personal is read: the
  accounts snapshot contributes `org_id` only.
- The export folder (hydrawatch/export.py): the same rows, ordered by score descending then
  account_id, serialised deterministically, so a re-run writes a byte-identical data file; the
  manifest last; the folder replaced whole (a rename swap on a local root, the object-store steps
  through pyarrow.fs on any other). The rows are streamed to the driver partition by
  partition (`toLocalIterator`), bounded by `MAX_EXPORT_ROWS` (checked before streaming).
- meta/publications gets the day's row (row count, sha256, model version) after the export.
- Optional webhook (settings.webhook_url + webhook_secret; hydrawatch/webhook.py): one POST
  signed the Standard Webhooks way, pointing at the export, each time the day's export has a
  content (SHA-256) other than the last one announced for that day; recorded in
  meta/webhook_deliveries after the receiver accepted it. The same content is not sent again.
  A crash between the POST and the record repeats it once with the same `webhook-id`
  (`hw_<day>_r<revision>_<sha256 prefix>`), which receivers dedupe on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import functions as F

from hydrawatch import export, webhook
from hydrawatch.errors import DataQualityError, HydrawatchError, PublicationHeld, UsageError
from hydrawatch.failpoints import failpoint
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from hydrawatch.storage import tables
from hydrawatch.storage.warehouse import Warehouse
from models import scoring
from models.publish_gate import JUMP_HISTORY_DAYS, hold_back_reason, jump_reason

# The export is streamed through the driver; a day above this many flagged accounts is a
# failure somewhere upstream (the threat model's largest campaign had ~24,000 accounts in all).
MAX_EXPORT_ROWS = 500_000

DELIVERIES_SCHEMA = (
    "score_date date, model_version string, url_host string, export_path string, "
    "row_count bigint, sha256 string, status_code int, attempts int, delivered_at timestamp, "
    "webhook_id string, key_ids string"
)
PUBLICATIONS_SCHEMA = (
    "score_date date, model_version string, row_count bigint, sha256 string, "
    "export_folder string, written_at string, released_by string, release_reason string"
)


class MissingScores(HydrawatchError):
    """The day has not been scored (or was scored by the score job of another layout)."""


@dataclass(frozen=True)
class Release:
    """A person's release of a day the jump gate holds back: who, and why (both recorded in
    meta/publications beside the day's publication)."""

    by: str
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise UsageError("--accept-jump needs --reason: say why the jump is expected")


@dataclass(frozen=True)
class PublishResult:
    score_date: dt.date
    model_version: str
    rows: int
    table: str
    export_dir: str
    export_sha256: str
    new_clusters: int  # clusters in today's list that no earlier published day had
    webhook: str  # "sent", "already sent", or "off"
    released: str | None = None  # the jump gate's reason, when a person released the day


def run_publish(rt: Runtime, score_date: dt.date, release: Release | None = None) -> PublishResult:
    """Gate, then publish `score_date`: table, export folder, publication record, webhook.

    The input gate (`hold_back_reason`) cannot be overridden: the inputs are wrong. The jump gate
    (`jump_reason`) holds a day a person may release (`release`): a real wave can do that.
    """
    settings = rt.settings
    warehouse = rt.warehouse
    details = warehouse.day(tables.FLAG_DETAILS, score_date)
    scores = warehouse.day(tables.GOLD_ACCOUNT_SCORES, score_date)
    model_versions = (
        []
        if scores is None
        else [r.model_version for r in scores.select("model_version").distinct().limit(5).collect()]
    )
    if len(model_versions) != 1 or details is None:
        raise MissingScores(
            f"{score_date} is not scored (or scored by several model versions: "
            f"{model_versions}); run `hydrawatch backfill --start {score_date} --end "
            f"{score_date} --steps score` first"
        )
    model_version = model_versions[0]
    flagged = details.count()

    reason = hold_back_reason(
        audit_rows=_audit_rows(warehouse, score_date),
        max_quarantine_share=settings.quarantine_max_share,
    )
    if reason:
        raise DataQualityError(f"{score_date} held back, nothing published: {reason}")
    jump = jump_reason(flagged, _recent_counts(warehouse, score_date))
    if jump and release is None:
        raise PublicationHeld(
            f"{score_date} held back, nothing published: {jump}; to publish it anyway run "
            f'`hydrawatch publish --date {score_date} --accept-jump --reason "..."`'
        )
    if flagged > MAX_EXPORT_ROWS:
        raise DataQualityError(
            f"{score_date} held back: {flagged} flagged accounts exceed the export bound "
            f"{MAX_EXPORT_ROWS}; check the model and the day's inputs"
        )

    rows = scoring.suspicious_accounts(
        details,
        _accounts_snapshot(warehouse, score_date),
        scoring.first_flagged_dates(warehouse.read(tables.GOLD_ACCOUNT_SCORES), score_date),
        score_date,
    )
    warehouse.replace_days(rows, tables.GOLD_SUSPICIOUS_ACCOUNTS, [score_date])
    failpoint("publish.after_table")

    published = warehouse.day(tables.GOLD_SUSPICIOUS_ACCOUNTS, score_date)
    ordered = published.orderBy(F.col("score").desc(), F.col("account_id"))
    result = export.write_export(
        settings.exports_uri,
        score_date,
        (r.asDict(recursive=True) for r in ordered.toLocalIterator()),
        model_version,
        model_name=settings.model_name,
        atomic_rename=settings.exports_atomic_rename,
    )
    # meta/publications is one small unpartitioned table: another day's publish committing first
    # is a conflict, and the day's replacement is simply done again (by the warehouse).
    warehouse.replace_days(
        rt.spark.createDataFrame(
            [
                (
                    score_date,
                    model_version,
                    result.row_count,
                    result.sha256,
                    result.folder,
                    result.written_at,
                    release.by if jump and release else None,
                    release.reason.strip() if jump and release else None,
                )
            ],
            PUBLICATIONS_SCHEMA,
        ),
        tables.PUBLICATIONS,
        [score_date],
        merge_schema=True,  # the release columns came after the first publications
    )
    failpoint("publish.before_webhook")
    sent = _webhook(warehouse, settings, score_date, result) if settings.webhook_url else "off"
    return PublishResult(
        score_date=score_date,
        model_version=model_version,
        rows=result.row_count,
        table=warehouse.location(tables.GOLD_SUSPICIOUS_ACCOUNTS),
        export_dir=result.folder,
        export_sha256=result.sha256,
        new_clusters=_new_clusters(warehouse, score_date),
        webhook=sent,
        released=jump if release else None,
    )


def _webhook(
    warehouse: Warehouse, settings: Settings, day: dt.date, result: export.ExportResult
) -> str:
    announced = _announced(warehouse, day)
    if announced and announced[-1] == result.sha256:
        return "already sent"
    # A new content for the day, or a content announced before but not last (A, B, then A
    # again after a rollback): the revision makes it a new announcement with a new id. The
    # same content re-published after a crash between the POST and the record gets the same
    # revision, so the same id, and the receiver dedupes it.
    revision = len(announced) + 1
    msg_id = f"hw_{day.isoformat()}_r{revision}_{result.sha256[:32]}"
    url = str(settings.webhook_url)
    body = webhook.canonical_json(
        {
            "type": "suspicious_accounts.published",
            "score_date": day.isoformat(),
            "model_name": settings.model_name,
            "model_version": result.model_version,
            "export_folder": result.folder,
            "data_file": result.data_file,
            "manifest": result.manifest_file,
            "row_count": result.row_count,
            "sha256": result.sha256,
        }
    )
    assert settings.webhook_secret is not None  # Settings refuses a URL without a secret
    previous = settings.webhook_previous_secret
    keys = webhook.signing_keys(
        settings.webhook_key_id,
        settings.webhook_secret.get_secret_value(),
        settings.webhook_previous_key_id,
        previous.get_secret_value() if previous is not None else None,
    )
    delivery = webhook.post_signed(url, body, keys, msg_id)
    failpoint("publish.after_webhook")
    record = warehouse.spark.createDataFrame(
        [
            (
                day,
                result.model_version,
                webhook.redact_url(url),
                result.folder,
                result.row_count,
                result.sha256,
                delivery.status_code,
                delivery.attempts,
                # An audit record of when the receiver accepted it (wall clock by nature).
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                msg_id,
                " ".join(k.key_id for k in keys),
            )
        ],
        DELIVERIES_SCHEMA,
    )
    # merge_schema: a table written before webhook_id and key_ids existed gains them (null in
    # its old rows).
    warehouse.append(record, tables.WEBHOOK_DELIVERIES, merge_schema=True)
    return "sent"


def _announced(warehouse: Warehouse, day: dt.date) -> list[str]:
    """SHA-256 of each content announced for `day`, oldest first (a handful per day)."""
    sent = warehouse.day(tables.WEBHOOK_DELIVERIES, day)
    if sent is None:
        return []
    return [r.sha256 for r in sent.orderBy("delivered_at").select("sha256").collect()]


def _new_clusters(warehouse: Warehouse, day: dt.date) -> int:
    published = warehouse.read(tables.GOLD_SUSPICIOUS_ACCOUNTS).where(
        F.col("cluster_id").isNotNull()
    )
    today = published.where(F.col("score_date") == F.lit(day)).select("cluster_id").distinct()
    before = published.where(F.col("score_date") < F.lit(day)).select("cluster_id")
    return today.join(before, "cluster_id", "left_anti").count()


def _audit_rows(warehouse: Warehouse, day: dt.date) -> dict[str, dict]:
    audit = warehouse.day(tables.INGEST_AUDIT, day)
    if audit is None:
        return {}
    # one row per feed: at most four
    rows = audit.select("feed", "status", "lines", "quarantined").collect()
    return {r.feed: r.asDict() for r in rows}


def _recent_counts(warehouse: Warehouse, day: dt.date) -> list[int]:
    published = warehouse.read_if_exists(tables.PUBLICATIONS)
    if published is None:
        return []
    rows = (
        published.where(F.col("score_date") < F.lit(day))
        .orderBy(F.col("score_date").desc())
        .limit(JUMP_HISTORY_DAYS)
        .select("row_count")
        .collect()
    )
    return [int(r.row_count) for r in rows]


def _accounts_snapshot(warehouse: Warehouse, day: dt.date):
    """account_id, org_id from the latest accounts snapshot on or before the day."""
    snapshot = warehouse.latest_snapshot(day)
    if snapshot is None:
        return warehouse.spark.createDataFrame([], "account_id string, org_id string")
    return snapshot.select("account_id", "org_id")
