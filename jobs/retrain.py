"""`hydrawatch retrain --as-of D`: train on labels decided up to D and features up to D.

Promise: assembles the point-in-time training rows (`models.inputs.training_frame`), splits them
by time with clusters kept whole (`models.split`), fits LightGBM, calibrates and picks the
threshold for `settings.target_precision` (`models.train`), logs parameters, metrics, figures,
the feature list and the Delta versions read to one MLflow run in `settings.mlflow_experiment`,
and registers the logged model as a new version holding alias `challenger`. Same data + same seed
-> same booster, threshold and metrics. Nothing but the MLflow run and the registry is written.

Idempotent: a retrain has a key, `retrain_key` (model name, as_of, seed, the Delta versions and
paths of the tables read, the training settings and a digest of the training code), carried by its
run and its version as the tag `hydrawatch.retrain_key`. When a version with the key exists (the
same retrain ran before, or died after registering), the run trains nothing and registers nothing:
it puts `challenger` on that version and returns it (`reused=True`). When an earlier run with the
key died before registering, that run is marked KILLED and the retrain runs in a new run. So a
crash at any point followed by a re-run leaves exactly one version per key (docs/reliability.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hydrawatch.failpoints import failpoint
from hydrawatch.locks import check_fences, registry_lock
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from models import metrics as M
from models import plots
from models.champion import CHALLENGER
from models.inputs import TrainingFrame, training_frame
from models.registry import ensure_experiment, log_model_version, versions_tagged
from models.train import FitResult, calibration_slices, train_on

KEY_TAG = "hydrawatch.retrain_key"


@dataclass(frozen=True)
class RetrainResult:
    version: str
    model_uri: str
    run_id: str
    threshold: float
    feature_set_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    reused: bool = False  # the version of an earlier run with the same key (nothing trained)


def slice_metrics(
    rows: pd.DataFrame, score: np.ndarray, threshold: float, target_precision: float, prefix=""
) -> dict[str, float]:
    """Figures of one slice: PR-AUC and rates at the threshold (population-weighted), FPR on the
    labelled benign accounts, and per legitimate population where the truth is known."""
    y = rows["label"].to_numpy(int)
    w = rows["weight_pop"].to_numpy(float)
    out = {f"{prefix}pr_auc": M.pr_auc(y, score, w)}
    choice = M.choose_threshold(y, score, target_precision, w)
    out[f"{prefix}recall_at_target_precision"] = choice.recall if choice.reached_target else 0.0
    at = M.rates_at(y, score, threshold, w)
    out.update({f"{prefix}{k}_at_threshold": v for k, v in at.items() if k != "flagged"})
    benign = (rows["is_labelled"].to_numpy(bool)) & (y == 0)
    if benign.any():
        out[f"{prefix}fpr_labelled_benign"] = float((score[benign] >= threshold).mean())
    if "is_attacker" in rows and rows["is_attacker"].notna().any():
        legit = rows["is_attacker"].eq(False).to_numpy()
        attackers = rows["is_attacker"].eq(True).to_numpy()
        flagged = score >= threshold
        if attackers.any():
            out[f"{prefix}truth_recall"] = float(flagged[attackers].mean())
        for pop in sorted(rows.loc[legit, "population"].dropna().unique()):
            mask = legit & (rows["population"] == pop).to_numpy()
            out[f"{prefix}fpr_legit_{pop}"] = float(
                (w[mask] * flagged[mask]).sum() / max(w[mask].sum(), 1e-12)
            )
    return {k: float(v) for k, v in out.items()}


def _log_figures(result: FitResult, calib: pd.DataFrame, names: list[str]) -> dict:
    import matplotlib.pyplot as plt
    import mlflow

    scored = result.score(calib)
    y = calib["label"].to_numpy(int)
    w = calib["weight_pop"].to_numpy(float)
    s = scored["score"].to_numpy()
    threshold = result.bundle.threshold
    fig = plots.pr_curve(y, s, w, threshold, result.bundle.target_precision)
    mlflow.log_figure(fig, "plots/pr_curve.png")
    plt.close(fig)
    fig = plots.score_histograms(y, s, threshold)
    mlflow.log_figure(fig, "plots/score_histograms.png")
    plt.close(fig)
    fig, gain = plots.feature_importance(result.booster)
    mlflow.log_figure(fig, "plots/feature_importance.png")
    plt.close(fig)
    fig = plots.calibration_curve(y, s, w)
    mlflow.log_figure(fig, "plots/calibration.png")
    plt.close(fig)
    flagged = s >= threshold
    by_campaign = plots.recall_by_campaign(calib, flagged)
    if by_campaign:
        fig = plots.rates_by_group(by_campaign, "Recall per labelled campaign", "recall")
        mlflow.log_figure(fig, "plots/recall_by_campaign.png")
        plt.close(fig)
    by_population = plots.fpr_by_population(calib, flagged, w)
    if by_population:
        title = "False-positive rate by sign-up channel and plan (negatives)"
        fig = plots.rates_by_group(by_population, title, "false-positive rate (weighted)")
        mlflow.log_figure(fig, "plots/fpr_by_population.png")
        plt.close(fig)
    contrib = scored[[f"contrib__{n}" for n in names]]
    contrib.columns = names
    fig, mean_abs = plots.contribution_summary(contrib, calib[names])
    mlflow.log_figure(fig, "plots/contribution_summary.png")
    plt.close(fig)
    return {
        "recall_by_campaign": by_campaign,
        "fpr_by_population": by_population,
        "importance_gain": {k: float(v) for k, v in gain.items()},
        "mean_abs_contribution": {k: float(v) for k, v in mean_abs.items()},
    }


def run_retrain(rt: Runtime, as_of: dt.date, *, seed: int | None = None) -> RetrainResult:
    """Train as of `as_of` and register the version as `challenger`, holding the registry lock
    (two retrains of the same inputs cannot both register a version)."""
    with registry_lock(rt.settings, say=rt.say):
        return _retrain(rt, as_of, seed)


def _retrain(rt: Runtime, as_of: dt.date, seed: int | None) -> RetrainResult:
    import mlflow

    settings = rt.settings
    seed = settings.train_seed if seed is None else seed
    frame = training_frame(rt, as_of, seed=seed)
    key = retrain_key(settings, as_of, seed, frame)
    earlier = _earlier_version(rt, key)
    if earlier is not None:
        return earlier
    experiment_id = ensure_experiment(rt)
    _close_interrupted_runs(rt, experiment_id, key)
    result, slices, grouping = train_on(
        frame, settings.target_precision, seed, min_threshold=settings.train_min_threshold
    )
    rows, names = frame.rows, frame.feature_names

    metrics: dict[str, float] = {"threshold": result.bundle.threshold}
    for name, prefix in (("calib", ""), ("valid", "valid_")):
        sub = rows[slices == name]
        if sub.empty:  # a two-slice split has no validation slice of its own
            continue
        score = result.score(sub)["score"].to_numpy()
        metrics.update(
            slice_metrics(sub, score, result.bundle.threshold, settings.target_precision, prefix)
        )
    metrics["threshold_reached_target"] = float(result.threshold.reached_target)
    metrics["threshold_floored"] = float(result.threshold.floored)
    metrics["best_iteration"] = float(result.best_iteration)
    counts: dict[str, int] = {}
    for name in ("train", "valid", "calib"):
        sub = rows[slices == name]
        counts[f"rows_{name}"] = len(sub)
        counts[f"positives_{name}"] = int(sub["label"].sum())
    metrics.update({k: float(v) for k, v in counts.items()})

    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"retrain-{as_of.isoformat()}"
    ) as run:
        mlflow.set_tags({"hydrawatch.kind": "retrain", "as_of": as_of.isoformat(), KEY_TAG: key})
        failpoint("retrain.after_run_start")
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "seed": seed,
                "target_precision": settings.target_precision,
                "feature_set_version": frame.feature_set_version,
                "n_features": len(names),
                "split_grouping": grouping,
                "calibration_slices": "+".join(calibration_slices(rows, slices)),
                "unlabelled_candidates": frame.unlabelled_candidates,
                "unlabelled_fraction": round(frame.unlabelled_fraction, 6),
                "labels_without_features": frame.labels_without_features,
                # "not computed": no structural flags (off, or no silver or snapshot).
                "structure_suspects_not_negatives": (
                    "not computed" if frame.structure_suspects is None else frame.structure_suspects
                ),
                "unlabelled_sample_cap": settings.train_unlabelled_sample,
                **{f"data_version.{k}": v for k, v in frame.data_versions.items()},
                **{f"lgb.{k}": v for k, v in result.params.items() if k != "metric"},
            }
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict({"feature_names": names}, "features.json")
        mlflow.log_dict(
            {"tables": frame.data_versions, "as_of": as_of.isoformat()}, "data_versions.json"
        )
        mlflow.log_dict(_log_figures(result, rows[slices == "calib"], names), "importance.json")
        _log_dataset_inputs(rt, frame.data_versions)
        uri, version = log_model_version(
            rt,
            result.bundle,
            rows.loc[slices == "train", names],
            alias=CHALLENGER,
            version_tags={"as_of": as_of.isoformat(), "run_id": run.info.run_id, KEY_TAG: key},
            metrics=metrics,
            description=(
                f"Trained as of {as_of} (seed {seed}) on feature set {frame.feature_set_version}: "
                f"{counts.get('rows_train', 0)} training rows, "
                f"{counts.get('positives_train', 0)} labelled distillation; threshold "
                f"{result.bundle.threshold:.4f} for precision {settings.target_precision}."
            ),
        )
    return RetrainResult(
        version=version,
        model_uri=uri,
        run_id=run.info.run_id,
        threshold=result.bundle.threshold,
        feature_set_version=frame.feature_set_version,
        metrics=metrics,
        rows=counts,
    )


def _log_dataset_inputs(rt: Runtime, versions: dict[str, int]) -> None:
    """Each table the training frame read, as an MLflow dataset input at its Delta version
    (a reference: nothing is read again to log it)."""
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    for name, version in sorted(versions.items()):
        source = DeltaDatasetSource(
            path=f"{rt.settings.warehouse_uri}/{name}", delta_table_version=int(version)
        )
        mlflow.log_input(
            MetaDataset(source, name=f"{name}@v{version}", digest=f"v{version}"),
            context="training",
        )


# The modules whose code decides the model a retrain produces: a change to any of them changes the
# key, so new training code on the same data trains a new version instead of reusing the old one.
_TRAINING_MODULES = (
    "jobs.retrain",
    "models.inputs",
    "models.dataset",
    "models.split",
    "models.train",
    "models.metrics",
    "models.pyfunc",
)


def retrain_key(settings: Settings, as_of: dt.date, seed: int, frame: TrainingFrame) -> str:
    """The idempotency key of a retrain: same key, same model (module doc)."""
    import importlib

    code = hashlib.sha256()
    for name in _TRAINING_MODULES:
        code.update(inspect.getsource(importlib.import_module(name)).encode())
    parts = {
        "model_name": settings.model_name,
        "as_of": as_of.isoformat(),
        "seed": seed,
        "tables": {
            f"{settings.warehouse_uri}/{t}": v for t, v in sorted(frame.data_versions.items())
        },
        "feature_set_version": frame.feature_set_version,
        "target_precision": settings.target_precision,
        "train_unlabelled_sample": settings.train_unlabelled_sample,
        "code": code.hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _earlier_version(rt: Runtime, key: str) -> RetrainResult | None:
    """The version an earlier retrain with `key` registered, made challenger again; or None."""
    from mlflow.entities import RunStatus

    settings = rt.settings
    found = versions_tagged(rt, KEY_TAG, key)
    if not found:
        return None
    version = found[0]
    mlf = rt.mlflow
    info = mlf.get_model_version(settings.model_name, version)
    if CHALLENGER not in (info.aliases or ()):
        check_fences()
        mlf.set_registered_model_alias(settings.model_name, CHALLENGER, version)
    run = mlf.get_run(info.run_id)
    if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
        # Its process died after registering: everything was logged, the run just never ended.
        mlf.set_terminated(run.info.run_id, "FINISHED")
    metrics = dict(run.data.metrics)
    tags = dict(info.tags or {})
    return RetrainResult(
        version=version,
        model_uri=f"models:/{settings.model_name}/{version}",
        run_id=info.run_id,
        threshold=float(tags["threshold"]),
        feature_set_version=tags.get("feature_set_version", ""),
        metrics=metrics,
        rows={k: int(v) for k, v in metrics.items() if k.startswith(("rows_", "positives_"))},
        reused=True,
    )


def _close_interrupted_runs(rt: Runtime, experiment_id: str, key: str) -> None:
    """Mark KILLED the runs of `key` a dead process left RUNNING without registering a version."""
    stale = rt.mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.`{KEY_TAG}` = '{key}' and attributes.status = 'RUNNING'",
    )
    for run in stale:
        rt.mlflow.set_terminated(run.info.run_id, "KILLED")
