"""MLflow plumbing: where runs and artifacts go, logging and registering a model version.

Promises (the client is the run's, `Runtime.mlflow`; which version holds an alias is
`models.champion`'s):
- An experiment created here on a SQLite store keeps its artifacts beside the database
  (`<db folder>/artifacts/<experiment>`), not in the working directory.
- `log_model_version` registers the version from the URI `log_model` returned (never "the highest
  version"), with its tags in the same registration, and sets the alias on exactly that version.
- `versions_tagged` finds versions by a tag (retrain's idempotency key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from hydrawatch.failpoints import failpoint
from hydrawatch.locks import check_fences
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from models.champion import CHALLENGER
from models.champion import absent as champion_absent
from models.champion import unavailable as registry_unavailable
from models.pyfunc import HydrawatchModel, ModelBundle

MODEL_ARTIFACT_NAME = "model"
# Pinned requirements written with the model: saves MLflow's slow requirement inference (a
# subprocess per log) and says exactly what the wrapper needs.
PIP_REQUIREMENTS_PACKAGES = ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn")


def _artifact_root(settings: Settings) -> Path | None:
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).resolve().parent / "artifacts"
    return None


def ensure_experiment(rt: Runtime, name: str | None = None) -> str:
    """Id of the experiment `name` (default `settings.mlflow_experiment`), created if missing."""
    name = name or rt.settings.mlflow_experiment
    mlf = rt.mlflow
    found = mlf.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = _artifact_root(rt.settings)
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
    rt: Runtime,
    bundle: ModelBundle,
    input_example: pd.DataFrame,
    *,
    alias: str | None = CHALLENGER,
    version_tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    description: str = "",
) -> tuple[str, str]:
    """Log `bundle` as a pyfunc in the active run, register it, set `alias`.

    The pyfunc's own code (`models/pyfunc.py`, which needs only numpy, pandas and lightgbm) goes
    with it as `code_paths`, so `mlflow.pyfunc.load_model("models:/<name>@champion")` works in an
    environment without this repository. `metrics` are linked to the logged model (MLflow 3's
    model metrics); `description` describes the version.

    Returns (`models:/<name>/<version>`, version). Needs an active MLflow run.
    """
    import mlflow
    from mlflow.models import infer_signature

    mlf = rt.mlflow
    settings = rt.settings
    example = input_example[bundle.feature_names].astype("float64").head(5)
    model = HydrawatchModel()
    with tempfile.TemporaryDirectory(prefix="hydrawatch-model-") as tmp:
        artifacts = bundle.write_artifacts(Path(tmp))
        code = _standalone_code(Path(tmp) / "code")
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
            code_paths=[str(code)],
        )
    if metrics:
        finite = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        mlflow.log_metrics(finite, model_id=info.model_id)
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
    _describe(rt, version, description)
    if alias:
        check_fences()
        mlf.set_registered_model_alias(settings.model_name, alias, version)
    return f"models:/{settings.model_name}/{version}", version


def _predict_with(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    import lightgbm as lgb

    from models.pyfunc import score_frame

    booster = lgb.Booster(model_str=bundle.booster_text)
    return score_frame(booster, bundle.calibration, bundle.feature_names, frame)


def versions_tagged(rt: Runtime, tag: str, value: str) -> list[str]:
    """The versions of the model whose tag `tag` equals `value`, oldest first."""
    try:
        found = rt.mlflow.search_model_versions(f"name = '{rt.settings.model_name}'")
    except Exception as err:
        # Not registered yet is "none"; a registry that does not answer is an error, never
        # "none" (retrain would register a second version of the same inputs).
        if champion_absent(err):
            return []
        raise registry_unavailable(rt, err) from None
    # Filtered here, not in the search string: tag filters differ between registry back ends.
    hits = [mv for mv in found if (mv.tags or {}).get(tag) == value]
    return [str(mv.version) for mv in sorted(hits, key=lambda mv: int(mv.version))]


MODEL_DESCRIPTION = (
    "Hydrawatch account classifier: LightGBM with isotonic calibration over the account feature "
    "catalogue (docs/features.md); scores each account's probability of belonging to a "
    "distillation campaign. Input: one row per account, the features named by the version's "
    "`feature_names` tag (float64). Output: score, flagged at the version's `threshold` tag, and "
    "the top contributions. Aliases: `champion` scores the daily run, `challenger` the latest "
    "retrain (docs/model.md)."
)


def _describe(rt: Runtime, version: str, description: str) -> None:
    mlf = rt.mlflow
    name = rt.settings.model_name
    if not (mlf.get_registered_model(name).description or ""):
        mlf.update_registered_model(name, description=MODEL_DESCRIPTION)
    if description:
        mlf.update_model_version(name, version, description=description)


def _standalone_code(folder: Path) -> Path:
    """A `models` package holding only the pyfunc module (what unpickling the model imports)."""
    import shutil

    from models import pyfunc

    package = folder / "models"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(pyfunc.__file__, package / "pyfunc.py")
    return package
