"""The comparison's label figures on a hand-made frame: points worked by hand, intervals
reproducible for a seed and around their point."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.compare import label_metrics


def _rows() -> pd.DataFrame:
    # x1, x2 distillation; x3, x4 benign; x5 unlabelled (left out). x1 on two days.
    return pd.DataFrame(
        {
            "score_date": ["d1", "d2", "d1", "d1", "d1", "d1"],
            "account_id": ["x1", "x1", "x2", "x3", "x4", "x5"],
            "label": [1, 1, 1, 0, 0, np.nan],
            "score_a": [0.9, 0.8, 0.2, 0.7, 0.1, 0.99],
            "flagged_a": [True, True, False, True, False, True],
            "score_b": [0.9, 0.9, 0.8, 0.3, 0.2, 0.1],
            "flagged_b": [True, True, True, False, False, False],
        }
    )


def test_points_by_hand_and_reproducible_intervals():
    got = label_metrics(_rows(), seed=3)
    a, b = got["a"], got["b"]
    assert (a.labelled_rows, a.positives) == (5, 3)
    # a flags x1 (twice) and x3 among the labelled rows: 2 of 3 flags right, 2 of 3 positives
    assert a.precision.value == 2 / 3 and a.recall.value == 2 / 3
    # b flags x1 (twice) and x2: all right, every positive caught
    assert b.precision.value == 1.0 and b.recall.value == 1.0
    # b ranks every positive above every negative: PR-AUC 1; a has x3 (0.7) above x2 (0.2)
    assert b.pr_auc.value == 1.0
    assert math.isclose(a.pr_auc.value, (1 + 1 + 3 / 4) / 3)
    assert label_metrics(_rows(), seed=3) == got  # same rows, same seed: same intervals
    for fig in (a, b):
        for interval in (fig.precision, fig.recall, fig.pr_auc):
            assert interval.low <= interval.value <= interval.high


def test_no_labels_gives_no_figures():
    rows = _rows().assign(label=np.nan)
    got = label_metrics(rows)
    assert got["a"].labelled_rows == 0 and math.isnan(got["a"].precision.value)
    assert got["a"].precision.text() == "n/a"
