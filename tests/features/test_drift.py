"""PSI: zero for the same distribution, the textbook value for a known shift, nulls binned."""

from __future__ import annotations

import math

import pytest

from features import drift


def _long(spark, feature, values):
    return spark.createDataFrame([(feature, v) for v in values], "feature string, value double")


def test_psi_matches_the_formula_and_flags_past_the_bound(spark):
    ref = _long(spark, "f", [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]).unionByName(
        _long(spark, "g", [0.0, 1.0, 2.0, 3.0])
    )
    # f: same shares; g: 3 of 4 values in the top bin.
    cur = _long(spark, "f", [0.0, 1.0, 2.0, 3.0]).unionByName(
        _long(spark, "g", [0.0, 3.0, 3.0, 3.0])
    )
    cuts = {"f": drift.clean_cuts([0.0, 1.0, 2.0]), "g": drift.clean_cuts([0.0, 1.0, 2.0, 2.0])}
    out = {r.feature: r for r in drift.psi(ref, cur, cuts, bound=0.25).collect()}

    assert out["f"].psi == pytest.approx(0.0, abs=1e-12)
    assert not out["f"].drifted
    # g bins: ref 1/4 each; cur (1/4, eps, eps, 3/4).
    eps = drift.EPS
    expected = 2 * (eps - 0.25) * math.log(eps / 0.25) + (0.75 - 0.25) * math.log(0.75 / 0.25)
    assert out["g"].psi == pytest.approx(expected, rel=1e-9)
    assert out["g"].drifted
    assert (out["g"].ref_rows, out["g"].cur_rows) == (4, 4)


def test_nulls_have_their_own_bin_and_a_missing_side_counts_as_empty(spark):
    ref = _long(spark, "h", [1.0, 2.0, None, None])
    cur = spark.createDataFrame([], "feature string, value double")
    out = drift.psi(ref, cur, {"h": [1.5]}, bound=0.25).collect()
    assert [(r.feature, r.ref_rows, r.cur_rows) for r in out] == [("h", 4, 0)]
    binned = drift.assign_bins(ref, {"h": [1.5]}).orderBy("value").collect()
    assert [r.bin for r in binned] == [drift.NULL_BIN, drift.NULL_BIN, 0, 1]
