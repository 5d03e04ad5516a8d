"""Grouped aggregates over numpy and Arrow columns (features.segments), on tiny inline arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.segments import (
    Groups,
    Segments,
    count_map,
    distinct_list,
    distinct_mapped_list,
    keyed_counts,
)


def test_groups_number_rows_in_code_order_and_count_and_sum():
    groups = Groups.from_codes(np.array([7, 3, 7, 3, 9]))
    assert groups.count == 3
    assert groups.ids.tolist() == [1, 0, 1, 0, 2]
    assert groups.sizes.tolist() == [2, 2, 1]
    assert groups.sum(np.array([1, 10, 100, 1000, 5])).tolist() == [1010, 101, 5]
    assert groups.count_true(np.array([True, False, True, True, False])).tolist() == [1, 2, 0]


def test_groups_number_wide_and_negative_codes_in_code_order_too():
    # Codes far wider than the rows take the sorting path; dense ones the presence table.
    wide = Groups.from_codes(np.array([10**12, -5, 10**12, 3]))
    assert (wide.count, wide.ids.tolist()) == (3, [2, 0, 2, 1])
    dense = Groups.from_codes(np.array([4, 0, 4, 2]))
    assert (dense.count, dense.ids.tolist()) == (3, [2, 0, 2, 1])


def test_in_time_order_sorts_each_group_by_time_into_contiguous_segments():
    groups = Groups.from_codes(np.array([2, 1, 2, 1, 2]))
    time = np.array([30, 20, 10, 5, 20])
    order, segs = groups.in_time_order(time)
    assert time[order].tolist() == [5, 20, 10, 20, 30]
    assert segs.starts.tolist() == [0, 2]
    assert segs.first(time[order]).tolist() == [5, 10]
    assert segs.last(time[order]).tolist() == [20, 30]
    assert segs.sum(time[order]).tolist() == [25, 60]


def test_in_time_order_falls_back_when_the_combined_key_would_overflow():
    groups = Groups.from_codes(np.array([1, 0, 1]))
    time = np.array([2**61, 0, -(2**61)])
    order, _ = groups.in_time_order(time)
    assert order.tolist() == [1, 2, 0]


def test_longest_run_is_per_segment_and_never_crosses_a_boundary():
    segs = Segments(np.array([0, 3]), 7)
    values = np.array([1, 1, 2, 2, 2, 2, 3])
    # The run of 2s spans the boundary at row 3; it counts 1 in the first segment, 3 in the second.
    assert segs.longest_run(values).tolist() == [2, 3]


def test_keyed_counts_skip_invalid_rows_and_give_offsets_per_group():
    groups = Groups.from_codes(np.array([0, 0, 1, 1, 1]))
    offsets, keys, counts = keyed_counts(
        groups, np.array([3, 3, 0, 2, 0]), np.array([True, True, True, False, True]), 4
    )
    assert offsets.tolist() == [0, 1, 2]
    assert keys.tolist() == [3, 0]
    assert counts.tolist() == [2, 2]


def test_count_map_sorts_keys_by_their_bytes_and_ignores_nulls():
    groups = Groups.from_codes(np.array([0, 0, 0, 1, 1, 2]))
    values = pa.array(["b", "a", "b", "Z", None, None])
    out = count_map(groups, values)
    assert out.to_pylist() == [[("a", 1), ("b", 2)], [("Z", 1)], []]


def test_distinct_list_of_numbers_and_of_all_nulls():
    groups = Groups.from_codes(np.array([0, 0, 1]))
    assert distinct_list(groups, pa.array([10, 2, 10])).to_pylist() == [[2, 10], [10]]
    empty = distinct_list(groups, pa.array([None, None, None], pa.string()))
    assert empty.to_pylist() == [[], []]


def test_distinct_mapped_list_maps_the_distinct_values_once_and_drops_nulls():
    groups = Groups.from_codes(np.array([0, 0, 0, 1, 1, 2]))
    values = pa.array(["a1", "b1", "a2", "a1", None, "zz"])
    calls = []

    def first_letter(arr):
        calls.append(arr.to_pylist())
        return pa.array([None if v == "zz" else v[0] for v in arr.to_pylist()], pa.string())

    out = distinct_mapped_list(groups, values, first_letter)
    # Group 0: a1 and a2 both map to "a"; group 2's only value maps to NULL.
    assert out.to_pylist() == [["a", "b"], ["a"], []]
    assert [sorted(c) for c in calls] == [["a1", "a2", "b1", "zz"]]
    empty = distinct_mapped_list(groups, pa.nulls(6, pa.string()), first_letter)
    assert empty.to_pylist() == [[], [], []]
