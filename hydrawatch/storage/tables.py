"""The Delta tables of the pipeline, in one place: name, partition column, key.

A `Table` is an identity, not a location: `Warehouse.location(table)` (hydrawatch/storage) puts it
under the warehouse root (or, for the simulator's truth, the truth root). The gold tables are
fixed by `contracts/outputs.md`; the others are the project's own (docs/architecture.md lists who
writes each one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hydrawatch.settings import Settings


@dataclass(frozen=True)
class Table:
    name: str  # path under its root, e.g. "bronze/usage_events"
    partition: str | None = None  # Delta partition column
    key: tuple[str, ...] = ()  # what identifies a row (the MERGE condition of `Warehouse.merge`)
    # The column a day's rows are replaced by (`Warehouse.replace_days`): the partition column,
    # or a date column of a small unpartitioned table.
    day_column: str | None = None
    root: Literal["warehouse", "truth"] = "warehouse"
    # Delta CHECK constraints (name, SQL expression) every row must meet; a write that breaks
    # one fails whole (`Warehouse`: one line naming the constraint).
    constraints: tuple[tuple[str, str], ...] = ()
    # What the table and its columns hold, as Delta table and column comments.
    comment: str = ""
    column_comments: tuple[tuple[str, str], ...] = ()

    def location(self, settings: Settings) -> str:
        """Where the table lives: `<warehouse>/<name>` (or `<truth>/<name>`)."""
        root = settings.truth_uri if self.root == "truth" else settings.warehouse_uri
        return f"{root}/{self.name}"

    @property
    def day(self) -> str:
        column = self.day_column or self.partition
        if column is None:
            raise ValueError(f"table {self.name} has no day column")
        return column


# bronze: what landing delivered, validated and deduplicated
BRONZE_USAGE_EVENTS = Table("bronze/usage_events", "event_date", ("event_id",))
BRONZE_ACCOUNTS = Table("bronze/accounts", "snapshot_date", ("account_id", "snapshot_date"))
# full history of decisions, one row per decision
BRONZE_LABELS = Table(
    "bronze/labels", "delivery_date", ("account_id", "decided_at", "label", "source")
)
BRONZE_MODEL_RELEASES = Table("bronze/model_releases", key=("model",))  # snapshot of the calendar
BRONZE_QUARANTINE = Table("bronze/quarantine", "delivery_date")
INGEST_AUDIT = Table("meta/ingest_audit", key=("delivery_date", "feed"), day_column="delivery_date")

# silver and features
SILVER_ACCOUNT_DAILY = Table("silver/account_daily", "event_date", ("account_id", "event_date"))
# Its column comments come with the frame (features/catalogue.py, the layer that knows them).
FEATURES_ACCOUNT = Table(
    "gold/account_features",
    "feature_date",
    ("account_id", "feature_date"),
    comment="One row per account with a request in the 28 days up to feature_date: the "
    "feature catalogue (docs/features.md)",
)
# per (kind, day): what a silver/gold day was computed from
FEATURES_RUNS = Table("meta/features_runs", key=("kind", "day"))

# scoring and publishing (contract)
_KEYS_PRESENT = ("keys_present", "account_id IS NOT NULL AND score_date IS NOT NULL")
_SCORE_RANGE = ("score_in_unit_range", "score >= 0 AND score <= 1")
_CONTRACT_COLUMNS = (
    ("score_date", "the day scored"),
    ("account_id", "the account (pseudonymous id)"),
    ("score", "calibrated probability that the account is part of a distillation campaign"),
    ("model_name", "registered model name"),
    ("model_version", "registered model version used"),
)
GOLD_ACCOUNT_SCORES = Table(
    "gold/account_scores",
    "score_date",
    ("account_id", "score_date"),
    constraints=(_KEYS_PRESENT, _SCORE_RANGE),
    comment="Every scored account of every scored day (contracts/outputs.md)",
    column_comments=(
        *_CONTRACT_COLUMNS,
        ("flagged", "score at or above the threshold, or member of a flagged cluster"),
    ),
)
GOLD_SUSPICIOUS_ACCOUNTS = Table(
    "gold/suspicious_accounts",
    "score_date",
    ("account_id", "score_date"),
    constraints=(
        _KEYS_PRESENT,
        _SCORE_RANGE,
        ("known_risk_tier", "risk_tier IN ('critical', 'high', 'medium')"),
        ("flag_has_a_reason", "reasons_text IS NOT NULL AND length(reasons_text) > 0"),
    ),
    comment="The flagged accounts of each published day, with their reasons (contracts/outputs.md)",
    column_comments=(
        *_CONTRACT_COLUMNS,
        ("risk_tier", "critical, high or medium, from the score and the cluster size"),
        ("reasons", "the top features behind the score, largest contribution first"),
        ("first_flagged_date", "the first day the account was flagged"),
    ),
)
# shadow scoring (project's own): what a non-champion model would have flagged, per day and model
# version; never read by publish (jobs/shadow.py)
SHADOW_SCORES = Table(
    "gold/shadow_scores", "score_date", ("account_id", "score_date", "model_version")
)
SHADOW_FLAG_DETAILS = Table(
    "gold/shadow_flag_details", "score_date", ("account_id", "score_date", "model_version")
)
# score -> publish hand-over (project's own): the day's flagged accounts with contributions turned
# into reasons and the cluster that flagged them; keeps gold/account_scores to its contract columns.
FLAG_DETAILS = Table("gold/flag_details", "score_date", ("account_id", "score_date"))
# one row per (score_date, export sha256) announced
WEBHOOK_DELIVERIES = Table(
    "meta/webhook_deliveries", key=("score_date", "sha256"), day_column="score_date"
)
# one row per published score_date: counts for the publish gate
PUBLICATIONS = Table("meta/publications", key=("score_date",), day_column="score_date")

# orchestration and monitoring (flows/)
FLOW_PROGRESS = Table("meta/flow_progress", key=("day", "step"))  # completed with which inputs
DRIFT = Table("meta/drift", "score_date", ("score_date", "feature"))  # PSI per feature and score

# the simulator's truth, under the truth root (evaluation only, never read by the daily jobs)
TRUTH_ACCOUNTS = Table("accounts", key=("account_id",), root="truth")

ALL = (
    BRONZE_USAGE_EVENTS,
    BRONZE_ACCOUNTS,
    BRONZE_LABELS,
    BRONZE_MODEL_RELEASES,
    BRONZE_QUARANTINE,
    INGEST_AUDIT,
    SILVER_ACCOUNT_DAILY,
    FEATURES_ACCOUNT,
    FEATURES_RUNS,
    GOLD_ACCOUNT_SCORES,
    GOLD_SUSPICIOUS_ACCOUNTS,
    FLAG_DETAILS,
    SHADOW_SCORES,
    SHADOW_FLAG_DETAILS,
    WEBHOOK_DELIVERIES,
    PUBLICATIONS,
    FLOW_PROGRESS,
    DRIFT,
    TRUTH_ACCOUNTS,
)
