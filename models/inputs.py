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

from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import BRONZE_LABELS, FEATURES_ACCOUNT, TRUTH_ACCOUNTS
from hydrawatch.storage.warehouse import Warehouse
from hydrawatch.validation import current_labels as latest_decisions
from models import dataset


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
    candidates = dataset.unlabelled_candidates(
        features, current, labelled, as_of, settings.train_label_maturity_days
    )
    n_candidates = candidates.select("account_id").distinct().count()
    cap = settings.train_unlabelled_sample
    fraction = 1.0 if n_candidates <= cap else cap / n_candidates
    unlabelled = dataset.unlabelled_rows(candidates, names, fraction, seed)
    rows = dataset.with_truth(labelled.unionByName(unlabelled), truth)
    # Bounded: labelled accounts + about `train_unlabelled_sample` sampled ones.
    pdf = rows.toPandas().sort_values(["account_id"], kind="mergesort").reset_index(drop=True)
    return TrainingFrame(pdf, names, fsv, versions, n_candidates, fraction, labels_without_features)
