"""gold/account_features for one feature date, assembled from silver rows and the snapshot.

`gold_features(silver, snapshot, releases, feature_date, params)` returns exactly the table's
columns (`gold_columns()`): one row per account with a request in the 28 days up to and
including the feature date, every catalogue feature as a non-null double (the catalogue's
default where undefined), the feature-set version and the two cluster ids. It reads silver
rows of those 28 days only, the snapshot given (the job passes the latest on or before the
feature date) and the release calendar up to the feature date: nothing after the feature
date can change the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.account import account_features, geo_features
from features.catalogue import (
    COORD_MEANS,
    DEFAULTS,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    INFRA_MEANS,
    KEY_COLUMNS,
    TRAILING_COLUMNS,
    column_comments,
)
from features.coordination import coordination_features
from features.graph import DRIVER_MAX_ROWS, cluster_aggregates, infra_features
from features.windows import lookback, ratio, release_features, window_features


@dataclass(frozen=True)
class GraphParams:
    max_item_accounts: int = 100
    infra_min_shared: int = 3
    infra_max_account_items: int = 200
    infra_max_org_accounts: int = 2
    cc_max_iter: int = 20
    cc_driver_max_rows: int = DRIVER_MAX_ROWS
    coord_window_days: int = 7
    coord_min_jaccard: float = 0.25
    coord_min_actions: int = 5
    coord_max_action_accounts: int = 200
    lsh_tables: int = 10
    seed: int = 7

    @classmethod
    def from_settings(cls, settings) -> GraphParams:
        return cls(
            max_item_accounts=settings.features_item_max_accounts,
            infra_min_shared=settings.features_infra_min_shared,
            infra_max_account_items=settings.features_infra_max_account_items,
            infra_max_org_accounts=settings.features_infra_max_org_accounts,
            cc_max_iter=settings.features_cc_max_iter,
            cc_driver_max_rows=settings.features_cc_driver_max_rows,
            coord_window_days=settings.features_coord_window_days,
            coord_min_jaccard=settings.features_coord_min_jaccard,
            coord_min_actions=settings.features_coord_min_actions,
            coord_max_action_accounts=settings.features_coord_max_action_accounts,
            lsh_tables=settings.features_lsh_tables,
            seed=settings.features_seed,
        )

    def coordination(self, silver: DataFrame, feature_date: dt.date) -> tuple[DataFrame, int]:
        """`coordination_features` with these parameters."""
        return coordination_features(
            silver,
            feature_date,
            window_days=self.coord_window_days,
            min_jaccard=self.coord_min_jaccard,
            min_actions=self.coord_min_actions,
            max_action_accounts=self.coord_max_action_accounts,
            num_tables=self.lsh_tables,
            seed=self.seed,
            max_iter=self.cc_max_iter,
            driver_max_rows=self.cc_driver_max_rows,
        )


@dataclass(frozen=True)
class GoldStats:
    infra_cc_rounds: int
    coord_cc_rounds: int


def gold_columns() -> tuple[str, ...]:
    return (*KEY_COLUMNS, *FEATURE_NAMES, *TRAILING_COLUMNS)


def _fill(df: DataFrame, names: tuple[str, ...] | list[str]) -> list[F.Column]:
    present = set(df.columns)
    return [
        (
            F.coalesce(F.col(n).cast("double"), F.lit(DEFAULTS[n]))
            if n in present
            else F.lit(DEFAULTS[n])
        ).alias(n)
        for n in names
    ]


def gold_features(
    silver: DataFrame,
    snapshot: DataFrame,
    releases: DataFrame,
    feature_date: dt.date,
    params: GraphParams,
) -> tuple[DataFrame, GoldStats]:
    """Every catalogue feature for every account active in the 28 days up to `feature_date`."""
    s = lookback(silver, feature_date)
    active = s.select("account_id").distinct()
    win = window_features(s, feature_date)
    rel = release_features(s, releases, feature_date)
    acc = account_features(snapshot, feature_date)
    geo = geo_features(s, snapshot, feature_date)
    infra, infra_rounds = infra_features(
        s,
        snapshot,
        active,
        feature_date,
        params.max_item_accounts,
        params.cc_max_iter,
        min_shared=params.infra_min_shared,
        max_account_items=params.infra_max_account_items,
        max_org_accounts=params.infra_max_org_accounts,
        driver_max_rows=params.cc_driver_max_rows,
    )
    coord, coord_rounds = params.coordination(s, feature_date)
    joined = active
    for part in (win, rel, acc, geo, infra, coord):
        joined = joined.join(part, "account_id", "left")
    # IP diversity per request: the counts grow with volume (a reseller's egress), the ratios
    # single out light accounts seen from many places (a hydra account behind proxies).
    per_request = (
        ("ip_countries_per_request_7d", "distinct_ip_countries_7d", "requests_7d"),
        ("ip_countries_per_request_28d", "distinct_ip_countries_28d", "requests_28d"),
        ("ip_prefixes_per_request_7d", "distinct_ip_prefixes_7d", "requests_7d"),
        ("asns_per_request_7d", "distinct_asns_7d", "requests_7d"),
    )
    joined = joined.select(
        "*",
        *[
            # A null count (no row in that part) gives null here, filled with the default below.
            ratio(F.col(n), F.col(d)).alias(name)
            for name, n, d in per_request
        ],
    )
    own = F.col("account_id")
    base = joined.select(
        "account_id",
        *_fill(joined, [n for n in FEATURE_NAMES if n in set(joined.columns)]),
        F.coalesce("infra_cluster_id", own).alias("infra_cluster_id"),
        F.coalesce("coord_cluster_id", own).alias("coord_cluster_id"),
    ).localCheckpoint()

    infra_agg = cluster_aggregates(base, "infra_cluster_id", "infra_cluster", tuple(INFRA_MEANS))
    coord_agg = cluster_aggregates(base, "coord_cluster_id", "coord_cluster", tuple(COORD_MEANS))
    coord_agg = coord_agg.drop("coord_cluster_young_share")
    # Cluster-level distinct IP prefixes of the day: coordinated yet spread over many ranges.
    day = s.where(F.col("event_date") == F.lit(feature_date))
    coord_ips = (
        day.select("account_id", F.explode("ip_prefixes").alias("p"))
        .join(base.select("account_id", "coord_cluster_id"), "account_id")
        .groupBy("coord_cluster_id")
        .agg(F.count_distinct("p").alias("coord_cluster_distinct_ip_prefixes"))
    )
    full = (
        base.join(infra_agg, "account_id", "left")
        .join(coord_agg, "account_id", "left")
        .join(coord_ips, "coord_cluster_id", "left")
    )
    out = full.select(
        "account_id",
        F.lit(feature_date).alias("feature_date"),
        *_fill(full, FEATURE_NAMES),
        F.lit(FEATURE_SET_VERSION).alias("feature_set_version"),
        "infra_cluster_id",
        "coord_cluster_id",
    )
    comments = column_comments()
    described = [F.col(c).alias(c, metadata={"comment": comments[c]}) for c in gold_columns()]
    return out.select(*described), GoldStats(infra_rounds, coord_rounds)
