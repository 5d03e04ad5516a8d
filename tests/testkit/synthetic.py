"""Small synthetic feature, label and truth tables with known signal, for tests of training,
promotion, evaluation and scoring (no simulator, no feature job needed).

Promise: `write_synthetic(spark, settings, start, days, seed)` writes `gold/account_features`,
`bronze/labels` and `<truth>/accounts` with the columns of docs/architecture.md: hydra campaign
clusters (coordinated, high `f_sync` and `f_cot`), hard negatives (a university class: one coord
cluster, high `f_sync`, low `f_cot`) and ordinary accounts. Labels arrive spread over the days,
the day after they are decided, so a time split has positives on each side. Same seed, same
tables. A few hundred accounts: seconds to write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hydrawatch.settings import Settings
from hydrawatch.storage.tables import BRONZE_LABELS, FEATURES_ACCOUNT, TRUTH_ACCOUNTS

FEATURE_NAMES = ("f_sync", "f_cot", "f_volume", "f_noise")
FEATURE_SET_VERSION = "fs-synthetic-1"


@dataclass(frozen=True)
class SyntheticWorld:
    start: dt.date
    days: int
    features: pd.DataFrame
    labels: pd.DataFrame
    truth: pd.DataFrame

    @property
    def last_day(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)


def build_world(
    start: dt.date,
    days: int = 10,
    seed: int = 11,
    campaigns: int = 3,
    clusters_per_campaign: int = 6,
    cluster_size: int = 5,
    legit: int = 240,
    class_size: int = 20,
    late_cluster: bool = True,
) -> SyntheticWorld:
    rng = np.random.default_rng(seed)
    accounts: list[dict] = []
    for c in range(campaigns):
        for k in range(clusters_per_campaign):
            ids = [f"atk-{c}-{k:02d}-{i}" for i in range(cluster_size)]
            for a in ids:
                accounts.append(
                    {
                        "account_id": a,
                        "population": f"campaign_{c}",
                        "campaign_id": f"camp-{c}",
                        "is_attacker": True,
                        "cluster": min(ids),
                        "first_day": int(rng.integers(0, 3)),
                    }
                )
    class_ids = []
    for k in range(2):  # two university classes: one campus network each
        ids = [f"uni-{k}-{i:03d}" for i in range(class_size // 2)]
        class_ids += ids
        for a in ids:
            accounts.append(
                {
                    "account_id": a,
                    "population": "university_class",
                    "campaign_id": None,
                    "is_attacker": False,
                    "cluster": min(ids),
                    "first_day": 0,
                }
            )
    for i in range(legit):
        accounts.append(
            {
                "account_id": f"usr-{i:04d}",
                "population": "solo_dev" if i % 3 else "enterprise_batch",
                "campaign_id": None,
                "is_attacker": False,
                "cluster": None,
                "first_day": 0,
            }
        )
    acc = pd.DataFrame(accounts)

    rows = []
    for day in range(days):
        d = start + dt.timedelta(days=day)
        active = acc[acc["first_day"] <= day]
        n = len(active)
        atk = active["is_attacker"].to_numpy()
        uni = (active["population"] == "university_class").to_numpy()
        ent = (active["population"] == "enterprise_batch").to_numpy()
        sync = np.where(atk | uni, rng.normal(0.8, 0.15, n), rng.normal(0.1, 0.1, n))
        cot = np.where(atk, rng.normal(0.7, 0.15, n), rng.normal(0.15, 0.12, n))
        volume = np.where(ent, rng.normal(3.0, 0.5, n), rng.normal(1.0, 0.5, n)) + atk * 0.3
        frame = pd.DataFrame(
            {
                "account_id": active["account_id"].to_numpy(),
                "feature_date": d,
                "f_sync": sync,
                "f_cot": cot,
                "f_volume": volume,
                "f_noise": rng.normal(0, 1, n),
                "feature_set_version": FEATURE_SET_VERSION,
                "infra_cluster_id": active["account_id"].to_numpy(),
                "coord_cluster_id": active["cluster"].fillna(active["account_id"]).to_numpy(),
            }
        )
        rows.append(frame)
    features = pd.concat(rows, ignore_index=True)

    labels = []
    attackers = acc[acc["is_attacker"]]
    n_clusters = attackers["cluster"].nunique()
    for idx, (_cluster, members) in enumerate(attackers.groupby("cluster", sort=True)):
        # Clusters are labelled on different days (day 3 .. last-2), all but one member; the
        # last cluster on the last day, so its labels are delivered after the window
        # (`late_cluster`; unlabelled attackers then count against precision as of the window).
        late = late_cluster and idx == n_clusters - 1
        decided_day = days - 1 if late else 3 + idx % max(1, days - 5)
        for a, campaign in zip(
            members["account_id"][:-1], members["campaign_id"][:-1], strict=True
        ):
            labels.append((a, decided_day, "distillation", "analyst_review", campaign))
    benign = list(class_ids[::2]) + [f"usr-{i:04d}" for i in range(0, legit, 8)]
    for j, a in enumerate(benign):
        labels.append((a, 3 + j % max(1, days - 4), "benign", "analyst_review", None))
    lab = pd.DataFrame(labels, columns=["account_id", "day", "label", "source", "campaign_id"])
    lab["decided_at"] = [
        pd.Timestamp(start + dt.timedelta(days=int(d))) + pd.Timedelta(hours=10) for d in lab["day"]
    ]
    lab["delivery_date"] = [start + dt.timedelta(days=int(d) + 1) for d in lab["day"]]
    lab["source_file"] = [f"labels/date={d}/part-0.jsonl" for d in lab["delivery_date"]]
    lab = lab.drop(columns="day")
    truth = acc[["account_id", "population", "campaign_id", "is_attacker"]].copy()
    return SyntheticWorld(start, days, features, lab, truth)


LABEL_SCHEMA = (
    "account_id string, decided_at timestamp, label string, source string, campaign_id string, "
    "delivery_date date, source_file string"
)


def write_labels(spark, settings: Settings, labels: pd.DataFrame, mode: str = "overwrite"):
    cols = [c.split()[0] for c in LABEL_SCHEMA.split(", ")]
    df = spark.createDataFrame(labels[cols], schema=LABEL_SCHEMA)
    (
        df.write.format("delta")
        .mode(mode)
        .partitionBy("delivery_date")
        .save(BRONZE_LABELS.location(settings))
    )


def write_synthetic(
    spark, settings: Settings, start: dt.date, days: int = 10, seed: int = 11, **kw
) -> SyntheticWorld:
    world = build_world(start, days, seed, **kw)
    schema = (
        "account_id string, feature_date date, "
        + ", ".join(f"{f} double" for f in FEATURE_NAMES)
        + ", feature_set_version string, infra_cluster_id string, coord_cluster_id string"
    )
    spark.createDataFrame(world.features, schema=schema).write.format("delta").mode(
        "overwrite"
    ).partitionBy("feature_date").save(FEATURES_ACCOUNT.location(settings))
    write_labels(spark, settings, world.labels)
    truth_schema = "account_id string, population string, campaign_id string, is_attacker boolean"
    spark.createDataFrame(world.truth, schema=truth_schema).write.format("delta").mode(
        "overwrite"
    ).save(TRUTH_ACCOUNTS.location(settings))
    return world
