"""LightGBM parameters: the per-tree feature share follows the number of features."""

from __future__ import annotations

from models.train import FEATURE_FRACTION, MIN_FEATURES_PER_TREE, feature_fraction, lgb_params


def test_many_features_are_subsampled_a_handful_are_not():
    assert feature_fraction(127) == FEATURE_FRACTION == 0.5
    # every tree still sees MIN_FEATURES_PER_TREE features
    assert feature_fraction(12) * 12 == MIN_FEATURES_PER_TREE
    assert feature_fraction(2) == 1.0
    assert lgb_params(7, 3.0, n_features=2)["feature_fraction"] == 1.0
    assert lgb_params(7, 3.0, n_features=127)["feature_fraction"] == 0.5
