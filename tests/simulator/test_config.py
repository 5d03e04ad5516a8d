"""Worlds: presets per scale, the campaigns a seed draws, which are labelled, and overrides."""

from __future__ import annotations

import dataclasses

import pytest

from hydrawatch.errors import HydrawatchError
from simulator.config import UNLABELLED_START_DAYS, config_for
from simulator.styles import NEW_STYLES, REPORTED_STYLES, SCALES, draw_campaign

SEEDS = range(60)


def _main_category(campaign) -> str:
    weight: dict[str, float] = {}
    for cat, _, w in campaign.traits.lanes:
        weight[cat] = weight.get(cat, 0.0) + w
    return max(weight, key=weight.get)


def test_presets_grow_with_scale():
    tiny, small, full = (config_for(s) for s in SCALES)
    assert tiny.populations.solo_dev < small.populations.solo_dev < full.populations.solo_dev
    for cfg in (tiny, small, full):
        assert cfg.imperfections.malformed_rate < 0.01
    # a university class of ~300 on one campus /24 is representable from small scale on
    assert small.populations.university_class_size[1] >= 300
    assert tiny.populations.university_class_size[1] <= 60


def test_reported_volumes_and_tiny_sizes_hold_for_every_seed():
    for seed in SEEDS:
        full = {c.style: c for c in config_for("full", seed).campaigns}
        # ~150k / 3.4M / 13M campaign exchanges over 30 days
        monthly = {
            s: full[s].slots * full[s].traits.events_per_account_day * 30 for s in REPORTED_STYLES
        }
        assert 1e5 < monthly["reasoning"] < 2.5e5, (seed, monthly)
        assert 2.5e6 < monthly["agentic"] < 4.5e6, (seed, monthly)
        assert 1e7 < monthly["coding"] < 1.6e7, (seed, monthly)
        tiny = config_for("tiny", seed)
        slots = [c.slots for c in tiny.campaigns]
        # a few hundred attacker accounts at tiny scale, several campaigns of 30+
        assert 300 <= sum(slots) <= 500, (seed, slots)
        assert sum(s >= 30 for s in slots) >= 4


def test_every_world_has_two_novel_unlabelled_campaigns_inside_the_window():
    pairs = set()
    for seed in SEEDS:
        cfg = config_for("tiny", seed)
        labelled = [c for c in cfg.campaigns if c.labelled]
        unlabelled = [c for c in cfg.campaigns if not c.labelled]
        assert [c.style for c in labelled] == list(REPORTED_STYLES)
        assert all(c.start_day < 0 for c in labelled)
        assert len(unlabelled) >= 2
        for c in unlabelled:
            assert c.style in NEW_STYLES
            assert all(c.style != lab.style for lab in labelled)
            # it harvests something else than every labelled campaign
            assert all(_main_category(c) != _main_category(lab) for lab in labelled)
            assert UNLABELLED_START_DAYS[0] <= c.start_day <= UNLABELLED_START_DAYS[1]
        ids = [c.campaign_id for c in cfg.campaigns]
        assert len(set(ids)) == len(ids)
        pairs.add(tuple(sorted(c.style for c in unlabelled)))
    # the held-out styles are drawn per seed: many pairs, every new style in some world
    assert len(pairs) >= 10
    assert {s for pair in pairs for s in pair} == set(NEW_STYLES)


def test_same_seed_same_world_other_seed_other_draws():
    assert config_for("tiny", 7) == config_for("tiny", 7)
    a = {c.campaign_id: c for c in config_for("tiny", 7).campaigns}
    b = {c.campaign_id: c for c in config_for("tiny", 8).campaigns}
    for cid in ("cmp-reasoning", "cmp-agentic", "cmp-coding"):
        assert a[cid].traits != b[cid].traits
        assert a[cid].traits.events_per_account_day != b[cid].traits.events_per_account_day


def test_labelled_and_unlabelled_styles_from_python():
    cfg = config_for(
        "tiny", 5, labelled=("reasoning", "translation"), unlabelled=("coding", "low_and_slow")
    )
    got = {c.style: c.labelled for c in cfg.campaigns}
    assert got == {"reasoning": True, "translation": True, "coding": False, "low_and_slow": False}
    # a campaign keeps its draws whichever world it is in (same seed and id)
    default = {c.campaign_id: c for c in config_for("tiny", 5).campaigns}
    mine = {c.campaign_id: c for c in cfg.campaigns}
    assert mine["cmp-reasoning"] == default["cmp-reasoning"]
    assert mine["cmp-coding"].traits == default["cmp-coding"].traits
    # no unlabelled campaign at all, or a hand-built one (a 3-account campaign)
    assert all(c.labelled for c in config_for("tiny", 5, unlabelled=()).campaigns)
    tiny_campaign = dataclasses.replace(
        draw_campaign("vision_captioning", "tiny", 5, labelled=False, start_day=1), slots=3
    )
    cfg = config_for("tiny", 5, campaigns=(tiny_campaign,))
    assert [(c.style, c.slots) for c in cfg.campaigns] == [("vision_captioning", 3)]


def test_overrides_and_bad_requests():
    cfg = config_for("tiny", release_day=2)
    assert cfg.release_day == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.release_day = 3  # type: ignore[misc]
    with pytest.raises(HydrawatchError, match="unknown simulator knob"):
        config_for("tiny", no_such_knob=1)
    with pytest.raises(HydrawatchError, match="unknown scale"):
        config_for("medium")
    with pytest.raises(HydrawatchError, match="unknown campaign style"):
        config_for("tiny", unlabelled=("poetry",))
    with pytest.raises(HydrawatchError, match="given twice"):
        config_for("tiny", labelled=("coding",), unlabelled=("coding",))
    with pytest.raises(HydrawatchError, match="not both"):
        config_for("tiny", labelled=("coding",), campaigns=())
