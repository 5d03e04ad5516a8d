"""Pure transforms of daily scoring and publishing: DataFrame + scalars in, DataFrame out.

What this module promises:
- `feature_columns`: which columns of gold/account_features are features (the model's feature
  contract is checked by `models.champion`).
- `cluster_rollup`: the roll-up rule. A coordination cluster (`coord_cluster_id`) or a
  shared-infrastructure cluster (`infra_cluster_id`) in which at least `ROLLUP_MIN_FLAGGED`
  accounts AND at least the share `ROLLUP_MIN_SHARE` of the day's scored members are flagged by
  score has all its other members flagged too, with the reason
  "member of flagged <kind> cluster <id> (k of n flagged)". Cluster sizes count the accounts scored
  that day (the accounts active in the feature window), so the bound is over what was seen.
- `StructureRule` / `structure_flags`: a cluster flagged on its structure alone (young accounts
  of no one organisation on a proxy network: `features.clusters.cluster_evidence`), with no
  label of its style needed; its members are flagged by 'structure' and their reason names the
  evidence ("structure: coordination cluster c of 37 accounts, 92% created in the last 30
  days, ...").
- `reason_codes`: for each account the `TOP_REASONS` features with the largest positive
  contribution to its score, largest first, with their values (contract column `reasons`), and a
  sentence an analyst reads (`reasons_text`), using the catalogue's meaning text when the feature
  catalogue is importable.
- `risk_tier`: critical / high / medium from score bands and cluster size (constants below).
- `first_flagged_dates`: the first day each account was flagged, from the scores history.

Nothing here reads or writes storage; the jobs in jobs/score.py and jobs/publish.py do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.clusters import CLUSTER_KINDS, YOUNG_DAYS

# Columns of gold/account_features that are not model features (docs/architecture.md).
FEATURE_META_COLUMNS = (
    "account_id",
    "feature_date",
    "feature_set_version",
    "infra_cluster_id",
    "coord_cluster_id",
)
CONTRIB_PREFIX = "contrib__"

# --- cluster roll-up --------------------------------------------------------------------------
# A cluster is rolled up only when BOTH hold. The absolute minimum keeps two flagged accounts
# that happen to share a big cloud range from dragging in hundreds of strangers; the share keeps
# a large mixed cluster (a campus network, a reseller) from being flagged on the strength of a
# handful of bad members. Hydra clusters of the threat model are mostly bad, so they pass both.
ROLLUP_MIN_FLAGGED = 3
ROLLUP_MIN_SHARE = 0.5

# --- reasons ----------------------------------------------------------------------------------
TOP_REASONS = 5

# --- risk tiers (scores are calibrated probabilities, so bands are in probability terms) -------
CRITICAL_SCORE = 0.9
HIGH_SCORE = 0.7
# A flagged account in a large cluster is a campaign, whatever its own score says.
CRITICAL_CLUSTER_SIZE = 50
HIGH_CLUSTER_SIZE = 10


def feature_columns(columns: Iterable[str]) -> list[str]:
    """The feature columns of a gold/account_features frame, in table order."""
    return [c for c in columns if c not in FEATURE_META_COLUMNS]


def features_for_day(features: DataFrame, day: dt.date, feature_names: Sequence[str]) -> DataFrame:
    """account_id, feature_date, the cluster ids and the model's features (as double) for one
    feature_date."""
    return features.where(F.col("feature_date") == F.lit(day)).select(
        "account_id",
        "feature_date",
        "infra_cluster_id",
        "coord_cluster_id",
        *[F.col(f).cast("double").alias(f) for f in feature_names],
    )


def flag_by_score(scored: DataFrame, threshold: float) -> DataFrame:
    """Adds `flagged_by_score`: score at or above the model's threshold."""
    return scored.withColumn("flagged_by_score", F.col("score") >= F.lit(float(threshold)))


@dataclass(frozen=True)
class StructureRule:
    """When a cluster is flagged on its structure alone, whatever its members' scores.

    A hydra cluster, whatever it harvests, is many young accounts that belong to no one
    organisation and send from a proxy network: many IP prefixes for its size, over several
    ASNs. Each bound keeps a hard negative out (docs/model.md, "Structure"): a university class
    or an eval team sits behind one campus or corporate /24 on one ASN and is one organisation; a
    reseller's sub-accounts are one organisation; product apps are pairs. Defaults are the
    settings' `structure_*` values.
    """

    min_members: int = 5
    min_young_share: float = 0.5
    max_top_org_share: float = 0.5
    min_ip_prefixes_per_account: float = 0.5
    min_asns: int = 3
    # A member of an organisation with more accounts than this is flagged by its own score only,
    # never through its cluster (roll-up or structure): a reseller's sub-accounts can share a
    # proxy range with a campaign and sit in its infrastructure cluster.
    max_member_org_accounts: int = 2

    @classmethod
    def from_settings(cls, settings) -> StructureRule:
        return cls(
            min_members=settings.structure_min_members,
            min_young_share=settings.structure_min_young_share,
            max_top_org_share=settings.structure_max_top_org_share,
            min_ip_prefixes_per_account=settings.structure_min_ip_prefixes_per_account,
            min_asns=settings.structure_min_asns,
            max_member_org_accounts=settings.structure_max_member_org_accounts,
        )

    def member_eligible(self) -> Column:
        """True for a member the rule may flag (column `org_accounts`; absent or null: none)."""
        return F.coalesce(F.col("org_accounts"), F.lit(0)) <= F.lit(self.max_member_org_accounts)

    def passes(self) -> Column:
        """True for an evidence row (`features.clusters.cluster_evidence`) the rule flags."""
        return (
            (F.col("members") >= F.lit(self.min_members))
            & (F.col("young_share") >= F.lit(self.min_young_share))
            & (F.col("top_org_share") <= F.lit(self.max_top_org_share))
            & (F.col("ip_prefixes_per_account") >= F.lit(self.min_ip_prefixes_per_account))
            & (F.col("asns") >= F.lit(self.min_asns))
        )


def structure_reason(kind: str) -> Column:
    """The sentence naming a cluster's structural evidence (columns of `cluster_evidence`)."""
    return F.format_string(
        "structure: %s cluster %s of %d accounts, %d%% created in the last %d days (median age "
        "%d days), %d%% in its largest organisation, %d IP prefixes over %d ASNs from %d active "
        "accounts, first requests of the day within %d minutes (interquartile)",
        F.lit(kind),
        F.col("cluster_id"),
        F.col("members"),
        F.round(F.col("young_share") * 100).cast("int"),
        F.lit(YOUNG_DAYS),
        F.round("median_age_days").cast("int"),
        F.round(F.col("top_org_share") * 100).cast("int"),
        F.col("ip_prefixes"),
        F.col("asns"),
        F.col("active_members"),
        F.round("start_spread_minutes").cast("int"),
    )


def structure_flags(evidence: DataFrame, rule: StructureRule) -> DataFrame:
    """The clusters `rule` flags: feature_date, cluster_kind, cluster_id, structure_reason."""
    out = None
    for kind, _ in CLUSTER_KINDS:
        part = evidence.where((F.col("cluster_kind") == kind) & rule.passes()).select(
            "feature_date", "cluster_kind", "cluster_id", structure_reason(kind).alias("reason")
        )
        out = part if out is None else out.unionByName(part)
    return out.withColumnRenamed("reason", "structure_reason")


def cluster_rollup(
    scored: DataFrame,
    min_flagged: int = ROLLUP_MIN_FLAGGED,
    min_share: float = ROLLUP_MIN_SHARE,
    structure: DataFrame | None = None,
    rule: StructureRule | None = None,
) -> DataFrame:
    """Apply the roll-up rule (and the structural flags) to a frame with account_id,
    feature_date, flagged_by_score and the cluster ids.

    Clusters are per feature_date, so one frame may hold several days. `structure`: the clusters
    flagged on structure (`structure_flags`), or None for none. A member is flagged through its
    cluster (roll-up or structure) only when `rule.member_eligible()`: the frame's
    `org_accounts` (from `features.clusters.org_sizes`) is at most the rule's
    `max_member_org_accounts`; without the column every member is eligible.

    Adds, per account: `<kind>_cluster_size`, `<kind>_cluster_flagged` and
    `<kind>_structure_reason` for both kinds, `flagged` (by score, by roll-up or by structure),
    `flagged_by` ('score', 'cluster', 'structure' or null, in that order of precedence),
    `cluster_kind`, `cluster_id`, `cluster_size`, `cluster_flagged` (the cluster reported for the
    account: a rolled-up cluster, else a structure-flagged one (coordination before
    infrastructure each time), else its coordination cluster when it has other members, else its
    infrastructure cluster when it has other members, else null / size 1) and `rollup_reason`.
    A null cluster id is no cluster.
    """
    out = scored
    day = ["feature_date"] if "feature_date" in scored.columns else []
    for kind, col in CLUSTER_KINDS:
        w = Window.partitionBy(*day, col)
        size = F.when(F.col(col).isNull(), F.lit(1)).otherwise(F.count(F.lit(1)).over(w))
        flagged = F.when(F.col(col).isNull(), F.col("flagged_by_score").cast("int")).otherwise(
            F.sum(F.col("flagged_by_score").cast("int")).over(w)
        )
        out = out.withColumn(f"{kind}_cluster_size", size.cast("bigint")).withColumn(
            f"{kind}_cluster_flagged", flagged.cast("bigint")
        )
        reason = f"{kind}_structure_reason"
        if structure is None:
            out = out.withColumn(reason, F.lit(None).cast("string"))
        else:
            if not day:
                raise ValueError("structural flags need the scored frame's feature_date")
            flags = structure.where(F.col("cluster_kind") == kind).select(
                "feature_date",
                F.col("cluster_id").alias(col),
                F.col("structure_reason").alias(reason),
            )
            out = out.join(F.broadcast(flags), ["feature_date", col], "left")

    def rolled(kind: str, col: str) -> Column:
        k, n = F.col(f"{kind}_cluster_flagged"), F.col(f"{kind}_cluster_size")
        return (
            F.col(col).isNotNull()
            & (n > 1)
            & (k >= F.lit(min_flagged))
            & (k.cast("double") >= F.lit(float(min_share)) * n.cast("double"))
        )

    # A member of an established organisation is flagged by its own score only: its cluster
    # (roll-up or structure) does not carry it (a reseller's sub-accounts sit in a campaign's
    # infrastructure cluster when they share a proxy range).
    if "org_accounts" in scored.columns:
        eligible = (rule or StructureRule()).member_eligible()
    else:
        eligible = F.lit(True)

    def by_structure(kind: str, col: str) -> Column:
        return F.col(f"{kind}_structure_reason").isNotNull() & eligible

    order = (
        [(kind, rolled(kind, col)) for kind, col in CLUSTER_KINDS]
        + [(kind, by_structure(kind, col)) for kind, col in CLUSTER_KINDS]
        + [(kind, F.col(f"{kind}_cluster_size") > 1) for kind, _ in CLUSTER_KINDS]
    )
    cols = dict(CLUSTER_KINDS)

    def pick(field: str, value_for_kind) -> Column:
        expr = F.lit(None)
        for kind, cond in reversed(order):
            expr = F.when(cond, value_for_kind(kind, cols[kind])).otherwise(expr)
        return expr.alias(field)

    any_rolled = (rolled(*CLUSTER_KINDS[0]) | rolled(*CLUSTER_KINDS[1])) & eligible
    any_structure = by_structure(*CLUSTER_KINDS[0]) | by_structure(*CLUSTER_KINDS[1])
    out = out.select(
        "*",
        pick("cluster_kind", lambda kind, col: F.lit(kind)),
        pick("cluster_id", lambda kind, col: F.col(col).cast("string")),
        pick("cluster_size", lambda kind, col: F.col(f"{kind}_cluster_size")),
        pick("cluster_flagged", lambda kind, col: F.col(f"{kind}_cluster_flagged")),
        F.coalesce(*[F.col(f"{kind}_structure_reason") for kind, _ in CLUSTER_KINDS]).alias(
            "_structure_reason"
        ),
    )
    rollup_text = F.format_string(
        "member of flagged %s cluster %s (%d of %d flagged)",
        F.col("cluster_kind"),
        F.col("cluster_id"),
        F.col("cluster_flagged"),
        F.col("cluster_size"),
    )
    out = (
        out.withColumn("cluster_size", F.coalesce(F.col("cluster_size").cast("bigint"), F.lit(1)))
        .withColumn(
            "cluster_flagged",
            F.coalesce(
                F.col("cluster_flagged").cast("bigint"), F.col("flagged_by_score").cast("bigint")
            ),
        )
        .withColumn("flagged", F.col("flagged_by_score") | any_rolled | any_structure)
        .withColumn(
            "flagged_by",
            F.when(F.col("flagged_by_score"), F.lit("score"))
            .when(any_rolled, F.lit("cluster"))
            .when(any_structure, F.lit("structure")),
        )
        # The roll-up sentence, then the structural evidence whenever there is some: an analyst
        # reads why the cluster looks operated even when the account was flagged by score.
        .withColumn(
            "rollup_reason",
            F.when(
                any_rolled | any_structure,
                F.concat_ws(
                    "; ",
                    F.when(any_rolled, rollup_text),
                    F.col("_structure_reason"),
                ),
            ),
        )
        .drop("_structure_reason")
    )
    return out


def feature_phrases(feature_names: Sequence[str]) -> dict[str, str]:
    """Feature name -> words an analyst understands: the catalogue's meaning, else the name.

    The catalogue (features.catalogue.FEATURES) is built by the features part; entries are read
    duck-typed (attributes `name` / `meaning`, or a tuple (name, meaning, ...)).
    """
    phrases = {f: f.replace("_", " ") for f in feature_names}
    try:
        from features.catalogue import FEATURES  # type: ignore[import-not-found]
    except ImportError:
        return phrases
    for entry in FEATURES:
        if isinstance(entry, Mapping):
            name, meaning = entry.get("name"), entry.get("meaning")
        elif hasattr(entry, "name"):
            name, meaning = entry.name, getattr(entry, "meaning", None)
        else:
            name, meaning = (*tuple(entry), None, None)[:2]
        if name in phrases and meaning:
            phrases[name] = " ".join(str(meaning).split())
    return phrases


def reason_codes(
    scored: DataFrame,
    feature_names: Sequence[str],
    phrases: Mapping[str, str] | None = None,
    top: int = TOP_REASONS,
) -> DataFrame:
    """Adds `reasons` array<struct<feature, value, contribution>> and `reasons_text`.

    Expects the feature columns and `contrib__<feature>` columns (and `rollup_reason` if the
    roll-up ran). Only features that pushed the score up (contribution > 0) are reasons; ties
    on contribution are broken by feature name so the order is deterministic. `reasons_text`
    joins "<phrase> = <value> (+<contribution>)" items with "; " and ends with the roll-up
    reason when there is one.
    """
    phrases = {**feature_phrases(feature_names), **(phrases or {})}
    items = F.array(
        *[
            F.struct(
                (-F.col(f"{CONTRIB_PREFIX}{f}")).alias("neg"),
                F.lit(f).alias("feature"),
                F.col(f).cast("double").alias("value"),
                F.col(f"{CONTRIB_PREFIX}{f}").cast("double").alias("contribution"),
            )
            for f in feature_names
        ]
    )
    positive = F.filter(items, lambda x: x["contribution"] > 0)
    top_items = F.slice(F.sort_array(positive), 1, top)
    reasons = F.transform(
        top_items,
        lambda x: F.struct(
            x["feature"].alias("feature"),
            x["value"].alias("value"),
            x["contribution"].alias("contribution"),
        ),
    )
    phrase_map = F.create_map(*[F.lit(v) for kv in sorted(phrases.items()) for v in kv])
    words = F.transform(
        reasons,
        lambda r: F.format_string(
            "%s = %s (+%s)",
            F.coalesce(phrase_map[r["feature"]], r["feature"]),
            F.format_number(r["value"], 3),
            F.format_number(r["contribution"], 2),
        ),
    )
    rollup = F.col("rollup_reason") if "rollup_reason" in scored.columns else F.lit(None)
    text = F.array_join(F.concat(words, F.array(rollup.cast("string"))), "; ")
    return scored.withColumn("reasons", reasons).withColumn("reasons_text", text)


def risk_tier(score: Column, cluster_size: Column) -> Column:
    """critical / high / medium for a flagged account, from its score and its cluster size."""
    return (
        F.when(
            (score >= F.lit(CRITICAL_SCORE)) | (cluster_size >= F.lit(CRITICAL_CLUSTER_SIZE)),
            F.lit("critical"),
        )
        .when((score >= F.lit(HIGH_SCORE)) | (cluster_size >= F.lit(HIGH_CLUSTER_SIZE)), "high")
        .otherwise(F.lit("medium"))
    )


def first_flagged_dates(scores_history: DataFrame, day: dt.date) -> DataFrame:
    """account_id, first_flagged_date: the earliest score_date <= day on which it was flagged."""
    return (
        scores_history.where((F.col("score_date") <= F.lit(day)) & F.col("flagged"))
        .groupBy("account_id")
        .agg(F.min("score_date").alias("first_flagged_date"))
    )


def suspicious_accounts(
    flagged_details: DataFrame,
    accounts_snapshot: DataFrame,
    first_flagged: DataFrame,
    day: dt.date,
) -> DataFrame:
    """The day's rows of gold/suspicious_accounts (contract columns first, then extras).

    `flagged_details`: the day's flagged accounts as the score job recorded them;
    `accounts_snapshot`: account_id, org_id for the day (no personal column is read);
    `first_flagged`: account_id, first_flagged_date. An account that is flagged today and has no
    earlier flag gets today as its first flagged date.
    """
    orgs = accounts_snapshot.select("account_id", "org_id")
    return (
        flagged_details.join(orgs, "account_id", "left")
        .join(first_flagged, "account_id", "left")
        .select(
            F.lit(day).alias("score_date"),
            "account_id",
            F.col("org_id").cast("string").alias("org_id"),
            F.col("score").cast("double").alias("score"),
            risk_tier(F.col("score"), F.col("cluster_size")).alias("risk_tier"),
            F.col("cluster_id").cast("string").alias("cluster_id"),
            F.col("cluster_size").cast("bigint").alias("cluster_size"),
            "reasons",
            F.col("model_version").cast("string").alias("model_version"),
            F.col("threshold").cast("double").alias("threshold"),
            F.coalesce(F.col("first_flagged_date"), F.lit(day)).alias("first_flagged_date"),
            F.col("model_name").cast("string").alias("model_name"),
            "flagged_by",
            "cluster_kind",
            "reasons_text",
        )
    )
