"""The one typed, frozen settings object.

Built once per process (`Settings()` reads the environment) and passed down as fields. The names
and embedded defaults of the first six settings are fixed by `contracts/outputs.md`; the rest are
the project's own, all with `HYDRAWATCH_` environment variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# A webhook key id: sent in a header, so no spaces, dots or commas.
KEY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


def _is_uri(value: str) -> bool:
    return "://" in value


class Settings(BaseSettings):
    """Where things live and how the pipeline behaves. Immutable once built."""

    model_config = SettingsConfigDict(env_prefix="HYDRAWATCH_", frozen=True, extra="ignore")

    # --- fixed by contracts/outputs.md ---------------------------------------------------------
    landing: str = "./data/landing"
    warehouse: str = "./data/warehouse"
    exports: str = "./data/exports"
    spark_master: str = "local[*]"
    mlflow_tracking_uri: str = Field(
        default="", validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "HYDRAWATCH_MLFLOW_URI")
    )
    prefect_api_url: str | None = Field(default=None, validation_alias="PREFECT_API_URL")

    # --- the project's own ------------------------------------------------------------------------
    # Local folder with the Delta jars resolved by infra/setup.sh; Spark loads them by spark.jars.
    jars_dir: str = str(REPO_ROOT / ".jars")
    spark_driver_memory: str = "6g"
    spark_shuffle_partitions: int = Field(default=8, ge=1)
    # Partitions of Delta's log replay (Delta's default is 50). This project's tables hold
    # thousands of files, not millions: one partition replays them sooner than eight.
    spark_delta_snapshot_partitions: int = Field(default=1, ge=1)
    spark_ui: bool = True
    # JVMs compile with C2 at ten times HotSpot's thresholds (hydrawatch.spark.BATCH_JIT), for
    # a job's minutes-long JVM; off for executors that outlive many jobs.
    spark_batch_jit: bool = True
    # Folder for Spark event logs ("" = off); the bench reads them to say where time goes.
    spark_event_log_dir: str = ""
    # Ingest: a day whose share of quarantined usage lines passes this fails and commits nothing.
    quarantine_max_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # Ingest: events may arrive up to this many days after their UTC day (landing contract).
    max_late_days: int = Field(default=3, ge=0)
    # Registry name of the account classifier.
    model_name: str = "hydrawatch-account-classifier"
    mlflow_experiment: str = "hydrawatch"
    # Optional downstream webhook (Standard Webhooks; hydrawatch/webhook.py): https:// (plain
    # http to localhost only) and a `whsec_<base64>` secret of 24-64 bytes, only ever from the
    # environment. The key id names the secret in each delivery's `Hydrawatch-Key-Ids`; during a
    # rotation the previous secret and its id sign too (docs/publishing.md says how to rotate).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_key_id: str = Field(default="k1", pattern=KEY_ID_PATTERN)
    webhook_previous_secret: SecretStr | None = None
    webhook_previous_key_id: str | None = Field(default=None, pattern=KEY_ID_PATTERN)
    # Optional alerts to the operators (hydrawatch/alerts.py): a failed or late daily run, drift
    # past its bound, a held-back publication; signed like the webhook, with its own secret.
    alert_url: str | None = None
    alert_secret: SecretStr | None = None
    # A daily run finishing more than this many hours after its day ended is late (an alert).
    daily_due_hours: float = Field(default=8.0, gt=0.0)
    # Export folder: a local exports root is replaced by an atomic rename swap. Set false when
    # renames there are not atomic (a bucket mounted with gcsfuse/s3fs): the export then takes
    # the object-store steps through Hadoop, like any s3a:// / gs:// / abfss:// root
    # (hydrawatch/export.py, docs/publishing.md).
    exports_atomic_rename: bool = True
    # Where the simulator writes its truth table (never inside the landing root).
    truth: str = "./data/truth"
    # The daily HTML reports (`hydrawatch report`): <reports>/date=D/report.html.
    reports: str = "./data/reports"
    # Orchestration (flows/): one writer per day. "prefect" = a Prefect global concurrency limit
    # per day (needs a Prefect server: its leases expire when a holder dies); "file" = an OS file
    # lock under <warehouse>/_locks (one machine, local warehouse only); "auto" = prefect when
    # PREFECT_API_URL is set, else file.
    day_lock: str = Field(default="auto", pattern="^(auto|prefect|file)$")
    # How long a second run for the same day waits for the first before it stops with a reason.
    day_lock_wait_seconds: float = Field(default=900.0, ge=0.0)
    # Cron (UTC) of the served `daily` deployment. A scheduled run processes the finished day
    # `daily_lag_days` before its scheduled day, once that day's delivery is complete
    # (hydrawatch/delivery.py, docs/operations.md).
    daily_cron: str = "0 2 * * *"
    daily_lag_days: int = Field(default=1, ge=0, le=30)
    # Warehouse upkeep (jobs/maintain.py): the served `maintain` deployment's cron (UTC) and the
    # VACUUM retention, lengthened per table to keep what registered models were trained on.
    maintain_cron: str = "0 4 * * 0"
    maintain_retention_hours: int = Field(default=168, ge=0)
    # Personal data kept in the warehouse: bronze client IPs and quarantined raw lines older than
    # this many days are blanked by `maintain`, and gone from the files after its VACUUM.
    pii_retention_days: int = Field(default=90, ge=1)
    # A delivery folder is complete with its marker file, or (without a marker, unless one is
    # required) once no file in it changed for the quiet period.
    delivery_marker: str = Field(default="_SUCCESS", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    delivery_require_marker: bool = False
    delivery_quiet_seconds: float = Field(default=600.0, ge=0.0)
    # A scheduled run re-checks every poll interval, then stops (exit code 3) at the deadline.
    delivery_poll_seconds: float = Field(default=60.0, gt=0.0)
    delivery_deadline_seconds: float = Field(default=6 * 3600.0, ge=0.0)
    # Drift: population stability index past this bound raises the day's drift flag.
    drift_psi_bound: float = Field(default=0.25, gt=0.0)
    drift_bins: int = Field(default=10, ge=2)
    # Features, shared-infrastructure graph: an item (IP /24 or /48, ASN, payment fingerprint,
    # e-mail domain, system prompt, user agent) shared by more accounts than this makes no edges;
    # big clouds and popular SDKs would otherwise join everyone into one giant component.
    features_item_max_accounts: int = Field(default=100, ge=2)
    # Infrastructure components: two accounts are linked when they share at least this many
    # strong items (IP prefix, payment fingerprint, system prompt); one shared /24 chains a
    # cloud's tenants and a reseller's egress into one giant component.
    features_infra_min_shared: int = Field(default=3, ge=1)
    # Infrastructure components: an account with more items of one strong kind than this in the
    # window (a reseller's egress over ~800 /24s a week; campaign accounts held at most 52 on the
    # simulator, solo developers 1) makes no edges through that kind. Keep it above the most
    # /24s a rate-limited account can reach through residential proxies in a week.
    features_infra_max_account_items: int = Field(default=200, ge=1)
    # Infrastructure components: no edge crosses the boundary of an organisation of more than
    # this many accounts (a reseller, an enterprise); its members may still be linked together.
    features_infra_max_org_accounts: int = Field(default=2, ge=0)
    # Features: bound on label-propagation rounds of the connected-components step.
    features_cc_max_iter: int = Field(default=20, ge=1)
    # Connected components of at most this many (account, link) rows are solved on the driver
    # with SciPy (one Spark job), larger ones by propagation in Spark; 0 always uses Spark.
    features_cc_driver_max_rows: int = Field(default=2_000_000, ge=0)
    # Features, coordination (SynchroTrap): an account's actions are its prompt templates of the
    # last `features_coord_window_days` days; accounts whose sets have a Jaccard similarity at or
    # above `features_coord_min_jaccard` are linked (docs/features.md says why these values).
    features_coord_window_days: int = Field(default=7, ge=1, le=28)
    features_coord_min_jaccard: float = Field(default=0.25, gt=0.0, le=1.0)
    # Coordination: accounts with fewer distinct templates in the window are not compared (a few
    # shared templates say nothing about a shared script).
    features_coord_min_actions: int = Field(default=5, ge=1)
    # Coordination: a template sent by more accounts than this in the window is dropped before
    # hashing; it would make LSH buckets, and the candidate pairs, quadratic. Raise it with the
    # population (a campaign's own templates must stay under it).
    features_coord_max_action_accounts: int = Field(default=200, ge=2)
    # Coordination: MinHash hash tables (more = fewer missed pairs, more candidates): a pair at
    # Jaccard 0.25 is a candidate with probability 1 - 0.75^10 = 0.94 with 10 tables.
    features_lsh_tables: int = Field(default=10, ge=1)
    features_seed: int = 7
    # Scoring, structural flags (models/scoring.py StructureRule, docs/model.md "Structure"): a
    # cluster is flagged whatever its members' scores when it has at least `min_members`
    # accounts, at least `min_young_share` of them at most 30 days old, at most
    # `max_top_org_share` in one organisation, at least `min_ip_prefixes_per_account` IP prefixes
    # per active account and at least `min_asns` ASNs on the day; its members are flagged
    # unless their organisation holds more than `max_member_org_accounts` accounts.
    structure_flags: bool = True
    structure_min_members: int = Field(default=5, ge=0)
    structure_min_young_share: float = Field(default=0.5, ge=0.0, le=1.0)
    structure_max_top_org_share: float = Field(default=0.5, ge=0.0, le=1.0)
    structure_min_ip_prefixes_per_account: float = Field(default=0.5, ge=0.0)
    structure_min_asns: int = Field(default=3, ge=0)
    # A member of an organisation with more accounts than this is flagged by its own score only,
    # never through its cluster (the roll-up or the structural flags).
    structure_max_member_org_accounts: int = Field(default=2, ge=0)
    # Training (models/, jobs/retrain.py): precision the decision threshold is chosen for.
    target_precision: float = Field(default=0.99, gt=0.0, lt=1.0)
    # The lowest threshold a retrain may choose (a calibrated probability): below it a model flags
    # accounts it itself calls unlikely attackers (docs/model.md, "Threshold").
    train_min_threshold: float = Field(default=0.1, ge=0.0, lt=1.0)
    # Training: unlabelled accounts enter as negatives through a deterministic sample of at most
    # this many (bounds what reaches the driver; docs/model.md says why they are used at all).
    train_unlabelled_sample: int = Field(default=50_000, ge=0)
    # Training: an unlabelled account becomes a negative only once it has been seen this many
    # days (label maturity: decisions arrive days after the behaviour, 3 to 10 on the simulator).
    train_label_maturity_days: int = Field(default=7, ge=0)
    train_seed: int = 7
    # Promotion gate: the recent labelled period both models are compared on, in feature days.
    gate_period_days: int = Field(default=14, ge=1)
    # The gate's absolute minimums (the first model, and any metric the champion cannot be
    # measured on) and the challenger's tolerances against the champion; unset: the defaults
    # of models/validation.py.
    gate_min_pr_auc: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_min_recall: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_min_precision: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_max_fpr: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_tolerance_pr_auc: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_tolerance_recall: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_tolerance_precision: float | None = Field(default=None, ge=0.0, le=1.0)
    gate_tolerance_fpr: float | None = Field(default=None, ge=0.0, le=1.0)
    # Delta commits on S3 (s3a:// or s3:// roots; hydrawatch/objectstore.py, docs/reliability.md):
    # "conditional" = each commit file created with S3's conditional PUT, safe with any number of
    # drivers writing one table; "single-driver" = Delta's S3SingleDriverLogStore, which loses
    # commits when two drivers write one table, refused unless `single_writer` is true.
    s3_log_store: str = Field(default="conditional", pattern="^(conditional|single-driver)$")
    # The operator's word that one driver alone ever writes the warehouse (no served flows beside
    # a CLI, no two commands at once): the only case a single-driver log store is allowed on S3.
    single_writer: bool = False

    @field_validator("landing", "warehouse", "exports", "truth", "reports")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/") or value

    @model_validator(mode="after")
    def _webhook_usable(self) -> Settings:
        # Raises WebhookConfigError (a HydrawatchError, not a ValueError): pydantic lets it
        # through as is, so a person sees one line naming the setting, never the secret.
        from hydrawatch import webhook

        secrets = {
            "HYDRAWATCH_WEBHOOK_SECRET": self.webhook_secret,
            "HYDRAWATCH_WEBHOOK_PREVIOUS_SECRET": self.webhook_previous_secret,
        }
        for name, secret in secrets.items():
            if secret is not None:
                webhook.parse_secret(secret.get_secret_value(), name)
        if (self.webhook_previous_secret is None) != (self.webhook_previous_key_id is None):
            raise webhook.WebhookConfigError(
                "HYDRAWATCH_WEBHOOK_PREVIOUS_SECRET and HYDRAWATCH_WEBHOOK_PREVIOUS_KEY_ID go "
                "together (a rotation in progress); set both or neither"
            )
        if self.webhook_previous_key_id == self.webhook_key_id:
            raise webhook.WebhookConfigError(
                "HYDRAWATCH_WEBHOOK_PREVIOUS_KEY_ID must differ from HYDRAWATCH_WEBHOOK_KEY_ID"
            )
        if self.alert_secret is not None:
            webhook.parse_secret(self.alert_secret.get_secret_value(), "HYDRAWATCH_ALERT_SECRET")
        if self.alert_url:
            webhook.check_url(self.alert_url, "HYDRAWATCH_ALERT_URL")
            if self.alert_secret is None:
                raise webhook.WebhookConfigError(
                    "HYDRAWATCH_ALERT_URL is set but HYDRAWATCH_ALERT_SECRET is not; set both "
                    "or neither"
                )
        if self.webhook_url:
            webhook.check_url(self.webhook_url)
            if self.webhook_secret is None:
                raise webhook.WebhookConfigError(
                    "HYDRAWATCH_WEBHOOK_URL is set but HYDRAWATCH_WEBHOOK_SECRET is not; set "
                    "both or neither"
                )
        return self

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of this process's environment; an invalid value stops with one line.

        A `UsageError` (exit 2) naming the variable, the value and what is wrong with it, instead
        of pydantic's multi-line report (the value is left out for secrets).
        """
        from hydrawatch.errors import UsageError

        try:
            return cls()
        except ValidationError as err:
            raise UsageError(invalid_settings_line(err)) from None

    # --- derived locations (a table's own: hydrawatch.storage.tables.Table.location) ----------
    @property
    def landing_uri(self) -> str:
        return self._absolute(self.landing)

    @property
    def warehouse_uri(self) -> str:
        return self._absolute(self.warehouse)

    @property
    def exports_uri(self) -> str:
        return self._absolute(self.exports)

    @property
    def reports_uri(self) -> str:
        return self._absolute(self.reports)

    @property
    def truth_uri(self) -> str:
        return self._absolute(self.truth)

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking and registry URI; embedded default: SQLite under ./data/mlflow."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        db = Path("./data/mlflow").resolve() / "mlflow.db"
        return f"sqlite:///{db}"

    @property
    def is_local_master(self) -> bool:
        return self.spark_master.startswith("local")

    @staticmethod
    def _absolute(value: str) -> str:
        # Spark resolves relative paths against its own working dir; make them explicit.
        return value if _is_uri(value) else str(Path(value).resolve())


def invalid_settings_line(err: ValidationError) -> str:
    """One line for a failed validation: each bad variable, its value (not a secret's) and why."""
    parts = []
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem.get("loc") else ""
        info = Settings.model_fields.get(field)
        alias = info.validation_alias if info is not None else None
        if isinstance(alias, AliasChoices):
            name = str(alias.choices[0])
        elif isinstance(alias, str):
            name = alias
        else:
            name = f"HYDRAWATCH_{field.upper()}" if field else "settings"
        secret = info is not None and "SecretStr" in str(info.annotation)
        value = "" if secret or "input" not in problem else f"={problem['input']!r}"
        reason = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{name}{value}: {reason}")
    return "invalid setting " + "; ".join(parts)
