"""MLflow plumbing: where runs and artifacts go, logging a model version, reading aliases.

Promises:
- `client(settings)` points MLflow at `settings.tracking_uri` (tracking and registry) when called,
  never at import time.
- An experiment created here on a SQLite store keeps its artifacts beside the database
  (`<db folder>/artifacts/<experiment>`), not in the working directory.
- `log_model_version` registers the version from the URI `log_model` returned (never "the highest
  version"), with its tags in the same registration, and sets the alias on exactly that version.
- `versions_tagged` finds versions by a tag (retrain's idempotency key).
- `log_and_register` trains, logs and registers a tiny model from a pandas frame: the quick path
  for other parts' tests (scoring, flows).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hydrawatch.errors import HydrawatchError, NoChampionModel
from hydrawatch.failpoints import failpoint
from hydrawatch.settings import Settings
from models.pyfunc import HydrawatchModel, ModelBundle

CHALLENGER = "challenger"
CHAMPION = "champion"
MODEL_ARTIFACT_NAME = "model"
# Pinned requirements written with the model: saves MLflow's slow requirement inference (a
# subprocess per log) and says exactly what the wrapper needs.
PIP_REQUIREMENTS_PACKAGES = ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn")


def client(settings: Settings):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def _artifact_root(settings: Settings) -> Path | None:
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).resolve().parent / "artifacts"
    return None


def ensure_experiment(settings: Settings, name: str | None = None) -> str:
    """Id of the experiment `name` (default `settings.mlflow_experiment`), created if missing."""
    name = name or settings.mlflow_experiment
    mlf = client(settings)
    found = mlf.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = _artifact_root(settings)
    location = (root / name).as_uri() if root is not None else None
    try:
        return mlf.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a concurrent run
        found = mlf.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in PIP_REQUIREMENTS_PACKAGES]


def log_model_version(
    settings: Settings,
    bundle: ModelBundle,
    input_example: pd.DataFrame,
    *,
    alias: str | None = CHALLENGER,
    version_tags: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Log `bundle` as a pyfunc in the active run, register it, set `alias`.

    Returns (`models:/<name>/<version>`, version). Needs an active MLflow run.
    """
    import mlflow
    from mlflow.models import infer_signature

    mlf = client(settings)
    example = input_example[bundle.feature_names].astype("float64").head(5)
    model = HydrawatchModel()
    with tempfile.TemporaryDirectory(prefix="hydrawatch-model-") as tmp:
        artifacts = bundle.write_artifacts(Path(tmp))
        # The signature's output comes from the real wrapper, so it matches what scoring gets.
        output = _predict_with(bundle, example)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_NAME,
            python_model=model,
            artifacts=artifacts,
            signature=infer_signature(example, output),
            input_example=example,
            metadata=bundle.metadata(),
            pip_requirements=pip_requirements(),
        )
    tags = {
        "threshold": repr(float(bundle.threshold)),
        "feature_names": ",".join(bundle.feature_names),
        "feature_set_version": bundle.feature_set_version,
        "target_precision": repr(float(bundle.target_precision)),
        "logged_model_uri": info.model_uri,
    }
    tags.update(version_tags or {})
    failpoint("registry.after_log_model")
    # The tags are part of the registration (one write): a version never exists without the
    # threshold and feature list scoring reads, nor without the key a re-run looks it up by.
    registered = mlflow.register_model(
        info.model_uri, settings.model_name, tags={k: str(v) for k, v in tags.items()}
    )
    version = str(registered.version)
    failpoint("registry.after_register")
    if alias:
        mlf.set_registered_model_alias(settings.model_name, alias, version)
    return f"models:/{settings.model_name}/{version}", version


def _predict_with(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    import lightgbm as lgb

    from models.pyfunc import score_frame

    booster = lgb.Booster(model_str=bundle.booster_text)
    return score_frame(booster, bundle.calibration, bundle.feature_names, frame)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str | None
    tags: dict[str, str]
    aliases: tuple[str, ...]

    @property
    def threshold(self) -> float:
        return float(self.tags["threshold"])

    @property
    def feature_names(self) -> list[str]:
        return self.tags.get("feature_names", "").split(",")


def version_info(settings: Settings, version: str) -> VersionInfo:
    mlf = client(settings)
    try:
        mv = mlf.get_model_version(settings.model_name, str(version))
    except Exception:
        raise HydrawatchError(
            f"model {settings.model_name} has no version {version}; list them in MLflow"
        ) from None
    return VersionInfo(str(mv.version), mv.run_id, dict(mv.tags), tuple(mv.aliases or ()))


def versions_tagged(settings: Settings, tag: str, value: str) -> list[str]:
    """The versions of the model whose tag `tag` equals `value`, oldest first."""
    mlf = client(settings)
    try:
        found = mlf.search_model_versions(f"name = '{settings.model_name}'")
    except Exception:  # the model is not registered yet
        return []
    # Filtered here, not in the search string: tag filters differ between registry back ends.
    hits = [mv for mv in found if (mv.tags or {}).get(tag) == value]
    return [str(mv.version) for mv in sorted(hits, key=lambda mv: int(mv.version))]


def alias_version(settings: Settings, alias: str) -> str | None:
    """Version holding `alias`, or None when nobody holds it (or the model is not registered)."""
    mlf = client(settings)
    try:
        return str(mlf.get_model_version_by_alias(settings.model_name, alias).version)
    except Exception:
        return None


def champion_version(settings: Settings) -> str:
    version = alias_version(settings, CHAMPION)
    if version is None:
        raise NoChampionModel(
            f"no version of {settings.model_name} holds alias `champion`: run "
            "`hydrawatch retrain` then `hydrawatch promote`"
        )
    return version


def load_pyfunc(settings: Settings, version: str):
    import mlflow

    client(settings)
    return mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")


def log_and_register(
    settings: Settings,
    features: pd.DataFrame,
    labels,
    *,
    feature_names: list[str] | None = None,
    feature_set_version: str = "test",
    target_precision: float = 0.99,
    alias: str | None = CHALLENGER,
    seed: int = 7,
) -> tuple[str, str]:
    """Train a small model on `features` (pandas) and `labels` (1 = distillation) and register it.

    For tests of other parts: rows are dealt round-robin into train/validation/calibration (3:1:1),
    so no Spark and no time split is needed. Returns (`models:/<name>/<version>`, version).
    """
    import mlflow

    from models.train import Slice, fit

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
    experiment_id = ensure_experiment(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name="log_and_register"):
        mlflow.log_params({"seed": seed, "rows": len(frame), "kind": "test-helper"})
        return log_model_version(settings, result.bundle, frame[names], alias=alias)
