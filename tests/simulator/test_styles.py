"""Campaign styles: every drawn value lies in its style's range, the new styles differ from the
reported ones, every style keeps hydra ranges, and docs/simulator.md shows these tables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hydrawatch.errors import HydrawatchError
from simulator.config import LEGIT_POPULATIONS
from simulator.styles import (
    NEW_STYLES,
    REPORTED_STYLES,
    SCALES,
    STYLES,
    TRAIT_NAMES,
    check_styles,
    draw_campaign,
    in_range,
    render_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def _main_category(lanes) -> str:
    """The category with the most weight (upper ends of the ranges, or drawn weights)."""
    weight: dict[str, float] = {}
    for cat, _, w in lanes:
        weight[cat] = weight.get(cat, 0.0) + (w[1] if isinstance(w, tuple) else w)
    return max(weight, key=weight.get)


def test_in_range_rejects_values_outside():
    assert in_range(3, (1, 4)) and not in_range(5, (1, 4))
    assert in_range((2, 9), ((1, 3), (8, 10))) and not in_range((4, 9), ((1, 3), (8, 10)))
    mix = (("even", (0.5, 0.7)), ("uniform", (0.3, 0.5)))
    assert in_range((("even", 0.6),), mix)
    assert not in_range((("even", 0.8),), mix)
    assert not in_range((("night", 0.6),), mix)


@pytest.mark.parametrize("style", list(STYLES))
def test_every_drawn_value_lies_in_its_range(style):
    spec = STYLES[style]
    draws = []
    for seed in range(25):
        for scale in SCALES:
            c = draw_campaign(style, scale, seed, labelled=False, start_day=2)
            lo, hi = spec.slots[SCALES.index(scale)]
            assert lo <= c.slots <= hi
            for name in TRAIT_NAMES:
                value, ranges = getattr(c.traits, name), getattr(spec.ranges, name)
                assert in_range(value, ranges), (style, seed, name, value, ranges)
            assert (c.campaign_id, c.population, c.style) == (
                f"cmp-{style}",
                f"campaign_{style}",
                style,
            )
        draws.append(c.traits)
    # drawn per seed, not one preset: the rate takes many values over the seeds
    assert len({t.events_per_account_day for t in draws}) > 20
    # the same (seed, id) draws the same values; another id draws others
    assert draw_campaign(style, "tiny", 3, labelled=True, start_day=0) == draw_campaign(
        style, "tiny", 3, labelled=True, start_day=0
    )
    other = draw_campaign(style, "tiny", 3, labelled=True, start_day=0, campaign_id="cmp-2nd")
    assert other.traits != draw_campaign(style, "tiny", 3, labelled=True, start_day=0).traits


def test_styles_are_well_formed_and_keep_hydra_ranges():
    check_styles()
    assert len(REPORTED_STYLES) == 3 and len(NEW_STYLES) >= 4
    for s in STYLES.values():
        r = s.ranges
        for name in TRAIT_NAMES:
            spec = getattr(r, name)
            if name in ("lanes", "pacing", "networks", "channels"):
                assert any(entry[-1][0] > 0 for entry in spec), (s.name, name)
                assert all(entry[-1][0] <= entry[-1][1] for entry in spec), (s.name, name)
            elif isinstance(spec[0], tuple):
                assert spec[0][0] <= spec[0][1] <= spec[1][0] <= spec[1][1], (s.name, name)
            else:
                assert spec[0] <= spec[1], (s.name, name)
        # the shape of a hydra cluster, however strong: young accounts, in groups sharing
        # infrastructure, from one script's pool, each kept small
        assert r.max_account_age_days[1] <= 45
        assert r.accounts_per_proxy_group[0] >= 5
        assert r.pool_size[1] <= 24 and r.wave_width[1] <= r.pool_size[0]
        assert r.per_account_cap[1] <= 120
        assert {p for p, _ in s.shares} <= set(LEGIT_POPULATIONS) and s.shares


def test_new_styles_differ_from_every_reported_one_in_what_and_how():
    reported_main = {_main_category(STYLES[n].ranges.lanes) for n in REPORTED_STYLES}
    assert reported_main == {"reasoning_math", "agentic_tool_use", "coding"}
    for name in NEW_STYLES:
        new = STYLES[name].ranges
        assert _main_category(new.lanes) not in reported_main, name
        for rep in REPORTED_STYLES:
            old = STYLES[rep].ranges
            groups = {
                f.metadata["group"]
                for f in dataclasses.fields(new)
                if getattr(new, f.name) != getattr(old, f.name)
            }
            # harvest and at least two of format, pacing, network, origin differ
            assert (
                "harvest" in groups and len(groups & {"format", "pacing", "network", "origin"}) >= 2
            )


def test_unknown_style_and_scale():
    with pytest.raises(HydrawatchError, match="unknown campaign style"):
        draw_campaign("poetry", "tiny", 1, labelled=True, start_day=0)
    with pytest.raises(HydrawatchError, match="unknown scale"):
        draw_campaign("reasoning", "huge", 1, labelled=True, start_day=0)


def test_docs_show_the_style_tables():
    text = DOCS.read_text()
    begin, end = "<!-- styles:begin -->\n", "<!-- styles:end -->"
    assert begin in text and end in text, "docs/simulator.md lost its styles markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == render_markdown(), "run: python -m simulator.styles (see docs/simulator.md)"
