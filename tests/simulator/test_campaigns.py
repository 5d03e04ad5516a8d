"""Every campaign style, generated: the hydra structure holds for each, its drawn traits show in
its events, no single signal separates the hard negatives from its accounts, and campaigns that
are never labelled get no label.

One world with all styles (tiny legitimate populations with every hard negative, two days),
built with the pure transforms and collected once: about 40k events.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from statistics import median

import pytest
from pyspark.sql import functions as F

from simulator.accounts import build_accounts
from simulator.checks import account_signals, auc
from simulator.config import config_for
from simulator.events import build_events
from simulator.styles import NEW_STYLES, REPORTED_STYLES, STYLES

SEED = 7
START = dt.date(2026, 2, 2)
DAYS = 2
SIGNALS = ("volume", "top_template_share", "shared_prefix_size", "synchrony", "cot_rate")


@pytest.fixture(scope="module")
def world(spark):
    cfg = config_for("tiny", SEED, labelled=REPORTED_STYLES, unlabelled=NEW_STYLES)
    cfg = dataclasses.replace(
        cfg,
        # every campaign sends from day 0; fewer ordinary legitimate accounts, same hard negatives
        campaigns=tuple(
            dataclasses.replace(c, start_day=min(c.start_day, 0)) for c in cfg.campaigns
        ),
        populations=dataclasses.replace(
            cfg.populations, solo_dev=200, product_app=10, release_switcher_app=10
        ),
    )
    accounts = build_accounts(spark, cfg, SEED, 30).persist()
    days = spark.range(0, DAYS, 1, 1).select(F.col("id").cast("int").alias("day"))
    events = build_events(accounts, days, cfg, SEED, START, DAYS).filter(F.col("copy") == 0)
    rows = events.filter(F.col("is_attacker") | F.col("hard_negative")).select(
        "account_id",
        "campaign_id",
        "population",
        "is_attacker",
        "hard_negative",
        "mode",
        "day",
        "hour",
        "net_e",
        "prefix",
        "client_ip",
        "prompt_template_hash",
        F.date_format("ts", "yyyy-MM-dd'T'HH").alias("ts"),
        "cot_elicitation",
        "turns",
        "has_image",
        "input_tokens",
        "status",
        "surface",
    )
    out = {
        "cfg": cfg,
        "campaigns": {c.campaign_id: c for c in cfg.campaigns},
        "accounts": [
            r.asDict()
            for r in accounts.filter(F.col("is_attacker"))
            .select("account_id", "campaign_id", "created_day", "label_day", "label_campaign")
            .collect()  # ~700 rows
        ],
        "events": [r.asDict() for r in rows.collect()],  # ~40k rows
    }
    accounts.unpersist()
    return out


def _by_campaign(world) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for ev in world["events"]:
        if ev["is_attacker"]:
            out[ev["campaign_id"]].append(ev)
    return out


def test_every_style_sends_traffic_from_many_accounts(world):
    campaigns = _by_campaign(world)
    assert set(campaigns) == {f"cmp-{s}" for s in STYLES}
    for cid, evs in campaigns.items():
        assert len({e["account_id"] for e in evs}) >= 25, cid


def test_hydra_structure_holds_for_every_style(world):
    """Many young accounts run from one template pool, at the same times, through shared
    infrastructure, each kept small (threat model), however the style draws its strength."""
    for cid, evs in _by_campaign(world).items():
        c = world["campaigns"][cid]
        accounts = {e["account_id"] for e in evs}
        lane = [e for e in evs if e["mode"] == "lane"]
        # one script's template pool: most accounts share a template with 5+ of their campaign
        tpl_accounts = defaultdict(set)
        for e in lane:
            tpl_accounts[e["prompt_template_hash"]].add(e["account_id"])
        best = defaultdict(int)
        for users in tpl_accounts.values():
            for a in users:
                best[a] = max(best[a], len(users))
        pooled = sum(best[a] >= 5 for a in accounts) / len(accounts)
        assert pooled >= 0.5, (cid, pooled)
        # at the same times: a template's 6-hour block is shared with another campaign account
        blocks = defaultdict(set)
        for e in lane:
            blocks[(e["prompt_template_hash"], e["day"], e["hour"] // 6)].add(e["account_id"])
        key = lambda e: (e["prompt_template_hash"], e["day"], e["hour"] // 6)  # noqa: E731
        synced = sum(len(blocks[key(e)]) >= 2 for e in lane) / len(lane)
        assert synced >= 0.25, (cid, synced)
        # shared infrastructure: of the accounts seen on the campaign's own networks (not a
        # residential exit), most use a /24 that 4+ of its accounts use
        prefix_accounts = defaultdict(set)
        for e in evs:
            if e["net_e"] != "residential":
                prefix_accounts[e["prefix"]].add(e["account_id"])
        own = set().union(*prefix_accounts.values())
        shared = {a for users in prefix_accounts.values() if len(users) >= 4 for a in users}
        assert len(own) >= 0.4 * len(accounts), cid
        assert len(shared) >= 0.8 * len(own), cid
        # each kept small: under its cap every day
        per_day = Counter((e["account_id"], e["day"]) for e in evs)
        assert max(per_day.values()) <= c.traits.per_account_cap, cid
        assert median(per_day.values()) <= 60, cid
    # young: created within its style's age limit before the window (or inside it)
    for row in world["accounts"]:
        c = world["campaigns"][row["campaign_id"]]
        assert row["created_day"] >= -c.traits.max_account_age_days, row
        assert c.traits.max_account_age_days <= 45


def test_drawn_traits_show_in_the_events(world):
    campaigns = _by_campaign(world)

    def share(cid, pred):
        evs = campaigns[cid]
        return sum(bool(pred(e)) for e in evs) / len(evs)

    def med(cid, field):
        return median(e[field] for e in campaigns[cid])

    assert med("cmp-document_extraction", "input_tokens") > 5 * med("cmp-reasoning", "input_tokens")
    assert share("cmp-vision_captioning", lambda e: e["has_image"]) > 0.8
    assert share("cmp-policy_probing", lambda e: e["status"] == "refused") > 0.1
    assert share("cmp-reasoning", lambda e: e["status"] == "refused") < 0.05
    assert med("cmp-chat_preference", "turns") >= 6
    assert share("cmp-reseller_surface", lambda e: e["surface"] == "cloud_marketplace") > 0.7
    assert share("cmp-coding", lambda e: e["surface"] == "cloud_marketplace") == 0
    assert share("cmp-reasoning", lambda e: e["cot_elicitation"]) > 0.3
    # night pacing: most of the captioning campaign's requests inside its night window
    t = world["campaigns"]["cmp-vision_captioning"].traits
    night = {int(t.night_hour + h) % 24 for h in range(int(t.active_hours) + 1)}
    assert share("cmp-vision_captioning", lambda e: e["hour"] in night) > 0.5
    # low and slow: a handful of requests per account and day
    per_day = Counter((e["account_id"], e["day"]) for e in campaigns["cmp-low_and_slow"])
    assert median(per_day.values()) <= 4


def test_unlabelled_campaigns_are_never_labelled(world):
    labelled = {c.campaign_id for c in world["cfg"].campaigns if c.labelled}
    for row in world["accounts"]:
        if row["campaign_id"] not in labelled:
            assert row["label_day"] is None and row["label_campaign"] is None, row
    named = {r["label_campaign"] for r in world["accounts"] if r["label_campaign"]}
    assert named and named <= labelled


def test_no_single_signal_separates_hard_negatives_from_any_style(world):
    signals = account_signals(world["events"])
    by_account = {e["account_id"]: e for e in world["events"]}
    hard = [s for a, s in signals.items() if by_account[a]["hard_negative"]]
    bad = [s for a, s in signals.items() if by_account[a]["is_attacker"]]
    assert len(hard) > 50 and len(bad) > 400
    for name in SIGNALS:
        score = auc([s[name] for s in hard], [s[name] for s in bad])
        assert max(score, 1 - score) < 0.9, (name, score)
