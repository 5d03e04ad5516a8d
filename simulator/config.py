"""Every knob of the traffic simulator, as one frozen dataclass per concern.

`config_for(scale, **overrides)` gives the preset for `tiny`, `small` or `full` with any knob
replaced. Nothing here touches Spark; the generators read these values as plain scalars, so the
same config, start date and seed always give the same world. docs/simulator.md says why each
knob exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydrawatch.errors import HydrawatchError

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
class Campaign:
    """One distillation campaign run by a hydra proxy network.

    `lanes` are (task_category, template_kind, weight): template_kind `cot` picks templates the
    gateway flags as chain-of-thought elicitation, `rubric` rubric-grading ones, `plain` neither.
    """

    campaign_id: str
    population: str
    slots: int  # accounts running at the same time; banned/retired ones are replaced
    events_per_account_day: float
    lanes: tuple[tuple[str, str, float], ...]
    pool_size: int  # templates per lane in the campaign's pool (shared with legit users)
    pool_offset: int  # where the pool sits in the shared template space
    start_day: int = 0  # day index (from the window start) the campaign starts; <= 0: before
    labelled: bool = True  # False: no label ever names its accounts (the held-out style)
    release_jump_share: float = 0.1  # share of traffic on the new model once switched
    release_jump_hours: float = 48.0  # accounts switch within this many hours of a release


def _campaigns(a_slots: int, b_slots: int, c_slots: int, rates=(6.0, 22.0, 40.0)):
    return (
        Campaign(
            "cmp-reasoning",
            "campaign_reasoning",
            a_slots,
            rates[0],
            (
                ("reasoning_math", "cot", 0.50),
                ("reasoning_math", "rubric", 0.22),
                ("policy_sensitive", "cot", 0.14),
                ("policy_sensitive", "plain", 0.14),
            ),
            pool_size=12,
            pool_offset=2,
            start_day=-30,
        ),
        Campaign(
            "cmp-agentic",
            "campaign_agentic",
            b_slots,
            rates[1],
            (
                ("agentic_tool_use", "plain", 0.35),
                ("coding", "plain", 0.25),
                ("reasoning_math", "cot", 0.20),
                ("vision", "plain", 0.20),
            ),
            pool_size=18,
            pool_offset=3,
            start_day=-30,
        ),
        Campaign(
            "cmp-coding",
            "campaign_coding",
            c_slots,
            rates[2],
            (("coding", "plain", 0.55), ("agentic_tool_use", "plain", 0.45)),
            pool_size=20,
            pool_offset=5,
            start_day=1,
            labelled=False,
            release_jump_share=0.5,
            release_jump_hours=20.0,
        ),
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
    university_class_size: int
    university_class_rate: float  # per student on a session day
    reseller_marketplace: int
    reseller_marketplace_rate: float
    # Share of solo developers created inside the window (new sign-ups every day), so "recent
    # account" is not an attacker-only trait.
    solo_new_share: float = 0.04
    hosting_prefixes_per_asn: int = 32  # small: unrelated cloud tenants share /24s


@dataclass(frozen=True)
class Hydra:
    """Hydra-cluster traits; each can be turned down to see what a feature relies on."""

    farmed_channel_share: float = 0.75  # created via education/startup_program/security_research
    max_account_age_days: int = 20  # accounts older than this at the window start do not exist
    proxy_share: float = 0.7  # accounts on proxy-service ASNs (the rest rent hosting VPSs)
    residential_proxy_share: float = 0.3  # events sent through residential exit nodes instead
    accounts_per_proxy_group: int = 12  # accounts sharing one group's /24s
    unsupported_billing_share: float = 0.45  # billing country where the service is not offered
    null_billing_share: float = 0.3
    load_balanced_share: float = 0.6  # accounts whose requests are evenly spaced over the day
    volume_jitter: float = 0.08  # relative std of an account's daily volume (even spreading)
    per_account_cap: int = 200  # stays under per-account limits
    wave_width: int = 3  # templates a campaign lane uses at once (synchronised waves) ...
    wave_hours: int = 4  # ... for this many hours before moving on through its pool
    accounts_per_card: int = 8  # payment fingerprint shared by this many accounts
    card_share: float = 0.5  # accounts paying with a (shared) card
    ordinary_share: float = 0.2  # events that look like ordinary customer traffic
    campaign_system_prompt_share: float = 0.5  # events with one of the campaign's system prompts
    label_coverage: float = 0.5  # share of accounts of labelled campaigns that get labelled
    label_delay_days: tuple[int, int] = (3, 10)  # label arrives this long after behaviour starts
    backlog_days: int = 4  # accounts already active at the window start are reviewed by then
    partner_report_share: float = 0.3
    analyst_campaign_share: float = 0.6  # analyst labels that name the campaign
    retire_after_days: tuple[int, int] = (12, 26)  # accounts are rotated out after this long
    regrow_days: tuple[int, int] = (0, 1)  # a banned/retired account is replaced this much later
    rate_limited_share: float = 0.03


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


@dataclass(frozen=True)
class SimConfig:
    """The whole simulated world. Day indexes count from the window start (day 0)."""

    scale: str
    populations: Populations
    campaigns: tuple[Campaign, ...]
    hydra: Hydra = field(default_factory=Hydra)
    imperfections: Imperfections = field(default_factory=Imperfections)
    labelling: Labelling = field(default_factory=Labelling)
    release_day: int = 7  # day index atlas-3.5 is released (17:00 UTC)
    release_hour: int = 17
    horizon_days: int = 30  # the world is defined this far; longer windows extend it
    event_files_per_day: int = 2
    max_events_per_chunk: int = 2000  # bounds one exploded row's work (huge batch accounts)
    generation_partitions: int = 4


SCALES = ("tiny", "small", "full")

# Population knobs, one value per scale in SCALES order: every population changes with the
# scale, so the presets share one table instead of three copies of the same call.
_POPULATIONS: dict[str, tuple[float, float, float]] = {
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
    "university_class_size": (35, 40, 50),
    "university_class_rate": (15, 15, 20),
    "reseller_marketplace": (3, 8, 40),
    "reseller_marketplace_rate": (600, 6000, 25000),
    "hosting_prefixes_per_asn": (8, 64, 512),
}


def _preset(
    scale: str, slots: tuple[int, int, int], rates: tuple[float, ...], **knobs
) -> SimConfig:
    """The scale's populations, campaigns with `slots` and `rates`, and top-level `knobs`."""
    column = SCALES.index(scale)
    populations = Populations(**{knob: values[column] for knob, values in _POPULATIONS.items()})
    return SimConfig(
        scale=scale,
        populations=populations,
        campaigns=_campaigns(*slots, rates=rates),
        **knobs,
    )


PRESETS: dict[str, SimConfig] = {
    "tiny": _preset(
        "tiny",
        (50, 110, 140),
        (8.0, 16.0, 16.0),
        hydra=Hydra(per_account_cap=60),
        event_files_per_day=2,
        generation_partitions=2,
    ),
    "small": _preset(
        "small", (200, 800, 1400), (8.0, 15.0, 20.0), event_files_per_day=4, generation_partitions=8
    ),
    # Campaign traffic ~ 150k + 3.4M + 13M exchanges a month from ~24k accounts over the month.
    "full": _preset(
        "full",
        (800, 5000, 11000),
        (6.0, 23.0, 40.0),
        event_files_per_day=32,
        max_events_per_chunk=5000,
        generation_partitions=64,
    ),
}


def config_for(scale: str, **overrides) -> SimConfig:
    """The preset for `scale` with top-level fields replaced, e.g. `release_day=1`.

    Nested knobs are replaced by passing a whole object, e.g.
    `imperfections=dataclasses.replace(cfg.imperfections, late_rate=0.0)`.
    """
    if scale not in PRESETS:
        raise HydrawatchError(f"unknown scale {scale!r}; choose from {', '.join(PRESETS)}")
    try:
        return dataclasses.replace(PRESETS[scale], **overrides)
    except TypeError as err:
        raise HydrawatchError(f"unknown simulator knob: {err}") from None
