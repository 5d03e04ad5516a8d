"""Time split: clusters whole, three slices when the labels allow it, two when they do not."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from models.split import HELD_OUT_SUFFIX, TrainingDataError, time_split

DAY = dt.date(2026, 2, 1)


def _rows(clusters: list[tuple[str, int, int, int]], coordinated: bool = False) -> pd.DataFrame:
    """One row per account: (cluster id, day offset, positives, negatives) per cluster; the
    cluster is an infrastructure cluster, and a coordination cluster too when `coordinated`."""
    out = []
    for cluster, day, pos, neg in clusters:
        for i in range(pos + neg):
            out.append(
                {
                    "account_id": f"{cluster}-{i}",
                    "feature_date": DAY + dt.timedelta(days=day),
                    "label": int(i < pos),
                    "infra_cluster_id": cluster,
                    "coord_cluster_id": cluster if coordinated else f"{cluster}-{i}",
                }
            )
    # Unclustered negatives spread over the window.
    for i in range(30):
        out.append(
            {
                "account_id": f"solo-{i}",
                "feature_date": DAY + dt.timedelta(days=i % 10),
                "label": 0,
                "infra_cluster_id": f"solo-{i}",
                "coord_cluster_id": f"solo-{i}",
            }
        )
    return pd.DataFrame(out)


def _per_slice(rows: pd.DataFrame, slices: pd.Series) -> dict[str, tuple[int, int]]:
    g = rows.assign(slice=slices).groupby("slice")["label"]
    return {k: (int(v.sum()), int((v == 0).sum())) for k, v in g}


def test_three_slices_when_positives_spread_over_enough_clusters():
    rows = _rows([(f"c{k}", k, 5, 1) for k in range(10)])
    slices, grouping = time_split(rows, seed=7)
    assert grouping == "infra+coord"
    per = _per_slice(rows, slices)
    # Cut where the positives before a cluster pass 60 % and 80 % of the 50.
    assert {k: pos for k, (pos, _) in per.items()} == {"train": 30, "valid": 10, "calib": 10}
    assert min(neg for _, neg in per.values()) > 0
    assert sum(neg for _, neg in per.values()) == 40


def test_two_slices_when_one_campaign_holds_most_positives():
    # One big hydra cluster early, one later, a singleton first: no cut gives three slices.
    rows = _rows([("single", 0, 1, 0), ("big", 3, 72, 2), ("late", 7, 19, 1)], coordinated=True)
    slices, grouping = time_split(rows, seed=7)
    assert grouping == "infra+coord" + HELD_OUT_SUFFIX
    assert "valid" not in set(slices)
    per = _per_slice(rows, slices)
    assert per["train"][0] == 73 and per["calib"][0] == 19
    assert rows.assign(s=slices).groupby("infra_cluster_id")["s"].nunique().max() == 1


def test_two_slices_rather_than_a_calibration_slice_of_two_positives():
    # Three slices exist (30 / 10 / 2 positives), but two positives calibrate nothing: the
    # validation groups join the calibration slice instead (12 positives).
    rows = _rows(
        [("a", 0, 30, 20), ("b", 3, 10, 1), ("c", 5, 1, 1), ("d", 7, 1, 1)], coordinated=True
    )
    slices, grouping = time_split(rows, seed=7)
    assert grouping == "infra+coord" + HELD_OUT_SUFFIX
    per = _per_slice(rows, slices)
    assert per["train"][0] == 30 and per["calib"][0] == 12
    assert min(neg for _, neg in per.values()) >= 20


def test_one_cluster_of_positives_cannot_be_split():
    rows = _rows([("big", 3, 40, 2)], coordinated=True)
    with pytest.raises(
        TrainingDataError, match=r"cannot split 72 training rows \(40 distillation\)"
    ):
        time_split(rows, seed=7)
