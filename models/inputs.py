"""Reading what training, the gate and the evaluation need, pinned to one Delta version each.

Promise: `read_pinned` reads a Delta table at its current version and returns that version, so a
run can log exactly which data it saw. `training_frame` assembles the point-in-time rows of
`models.dataset` for a date (or a recent period) and brings them to the driver: the labelled
accounts plus at most `settings.train_unlabelled_sample` unlabelled ones. `current_labels` is the
ingest helper's (`jobs.ingest.current_labels`), imported when needed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hydrawatch.errors import HydrawatchError
from hydrawatch.settings import Settings
from hydrawatch.tables import BRONZE_LABELS, FEATURES_ACCOUNT
from models import dataset

TRUTH_ACCOUNTS = "accounts"


class MissingInput(HydrawatchError):
    """A table training or evaluation needs does not exist yet."""


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


def delta_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    try:
        return DeltaTable.isDeltaTable(spark, path)
    except Exception:
        return False


def read_pinned(spark: SparkSession, path: str) -> tuple[DataFrame, int]:
    from delta.tables import DeltaTable

    if not delta_exists(spark, path):
        raise MissingInput(f"table {path} does not exist yet: run the pipeline that writes it")
    version = DeltaTable.forPath(spark, path).history(1).select("version").first()[0]
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    return df, int(version)


def truth_path(settings: Settings) -> str:
    return f"{settings.truth_uri}/{TRUTH_ACCOUNTS}"


def read_truth(spark: SparkSession, settings: Settings) -> tuple[DataFrame | None, int | None]:
    path = truth_path(settings)
    if not delta_exists(spark, path):
        return None, None
    return read_pinned(spark, path)


def current_labels(labels: DataFrame, as_of: dt.date) -> DataFrame:
    from jobs.ingest import current_labels as _current

    return _current(dataset.decisions_known(labels, as_of), as_of)


# Same pinned table versions + same arguments -> same rows: the gate measures two models on one
# period, and a process (a test session, `demo`) may ask again; keep the last few frames.
_FRAMES: dict[tuple, TrainingFrame] = {}
_FRAMES_KEPT = 4


def training_frame(
    spark: SparkSession,
    settings: Settings,
    as_of: dt.date,
    *,
    since: dt.date | None = None,
    seed: int | None = None,
) -> TrainingFrame:
    """Point-in-time rows as of `as_of` (optionally only feature days after `since`), on the driver."""
    seed = settings.train_seed if seed is None else seed
    features, fv = read_pinned(spark, settings.table(FEATURES_ACCOUNT))
    labels, lv = read_pinned(spark, settings.table(BRONZE_LABELS))
    truth, tv = read_truth(spark, settings)
    versions = {FEATURES_ACCOUNT: fv, BRONZE_LABELS: lv}
    if tv is not None:
        versions[f"truth/{TRUTH_ACCOUNTS}"] = tv

    key = (
        settings.table(FEATURES_ACCOUNT),
        settings.truth_uri,
        tuple(sorted(versions.items())),
        as_of,
        since,
        seed,
        settings.train_unlabelled_sample,
        settings.train_label_maturity_days,
    )
    if key in _FRAMES:
        hit = _FRAMES[key]
        return TrainingFrame(hit.rows.copy(), list(hit.feature_names), *_rest(hit))

    features = features.where(F.col("feature_date") <= F.lit(as_of))
    if since is not None:
        features = features.where(F.col("feature_date") > F.lit(since))
    latest = features.orderBy(F.col("feature_date").desc()).select("feature_set_version").first()
    if latest is None:
        window = f"after {since} " if since else ""
        raise MissingInput(
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
    frame = TrainingFrame(
        pdf, names, fsv, versions, n_candidates, fraction, labels_without_features
    )
    while len(_FRAMES) >= _FRAMES_KEPT:
        _FRAMES.pop(next(iter(_FRAMES)))
    _FRAMES[key] = frame
    return TrainingFrame(pdf.copy(), list(names), *_rest(frame))


def _rest(frame: TrainingFrame) -> tuple:
    return (
        frame.feature_set_version,
        dict(frame.data_versions),
        frame.unlabelled_candidates,
        frame.unlabelled_fraction,
        frame.labels_without_features,
    )
