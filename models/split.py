"""Time split of the (bounded, driver-side) training rows into train / validation / calibration.

Promise: rows are grouped into connected components of "same account, same infrastructure
cluster, same coordination cluster" (cluster ids are member account ids, so a cluster seen on
different days still joins up); a group never straddles two slices. Groups are ordered by the
median feature date of their rows (ties by a seeded hash of the group, so the order is
deterministic), and cut where the cumulative count of distillation rows passes 60 % and 80 %:
train holds the earliest groups, validation the next, calibration the latest. If a slice would
lack a class, the grouping falls back to coordination clusters only (infrastructure can chain a
whole proxy network into one component).

With few labelled campaigns a hydra cluster can hold most positives by itself: the groups with
positives are then too few for three slices (one campaign of 72 labelled accounts in one
infrastructure component, another of 19, a handful of singletons, on the 14-day demo window of
seed 7). The split then keeps two slices, train and a held-out `calib` slice that serves both
early stopping and calibration (`validation = calibration` in the grouping name). The trees
never fit held-out rows; early stopping on them makes the held-out figures slightly optimistic,
which is why three slices are preferred. Only when no grouping gives even two slices that each
hold both classes does `TrainingDataError` say so.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from hydrawatch.errors import HydrawatchError


class TrainingDataError(HydrawatchError):
    """The training set cannot support a model (too few labels, a slice without a class)."""


TRAIN_SHARE = 0.6
VALID_SHARE = 0.2
# A held-out slice with one or two positives calibrates nothing: its isotonic map has one step
# and the target-precision threshold lands on whichever account happens to sit there (on the
# demo window, a three-slice split whose calibration slice held one positive missed a whole
# campaign). Splits whose every slice holds this many of each class are preferred, with two
# slices if need be, before splits that merely hold both classes.
MIN_SLICE_POSITIVES = 10
MIN_SLICE_NEGATIVES = 20
GROUPINGS = (("infra_cluster_id", "coord_cluster_id"), ("coord_cluster_id",))
SLICES = ("train", "valid", "calib")


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        root = x
        while parent != root:
            root = parent
            parent = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id wins so the root does not depend on insertion order.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def group_ids(rows: pd.DataFrame, link_columns: tuple[str, ...]) -> pd.Series:
    uf = _UnionFind()
    accounts = rows["account_id"].astype(str).to_numpy()
    for col in link_columns:
        for acct, cluster in zip(accounts, rows[col].to_numpy(), strict=True):
            if isinstance(cluster, str) and cluster:
                uf.union(acct, cluster)
    return pd.Series([uf.find(a) for a in accounts], index=rows.index, name="group_id")


def _hash(value: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{value}".encode()).hexdigest()


def assign_slices(rows: pd.DataFrame, groups: pd.Series, seed: int) -> pd.Series:
    frame = pd.DataFrame(
        {"group_id": groups, "feature_date": rows["feature_date"], "label": rows["label"]}
    )
    # A group's time is the median day of its rows: with the latest day, every big legitimate
    # cluster (one member seen late is enough) would always land in the calibration slice.
    frame["day"] = pd.to_datetime(frame["feature_date"]).map(pd.Timestamp.toordinal)
    per_group = frame.groupby("group_id").agg(
        last_date=("day", "median"), positives=("label", "sum")
    )
    per_group["tie"] = [_hash(g, seed) for g in per_group.index]
    per_group = per_group.sort_values(["last_date", "tie"])
    total = per_group["positives"].sum()
    # A group's slice is decided by the positives *before* it, so a large group is not split.
    before = per_group["positives"].cumsum() - per_group["positives"]
    share = before / max(total, 1)
    per_group["slice"] = np.where(
        share < TRAIN_SHARE, "train", np.where(share < TRAIN_SHARE + VALID_SHARE, "valid", "calib")
    )
    return groups.map(per_group["slice"]).rename("slice")


def _complete(
    rows: pd.DataFrame, slices: pd.Series, names=SLICES, min_pos: int = 1, min_neg: int = 1
) -> bool:
    for name in names:
        labels = rows.loc[slices == name, "label"]
        if labels.sum() < min_pos or (labels == 0).sum() < min_neg:
            return False
    return True


HELD_OUT_SUFFIX = " (validation = calibration)"


def _two_slices(slices: pd.Series) -> pd.Series:
    """Train and one held-out slice: the validation groups join the calibration slice."""
    return slices.where(slices != "valid", "calib")


def time_split(rows: pd.DataFrame, seed: int) -> tuple[pd.Series, str]:
    """Slice name per row and the grouping used (`"infra+coord"` or `"coord"`).

    When only two slices can hold both classes, no row is in `valid` and the grouping name ends
    with `HELD_OUT_SUFFIX`: the `calib` slice then also serves early stopping.
    """
    tries = [(link, assign_slices(rows, group_ids(rows, link), seed)) for link in GROUPINGS]
    for mins in ((MIN_SLICE_POSITIVES, MIN_SLICE_NEGATIVES), (1, 1)):
        for link, slices in tries:
            if _complete(rows, slices, SLICES, *mins):
                return slices, "+".join(c.split("_")[0] for c in link)
        for link, slices in tries:
            two = _two_slices(slices)
            if _complete(rows, two, ("train", "calib"), *mins):
                return two, "+".join(c.split("_")[0] for c in link) + HELD_OUT_SUFFIX
    counts = rows.groupby("label").size().to_dict()
    raise TrainingDataError(
        f"cannot split {len(rows)} training rows ({counts.get(1, 0)} distillation) by time "
        "into slices (train and held-out at least) that each hold both classes without "
        "cutting a cluster: more labelled campaigns are needed"
    )
