"""Reading what training, the gate and the evaluation need, pinned to one Delta version each.

Promise: every table is read through the warehouse at its current version (`read_pinned`), and
that version is returned, so a run can log exactly which data it saw. `training_frame` assembles
the point-in-time rows of `models.dataset` for a date (or a recent period) and brings them to the
driver: the labelled accounts plus at most `settings.train_unlabelled_sample` unlabelled ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.clusters import cluster_evidence, org_sizes
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import (
    BRONZE_LABELS,
    FEATURES_ACCOUNT,
    SILVER_ACCOUNT_DAILY,
    TRUTH_ACCOUNTS,
)
from hydrawatch.storage.warehouse import Warehouse
from hydrawatch.validation import current_labels as latest_decisions
from models import dataset, scoring


class NoTrainingRows(HydrawatchError):
    """The feature table holds no row for the period asked."""


@dataclass
class TrainingFrame:
    rows: pd.DataFrame  # ROW_COLUMNS + features + population, is_attacker (truth, may be null)
    feature_names: list[str]
    feature_set_version: str
    data_versions: dict[str, int]
    unlabelled_candidates: int
    unlabelled_fraction: float
    # Current decisions with no feature row dated before them (an account never seen, an appeal
    # for a label never given, a decision about an account's first day): counted, not trained on.
    labels_without_features: int = 0
    # Unlabelled accounts kept out of the negatives as members of a cluster flagged on structure
    # (None: not computed, the structural flags are off or silver or a snapshot is missing).
    structure_suspects: int | None = None


def read_truth(warehouse: Warehouse) -> tuple[DataFrame | None, int | None]:
    """The simulator's truth table at its current version, or (None, None) without one."""
    if not warehouse.exists(TRUTH_ACCOUNTS):
        return None, None
    return warehouse.read_pinned(TRUTH_ACCOUNTS)


def current_labels(labels: DataFrame, as_of: dt.date) -> DataFrame:
    """The decision per account a retrain as of `as_of` may see."""
    return latest_decisions(dataset.decisions_known(labels, as_of), as_of)


def training_frame(
    rt: Runtime,
    as_of: dt.date,
    *,
    since: dt.date | None = None,
    seed: int | None = None,
    unlabel: DataFrame | None = None,
) -> TrainingFrame:
    """Point-in-time rows as of `as_of` (optionally only feature days after `since`), on the driver.

    `unlabel`: accounts (column `account_id`) whose every label is ignored, as if no decision
    about them had been made (the leave-one-campaign-out evaluation, `jobs/holdout.py`).
    """
    settings, warehouse = rt.settings, rt.warehouse
    seed = settings.train_seed if seed is None else seed
    features, fv = warehouse.read_pinned(FEATURES_ACCOUNT)
    labels, lv = warehouse.read_pinned(BRONZE_LABELS)
    truth, tv = read_truth(warehouse)
    versions = {FEATURES_ACCOUNT.name: fv, BRONZE_LABELS.name: lv}
    if tv is not None:
        versions[f"truth/{TRUTH_ACCOUNTS.name}"] = tv

    if unlabel is not None:
        labels = labels.join(unlabel.select("account_id").distinct(), "account_id", "left_anti")
    features = features.where(F.col("feature_date") <= F.lit(as_of))
    if since is not None:
        features = features.where(F.col("feature_date") > F.lit(since))
    latest = features.orderBy(F.col("feature_date").desc()).select("feature_set_version").first()
    if latest is None:
        window = f"after {since} " if since else ""
        raise NoTrainingRows(
            f"no feature rows {window}up to {as_of}: run the features for those days"
        )
    fsv = latest[0]
    # One model, one feature set: rows of an older feature set version are not mixed in.
    features = features.where(F.col("feature_set_version") == F.lit(fsv))
    names = dataset.feature_columns(features)

    current = current_labels(labels, as_of)
    labelled = dataset.labelled_rows(features, current, as_of, names)
    labels_without_features = current.count() - labelled.count()
    suspects = _structure_suspects(warehouse, features, as_of)
    n_suspects = None if suspects is None else suspects.count()
    candidates = dataset.unlabelled_candidates(
        features, current, labelled, as_of, settings.train_label_maturity_days, suspects
    )
    n_candidates = candidates.select("account_id").distinct().count()
    cap = settings.train_unlabelled_sample
    fraction = 1.0 if n_candidates <= cap else cap / n_candidates
    unlabelled = dataset.unlabelled_rows(candidates, names, fraction, seed)
    rows = dataset.with_truth(labelled.unionByName(unlabelled), truth)
    # Bounded: labelled accounts + about `train_unlabelled_sample` sampled ones.
    pdf = rows.toPandas().sort_values(["account_id"], kind="mergesort").reset_index(drop=True)
    return TrainingFrame(
        pdf, names, fsv, versions, n_candidates, fraction, labels_without_features, n_suspects
    )


def _structure_suspects(
    warehouse: Warehouse, features: DataFrame, as_of: dt.date
) -> DataFrame | None:
    """Accounts of the frame's days that the structural rule would flag through their cluster
    (`models.scoring.StructureRule`, as the score job applies it), checkpointed; None when the
    flags are off or the inputs they read are missing (a warehouse of gold rows only).

    Why they are not negatives: a coordinated, young, multi-organisation cluster nobody labelled
    yet is a campaign in a style no label shows as often as not; as negatives its accounts teach
    the trees that the style is benign, and in the gate's figures a model that catches it is
    charged with false positives (the first model of a simulated world with two such campaigns
    measured precision 0.68 against the labels, 1.00 against the truth)."""
    settings = warehouse.settings
    if not settings.structure_flags or not warehouse.exists(SILVER_ACCOUNT_DAILY):
        return None
    snapshot = warehouse.latest_snapshot(as_of)
    if snapshot is None:
        return None
    days = [r[0] for r in features.select("feature_date").distinct().collect()]
    silver = warehouse.read(SILVER_ACCOUNT_DAILY).where(F.col("event_date").isin(days))
    orgs = snapshot.select("account_id", "org_id")
    rule = scoring.StructureRule.from_settings(settings)
    flagged = scoring.structure_flags(cluster_evidence(features, silver, orgs), rule)
    eligible = org_sizes(orgs).where(rule.member_eligible())
    return dataset.structure_suspects(flagged, features, eligible).localCheckpoint()
