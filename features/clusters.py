"""Structural evidence per cluster and day: what a cluster's members share, whatever they ask.

`cluster_evidence(gold, silver, orgs)` reduces each (feature_date, cluster) of both kinds
(coordination: `coord_cluster_id`, shared infrastructure: `infra_cluster_id`) to a few numbers
that describe how the cluster is operated, not what its prompts are about:

- `members`: the cluster's accounts in gold that day (the accounts the score job scores; the
  same count the roll-up uses), `active_members`: those with a request on the day;
- `young_share`: members whose account is at most `young_days` old (unknown age counts as old);
- `median_age_days`: the members' median account age (unknown ages left out, -1 when none);
- `top_org_share`: the share of members in the cluster's most common organisation (0 without
  one): a class, an eval team or a reseller is one organisation; a hydra cluster's farmed
  accounts are not;
- `ip_prefixes`, `asns`: distinct IP prefixes and ASNs the active members sent from that day,
  and `ip_prefixes_per_account` = ip_prefixes / active members: a class behind one campus /24
  gives 1/300, a proxy network rotating /24s gives one or more per account;
- `start_spread_minutes`: the interquartile range of the active members' first request of the
  day, in minutes (coordinated sessions start together);
- `mean_similarity`: the members' mean best template similarity (`coord_max_similarity`).

`org_sizes(orgs)` gives each account the number of accounts of its organisation (0 without one):
the structural flags never flag a member of an established organisation (a reseller's
sub-accounts that share infrastructure with a campaign, an eval team), whose flag needs a score.

A singleton (a cluster id held by one account) gets a row too; the rule that reads these rows
(`models.scoring.StructureRule`) ignores small clusters. Pure: DataFrames in, DataFrame out.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# (kind, gold column), in the order the roll-up reports them.
CLUSTER_KINDS = (("coordination", "coord_cluster_id"), ("infrastructure", "infra_cluster_id"))
YOUNG_DAYS = 30

EVIDENCE_COLUMNS = (
    "members",
    "active_members",
    "young_share",
    "median_age_days",
    "top_org_share",
    "ip_prefixes",
    "asns",
    "ip_prefixes_per_account",
    "start_spread_minutes",
    "mean_similarity",
)


def cluster_evidence(
    gold: DataFrame,
    silver: DataFrame,
    orgs: DataFrame,
    young_days: int = YOUNG_DAYS,
) -> DataFrame:
    """One row per (feature_date, cluster_kind, cluster_id) with `EVIDENCE_COLUMNS`.

    `gold`: gold/account_features rows (account_id, feature_date, account_age_days,
    coord_max_similarity and both cluster ids) of one or more days; `silver`:
    silver/account_daily rows of the same days (account_id, event_date, first_t,
    ip_prefixes, asns); `orgs`: account_id, org_id (the accounts snapshot; a null org is none).
    """
    members = gold.select(
        "account_id",
        "feature_date",
        F.col("account_age_days").cast("double").alias("age"),
        F.col("coord_max_similarity").cast("double").alias("similarity"),
        *[F.col(col).cast("string").alias(col) for _, col in CLUSTER_KINDS],
    ).join(orgs.select("account_id", "org_id").distinct(), "account_id", "left")
    day = silver.select(
        "account_id",
        F.col("event_date").alias("feature_date"),
        "first_t",
        "ip_prefixes",
        "asns",
    )
    parts = []
    for kind, col in CLUSTER_KINDS:
        key = ["feature_date", F.col(col).alias("cluster_id")]
        m = members.select("account_id", "feature_date", col, "age", "similarity", "org_id")
        base = m.groupBy(*key).agg(
            F.count(F.lit(1)).alias("members"),
            F.avg(
                F.when((F.col("age") >= 0) & (F.col("age") <= young_days), 1.0).otherwise(0.0)
            ).alias("young_share"),
            F.coalesce(
                F.percentile_approx(F.when(F.col("age") >= 0, F.col("age")), 0.5), F.lit(-1.0)
            )
            .cast("double")
            .alias("median_age_days"),
            F.coalesce(F.avg("similarity"), F.lit(0.0)).alias("mean_similarity"),
        )
        top_org = (
            m.where(F.col("org_id").isNotNull())
            .groupBy(*key, "org_id")
            .agg(F.count(F.lit(1)).alias("n"))
            .groupBy("feature_date", "cluster_id")
            .agg(F.max("n").alias("top_org_members"))
        )
        active = m.select("account_id", "feature_date", F.col(col).alias("cluster_id")).join(
            day, ["account_id", "feature_date"]
        )
        network = active.groupBy("feature_date", "cluster_id").agg(
            F.count(F.lit(1)).alias("active_members"),
            F.size(F.array_distinct(F.flatten(F.collect_list("ip_prefixes")))).alias("ip_prefixes"),
            F.size(F.array_distinct(F.flatten(F.collect_list("asns")))).alias("asns"),
            (
                (
                    F.percentile_approx("first_t", 0.75, 10_000)
                    - F.percentile_approx("first_t", 0.25, 10_000)
                )
                / 60.0
            ).alias("start_spread_minutes"),
        )
        ev = (
            base.join(top_org, ["feature_date", "cluster_id"], "left")
            .join(network, ["feature_date", "cluster_id"], "left")
            .select(
                "feature_date",
                F.lit(kind).alias("cluster_kind"),
                "cluster_id",
                F.col("members").cast("bigint").alias("members"),
                F.coalesce("active_members", F.lit(0)).cast("bigint").alias("active_members"),
                "young_share",
                "median_age_days",
                (F.coalesce("top_org_members", F.lit(0)) / F.col("members")).alias("top_org_share"),
                F.coalesce("ip_prefixes", F.lit(0)).cast("bigint").alias("ip_prefixes"),
                F.coalesce("asns", F.lit(0)).cast("bigint").alias("asns"),
                F.coalesce(F.col("ip_prefixes") / F.col("active_members"), F.lit(0.0)).alias(
                    "ip_prefixes_per_account"
                ),
                F.coalesce("start_spread_minutes", F.lit(0.0))
                .cast("double")
                .alias("start_spread_minutes"),
                "mean_similarity",
            )
        )
        parts.append(ev)
    return parts[0].unionByName(parts[1])


def org_sizes(orgs: DataFrame) -> DataFrame:
    """account_id, org_accounts: how many accounts of `orgs` share the account's organisation
    (0 for an account without one)."""
    o = orgs.select("account_id", "org_id").distinct()
    sizes = (
        o.where(F.col("org_id").isNotNull())
        .groupBy("org_id")
        .agg(F.count(F.lit(1)).alias("org_accounts"))
    )
    return o.join(sizes, "org_id", "left").select(
        "account_id", F.coalesce("org_accounts", F.lit(0)).cast("bigint").alias("org_accounts")
    )
