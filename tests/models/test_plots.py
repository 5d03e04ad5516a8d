"""The figures behind the model plots, on hand-made calibration rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.plots import fpr_by_population, recall_by_campaign


def _calib() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [1, 1, 1, 0, 0, 0, 0],
            "label_campaign_id": ["c-a", "c-a", None, None, None, None, None],
            "signup_education": [0, 0, 0, 1, 1, 0, 0],
            "signup_self_serve": [1, 1, 1, 0, 0, 1, 1],
            "plan_level": [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0],
        }
    )


def test_recall_per_campaign_and_weighted_fpr_per_population():
    calib = _calib()
    flagged = np.array([True, False, True, True, False, False, True])
    assert recall_by_campaign(calib, flagged) == {"(unnamed)": (1.0, 1), "c-a": (0.5, 2)}
    w = np.array([1, 1, 1, 1, 3, 1, 1], dtype=float)
    got = fpr_by_population(calib, flagged, w)
    # education negatives: rows 3 (flagged, w 1) and 4 (not, w 3) -> 1 / 4
    assert got["education"] == (0.25, 2)
    # self-serve negatives: rows 5 (not) and 6 (flagged) -> 1 / 2
    assert got["self_serve"] == (0.5, 2)
    assert got["plan 0"] == (0.25, 2) and got["plan 1"] == (0.0, 1) and got["plan 2"] == (1.0, 1)
