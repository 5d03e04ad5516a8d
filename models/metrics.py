"""Classification figures used by training, the promotion gate and the evaluation report.

Pure numpy on bounded arrays (labelled accounts plus a bounded sample), all with optional sample
weights so a down-sampled population can stand for the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    precision: float
    recall: float
    reached_target: bool
    # The chosen cut was below the floor and was raised to it.
    floored: bool = False


def _arrays(y, s, w):
    y = np.asarray(y, dtype=float)
    s = np.asarray(s, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    return y, s, w


def pr_auc(y, s, w=None) -> float:
    """Average precision (area under the precision-recall curve); NaN without both classes."""
    from sklearn.metrics import average_precision_score

    y, s, w = _arrays(y, s, w)
    if y.sum() == 0 or y.sum() == len(y):
        return float("nan")
    return float(average_precision_score(y, s, sample_weight=w))


def choose_threshold(
    y, s, target_precision: float, w=None, min_threshold: float = 0.0
) -> ThresholdChoice:
    """The threshold of the largest flagged set (score >= t) whose precision reaches the target.

    That set is every row scoring at least some `s_k`; the threshold is set halfway between `s_k`
    and the next lower score present, since any value in between flags the same rows here and
    the middle leaves room on both sides for accounts not seen yet. (With `s_k` itself, an
    account of an unlabelled campaign scoring a little under the lowest labelled one is missed:
    on the seed-23 demo window, whose calibration positives all scored 1.0 and negatives 0.0, the
    threshold 1.0 missed all 122 accounts of a campaign scoring 0.9; halfway, 0.5, caught them.)
    When no threshold reaches the target, the one with the best precision is returned (at `s_k`)
    with `reached_target=False` so the gate can refuse the model rather than silently ship a
    weaker one.

    The threshold is never below `min_threshold`: scores are calibrated probabilities, and a cut
    at 0.003 flags accounts the model itself calls unlikely attackers. That happened when a
    campaign's labels were held out and the calibration slice's negatives all scored 0: every
    account above zero passed, 964 legitimate accounts among them (docs/model.md). A raised cut
    reports its own precision and recall, and `floored=True`.
    """
    choice = _best_cut(y, s, target_precision, w)
    if choice.threshold >= min_threshold:
        return choice
    y, s, w = _arrays(y, s, w)
    flagged = s >= min_threshold
    tp = float((w * y * flagged).sum())
    fp = float((w * (1 - y) * flagged).sum())
    pos = float((w * y).sum())
    precision = tp / (tp + fp) if tp + fp > 0 else float("nan")
    return ThresholdChoice(
        float(min_threshold),
        precision,
        tp / pos if pos > 0 else float("nan"),
        bool(tp + fp > 0 and precision >= target_precision),
        floored=True,
    )


def _best_cut(y, s, target_precision: float, w) -> ThresholdChoice:
    y, s, w = _arrays(y, s, w)
    pos_total = float((w * y).sum())
    if len(y) == 0 or pos_total == 0:
        return ThresholdChoice(1.0, float("nan"), float("nan"), False)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted, w_sorted = s[order], y[order], w[order]
    tp = np.cumsum(w_sorted * y_sorted)
    fp = np.cumsum(w_sorted * (1 - y_sorted))
    # Only positions where the next score is lower are real cut points (ties flag together).
    last_of_tie = np.r_[s_sorted[1:] < s_sorted[:-1], True]
    tp, fp, cut_scores = tp[last_of_tie], fp[last_of_tie], s_sorted[last_of_tie]
    precision = tp / np.maximum(tp + fp, 1e-12)
    recall = tp / pos_total
    ok = np.flatnonzero(precision >= target_precision)
    if len(ok):
        i = ok[-1]
        t = cut_scores[i] if i + 1 == len(cut_scores) else (cut_scores[i] + cut_scores[i + 1]) / 2
        return ThresholdChoice(float(t), float(precision[i]), float(recall[i]), True)
    best = precision.max()
    i = np.flatnonzero(precision == best)[-1]
    return ThresholdChoice(float(cut_scores[i]), float(precision[i]), float(recall[i]), False)


def rates_at(y, s, threshold: float, w=None) -> dict[str, float]:
    """Precision, recall and false-positive rate of flagging score >= threshold."""
    y, s, w = _arrays(y, s, w)
    flagged = s >= threshold
    tp = float((w * y * flagged).sum())
    fp = float((w * (1 - y) * flagged).sum())
    pos = float((w * y).sum())
    neg = float((w * (1 - y)).sum())
    return {
        "precision": tp / (tp + fp) if tp + fp > 0 else float("nan"),
        "recall": tp / pos if pos > 0 else float("nan"),
        "fpr": fp / neg if neg > 0 else float("nan"),
        "flagged": float(flagged.sum()),
    }
