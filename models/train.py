"""Fit the account classifier on bounded, already split pandas frames: LightGBM, then calibration.

Promise: same frames + same seed -> byte-identical booster, calibration and threshold
(`deterministic=True`, fixed `num_threads`, row-wise histograms). Class imbalance is handled by
`scale_pos_weight` (negative/positive weight ratio, capped), early stopping watches the validation
slice, isotonic calibration and the threshold for the target precision use the calibration slice.
No I/O here; jobs/retrain.py assembles the frames and logs the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.inputs import TrainingFrame
from models.metrics import ThresholdChoice, choose_threshold
from models.pyfunc import Calibration, ModelBundle, raw_margin, score_frame
from models.split import TrainingDataError, time_split

# The weight of positives is capped: beyond ~50 the trees chase a handful of labelled accounts.
MAX_SCALE_POS_WEIGHT = 50.0
# Fixed so a run is reproducible on any machine, whatever its core count.
NUM_THREADS = 2
NUM_BOOST_ROUND = 400
EARLY_STOPPING_ROUNDS = 30
# Below this many distillation rows in the calibration slice, calibration and the threshold use
# the validation slice too (see calibration_slices).
MIN_CALIBRATION_POSITIVES = 20


@dataclass
class Slice:
    """One split of the training set: features, labels (1 = distillation) and sample weights."""

    x: pd.DataFrame
    y: np.ndarray
    w: np.ndarray

    @classmethod
    def of(
        cls, frame: pd.DataFrame, feature_names: list[str], label="label", weight="weight"
    ) -> Slice:
        """`weight=None` (or a column that is absent) gives every row weight 1."""
        has = weight is not None and weight in frame
        w = frame[weight].to_numpy(float) if has else np.ones(len(frame))
        return cls(frame[feature_names].astype("float64"), frame[label].to_numpy(int), w)

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        return int(len(self.y) - self.y.sum())


@dataclass
class FitResult:
    bundle: ModelBundle
    booster: object
    params: dict
    best_iteration: int
    threshold: ThresholdChoice

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        return score_frame(self.booster, self.bundle.calibration, self.bundle.feature_names, frame)


# Each tree draws this share of the features, so the ensemble cannot rest on one family: with 0.9
# every tree split on the IP-country count, and a reseller (many countries, nothing else of an
# attacker) scored like a campaign; with 0.5 content, account and cluster features vote too
# (docs/model.md, "Robustness"). A tree still sees at least MIN_FEATURES_PER_TREE features: with
# a handful of features, half of them is a coin toss over which signal a tree may use.
FEATURE_FRACTION = 0.5
MIN_FEATURES_PER_TREE = 8


def feature_fraction(n_features: int) -> float:
    return min(1.0, max(FEATURE_FRACTION, MIN_FEATURES_PER_TREE / max(n_features, 1)))


def lgb_params(
    seed: int, scale_pos_weight: float, overrides: dict | None = None, *, n_features: int
) -> dict:
    """LightGBM parameters; `n_features` (the model's feature count) sets the per-tree share."""
    params = {
        "objective": "binary",
        # Early stopping watches log loss: smoother than PR-AUC, which saturates on small slices.
        "metric": ["binary_logloss", "average_precision"],
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "min_sum_hessian_in_leaf": 1e-3,
        "feature_fraction": feature_fraction(n_features),
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "scale_pos_weight": scale_pos_weight,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": NUM_THREADS,
        "verbosity": -1,
    }
    params.update(overrides or {})
    return params


def fit_isotonic(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(raw, y, sample_weight=w)
    return Calibration(
        tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_)
    )


def fit(
    train: Slice,
    valid: Slice,
    calib: Slice,
    feature_names: list[str],
    *,
    feature_set_version: str,
    target_precision: float = 0.99,
    seed: int = 7,
    params: dict | None = None,
    num_boost_round: int = NUM_BOOST_ROUND,
    min_threshold: float = 0.0,
) -> FitResult:
    """Train, early-stop on `valid`, calibrate and pick the threshold on `calib`."""
    import lightgbm as lgb

    for name, part in (("train", train), ("validation", valid), ("calibration", calib)):
        if part.positives == 0 or part.negatives == 0:
            raise TrainingDataError(
                f"the {name} slice has {part.positives} distillation and {part.negatives} other "
                "rows; it needs both: retrain later, with more labelled campaigns"
            )
    pos_w = float((train.w * train.y).sum())
    neg_w = float((train.w * (1 - train.y)).sum())
    spw = float(min(MAX_SCALE_POS_WEIGHT, max(1.0, neg_w / pos_w)))
    full_params = lgb_params(seed, spw, params, n_features=len(feature_names))

    dtrain = lgb.Dataset(
        train.x, label=train.y, weight=train.w, feature_name=feature_names, free_raw_data=False
    )
    dvalid = lgb.Dataset(valid.x, label=valid.y, weight=valid.w, reference=dtrain)
    booster = lgb.train(
        full_params,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
        ],
    )
    best = int(booster.best_iteration or booster.current_iteration())
    # Keep only the trees early stopping chose; the saved text is what scoring will load.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))

    # The margin as the pyfunc computes it (sum of contributions), so the threshold is chosen on
    # exactly the scores scoring will produce: isotonic knots are steps, and a margin differing
    # in the last bit could land on the other side of one.
    raw_calib = raw_margin(booster, calib.x, feature_names)
    calibration = fit_isotonic(raw_calib, calib.y, calib.w)
    calibrated = calibration.apply(raw_calib)
    choice = choose_threshold(
        calib.y, calibrated, target_precision, calib.w, min_threshold=min_threshold
    )

    bundle = ModelBundle(
        booster_text=booster.model_to_string(),
        calibration=calibration,
        feature_names=list(feature_names),
        threshold=choice.threshold,
        feature_set_version=feature_set_version,
        target_precision=target_precision,
    )
    return FitResult(bundle, booster, full_params, best, choice)


def calibration_slices(rows: pd.DataFrame, slices: pd.Series) -> tuple[str, ...]:
    """The slices calibration and the threshold are fitted on.

    The calibration slice alone when it holds `MIN_CALIBRATION_POSITIVES` distillation rows;
    else the validation and calibration slices together. Clusters are kept whole, so one large
    labelled cluster late in time can leave the calibration slice with a handful of positives,
    and an isotonic fit and a precision-0.99 threshold on three positives are noise. The
    validation rows are still unseen by the trees' fitting (early stopping only picked how many
    trees to keep on them).
    """
    if int(rows.loc[slices == "calib", "label"].sum()) >= MIN_CALIBRATION_POSITIVES:
        return ("calib",)
    return ("valid", "calib")


def train_on(frame: TrainingFrame, target_precision: float, seed: int, min_threshold: float = 0.0):
    """Split and fit; returns (fit result, per-row slice, grouping used). No I/O."""
    rows = frame.rows
    slices, grouping = time_split(rows, seed)
    names = frame.feature_names

    def part(*names_: str, population_weight: bool = False) -> Slice:
        sub = rows[slices.isin(names_)]
        # Training sees every row at weight 1 (imbalance is scale_pos_weight's job); the
        # population weight only enters calibration and the figures.
        s = Slice.of(sub, names, weight=None)
        if population_weight:
            s.w = sub["weight_pop"].to_numpy(float)
        return s

    # Two-slice split (models/split.py): the held-out slice also serves early stopping.
    valid = "valid" if (slices == "valid").any() else "calib"
    result = fit(
        part("train"),
        part(valid),
        part(*calibration_slices(rows, slices), population_weight=True),
        names,
        feature_set_version=frame.feature_set_version,
        target_precision=target_precision,
        seed=seed,
        min_threshold=min_threshold,
    )
    return result, slices, grouping
