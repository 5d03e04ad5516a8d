"""Grouped aggregates over Arrow and numpy columns, with no Python per row.

The silver step (`features.daily`) hands one shuffle partition's events to these helpers.
`Groups` numbers each row's group (an account-day) and gives per-group counts and sums in any
row order; `Groups.in_time_order` sorts the groups' rows by time into contiguous `Segments`,
which give first and last values, sums in time order and the longest run of equal values.
`count_map` and `distinct_list` give per group the sorted counts of each key, or its sorted
distinct values, as Arrow map and list arrays; `distinct_mapped_list` the sorted distinct
images of its values under a function called once, on the distinct values. Every result has one
entry per group, in group number order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Segments:
    """Contiguous, non-empty runs of `n` sorted rows, starting at `starts` (starts[0] = 0)."""

    starts: np.ndarray
    n: int

    @classmethod
    def from_new(cls, new: np.ndarray) -> Segments:
        """Segments from a boolean per row: True where a new segment begins (row 0 always does)."""
        new = new.copy()
        new[0] = True
        return cls(np.flatnonzero(new), len(new))

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(np.append(self.starts, self.n)).astype(np.int64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts)

    def first(self, values: np.ndarray) -> np.ndarray:
        return values[self.starts]

    def last(self, values: np.ndarray) -> np.ndarray:
        return values[np.append(self.starts[1:], self.n) - 1]

    def longest_run(self, values: np.ndarray) -> np.ndarray:
        """Per segment, the length of the longest run of equal consecutive `values`."""
        new = np.ones(self.n, dtype=bool)
        new[1:] = values[1:] != values[:-1]
        new[self.starts] = True
        runs = Segments.from_new(new)
        # Every segment start is a run start, so each segment's first run is found by position.
        first_run = np.searchsorted(runs.starts, self.starts)
        return np.maximum.reduceat(runs.sizes, first_run)


@dataclass(frozen=True)
class Groups:
    """Each row's group number (`ids`, 0 .. count - 1); every group has at least one row."""

    ids: np.ndarray
    count: int

    @classmethod
    def from_codes(cls, codes: np.ndarray) -> Groups:
        """Rows with equal integer codes form a group; groups are numbered in code order."""
        codes = np.asarray(codes, dtype=np.int64).ravel()
        if len(codes) and codes.min() >= 0 and codes.max() <= 4 * len(codes):
            # Codes no wider than a few times the rows (the silver pass's account ranks): a
            # presence table numbers them in one linear pass, where np.unique sorts the rows.
            present = np.zeros(int(codes.max()) + 1, dtype=bool)
            present[codes] = True
            number = np.cumsum(present) - 1
            return cls(number[codes], int(number[-1]) + 1)
        distinct, ids = np.unique(codes, return_inverse=True)
        return cls(ids.astype(np.int64).ravel(), len(distinct))

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.ids, minlength=self.count).astype(np.int64)

    def count_true(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.ids[mask], minlength=self.count).astype(np.int64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.count, dtype=values.dtype)
        np.add.at(out, self.ids, values)
        return out

    def in_time_order(self, time: np.ndarray) -> tuple[np.ndarray, Segments]:
        """(row order by group then `time`, the groups as segments of that order)."""
        low = int(time.min()) if len(time) else 0
        span = (int(time.max()) - low + 1) if len(time) else 1
        if self.count * span < 2**62:
            # Not a stable sort: rows of one group at the same instant are interchangeable (a
            # gap of 0 and the same minute whatever their order), and numpy's quicksort of
            # int64 is several times faster than its stable sort (0.02 s against 0.12 s for
            # 1.24M rows).
            order = np.argsort(self.ids * np.int64(span) + (time - low), kind="quicksort")
        else:  # a key that does not fit 64 bits
            order = np.lexsort((time, self.ids))
        starts = np.zeros(self.count, dtype=np.int64)
        np.cumsum(self.sizes[:-1], out=starts[1:])
        return order, Segments(starts, len(time))


def ranks(values: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(distinct non-null values ascending, each row's rank among them, whether it is non-null).

    Strings order by their UTF-8 bytes and numbers by value, as Spark's `sort_array` does.
    """
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank_of_code = np.empty(len(order), dtype=np.int64)
    rank_of_code[order] = np.arange(len(order), dtype=np.int64)
    valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    row_ranks = rank_of_code[codes] if len(order) else codes
    return dictionary.take(pa.array(order, pa.int64())), row_ranks, valid


def keyed_counts(
    groups: Groups, key_ranks: np.ndarray, valid: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group, each distinct key rank (ascending) and how many valid rows carry it.

    Returns (offsets, key ranks, counts): group i owns entries offsets[i]:offsets[i + 1].
    Ranks lie in [0, width).
    """
    width = max(width, 1)
    combined = groups.ids[valid] * np.int64(width) + key_ranks[valid]
    distinct, counts = np.unique(combined, return_counts=True)
    offsets = np.zeros(groups.count + 1, dtype=np.int32)
    np.cumsum(np.bincount(distinct // width, minlength=groups.count), out=offsets[1:])
    return offsets, distinct % width, counts.astype(np.int64)


def count_map(groups: Groups, values: pa.Array) -> pa.MapArray:
    """Per group, a map of each distinct non-null value to its count, keys ascending."""
    keys, row_ranks, valid = ranks(values)
    offsets, key_ranks, counts = keyed_counts(groups, row_ranks, valid, len(keys))
    return pa.MapArray.from_arrays(
        pa.array(offsets), keys.take(pa.array(key_ranks)), pa.array(counts, pa.int64())
    )


def distinct_list(groups: Groups, values: pa.Array) -> pa.ListArray:
    """Per group, the distinct non-null values, ascending (an empty list when there are none)."""
    keys, row_ranks, valid = ranks(values)
    offsets, key_ranks, _ = keyed_counts(groups, row_ranks, valid, len(keys))
    return pa.ListArray.from_arrays(pa.array(offsets), keys.take(pa.array(key_ranks)))


def distinct_mapped_list(
    groups: Groups, values: pa.Array, fn: Callable[[pa.Array], pa.Array]
) -> pa.ListArray:
    """Per group, the distinct non-null images of its non-null values under `fn`, ascending.

    `fn` maps an array to an array of the same length; it is called once, on the distinct
    values of the whole array (for mappings done outside Arrow's kernels, it pays per distinct
    value, not per row). A NULL from it drops the value.
    """
    keys, row_ranks, valid = ranks(values)
    if not len(keys):
        return distinct_list(groups, values)
    mapped, key_rank, key_valid = ranks(fn(keys))
    rows = valid & key_valid[row_ranks]
    offsets, mapped_ranks, _ = keyed_counts(groups, key_rank[row_ranks], rows, len(mapped))
    return pa.ListArray.from_arrays(pa.array(offsets), mapped.take(pa.array(mapped_ranks)))
