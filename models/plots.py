"""Figures logged with a training run: precision-recall curve, score histograms by class, feature
importance, and a SHAP-style summary built from LightGBM's own contributions (`pred_contrib`).

Each function takes bounded arrays and returns a matplotlib Figure (Agg backend, no display);
the caller logs it with `mlflow.log_figure` and closes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TOP_FEATURES = 20


def _figure(width=7.0, height=4.5):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def pr_curve(y, score, w, threshold: float, target_precision: float):
    from sklearn.metrics import precision_recall_curve

    fig, ax = _figure()
    precision, recall, _ = precision_recall_curve(y, score, sample_weight=w)
    ax.plot(recall, precision, drawstyle="steps-post")
    ax.axhline(target_precision, color="grey", linestyle="--", label="target precision")
    flagged = score >= threshold
    tp = float((w * y * flagged).sum())
    fp = float((w * (1 - y) * flagged).sum())
    pos = float((w * y).sum())
    if tp + fp > 0 and pos > 0:
        ax.scatter([tp / pos], [tp / (tp + fp)], color="red", zorder=3, label="threshold")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall, calibration slice (population-weighted)")
    ax.legend(loc="lower left")
    return fig


def score_histograms(y, score, threshold: float):
    fig, ax = _figure()
    bins = np.linspace(0, 1, 41)
    for label, name in ((0, "not distillation"), (1, "distillation")):
        ax.hist(score[y == label], bins=bins, alpha=0.6, label=name, log=True)
    ax.axvline(threshold, color="red", linestyle="--", label="threshold")
    ax.set_xlabel("calibrated score")
    ax.set_ylabel("accounts (log)")
    ax.set_title("Scores by class, calibration slice")
    ax.legend()
    return fig


def feature_importance(booster):
    gain = pd.Series(
        booster.feature_importance(importance_type="gain"), index=booster.feature_name()
    )
    gain = gain.sort_values(ascending=False).head(TOP_FEATURES)[::-1]
    fig, ax = _figure(7, max(3, 0.3 * len(gain)))
    ax.barh(gain.index, gain.to_numpy())
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance (gain)")
    fig.tight_layout()
    return fig, gain[::-1]


def contribution_summary(contrib: pd.DataFrame, values: pd.DataFrame):
    """Beeswarm-like summary: per feature, each account's contribution, coloured by its value rank."""
    mean_abs = contrib.abs().mean().sort_values(ascending=False).head(TOP_FEATURES)
    names = list(mean_abs.index)[::-1]
    fig, ax = _figure(8, max(3, 0.35 * len(names)))
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        c = contrib[name].to_numpy()
        v = values[name].rank(pct=True).to_numpy()
        jitter = rng.uniform(-0.25, 0.25, len(c))
        ax.scatter(c, np.full(len(c), i) + jitter, c=v, cmap="coolwarm", s=4, alpha=0.6)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("contribution to log-odds (LightGBM pred_contrib); colour: feature value rank")
    ax.set_title("Contribution summary")
    fig.tight_layout()
    return fig, mean_abs
