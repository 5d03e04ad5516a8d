"""Presets and knob overrides."""

from __future__ import annotations

import dataclasses

import pytest

from hydrawatch.errors import HydrawatchError
from simulator.config import config_for


def test_presets_grow_with_scale_and_keep_one_campaign_unlabelled():
    tiny, small, full = (config_for(s) for s in ("tiny", "small", "full"))
    assert tiny.populations.solo_dev < small.populations.solo_dev < full.populations.solo_dev
    for cfg in (tiny, small, full):
        assert [c.labelled for c in cfg.campaigns] == [True, True, False]
        assert cfg.imperfections.malformed_rate < 0.01
    # full scale: ~150k / 3.4M / 13M campaign exchanges over 30 days
    monthly = [c.slots * c.events_per_account_day * 30 for c in full.campaigns]
    assert 1e5 < monthly[0] < 2.5e5 and 2.5e6 < monthly[1] < 4.5e6 and 1e7 < monthly[2] < 1.6e7


def test_overrides_and_unknown_knobs():
    cfg = config_for("tiny", release_day=2)
    assert cfg.release_day == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.release_day = 3  # type: ignore[misc]
    with pytest.raises(HydrawatchError, match="unknown simulator knob"):
        config_for("tiny", no_such_knob=1)
    with pytest.raises(HydrawatchError, match="unknown scale"):
        config_for("medium")
