"""Account traits from the account snapshot, and billing country against IP country.

`account_features(snapshot, feature_date)` reads one snapshot (the job passes the latest one on
or before the feature date) and never reads `status`: it is the enforcement outcome, so using it
would leak the label. `geo_features(silver, snapshot, feature_date)` compares the IP countries of
requests over 7 and 28 days with the billing country.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.daily import UNKNOWN_COUNTRY
from features.windows import in_window, lookback, ratio
from hydrawatch.contracts import PLANS, SIGNUP_CHANNELS, VERIFICATIONS

# The only snapshot columns read here (never `status`).
TRAIT_COLUMNS = (
    "account_id",
    "org_id",
    "created_at",
    "signup_channel",
    "verification",
    "billing_country",
    "plan",
)


def _level(col: str, values: tuple[str, ...]) -> F.Column:
    expr = F.lit(-1.0)
    for i, v in reversed(list(enumerate(values))):
        expr = F.when(F.col(col) == v, F.lit(float(i))).otherwise(expr)
    return expr


def account_features(snapshot: DataFrame, feature_date: dt.date) -> DataFrame:
    """Per account in the snapshot: age, entry channel, verification, plan, org, billing."""
    end = dt.datetime.combine(feature_date + dt.timedelta(days=1), dt.time())
    a = snapshot.select(*TRAIT_COLUMNS)
    age = (F.lit(end).cast("timestamp").cast("double") - F.col("created_at").cast("double")) / 86400
    return a.select(
        "account_id",
        F.lit(1.0).alias("in_snapshot"),
        age.alias("account_age_days"),
        *[
            F.when(F.col("signup_channel") == ch, 1.0).otherwise(0.0).alias(f"signup_{ch}")
            for ch in SIGNUP_CHANNELS
        ],
        _level("verification", VERIFICATIONS).alias("verification_level"),
        _level("plan", PLANS).alias("plan_level"),
        F.when(F.col("org_id").isNotNull(), 1.0).otherwise(0.0).alias("has_org"),
        F.when(F.col("billing_country").isNull(), 1.0)
        .otherwise(0.0)
        .alias("billing_country_missing"),
    )


def geo_features(silver: DataFrame, snapshot: DataFrame, feature_date: dt.date) -> DataFrame:
    """Share of requests from a known IP country other than the billing country (7d, 28d)."""
    s = lookback(silver, feature_date)
    ctry = s.select(
        "account_id", "event_date", F.explode("ip_country_counts").alias("country", "c")
    ).join(snapshot.select("account_id", "billing_country"), "account_id", "left")
    mismatch = (
        F.col("billing_country").isNotNull()
        & (F.col("country") != UNKNOWN_COUNTRY)
        & (F.col("country") != F.col("billing_country"))
    )
    aggs = []
    for n in (7, 28):
        w = in_window(feature_date, n)
        aggs += [
            F.sum(F.when(w & mismatch, F.col("c")).otherwise(0)).alias(f"_mis{n}"),
            F.sum(F.when(w, F.col("c")).otherwise(0)).alias(f"_all{n}"),
        ]
    return (
        ctry.groupBy("account_id")
        .agg(*aggs)
        .select(
            "account_id",
            *[
                ratio(F.col(f"_mis{n}"), F.col(f"_all{n}")).alias(f"ip_country_mismatch_share_{n}d")
                for n in (7, 28)
            ],
        )
    )
