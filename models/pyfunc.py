"""The logged model that scoring loads: an MLflow pyfunc over a LightGBM booster plus calibration.

Promise (docs/architecture.md, "Model contract"): `predict(frame)` takes a pandas frame holding the
feature columns (extra columns are ignored, a missing one is an error) and returns a frame with
`score`, the calibrated probability in [0, 1], then `contrib__<feature>` per feature: LightGBM's
own contributions (`pred_contrib`) in log-odds, before calibration. The model's metadata carries
`threshold`, `feature_names`, `feature_set_version` and `target_precision`.

The wrapper needs only numpy, pandas and lightgbm at load time; the booster (LightGBM text format)
and the calibration map (JSON knots) are artifacts of the logged model, so a version stays
loadable as long as this class keeps its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

try:  # only the base class is needed; keep this module importable without MLflow's extras
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - MLflow is a pinned dependency
    PythonModel = object  # type: ignore[misc,assignment]

CONTRIB_PREFIX = "contrib__"
BOOSTER_ARTIFACT = "booster"
CALIBRATION_ARTIFACT = "calibration"


@dataclass(frozen=True)
class Calibration:
    """Monotone map from LightGBM's raw margin to a probability, as knots for `np.interp`.

    Isotonic regression fitted on the calibration slice; outside the knots the end values hold
    (like scikit-learn's `out_of_bounds="clip"`), so every score is in [0, 1].
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if len(self.x) == 0:
            return 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=float)))
        return np.clip(np.interp(raw, self.x, self.y), 0.0, 1.0)

    def to_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"]))


@dataclass
class ModelBundle:
    """Everything the pyfunc needs, before it is written as artifacts."""

    booster_text: str
    calibration: Calibration
    feature_names: list[str]
    threshold: float
    feature_set_version: str
    target_precision: float
    extra_metadata: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        meta = {
            "threshold": float(self.threshold),
            "feature_names": list(self.feature_names),
            "feature_set_version": self.feature_set_version,
            "target_precision": float(self.target_precision),
        }
        meta.update(self.extra_metadata)
        return meta

    def write_artifacts(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        booster = folder / "booster.txt"
        booster.write_text(self.booster_text)
        calibration = folder / "calibration.json"
        # Feature names travel beside the knots: LightGBM may rewrite names it stores itself.
        spec = {**self.calibration.to_dict(), "feature_names": list(self.feature_names)}
        calibration.write_text(json.dumps(spec))
        return {BOOSTER_ARTIFACT: str(booster), CALIBRATION_ARTIFACT: str(calibration)}


def contributions(booster, frame: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """LightGBM pred_contrib: one column per feature, then the bias; rows add up to the margin."""
    missing = [f for f in feature_names if f not in frame.columns]
    if missing:
        raise ValueError(f"input lacks feature column(s) {', '.join(missing)}")
    x = frame[feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(feature_names)
    if len(x) == 0:
        return np.zeros((0, n + 1))
    return np.asarray(booster.predict(x, pred_contrib=True)).reshape(len(x), n + 1)


def raw_margin(booster, frame: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    return contributions(booster, frame, feature_names).sum(axis=1)


def score_frame(booster, calibration: Calibration, feature_names: list[str], frame: pd.DataFrame):
    """The prediction itself, shared by the pyfunc and by training-time evaluation."""
    contrib = contributions(booster, frame, feature_names)
    raw = contrib.sum(axis=1)
    out = {"score": calibration.apply(raw)}
    for i, name in enumerate(feature_names):
        out[f"{CONTRIB_PREFIX}{name}"] = contrib[:, i]
    return pd.DataFrame(out, index=frame.index)


class HydrawatchModel(PythonModel):
    """MLflow pyfunc: features in, calibrated score and per-feature contributions out."""

    def load_context(self, context):
        import lightgbm as lgb

        self._booster = lgb.Booster(model_file=context.artifacts[BOOSTER_ARTIFACT])
        spec = json.loads(Path(context.artifacts[CALIBRATION_ARTIFACT]).read_text())
        self._calibration = Calibration.from_dict(spec)
        self._feature_names = list(spec["feature_names"])

    def predict(self, context, model_input, params=None):
        frame = model_input
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame, columns=self._feature_names)
        return score_frame(self._booster, self._calibration, self._feature_names, frame)
