"""A tiny model trained, logged and registered in one call: the quick path for tests of the
parts that need a registered model (scoring, drift, the gate, the flows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydrawatch.runtime import Runtime
from models.champion import CHALLENGER
from models.registry import ensure_experiment, log_model_version
from models.train import Slice, fit


def log_and_register(
    rt: Runtime,
    features: pd.DataFrame,
    labels,
    *,
    feature_names: list[str] | None = None,
    feature_set_version: str = "test",
    target_precision: float = 0.99,
    alias: str | None = CHALLENGER,
    seed: int = 7,
) -> tuple[str, str]:
    """Train a small model on `features` (pandas) and `labels` (1 = distillation), register it.

    Rows are dealt round-robin into train/validation/calibration (3:1:1), so no Spark and no
    time split is needed. Returns (`models:/<name>/<version>`, version).
    """
    import mlflow

    names = list(feature_names or [c for c in features.columns if c != "label"])
    frame = features[names].astype("float64").reset_index(drop=True)
    frame["label"] = np.asarray(labels, dtype=int)
    part = np.arange(len(frame)) % 5
    slices = [frame[part <= 2], frame[part == 3], frame[part == 4]]
    result = fit(
        *(Slice.of(s, names) for s in slices),
        names,
        feature_set_version=feature_set_version,
        target_precision=target_precision,
        seed=seed,
        params={"min_data_in_leaf": 5},
        num_boost_round=60,
    )
    experiment_id = ensure_experiment(rt)
    with mlflow.start_run(experiment_id=experiment_id, run_name="log_and_register"):
        mlflow.log_params({"seed": seed, "rows": len(frame), "kind": "test-helper"})
        return log_model_version(rt, result.bundle, frame[names], alias=alias)


def client(settings):
    """The MLflow client of `settings`' store (for assertions)."""
    return Runtime(settings).mlflow


def alias_version(settings, alias: str) -> str | None:
    """The version holding `alias`, or None (for assertions)."""
    from models import champion

    held = champion.resolve(Runtime(settings), alias)
    return held.version if held else None


def version_info(settings, version: str):
    """The registered version `version` (`models.champion.ModelVersion`)."""
    from models import champion

    return champion.version(Runtime(settings), version)
