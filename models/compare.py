"""Two models side by side on the same accounts and days: the figures of `hydrawatch compare`.

Pure (pandas and numpy in, dataclasses out); the job gathers the rows (jobs/compare.py).

`label_metrics(rows, seed)` measures each model against the labels known by then (the latest
decision per account, appeals included; unlabelled rows are left out): precision and recall at the
model's own flags and PR-AUC (average precision) of its scores, each with a 95 % bootstrap
interval. The bootstrap resamples accounts, not rows (an account scored on several days is one
unit), `BOOTSTRAP_ROUNDS` times with a fixed seed: the same rows give the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BOOTSTRAP_ROUNDS = 200
MODELS = ("a", "b")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def text(self) -> str:
        if np.isnan(self.value):
            return "n/a"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class ModelFigures:
    labelled_rows: int
    positives: int
    precision: Interval
    recall: Interval
    pr_auc: Interval


def _precision(y: np.ndarray, flagged: np.ndarray) -> float:
    n = flagged.sum()
    return float((y & flagged).sum() / n) if n else float("nan")


def _recall(y: np.ndarray, flagged: np.ndarray) -> float:
    n = y.sum()
    return float((y & flagged).sum() / n) if n else float("nan")


def _pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if y.sum() == 0 or y.sum() == len(y):
        return float("nan")
    return float(average_precision_score(y, score))


def _figures(y, flagged, score) -> tuple[float, float, float]:
    return _precision(y, flagged), _recall(y, flagged), _pr_auc(y, score)


def label_metrics(rows: pd.DataFrame, seed: int = 7) -> dict[str, ModelFigures]:
    """Per model ("a", "b"): figures on the labelled rows of `rows`.

    `rows`: one row per (score_date, account_id) with `label` (1 distillation, 0 benign, NaN
    unknown), `score_a`, `flagged_a`, `score_b`, `flagged_b`.
    """
    known = rows[rows["label"].notna()].reset_index(drop=True)
    y = known["label"].to_numpy(int).astype(bool)
    accounts = known["account_id"].to_numpy()
    units = np.unique(accounts)
    rows_of = {a: np.flatnonzero(accounts == a) for a in units}
    rng = np.random.default_rng(seed)
    draws = [
        np.concatenate([rows_of[a] for a in rng.choice(units, size=len(units))])
        for _ in range(BOOTSTRAP_ROUNDS if len(units) else 0)
    ]
    out = {}
    for m in MODELS:
        flagged = known[f"flagged_{m}"].to_numpy(bool)
        score = known[f"score_{m}"].to_numpy(float)
        point = _figures(y, flagged, score)
        samples = np.array([_figures(y[i], flagged[i], score[i]) for i in draws]).reshape(-1, 3)
        intervals = []
        for k in range(3):
            finite = samples[:, k][~np.isnan(samples[:, k])]
            low, high = (
                (float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975)))
                if len(finite)
                else (float("nan"), float("nan"))
            )
            intervals.append(Interval(point[k], low, high))
        out[m] = ModelFigures(len(known), int(y.sum()), *intervals)
    return out
