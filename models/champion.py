"""The model boundary: which registered version a run uses, its feature contract, its scores.

What it promises:
- `resolve(rt, alias)` asks the registry ONCE which version holds an alias and parses that
  version's metadata (the tags written with it at registration: `threshold`, `feature_names`,
  `feature_set_version`, `target_precision`, `as_of`) into a `ModelVersion`; None only when no
  version holds the alias (or the model is not registered). A registry that cannot be reached is
  `RegistryUnavailable`, never "no model". `resolve_champion` raises `NoChampionModel` saying
  how to make one; `version(rt, v)` reads a version by number.
- `check_model_matches` / `contract_problem`: the feature contract. Scoring accepts a model whose
  feature set version equals the table's and whose features are all columns of it; the gate
  (`exact=True`) compares models only on exactly the features they were trained on.
- `load(rt, model)` downloads the version's files once and loads them (a version whose files are
  gone is `ModelUnavailable`, before anything is scored), giving a `LoadedModel` that scores a
  pandas frame (`predict`) or a Spark frame on the executors (`score_spark`, `mapInPandas`: the
  files are zipped and shipped with `addArchive`, so executors never reach the driver's disk or
  the registry; each task loads the model once). Both paths run the same pyfunc.
Used by score, drift, evaluate, the promotion gate and the resume fingerprints of the flows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from hydrawatch.errors import HydrawatchError, NoChampionModel
from hydrawatch.runtime import Runtime

CHAMPION = "champion"
CHALLENGER = "challenger"
CONTRIB_PREFIX = "contrib__"


class RegistryUnavailable(HydrawatchError):
    """The MLflow registry could not be asked (down, unreachable, refusing)."""


class ModelUnavailable(HydrawatchError):
    """A version's artifact files cannot be downloaded or loaded."""


class ModelFeatureMismatch(HydrawatchError):
    """The model was trained on another feature set than the feature table holds."""


def safe_uri(uri: str) -> str:
    """A tracking URI without its password (postgresql://user:pw@host/db): never print it."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri


@dataclass(frozen=True)
class ModelVersion:
    """A registered version as resolved for one run, with its metadata parsed."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    alias: str | None = None  # the alias it was resolved by, if any

    @property
    def threshold(self) -> float | None:
        value = self.tags.get("threshold")
        return None if value in (None, "") else float(value)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.tags.get("feature_names", "").split(",") if n)

    @property
    def feature_set_version(self) -> str | None:
        return self.tags.get("feature_set_version")

    @property
    def as_of(self) -> dt.date | None:
        value = self.tags.get("as_of")
        return dt.date.fromisoformat(value) if value else None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        held = f" ({self.alias})" if self.alias else ""
        return f"model {self.name} version {self.version}{held}"


def _version_of(mv, name: str, alias: str | None = None) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        aliases=tuple(mv.aliases or ()),
        tags=dict(mv.tags or {}),
        alias=alias,
    )


def absent(err: Exception) -> bool:
    """The registry answered: no such model or alias (as opposed to: no answer)."""
    from mlflow.exceptions import MlflowException

    if not isinstance(err, MlflowException):
        return False
    code = getattr(err, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(err)
    )


def unavailable(rt: Runtime, err: Exception) -> RegistryUnavailable:
    return RegistryUnavailable(
        f"the MLflow registry at {safe_uri(rt.settings.tracking_uri)} cannot be asked "
        f"({type(err).__name__}: {' '.join(str(err).split())[:160]}); nothing was done, "
        "run again once it is reachable"
    )


def resolve(rt: Runtime, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None when nobody holds it (module doc)."""
    name = rt.settings.model_name
    try:
        mv = rt.mlflow.get_model_version_by_alias(name, alias)
    except Exception as err:
        if absent(err):
            return None
        raise unavailable(rt, err) from None
    return _version_of(mv, name, alias)


def resolve_champion(rt: Runtime) -> ModelVersion:
    """The version holding `champion`, or `NoChampionModel` saying how to make one."""
    found = resolve(rt, CHAMPION)
    if found is None:
        raise NoChampionModel(
            f"no version of model {rt.settings.model_name} holds alias `champion` in "
            f"{safe_uri(rt.settings.tracking_uri)}: run `hydrawatch retrain --as-of D` "
            "then `hydrawatch promote`"
        )
    return found


def named_or_alias(rt: Runtime, number: str | None, alias: str) -> ModelVersion:
    """Version `number` when given, else the one holding `alias` (a one-line error when none
    does): never silently another model."""
    if number is not None:
        return version(rt, number)
    found = resolve(rt, alias)
    if found is None:
        raise HydrawatchError(
            f"no version of {rt.settings.model_name} holds alias `{alias}`: run `hydrawatch "
            "retrain` first, or name a version"
        )
    return found


def version(rt: Runtime, number: str) -> ModelVersion:
    """Version `number` of the model (a one-line error when there is none)."""
    name = rt.settings.model_name
    try:
        mv = rt.mlflow.get_model_version(name, str(number))
    except Exception as err:
        if absent(err):
            raise HydrawatchError(
                f"model {name} has no version {number}; list them in MLflow"
            ) from None
        raise unavailable(rt, err) from None
    return _version_of(mv, name)


# --- the feature contract -------------------------------------------------------------------

HINT = "retrain on the current features (`hydrawatch retrain --as-of D`, then `hydrawatch promote`)"


def contract_problem(
    model_feature_names: Sequence[str],
    model_feature_set_version: str | None,
    table_feature_names: Sequence[str],
    table_feature_set_versions: Sequence[str],
    model_label: str,
    *,
    exact: bool = False,
) -> str | None:
    """Why the model cannot score the table's features as trained, or None.

    The table must hold one feature set version, the model's; every feature the model needs must
    be a column of the table (`exact`: the model's features must be exactly the table's).
    """
    versions = sorted({v for v in table_feature_set_versions if v is not None})
    if exact:
        if model_feature_set_version in versions and list(model_feature_names) == list(
            table_feature_names
        ):
            return None
        return (
            f"{model_label} was trained on feature set {model_feature_set_version} with "
            f"{len(model_feature_names)} features; the table has {', '.join(versions)} with "
            f"{len(table_feature_names)}"
        )
    if len(versions) != 1:
        return (
            f"the feature table holds feature_set_version {versions or 'none'} for the day, "
            "expected exactly one; recompute the day's features"
        )
    if model_feature_set_version != versions[0]:
        return (
            f"{model_label} was trained on feature_set_version {model_feature_set_version!r} but "
            f"the feature table holds {versions[0]!r}; refusing to score with it: {HINT}"
        )
    missing = [f for f in model_feature_names if f not in set(table_feature_names)]
    if not model_feature_names or missing:
        return (
            f"{model_label} needs features missing from the feature table "
            f"({', '.join(missing[:5]) or 'no feature names recorded'}"
            f"{', ...' if len(missing) > 5 else ''}); refusing to score with it: {HINT}"
        )
    return None


def check_model_matches(
    model_feature_names: Sequence[str],
    model_feature_set_version: str | None,
    table_feature_names: Sequence[str],
    table_feature_set_versions: Sequence[str],
    model_label: str,
) -> None:
    """Raise ModelFeatureMismatch unless the model can score the table's features as trained."""
    problem = contract_problem(
        model_feature_names,
        model_feature_set_version,
        table_feature_names,
        table_feature_set_versions,
        model_label,
    )
    if problem:
        raise ModelFeatureMismatch(problem)


# --- loading and scoring ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    """A version's files on the driver and its pyfunc, loaded once."""

    model: ModelVersion
    pyfunc: object
    ship_dir: str  # unique per load: the folder zipped for SparkContext.addArchive
    model_subpath: str  # the MLflow model folder inside ship_dir

    def check(self, table_feature_names: Sequence[str], table_versions: Sequence[str]) -> None:
        check_model_matches(
            self.model.feature_names,
            self.model.feature_set_version,
            table_feature_names,
            table_versions,
            self.model.label,
        )

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`score` (clipped to [0, 1]) and `contrib__<feature>` for the rows of a pandas frame."""
        return _prediction(self.pyfunc, frame, self.model.feature_names)

    def score_spark(self, frame):
        """`frame` plus `score` and `contrib__<feature>`, predicted on the executors."""
        from pyspark.sql.types import DoubleType, StructField, StructType

        spark = frame.sparkSession
        # A folder cannot be shipped with addFile to a cluster (Spark refuses local directories
        # outside local mode); an archive is unpacked by each executor under SparkFiles.get.
        ship_dir = os.path.normpath(self.ship_dir)
        archive = shutil.make_archive(ship_dir, "zip", root_dir=ship_dir)
        spark.sparkContext.addArchive(archive)
        shipped = (os.path.basename(archive), self.model_subpath)
        names = list(self.model.feature_names)
        schema = StructType(
            list(frame.schema.fields)
            + [StructField("score", DoubleType(), False)]
            + [StructField(f"{CONTRIB_PREFIX}{n}", DoubleType(), False) for n in names]
        )

        def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return _predict_shipped(batches, shipped, names)

        return frame.mapInPandas(predict, schema)


def _prediction(pyfunc, frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    import numpy as np

    pred = pyfunc.predict(frame[list(names)])  # type: ignore[attr-defined]
    out = {"score": np.clip(pred["score"].to_numpy(dtype="float64"), 0.0, 1.0)}
    for n in names:
        out[f"{CONTRIB_PREFIX}{n}"] = pred[f"{CONTRIB_PREFIX}{n}"].to_numpy(dtype="float64")
    return pd.DataFrame(out, index=frame.index)


def _predict_shipped(
    batches: Iterator[pd.DataFrame], shipped: tuple[str, str], names: Sequence[str]
) -> Iterator[pd.DataFrame]:
    """On an executor: load the shipped model once for this task, score every batch."""
    import mlflow.pyfunc
    from pyspark import SparkFiles

    pyfunc = None
    for pdf in batches:
        if pdf.empty:
            continue
        if pyfunc is None:
            pyfunc = mlflow.pyfunc.load_model(os.path.join(SparkFiles.get(shipped[0]), shipped[1]))
        # One concat, not a column insert per feature (pandas fragments the frame otherwise).
        yield pd.concat([pdf, _prediction(pyfunc, pdf, names)], axis=1)


@contextlib.contextmanager
def load(rt: Runtime, model: ModelVersion) -> Iterator[LoadedModel]:
    """Download `model`'s files (once, into a folder removed afterwards) and load them."""
    import mlflow
    import mlflow.pyfunc

    uri = rt.settings.tracking_uri
    workdir = tempfile.mkdtemp(prefix="hydrawatch-model-")
    try:
        # A folder name unique to this load: Spark refuses an archive name registered twice.
        target = tempfile.mkdtemp(prefix=f"model-v{model.version}-", dir=workdir)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model.uri, dst_path=target, tracking_uri=uri, registry_uri=uri
            )
            pyfunc = mlflow.pyfunc.load_model(local)
        except Exception as err:
            raise ModelUnavailable(
                f"{model.label} cannot be loaded: its artifact files are missing or incomplete "
                f"({type(err).__name__}: {' '.join(str(err).split())[:160]}); nothing was "
                "scored; promote a version that loads (`hydrawatch promote --version V`) or "
                "`hydrawatch rollback`"
            ) from None
        yield LoadedModel(model, pyfunc, target, os.path.relpath(local, target))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
