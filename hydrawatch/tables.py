"""Names of the Delta tables under the warehouse root, in one place.

`settings.table(NAME)` gives a table's location. The gold tables are fixed by
`contracts/outputs.md`; the others are the project's own (see docs/architecture.md).
"""

# bronze: what landing delivered, validated and deduplicated
BRONZE_USAGE_EVENTS = "bronze/usage_events"  # partitioned by event_date (UTC day of ts)
BRONZE_ACCOUNTS = "bronze/accounts"  # partitioned by snapshot_date
BRONZE_LABELS = "bronze/labels"  # partitioned by delivery_date, full history
BRONZE_MODEL_RELEASES = "bronze/model_releases"  # snapshot of the release calendar
BRONZE_QUARANTINE = "bronze/quarantine"  # partitioned by delivery_date
INGEST_AUDIT = "meta/ingest_audit"  # one row per delivery day and feed

# silver and features
SILVER_ACCOUNT_DAILY = "silver/account_daily"  # per account and event_date partial aggregates
FEATURES_ACCOUNT = "gold/account_features"  # partitioned by feature_date
FEATURES_RUNS = "meta/features_runs"  # per (kind, day): what a silver/gold day was computed from

# scoring and publishing (contract)
GOLD_ACCOUNT_SCORES = "gold/account_scores"
GOLD_SUSPICIOUS_ACCOUNTS = "gold/suspicious_accounts"
# score -> publish hand-over (project's own): the day's flagged accounts with contributions turned
# into reasons and the cluster that flagged them; keeps gold/account_scores to its contract columns.
FLAG_DETAILS = "gold/flag_details"  # partitioned by score_date
WEBHOOK_DELIVERIES = "meta/webhook_deliveries"  # one row per (score_date, export sha256) announced
PUBLICATIONS = "meta/publications"  # one row per published score_date: counts for the DQ gate

# orchestration and monitoring (flows/)
FLOW_PROGRESS = "meta/flow_progress"  # (day, step) completed with which inputs fingerprint
DRIFT = "meta/drift"  # partitioned by score_date: PSI per feature and of the score
