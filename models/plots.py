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


def calibration_curve(y, score, w, bins: int = 10):
    """Mean score against the (population-weighted) share of distillation, per score bin."""
    fig, ax = _figure(5.5, 5.0)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    xs, ys = [], []
    for b in range(bins):
        m = index == b
        if w[m].sum() > 0:
            xs.append(float(np.average(score[m], weights=w[m])))
            ys.append(float(np.average(y[m], weights=w[m])))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    ax.plot(xs, ys, marker="o", label="model")
    ax.set_xlabel("mean calibrated score")
    ax.set_ylabel("share distillation (population-weighted)")
    ax.set_title("Calibration, calibration slice")
    ax.legend()
    return fig


def rates_by_group(groups: dict[str, tuple[float, int]], title: str, xlabel: str):
    """One horizontal bar per group: its rate, annotated with the accounts behind it."""
    fig, ax = _figure(7.0, 0.4 * max(len(groups), 1) + 1.5)
    names = list(groups)
    ax.barh(names[::-1], [groups[n][0] for n in names][::-1])
    for i, n in enumerate(names[::-1]):
        rate, count = groups[n]
        ax.annotate(f"n={count}", (rate, i), xytext=(3, -3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return fig


def recall_by_campaign(calib: pd.DataFrame, flagged: np.ndarray) -> dict[str, tuple[float, int]]:
    """Recall per labelled campaign (`label_campaign_id`, `(unnamed)` without one). Pure."""
    positive = calib["label"].to_numpy(int) == 1
    campaign = calib["label_campaign_id"].fillna("(unnamed)").to_numpy()
    out = {}
    for name in sorted(set(campaign[positive])):
        m = positive & (campaign == name)
        out[str(name)] = (float(flagged[m].mean()), int(m.sum()))
    return out


def fpr_by_population(
    calib: pd.DataFrame, flagged: np.ndarray, w: np.ndarray
) -> dict[str, tuple[float, int]]:
    """Population-weighted false-positive rate per sign-up channel (`signup_*` one-hot features)
    and per plan level (`plan_level`), over the negatives. Pure."""
    negative = calib["label"].to_numpy(int) == 0
    out = {}
    signup = [c for c in calib.columns if c.startswith("signup_")]
    groups = [(c.removeprefix("signup_"), calib[c].to_numpy() >= 0.5) for c in signup]
    if "plan_level" in calib.columns:
        levels = calib["plan_level"].to_numpy()
        groups += [(f"plan {int(v)}", levels == v) for v in sorted(set(levels[~np.isnan(levels)]))]
    for name, member in groups:
        m = negative & member
        if w[m].sum() > 0:
            out[name] = (float(np.average(flagged[m], weights=w[m])), int(m.sum()))
    return out
