"""Campaign styles as data: what a hydra campaign harvests and how, as ranges drawn per seed.

A `Style` holds one range per trait (`Traits`): the task mix it harvests, its prompt format, its
pacing, its proxy network, where its accounts come from, its regrowth and how it is labelled.
`draw_campaign(style, ...)` draws one concrete `Campaign` from those ranges with `rand.draw`
(a hash of the world seed, the trait and the campaign id), so the same seed always gives the same
campaign and no single preset is what a model learns.

Every style keeps the structural traits of a hydra cluster (threat model): young accounts run
from one template pool, at about the same times, through shared infrastructure, each kept small.
The ranges set how strong each trait is. `Style.shares` names, per style, the legitimate
population that shares each of its traits (what makes it hard); `render_markdown()` prints the
tables of docs/simulator.md from this module (a test keeps the two identical).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hydrawatch.contracts import SIGNUP_CHANNELS, TASK_CATEGORIES
from hydrawatch.errors import HydrawatchError
from simulator.rand import draw

SCALES = ("tiny", "small", "full")
TEMPLATE_KINDS = ("cot", "rubric", "plain")
PACINGS = ("even", "burst", "night", "uniform")
CAMPAIGN_NETWORKS = ("proxy", "hosting", "mobile")


def _meta(group: str, doc: str) -> dict[str, str]:
    return {"group": group, "doc": doc}


@dataclass(frozen=True)
class Traits:
    """A campaign's traits. In a `Style` each field holds its range; in a `Campaign`, the value
    drawn from it.

    Range forms: `(lo, hi)` (an int is drawn when both ends are ints, else a float);
    `((lo, hi), (lo2, hi2))` a sub-range (a, b) with a in the first and b in the second;
    a mix `((name, (lo, hi)), ...)` whose relative weights are drawn in their ranges (a weight
    drawn as 0 drops the entry); `lanes` is a mix keyed by (task category, template kind).
    """

    lanes: Any = field(
        metadata=_meta(
            "harvest",
            "(task category, template kind, weight): `cot` templates the gateway flags as "
            "chain-of-thought elicitation, `rubric` rubric grading, `plain` neither",
        )
    )
    pool_size: Any = field(
        metadata=_meta("harvest", "templates per lane in the campaign's script pool")
    )
    pool_offset: Any = field(
        metadata=_meta(
            "harvest", "where the pool sits in the shared template space (low = popular templates)"
        )
    )
    wave_width: Any = field(
        metadata=_meta("harvest", "templates of a lane's pool in use at once (synchrony)")
    )
    wave_hours: Any = field(
        metadata=_meta("harvest", "hours a wave lasts before moving on through the pool")
    )
    ordinary_share: Any = field(
        metadata=_meta("harvest", "events that look like ordinary customer traffic")
    )
    turns: Any = field(metadata=_meta("format", "messages in a request (plus 0-2 by template)"))
    tool_count: Any = field(
        metadata=_meta("format", "tool definitions on agentic and coding requests")
    )
    image_share: Any = field(metadata=_meta("format", "non-vision requests that carry an image"))
    input_scale: Any = field(
        metadata=_meta("format", "input tokens relative to the category's median")
    )
    output_scale: Any = field(
        metadata=_meta("format", "output tokens relative to the category's median")
    )
    system_prompt_share: Any = field(
        metadata=_meta("format", "events with one of the campaign's system prompts")
    )
    user_agents: Any = field(
        metadata=_meta("format", "SDK strings the script rotates over its accounts")
    )
    refusal_share: Any = field(metadata=_meta("format", "policy-sensitive requests refused"))
    events_per_account_day: Any = field(
        metadata=_meta("pacing", "mean events per account and active day")
    )
    per_account_cap: Any = field(metadata=_meta("pacing", "most events an account sends in a day"))
    volume_jitter: Any = field(
        metadata=_meta("pacing", "relative std of an account's daily volume")
    )
    active_days_share: Any = field(
        metadata=_meta("pacing", "share of days an account sends anything")
    )
    pacing: Any = field(
        metadata=_meta(
            "pacing",
            "per account: `even` (load-balanced, evenly spaced over the day), `burst` (sessions "
            "shared by its proxy group), `night` (one window of night hours), `uniform` (any time)",
        )
    )
    active_hours: Any = field(
        metadata=_meta("pacing", "width of a burst session or of the night window (h)")
    )
    sessions_per_day: Any = field(
        metadata=_meta("pacing", "burst sessions per proxy group and day")
    )
    night_hour: Any = field(metadata=_meta("pacing", "UTC hour the night window opens"))
    networks: Any = field(
        metadata=_meta(
            "network",
            "per proxy group: `proxy` (proxy-service ASNs), `hosting` (rented VPS /24s), `mobile` "
            "(mobile-carrier CGNAT ranges shared with ordinary subscribers)",
        )
    )
    residential_exit_share: Any = field(
        metadata=_meta("network", "events sent through residential exit nodes")
    )
    asns: Any = field(
        metadata=_meta("network", "ASNs of its network kind the campaign's groups spread over")
    )
    accounts_per_proxy_group: Any = field(
        metadata=_meta("network", "accounts sharing one group's /24s")
    )
    prefixes_per_group: Any = field(metadata=_meta("network", "/24s a proxy group rotates over"))
    channels: Any = field(
        metadata=_meta(
            "origin", "sign-up channels: farmed programmes, self-serve, reseller sub-accounts"
        )
    )
    max_account_age_days: Any = field(
        metadata=_meta("origin", "accounts are at most this old at the start")
    )
    card_share: Any = field(
        metadata=_meta("origin", "accounts verified by a (shared) card, else e-mail/phone")
    )
    accounts_per_card: Any = field(metadata=_meta("origin", "accounts paying with one card"))
    unsupported_billing_share: Any = field(
        metadata=_meta("origin", "billing country where the service is not offered")
    )
    null_billing_share: Any = field(metadata=_meta("origin", "accounts without a billing country"))
    public_mail_share: Any = field(
        metadata=_meta("origin", "public e-mail domains (else the campaign's disposable ones)")
    )
    marketplace_share: Any = field(
        metadata=_meta(
            "origin", "accounts whose requests come through the cloud-marketplace surface"
        )
    )
    retire_after_days: Any = field(
        metadata=_meta("lifecycle", "an account is rotated out after (a, b) days")
    )
    regrow_days: Any = field(
        metadata=_meta("lifecycle", "a banned or rotated slot regrows (a, b) days later")
    )
    label_coverage: Any = field(
        metadata=_meta("lifecycle", "accounts of a labelled campaign that get labelled")
    )
    label_delay_days: Any = field(
        metadata=_meta("lifecycle", "a label arrives (a, b) days after behaviour starts")
    )
    partner_report_share: Any = field(
        metadata=_meta("lifecycle", "labels from partner reports (name the campaign)")
    )
    analyst_campaign_share: Any = field(
        metadata=_meta("lifecycle", "analyst labels that name the campaign")
    )
    rate_limited_share: Any = field(metadata=_meta("lifecycle", "requests that hit rate limits"))
    release_jump_share: Any = field(
        metadata=_meta("lifecycle", "traffic on the new model once an account moves")
    )
    release_jump_hours: Any = field(
        metadata=_meta("lifecycle", "accounts move within this many hours of it")
    )


TRAIT_NAMES = tuple(f.name for f in dataclasses.fields(Traits))


@dataclass(frozen=True)
class Style:
    """A campaign style: ranges for every trait, accounts at once per scale, and what it shares
    with legitimate populations."""

    name: str
    harvests: str  # what it harvests and how, one line
    reported: bool  # one of the three styles in the public reporting (threat model)
    slots: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # per scale in SCALES order
    ranges: Traits
    shares: tuple[tuple[str, str], ...]  # (legitimate population, traits it shares)


@dataclass(frozen=True)
class Campaign:
    """One campaign of a world: a style drawn from its ranges and placed in the world.

    `traits` holds the drawn values. `net_offset` and `ua_offset` place its proxy groups and
    user agents among the world's networks and SDK strings (drawn, not style traits).
    """

    campaign_id: str
    population: str  # truth population: campaign_<style>
    style: str
    slots: int  # accounts running at the same time; banned/retired ones are replaced
    traits: Traits
    start_day: int = 0  # day index (from the window start) the campaign starts; <= 0: before
    labelled: bool = True  # False: no label ever names its accounts
    net_offset: int = 0
    ua_offset: int = 0


# The hydra traits every style starts from (the single global set of earlier versions, now
# ranges); each style replaces what makes it different.
_BASE = Traits(
    lanes=(),
    pool_size=(10, 18),
    pool_offset=(1, 6),
    wave_width=(2, 4),
    wave_hours=(3, 6),
    ordinary_share=(0.1, 0.3),
    turns=(1, 2),
    tool_count=(0, 0),
    image_share=(0.0, 0.02),
    input_scale=(0.8, 1.3),
    output_scale=(0.8, 1.3),
    system_prompt_share=(0.3, 0.7),
    user_agents=(2, 3),
    refusal_share=(0.05, 0.12),
    events_per_account_day=(6.0, 12.0),
    per_account_cap=(40, 80),
    volume_jitter=(0.05, 0.12),
    active_days_share=(0.9, 1.0),
    pacing=(("even", (0.5, 0.7)), ("uniform", (0.3, 0.5))),
    active_hours=(3.0, 6.0),
    sessions_per_day=(2, 3),
    night_hour=(0, 5),
    networks=(("proxy", (0.6, 0.8)), ("hosting", (0.2, 0.4))),
    residential_exit_share=(0.2, 0.4),
    asns=(2, 4),
    accounts_per_proxy_group=(8, 14),
    prefixes_per_group=(2, 4),
    channels=(
        ("education", (0.2, 0.3)),
        ("startup_program", (0.2, 0.3)),
        ("security_research", (0.2, 0.3)),
        ("self_serve", (0.2, 0.3)),
    ),
    max_account_age_days=(15, 25),
    card_share=(0.4, 0.6),
    accounts_per_card=(6, 10),
    unsupported_billing_share=(0.35, 0.55),
    null_billing_share=(0.2, 0.35),
    public_mail_share=(0.45, 0.65),
    marketplace_share=(0.0, 0.0),
    retire_after_days=((10, 14), (20, 28)),
    regrow_days=((0, 0), (1, 2)),
    label_coverage=(0.4, 0.6),
    label_delay_days=((2, 4), (8, 11)),
    partner_report_share=(0.2, 0.4),
    analyst_campaign_share=(0.5, 0.7),
    rate_limited_share=(0.02, 0.04),
    release_jump_share=(0.05, 0.15),
    release_jump_hours=(24.0, 72.0),
)


def _style(name, harvests, reported, slots, shares, **ranges) -> Style:
    return Style(name, harvests, reported, slots, dataclasses.replace(_BASE, **ranges), shares)


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        _style(
            "reasoning",
            "step-by-step reasoning, rubric grading and 'safe' rewrites of policy-sensitive "
            "questions; ~150k exchanges a month at full scale",
            True,
            ((40, 60), (150, 250), (700, 900)),
            (
                ("research_eval", "cot and rubric templates from the same space, same hour"),
                ("university_class", "cot assignments, education sign-ups, same hour"),
                ("solo_dev", "popular reasoning templates, hosting and VPN networks"),
            ),
            lanes=(
                ("reasoning_math", "cot", (0.4, 0.6)),
                ("reasoning_math", "rubric", (0.15, 0.3)),
                ("policy_sensitive", "cot", (0.08, 0.2)),
                ("policy_sensitive", "plain", (0.08, 0.2)),
            ),
            events_per_account_day=(5.0, 9.0),
        ),
        _style(
            "agentic",
            "agentic reasoning, tool use, coding and vision; ~3.4M exchanges a month",
            True,
            ((80, 110), (700, 900), (4500, 5500)),
            (
                ("product_app", "tool-use requests with a fixed system prompt, steady volume"),
                (
                    "release_switcher_app",
                    "part of its traffic moves to a new model after a release",
                ),
                ("solo_dev", "popular agentic and coding templates, hosting networks"),
            ),
            lanes=(
                ("agentic_tool_use", "plain", (0.3, 0.4)),
                ("coding", "plain", (0.2, 0.3)),
                ("reasoning_math", "cot", (0.15, 0.25)),
                ("vision", "plain", (0.15, 0.25)),
            ),
            pool_size=(14, 20),
            turns=(3, 8),
            tool_count=(3, 8),
            events_per_account_day=(19.0, 26.0),
        ),
        _style(
            "coding",
            "agentic coding and tool use at the largest volume (~13M a month); about half its "
            "traffic moves to a new model within a day of its release",
            True,
            ((90, 130), (1200, 1600), (10000, 12000)),
            (
                ("release_switcher_app", "most traffic on the new model within hours"),
                ("enterprise_batch", "coding volume, evenly spaced requests"),
                ("solo_dev", "popular coding templates, hosting networks"),
            ),
            lanes=(
                ("coding", "plain", (0.5, 0.6)),
                ("agentic_tool_use", "plain", (0.4, 0.5)),
            ),
            pool_size=(16, 22),
            turns=(2, 6),
            tool_count=(2, 6),
            events_per_account_day=(34.0, 44.0),
            per_account_cap=(60, 120),
            release_jump_share=(0.45, 0.55),
            release_jump_hours=(12.0, 22.0),
        ),
        _style(
            "chat_preference",
            "multi-turn chat and creative-writing conversations plus pairwise preference "
            "judgements, in sessions, through mobile-carrier proxies, self-serve accounts",
            False,
            ((35, 60), (250, 450), (1500, 3000)),
            (
                ("solo_dev", "chat and writing tasks, mobile networks, self-serve sign-ups"),
                ("product_app", "a persona system prompt on every request, long histories"),
                ("university_class", "many accounts in the same session hour"),
            ),
            lanes=(
                ("chat", "plain", (0.45, 0.6)),
                ("creative_writing", "plain", (0.25, 0.4)),
                ("creative_writing", "rubric", (0.08, 0.18)),
            ),
            pool_size=(8, 14),
            wave_hours=(2, 6),
            ordinary_share=(0.15, 0.35),
            turns=(6, 14),
            input_scale=(1.5, 3.0),
            output_scale=(1.0, 1.6),
            system_prompt_share=(0.6, 0.9),
            user_agents=(1, 2),
            refusal_share=(0.01, 0.03),
            events_per_account_day=(8.0, 16.0),
            per_account_cap=(30, 60),
            pacing=(("burst", (0.5, 0.8)), ("uniform", (0.2, 0.5))),
            active_hours=(2.0, 4.0),
            sessions_per_day=(1, 3),
            networks=(("mobile", (0.4, 0.7)), ("proxy", (0.2, 0.4)), ("hosting", (0.0, 0.2))),
            residential_exit_share=(0.1, 0.3),
            asns=(1, 3),
            accounts_per_proxy_group=(10, 20),
            prefixes_per_group=(1, 3),
            channels=(
                ("self_serve", (0.5, 0.7)),
                ("education", (0.15, 0.3)),
                ("startup_program", (0.05, 0.15)),
            ),
            max_account_age_days=(10, 30),
            card_share=(0.6, 0.85),
            accounts_per_card=(10, 20),
            unsupported_billing_share=(0.2, 0.4),
            null_billing_share=(0.1, 0.2),
            public_mail_share=(0.7, 0.9),
        ),
        _style(
            "document_extraction",
            "long-context document and table extraction with big inputs and short outputs, a "
            "few schemas, evenly spaced from datacenter VPSs, startup-programme accounts",
            False,
            ((30, 50), (200, 400), (1000, 2500)),
            (
                (
                    "enterprise_batch",
                    "data analysis with big inputs and short outputs, one template, evenly spaced",
                ),
                ("product_app", "one system prompt, hosting /24s, card-verified startups"),
            ),
            lanes=(("data_analysis", "plain", (0.6, 0.75)), ("other", "plain", (0.15, 0.3))),
            pool_size=(5, 10),
            wave_width=(1, 3),
            wave_hours=(4, 8),
            ordinary_share=(0.05, 0.2),
            image_share=(0.05, 0.2),
            input_scale=(6.0, 18.0),
            output_scale=(0.3, 0.7),
            system_prompt_share=(0.7, 0.95),
            user_agents=(1, 2),
            events_per_account_day=(6.0, 12.0),
            per_account_cap=(20, 40),
            pacing=(("even", (0.6, 0.9)), ("burst", (0.1, 0.4))),
            networks=(("hosting", (0.7, 0.95)), ("proxy", (0.05, 0.3))),
            residential_exit_share=(0.0, 0.1),
            asns=(1, 2),
            accounts_per_proxy_group=(15, 30),
            prefixes_per_group=(1, 2),
            channels=(("startup_program", (0.5, 0.7)), ("self_serve", (0.3, 0.5))),
            max_account_age_days=(20, 45),
            card_share=(0.7, 0.9),
            accounts_per_card=(15, 30),
            unsupported_billing_share=(0.1, 0.3),
            null_billing_share=(0.05, 0.15),
            public_mail_share=(0.2, 0.4),
        ),
        _style(
            "vision_captioning",
            "image captioning and visual questions at volume, a handful of caption templates, "
            "in a night window, education accounts on hosting and proxy networks",
            False,
            ((40, 70), (300, 600), (2000, 4000)),
            (
                ("product_app", "one dominant template, steady volume, hosting /24s"),
                ("university_class", "education sign-ups and university e-mail domains"),
                ("solo_dev", "vision requests, hosting networks"),
            ),
            lanes=(("vision", "plain", (0.8, 0.95)), ("chat", "plain", (0.05, 0.2))),
            pool_size=(3, 8),
            wave_width=(1, 2),
            wave_hours=(6, 12),
            ordinary_share=(0.05, 0.15),
            turns=(1, 1),
            image_share=(0.5, 0.9),
            input_scale=(0.8, 1.2),
            output_scale=(0.4, 0.8),
            system_prompt_share=(0.0, 0.3),
            user_agents=(1, 2),
            events_per_account_day=(20.0, 35.0),
            per_account_cap=(50, 100),
            pacing=(("night", (0.6, 0.9)), ("even", (0.1, 0.4))),
            active_hours=(5.0, 8.0),
            networks=(("hosting", (0.5, 0.8)), ("proxy", (0.2, 0.5))),
            residential_exit_share=(0.0, 0.15),
            asns=(1, 3),
            accounts_per_proxy_group=(15, 25),
            prefixes_per_group=(1, 2),
            channels=(
                ("education", (0.4, 0.6)),
                ("security_research", (0.1, 0.2)),
                ("self_serve", (0.3, 0.4)),
            ),
            max_account_age_days=(5, 15),
        ),
        _style(
            "translation",
            "parallel text: the same passages translated into many languages, single turn, "
            "output as long as input, many SDK strings, mobile and residential exits",
            False,
            ((40, 70), (300, 600), (2000, 4000)),
            (
                ("solo_dev", "chat and other tasks, mobile and residential networks"),
                ("product_app", "translation apps: one template family, steady volume"),
                ("reseller_marketplace", "many IPs and many user agents"),
            ),
            lanes=(("other", "plain", (0.55, 0.75)), ("chat", "plain", (0.25, 0.45))),
            pool_size=(6, 12),
            wave_width=(3, 6),
            wave_hours=(1, 3),
            input_scale=(1.0, 2.0),
            output_scale=(1.0, 2.0),
            system_prompt_share=(0.2, 0.5),
            user_agents=(3, 6),
            events_per_account_day=(10.0, 20.0),
            per_account_cap=(30, 60),
            pacing=(("uniform", (0.5, 0.8)), ("even", (0.2, 0.5))),
            networks=(("mobile", (0.5, 0.8)), ("proxy", (0.2, 0.5))),
            residential_exit_share=(0.3, 0.6),
            asns=(3, 6),
            accounts_per_proxy_group=(6, 12),
            channels=(
                ("self_serve", (0.6, 0.8)),
                ("education", (0.1, 0.25)),
                ("startup_program", (0.05, 0.15)),
            ),
            unsupported_billing_share=(0.5, 0.7),
            null_billing_share=(0.1, 0.2),
            public_mail_share=(0.7, 0.9),
        ),
        _style(
            "policy_probing",
            "policy-sensitive prompts probing refusal boundaries (many refusals), in short "
            "bursts, very young security-research accounts behind proxy services",
            False,
            ((30, 50), (150, 300), (800, 2000)),
            (
                ("research_eval", "safety evaluation suites: policy prompts, refusals, bursts"),
                ("solo_dev", "security-research sign-ups, VPN (proxy) networks"),
            ),
            lanes=(
                ("policy_sensitive", "plain", (0.55, 0.75)),
                ("policy_sensitive", "cot", (0.0, 0.1)),
                ("chat", "plain", (0.15, 0.35)),
            ),
            pool_size=(12, 24),
            wave_width=(3, 6),
            wave_hours=(2, 4),
            ordinary_share=(0.2, 0.4),
            turns=(1, 4),
            refusal_share=(0.25, 0.5),
            events_per_account_day=(5.0, 10.0),
            per_account_cap=(15, 30),
            pacing=(("burst", (0.5, 0.8)), ("uniform", (0.2, 0.5))),
            active_hours=(1.0, 3.0),
            networks=(("proxy", (0.7, 0.95)), ("hosting", (0.05, 0.3))),
            residential_exit_share=(0.3, 0.6),
            asns=(2, 5),
            accounts_per_proxy_group=(5, 10),
            prefixes_per_group=(1, 3),
            channels=(
                ("security_research", (0.4, 0.6)),
                ("self_serve", (0.3, 0.5)),
                ("education", (0.05, 0.15)),
            ),
            max_account_age_days=(3, 12),
            card_share=(0.1, 0.3),
        ),
        _style(
            "low_and_slow",
            "instruction-following rewrites and summaries from hundreds of accounts each "
            "sending a handful of requests at random times, over many exits and ASNs",
            False,
            ((100, 150), (800, 1500), (6000, 10000)),
            (
                ("solo_dev", "light volume at any hour, popular templates, residential exits"),
                ("university_class", "a handful of requests per account"),
            ),
            lanes=(
                ("creative_writing", "plain", (0.35, 0.55)),
                ("other", "plain", (0.2, 0.35)),
                ("data_analysis", "plain", (0.1, 0.3)),
            ),
            pool_size=(6, 12),
            wave_width=(3, 6),
            wave_hours=(6, 12),
            ordinary_share=(0.2, 0.4),
            turns=(1, 3),
            system_prompt_share=(0.0, 0.3),
            user_agents=(2, 5),
            events_per_account_day=(1.0, 3.0),
            per_account_cap=(3, 6),
            volume_jitter=(0.3, 0.6),
            active_days_share=(0.4, 0.7),
            pacing=(("uniform", (0.85, 1.0)), ("burst", (0.0, 0.15))),
            networks=(("proxy", (0.3, 0.6)), ("mobile", (0.2, 0.5)), ("hosting", (0.0, 0.2))),
            residential_exit_share=(0.4, 0.7),
            asns=(4, 6),
            accounts_per_proxy_group=(20, 40),
            prefixes_per_group=(3, 6),
            channels=(
                ("self_serve", (0.3, 0.5)),
                ("education", (0.2, 0.35)),
                ("startup_program", (0.1, 0.2)),
                ("security_research", (0.05, 0.15)),
            ),
            max_account_age_days=(20, 45),
        ),
        _style(
            "reseller_surface",
            "general instruction data (chat, writing, analysis) through a reseller's "
            "cloud-marketplace surface from reseller sub-accounts on many hosting /24s",
            False,
            ((30, 50), (200, 400), (1000, 2500)),
            (
                ("reseller_marketplace", "marketplace surface, reseller sub-accounts, many /24s"),
                ("product_app", "hosting networks, steady volume"),
            ),
            lanes=(
                ("chat", "plain", (0.35, 0.5)),
                ("creative_writing", "plain", (0.2, 0.3)),
                ("data_analysis", "plain", (0.15, 0.3)),
            ),
            events_per_account_day=(15.0, 30.0),
            per_account_cap=(40, 80),
            networks=(("hosting", (0.8, 1.0)), ("proxy", (0.0, 0.2))),
            residential_exit_share=(0.05, 0.2),
            asns=(4, 8),
            accounts_per_proxy_group=(20, 40),
            prefixes_per_group=(4, 8),
            channels=(("reseller_partner", (0.7, 0.9)), ("self_serve", (0.1, 0.3))),
            max_account_age_days=(10, 30),
            card_share=(0.0, 0.2),
            null_billing_share=(0.3, 0.5),
            unsupported_billing_share=(0.2, 0.4),
            marketplace_share=(0.8, 1.0),
        ),
    )
}
REPORTED_STYLES = tuple(name for name, s in STYLES.items() if s.reported)
NEW_STYLES = tuple(name for name, s in STYLES.items() if not s.reported)


def _is_span(spec) -> bool:
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    )


def _draw_span(spec, u: float):
    lo, hi = spec
    if isinstance(lo, int) and isinstance(hi, int):
        return min(hi, lo + int(u * (hi - lo + 1)))
    return round(lo + u * (hi - lo), 4)


def _draw_trait(spec, draw_u) -> Any:
    """The value of one trait drawn from its range; `draw_u(part)` is a uniform in [0, 1)."""
    if _is_span(spec):
        return _draw_span(spec, draw_u(0))
    if len(spec) == 2 and all(_is_span(s) for s in spec):  # sub-range (a, b)
        return (_draw_span(spec[0], draw_u(0)), _draw_span(spec[1], draw_u(1)))
    out = []  # a mix; lanes are keyed by two names
    for i, entry in enumerate(spec):
        *names, weight_range = entry
        weight = _draw_span(weight_range, draw_u(i))
        if weight > 0:
            out.append((*names, weight))
    return tuple(out)


def draw_traits(ranges: Traits, seed: int, campaign_id: str) -> Traits:
    """Every trait drawn from its range, by hash of (seed, trait, campaign id)."""
    values = {}
    for name in TRAIT_NAMES:
        spec = getattr(ranges, name)
        values[name] = _draw_trait(
            spec, lambda part, n=name: draw(seed, f"style:{n}", campaign_id, part)
        )
    return Traits(**values)


def style_of(name: str) -> Style:
    if name not in STYLES:
        raise HydrawatchError(f"unknown campaign style {name!r}; choose from {', '.join(STYLES)}")
    return STYLES[name]


def draw_campaign(
    style: str,
    scale: str,
    seed: int,
    *,
    labelled: bool,
    start_day: int,
    campaign_id: str | None = None,
) -> Campaign:
    """One campaign of `style`: its traits and its size at `scale` drawn from the world seed.

    `campaign_id` defaults to `cmp-<style>`; the same (seed, id) always draws the same values.
    """
    spec = style_of(style)
    if scale not in SCALES:
        raise HydrawatchError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    cid = campaign_id or f"cmp-{style}"
    return Campaign(
        campaign_id=cid,
        population=f"campaign_{style}",
        style=style,
        slots=_draw_span(spec.slots[SCALES.index(scale)], draw(seed, "style:slots", cid)),
        traits=draw_traits(spec.ranges, seed, cid),
        start_day=start_day,
        labelled=labelled,
        net_offset=int(draw(seed, "style:net_offset", cid) * 1_000_000),
        ua_offset=int(draw(seed, "style:ua_offset", cid) * 1_000),
    )


def in_range(value, spec) -> bool:
    """Whether a drawn trait value lies in its range (the test of `draw_traits`)."""
    if _is_span(spec):
        return spec[0] <= value <= spec[1]
    if len(spec) == 2 and all(_is_span(s) for s in spec):
        return in_range(value[0], spec[0]) and in_range(value[1], spec[1]) and value[0] <= value[1]
    ranges = {tuple(entry[:-1]): entry[-1] for entry in spec}
    return all(tuple(v[:-1]) in ranges and in_range(v[-1], ranges[tuple(v[:-1])]) for v in value)


def check_styles() -> None:
    """Every style names known categories, kinds, pacings, networks and channels (import-time
    data errors surface as one clear line)."""
    for s in STYLES.values():
        r = s.ranges
        known = (
            all(c in TASK_CATEGORIES and k in TEMPLATE_KINDS for c, k, _ in r.lanes)
            and all(p in PACINGS for p, _ in r.pacing)
            and all(n in CAMPAIGN_NETWORKS for n, _ in r.networks)
            and all(c in SIGNUP_CHANNELS for c, _ in r.channels)
        )
        if not known or not r.lanes:
            raise HydrawatchError(f"campaign style {s.name!r} names an unknown value")


def _fmt_num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _fmt_range(spec) -> str:
    """A range as docs text: `lo-hi`, `a-b .. c-d` for a sub-range, `name lo-hi, ...` for a mix."""
    if _is_span(spec):
        lo, hi = spec
        return _fmt_num(lo) if lo == hi else f"{_fmt_num(lo)}-{_fmt_num(hi)}"
    if len(spec) == 2 and all(_is_span(s) for s in spec):
        return f"{_fmt_range(spec[0])} .. {_fmt_range(spec[1])}"
    return ", ".join(" ".join((*entry[:-1], _fmt_range(entry[-1]))) for entry in spec)


GROUPS = {
    "harvest": "What it harvests",
    "format": "Prompt format",
    "pacing": "Pacing",
    "network": "Proxy network",
    "origin": "Where the accounts come from",
    "lifecycle": "Regrowth, labels and release",
}


def render_markdown() -> str:
    """The style tables of docs/simulator.md (between its `styles` markers)."""
    fields = dataclasses.fields(Traits)
    lines = [
        "| style | reported | harvests | accounts at once (tiny / small / full) |",
        "|---|---|---|---|",
    ]
    for s in STYLES.values():
        slots = " / ".join(_fmt_range(r) for r in s.slots)
        lines.append(f"| `{s.name}` | {'yes' if s.reported else 'new'} | {s.harvests} | {slots} |")
    lines += [
        "",
        "What each style shares with which legitimate population (what makes it hard):",
        "",
        "| style | legitimate population | shared traits |",
        "|---|---|---|",
    ]
    for s in STYLES.values():
        for population, traits in s.shares:
            lines.append(f"| `{s.name}` | `{population}` | {traits} |")
    lines += ["", "| trait | group | meaning |", "|---|---|---|"]
    lines += [f"| `{f.name}` | {f.metadata['group']} | {f.metadata['doc']} |" for f in fields]
    for group, title in GROUPS.items():
        names = [f.name for f in fields if f.metadata["group"] == group]
        lines += ["", f"{title} (ranges):", ""]
        lines.append("| style | " + " | ".join(f"`{n}`" for n in names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for s in STYLES.values():
            cells = [_fmt_range(getattr(s.ranges, n)) for n in names]
            lines.append(f"| `{s.name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
