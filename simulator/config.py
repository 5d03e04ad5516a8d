"""Every knob of the traffic simulator, as one frozen dataclass per concern.

`config_for(scale, seed, labelled=..., unlabelled=..., **overrides)` gives the world for `tiny`,
`small` or `full`: the scale's legitimate populations and its campaigns, each drawn from its
style's ranges (`simulator.styles`) with the world seed, with any knob replaced. Nothing here
touches Spark; the generators read these values as plain scalars, so the same config, start date
and seed always give the same world. docs/simulator.md says why each knob exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydrawatch.errors import HydrawatchError
from simulator.rand import draw
from simulator.styles import NEW_STYLES, REPORTED_STYLES, SCALES, Campaign, draw_campaign

LEGIT_POPULATIONS = (
    "solo_dev",
    "product_app",
    "release_switcher_app",
    "enterprise_batch",
    "research_eval",
    "university_class",
    "reseller_marketplace",
)
# Legitimate populations that share single signals with the campaigns (threat model).
HARD_NEGATIVES = (
    "release_switcher_app",
    "enterprise_batch",
    "research_eval",
    "university_class",
    "reseller_marketplace",
)


@dataclass(frozen=True)
class Populations:
    """Legitimate accounts per population and their mean events per active day."""

    solo_dev: int
    solo_dev_rate: float
    product_app: int  # accounts; apps have 1-3 accounts each
    product_app_rate: float
    release_switcher_app: int
    release_switcher_rate: float
    enterprise_batch: int
    enterprise_batch_rate: float
    research_eval_teams: int
    research_eval_team_size: int
    research_eval_rate: float  # per account on an ordinary day; bursts multiply it
    university_classes: int
    university_class_size: tuple[int, int] | int  # students per class, drawn per class
    university_class_rate: float  # per student on a session day
    reseller_marketplace: int  # reseller orgs (one main account each)
    reseller_marketplace_rate: float
    reseller_subaccounts: tuple[int, int] | int  # end-customer sub-accounts per reseller org
    reseller_subaccount_rate: float
    # Share of solo developers created inside the window (new sign-ups every day), so "recent
    # account" is not an attacker-only trait.
    solo_new_share: float = 0.04
    # Solo developers on mobile carriers: CGNAT /24s shared by many subscribers, as the
    # mobile-proxy campaigns use them.
    solo_mobile_share: float = 0.06
    safety_eval_share: float = 0.3  # eval teams whose suite is policy-sensitive (refusals)
    hosting_prefixes_per_asn: int = 32  # small: unrelated cloud tenants share /24s


@dataclass(frozen=True)
class Imperfections:
    """The landing contract's imperfections, at configurable rates."""

    duplicate_rate: float = 0.005  # event lines delivered twice (same or next folder)
    late_rate: float = 0.02  # events delivered 1..late_max_days after their day
    late_max_days: int = 3
    malformed_rate: float = 0.003  # usage lines broken, kinds in equal shares
    accounts_malformed_rate: float = 0.0005
    labels_malformed_rate: float = 0.0
    extra_field_rate: float = 0.01  # lines with an unknown extra field
    gzip_file_share: float = 0.34  # share of event files delivered gzip-compressed
    missing_usage_days: tuple[int, ...] = ()  # day indexes whose usage folder is not delivered
    empty_usage_days: tuple[int, ...] = ()  # day indexes whose usage folder holds one empty file


@dataclass(frozen=True)
class Labelling:
    """How the trust and safety team's decisions on legitimate accounts arrive."""

    benign_review_share: float = 0.3  # hard negatives reviewed and cleared
    false_positive_share: float = 0.05  # hard negatives wrongly banned, then cleared on appeal
    appeal_after_days: tuple[int, int] = (2, 5)
    backlog_days: int = 4  # campaign accounts active at the window start are reviewed by then


@dataclass(frozen=True)
class SimConfig:
    """The whole simulated world. Day indexes count from the window start (day 0)."""

    scale: str
    populations: Populations
    campaigns: tuple[Campaign, ...]  # drawn by config_for; see simulator.styles
    imperfections: Imperfections = field(default_factory=Imperfections)
    labelling: Labelling = field(default_factory=Labelling)
    release_day: int = 7  # day index atlas-3.5 is released (17:00 UTC)
    release_hour: int = 17
    horizon_days: int = 30  # the world is defined this far; longer windows extend it
    event_files_per_day: int = 2
    max_events_per_chunk: int = 2000  # bounds one exploded row's work (huge batch accounts)
    generation_partitions: int = 4


# Population knobs, one value per scale in SCALES order: every population changes with the
# scale, so the presets share one table instead of three copies of the same call.
_POPULATIONS: dict[str, tuple[object, object, object]] = {
    "solo_dev": (1200, 16000, 160000),
    "solo_dev_rate": (12, 20, 20),
    "product_app": (40, 600, 8000),
    "product_app_rate": (100, 250, 400),
    "release_switcher_app": (20, 200, 2000),
    "release_switcher_rate": (100, 250, 400),
    "enterprise_batch": (2, 6, 60),
    "enterprise_batch_rate": (1500, 12000, 40000),
    "research_eval_teams": (2, 10, 50),
    "research_eval_team_size": (8, 12, 12),
    "research_eval_rate": (10, 15, 30),
    "university_classes": (2, 8, 40),
    # A class of ~300 on one campus /24 is representable from small scale on.
    "university_class_size": ((20, 60), (30, 300), (30, 300)),
    "university_class_rate": (15, 15, 20),
    "reseller_marketplace": (3, 8, 40),
    "reseller_marketplace_rate": (600, 6000, 25000),
    "reseller_subaccounts": ((3, 8), (10, 30), (20, 60)),
    "reseller_subaccount_rate": (60, 150, 300),
    "hosting_prefixes_per_asn": (8, 64, 512),
}

DEFAULT_SEED = 7  # the CLI's default world
UNLABELLED_PER_WORLD = 2  # never-labelled campaigns drawn from the new styles
UNLABELLED_START_DAYS = (1, 4)  # they start inside the window: a first request to time from
LABELLED_START_DAY = -30  # labelled campaigns are running before the window starts


def _preset(scale: str, **knobs) -> SimConfig:
    """The scale's populations and top-level `knobs`; campaigns are drawn by `config_for`."""
    column = SCALES.index(scale)
    populations = Populations(**{knob: values[column] for knob, values in _POPULATIONS.items()})
    return SimConfig(scale=scale, populations=populations, campaigns=(), **knobs)


PRESETS: dict[str, SimConfig] = {
    "tiny": _preset("tiny", event_files_per_day=2, generation_partitions=2),
    "small": _preset("small", event_files_per_day=4, generation_partitions=8),
    "full": _preset(
        "full", event_files_per_day=32, max_events_per_chunk=5000, generation_partitions=64
    ),
}


def drawn_unlabelled_styles(seed: int, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The world's never-labelled styles: `UNLABELLED_PER_WORLD` new styles, drawn per seed."""
    pool = sorted(
        (s for s in NEW_STYLES if s not in exclude), key=lambda s: draw(seed, "unlabelled", s)
    )
    return tuple(pool[:UNLABELLED_PER_WORLD])


def world_campaigns(
    scale: str,
    seed: int,
    labelled: tuple[str, ...] | None = None,
    unlabelled: tuple[str, ...] | None = None,
) -> tuple[Campaign, ...]:
    """The campaigns of a world: `labelled` styles (default: the three reported ones) running
    before the window, and never-labelled ones (default: two new styles drawn per seed) starting
    on a day drawn in `UNLABELLED_START_DAYS`. Campaign ids are `cmp-<style>`."""
    labelled = REPORTED_STYLES if labelled is None else tuple(labelled)
    if unlabelled is None:
        unlabelled = drawn_unlabelled_styles(seed, exclude=labelled)
    repeated = sorted(
        {s for s in (*labelled, *unlabelled) if (*labelled, *unlabelled).count(s) > 1}
    )
    if repeated:
        raise HydrawatchError(
            f"campaign style {repeated[0]} given twice; build two campaigns of one style with "
            "simulator.styles.draw_campaign(..., campaign_id=...)"
        )
    lo, hi = UNLABELLED_START_DAYS
    out = [
        draw_campaign(s, scale, seed, labelled=True, start_day=LABELLED_START_DAY) for s in labelled
    ]
    for s in unlabelled:
        start = lo + int(draw(seed, "start_day", f"cmp-{s}") * (hi - lo + 1))
        out.append(draw_campaign(s, scale, seed, labelled=False, start_day=start))
    return tuple(out)


def config_for(
    scale: str,
    seed: int = DEFAULT_SEED,
    *,
    labelled: tuple[str, ...] | None = None,
    unlabelled: tuple[str, ...] | None = None,
    **overrides,
) -> SimConfig:
    """The world for `scale`: its populations, and campaigns drawn from their styles with `seed`.

    `labelled` / `unlabelled` name the campaign styles (`simulator.styles.STYLES`) that are and
    are never labelled (defaults: the three reported styles; two new styles drawn per seed).
    Other top-level fields are replaced as given, e.g. `release_day=1`, or `campaigns=(...)` for
    a hand-built set (then `labelled`/`unlabelled` must be left out). Nested knobs are replaced
    by passing a whole object, e.g.
    `imperfections=dataclasses.replace(cfg.imperfections, late_rate=0.0)`.
    Pass the same `seed` to `run_simulate` to get the CLI's world for that seed.
    """
    if scale not in PRESETS:
        raise HydrawatchError(f"unknown scale {scale!r}; choose from {', '.join(PRESETS)}")
    if "campaigns" in overrides and (labelled is not None or unlabelled is not None):
        raise HydrawatchError("give either campaigns or labelled/unlabelled styles, not both")
    if "campaigns" not in overrides:
        overrides["campaigns"] = world_campaigns(scale, seed, labelled, unlabelled)
    try:
        return dataclasses.replace(PRESETS[scale], **overrides)
    except TypeError as err:
        raise HydrawatchError(f"unknown simulator knob: {err}") from None
