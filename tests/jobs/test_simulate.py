"""The simulator job end to end at tiny scale: contract, imperfections, labels, determinism, overlap.

One 3-day tiny run (module fixture: the seed-7 world, its two never-labelled campaigns moved to
start on day 1) feeds most tests; determinism, the outage knobs and a class of 300 use a smaller
world so the extra runs stay cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from hydrawatch.contracts import ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES, USAGE_EVENTS
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from jobs.simulate import run_simulate
from simulator.checks import account_signals, auc, prefix_of, read_lines, validate_line
from simulator.config import LEGIT_POPULATIONS, config_for

START = dt.date(2026, 2, 2)
DAYS = 3
SIGNALS = ("volume", "top_template_share", "shared_prefix_size", "synchrony", "cot_rate")


@pytest.fixture(scope="module")
def tiny(spark, make_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    settings = make_settings(root)
    cfg = config_for("tiny", 7, release_day=1)
    cfg = dataclasses.replace(
        cfg,
        campaigns=tuple(
            c if c.labelled else dataclasses.replace(c, start_day=1) for c in cfg.campaigns
        ),
    )
    result = run_simulate(Runtime(settings, spark=spark), START, DAYS, "tiny", 7, config=cfg)
    landing = Path(settings.landing_uri)
    usage = {
        d.name.removeprefix("date="): read_lines(d)
        for d in sorted((landing / "usage_events").iterdir())
    }
    truth = {
        r["account_id"]: r.asDict()
        for r in spark.read.format("delta").load(result.truth_uri).collect()  # ~1.7k rows
    }
    return {
        "settings": settings,
        "cfg": cfg,
        "result": result,
        "landing": landing,
        "usage": usage,
        "truth": truth,
    }


def _valid_events(tiny) -> list[tuple[str, dict]]:
    out = []
    for date, lines in tiny["usage"].items():
        for _, line in lines:
            if validate_line(USAGE_EVENTS, line) is None:
                out.append((date, json.loads(line)))
    return out


def test_layout_and_file_names(tiny):
    landing = tiny["landing"]
    dates = [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
    for feed in ("usage_events", "accounts", "labels"):
        assert sorted(p.name for p in (landing / feed).iterdir()) == [f"date={d}" for d in dates]
    files = [p for p in landing.rglob("*") if p.is_file()]
    assert all(p.name.endswith((".jsonl", ".jsonl.gz")) for p in files), files
    event_files = [p.name for p in (landing / "usage_events").rglob("*") if p.is_file()]
    assert any(n.endswith(".gz") for n in event_files)
    assert any(not n.endswith(".gz") for n in event_files)
    assert not list(landing.glob("_*")), "temporary folder left behind"
    assert not Path(tiny["settings"].truth_uri).is_relative_to(landing)


def test_usage_lines_match_contract_except_intended_malformed(tiny):
    lines = [line for day in tiny["usage"].values() for _, line in day]
    n = len(lines)
    assert 45_000 < n < 90_000  # ~20k events a day
    reasons = Counter(validate_line(USAGE_EVENTS, line) for line in lines)
    bad = n - reasons[None]
    rate = tiny["cfg"].imperfections.malformed_rate
    assert 0.5 * rate * n < bad < 1.6 * rate * n, reasons
    # every kind of breakage occurs (truncated lines fail JSON parsing)
    assert {"not_json", "missing_field", "wrong_type", "bad_enum", "out_of_range"} <= set(reasons)
    assert bad / n < 0.05  # far under the ingest quarantine gate
    extra = sum(1 for line in lines if '"gateway_region"' in line)
    assert extra > 0.004 * n


def test_other_feeds_match_contract(tiny):
    landing = tiny["landing"]
    acc = [line for d in (landing / "accounts").iterdir() for _, line in read_lines(d)]
    acc_bad = sum(1 for line in acc if validate_line(ACCOUNTS, line))
    assert len(acc) == tiny["result"].account_lines
    assert acc_bad <= 0.003 * len(acc)
    labels = [line for d in (landing / "labels").iterdir() for _, line in read_lines(d)]
    assert labels and all(validate_line(LABEL_DECISIONS, line) is None for line in labels)
    releases = (landing / "model_releases.jsonl").read_text().splitlines()
    assert all(validate_line(MODEL_RELEASES, line) is None for line in releases)
    released = {json.loads(x)["model"]: json.loads(x)["released_at"] for x in releases}
    assert released["atlas-3.5"] == "2026-02-03T17:00:00.000Z"  # release_day=1
    assert released["atlas-3"] < "2026-01-01"


def test_duplicates_late_events_and_days(tiny):
    events = _valid_events(tiny)
    ids = Counter(ev["event_id"] for _, ev in events)
    dup_share = sum(c - 1 for c in ids.values()) / len(events)
    assert 0.002 < dup_share < 0.01
    folders_of = {}
    for date, ev in events:
        folders_of.setdefault(ev["event_id"], set()).add(date)
    assert any(len(f) == 2 for f in folders_of.values())  # some copies arrive a day later
    lateness = Counter(
        (dt.date.fromisoformat(date) - dt.date.fromisoformat(ev["ts"][:10])).days
        for date, ev in events
    )
    assert set(lateness) <= {0, 1, 2}  # 3-day window: at most 2 days late, never early
    late_share = (lateness[1] + lateness[2]) / len(events)
    assert 0.005 < late_share < 0.04


def test_truth_table(tiny):
    truth = tiny["truth"]
    assert len(truth) == tiny["result"].accounts
    campaigns = Counter(t["campaign_id"] for t in truth.values() if t["is_attacker"])
    assert set(campaigns) == {c.campaign_id for c in tiny["cfg"].campaigns}
    assert len(campaigns) == 5 and min(campaigns.values()) >= 30
    for c in tiny["cfg"].campaigns:
        rows = [t for t in truth.values() if t["campaign_id"] == c.campaign_id]
        assert {(t["population"], t["style"]) for t in rows} == {(c.population, c.style)}
    assert all(
        t["campaign_id"] is None and t["style"] is None
        for t in truth.values()
        if not t["is_attacker"]
    )
    pops = Counter(t["population"] for t in truth.values())
    for pop in LEGIT_POPULATIONS:
        assert pops[pop] > 0, pop
    senders = {ev["account_id"] for _, ev in _valid_events(tiny)}
    assert senders <= set(truth)


def test_labels_delayed_partial_and_never_on_unlabelled_campaigns(tiny):
    truth = tiny["truth"]
    rows = [
        json.loads(line)
        for d in sorted((tiny["landing"] / "labels").iterdir())
        for _, line in read_lines(d)
    ]
    bad = [r for r in rows if r["label"] == "distillation"]
    labelled = {c.campaign_id for c in tiny["cfg"].campaigns if c.labelled}
    unlabelled = {c.campaign_id for c in tiny["cfg"].campaigns if not c.labelled}
    labelled_campaigns = {truth[r["account_id"]]["campaign_id"] for r in bad}
    assert {"cmp-reasoning", "cmp-agentic", "cmp-coding"} <= labelled_campaigns
    assert labelled_campaigns <= labelled | {None}  # hard negatives' false bans: no campaign
    assert {r["campaign_id"] for r in bad} <= labelled | {None}
    assert all(
        t["distillation_label_date"] is None
        for t in truth.values()
        if t["campaign_id"] in unlabelled
    )
    # the never-labelled campaigns send their first request on their start day (day 1)
    for cid in unlabelled:
        first = min(t["first_active_date"] for t in truth.values() if t["campaign_id"] == cid)
        assert first == START + dt.timedelta(days=1), cid
    assert {r["source"] for r in bad} == {"analyst_review", "partner_report"}
    attackers = [t for t in truth.values() if t["is_attacker"]]
    assert len(bad) < 0.5 * len(attackers)  # only part of the campaign accounts
    # a labelled account is suspended in the snapshot of its label day
    first = bad[0]
    day = first["decided_at"][:10]
    snap = {
        json.loads(line)["account_id"]: json.loads(line)
        for _, line in read_lines(tiny["landing"] / "accounts" / f"date={day}")
        if validate_line(ACCOUNTS, line) is None
    }
    assert snap[first["account_id"]]["status"] == "suspended"
    # reviewed hard negatives are cleared; wrongly banned ones are reinstated on appeal
    hard = [t for t in truth.values() if t["hard_negative"]]
    assert any(t["benign_label_date"] is not None for t in hard)
    appealed = [t for t in hard if t["suspended_date"] is not None]
    assert appealed and all(t["reinstated_date"] == t["benign_label_date"] for t in appealed)


def test_release_jump(tiny):
    truth = tiny["truth"]
    release = "2026-02-03T17:00:00.000Z"
    after = "2026-02-04T17:00:00.000Z"  # 24 h later
    c_total = c_new = batch_new = early = 0
    for _, ev in _valid_events(tiny):
        new = ev["model"] == "atlas-3.5"
        early += new and ev["ts"] < release
        pop = truth[ev["account_id"]]["population"]
        if pop == "campaign_coding" and ev["ts"] >= after:
            c_total += 1
            c_new += new
        batch_new += new and pop == "enterprise_batch"
    assert early == 0 and batch_new == 0
    assert 0.35 < c_new / c_total < 0.65  # about half of the largest campaign moved


def test_no_single_signal_separates_hard_negatives_from_attackers(tiny):
    truth = tiny["truth"]
    signals = account_signals([ev for _, ev in _valid_events(tiny)])
    hard = {a: s for a, s in signals.items() if truth[a]["hard_negative"]}
    bad = {a: s for a, s in signals.items() if truth[a]["is_attacker"]}
    assert len(hard) > 50 and len(bad) > 200
    for name in SIGNALS:
        score = auc([s[name] for s in hard.values()], [s[name] for s in bad.values()])
        assert max(score, 1 - score) < 0.9, (name, score)


def _mini(class_size: int | None = None, **overrides):
    cfg = config_for("tiny", **overrides)
    pops = dataclasses.replace(
        cfg.populations, solo_dev=150, product_app=6, release_switcher_app=4, reseller_marketplace=1
    )
    if class_size:
        pops = dataclasses.replace(
            pops, university_classes=1, university_class_size=(class_size, class_size)
        )
        # a short horizon: the course starts early enough that all students sign up in 3 days
        cfg = dataclasses.replace(cfg, horizon_days=8)
    campaigns = tuple(dataclasses.replace(c, slots=10) for c in cfg.campaigns)
    return dataclasses.replace(cfg, populations=pops, campaigns=campaigns)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def mini(spark, make_settings, tmp_path_factory):
    """Three small runs: seed 11 twice into one landing (a stale file in between; its one
    university class has 300 students), seed 12 with day 1 missing and day 2 empty."""
    root = tmp_path_factory.mktemp("mini")
    same = make_settings(root / "same")
    landing = Path(same.landing_uri)
    run_simulate(Runtime(same, spark=spark), START, 3, "tiny", 11, config=_mini(300))
    first = _snapshot(landing)
    (landing / "usage_events" / f"date={START}" / "stale.jsonl").write_text("{}\n")
    result = run_simulate(Runtime(same, spark=spark), START, 3, "tiny", 11, config=_mini(300))
    again = _snapshot(landing)
    students = {
        r.account_id: r.signup_channel
        for r in spark.read.format("delta")
        .load(result.truth_uri)
        .filter("population = 'university_class'")
        .collect()  # 300 rows
    }
    outage = make_settings(root / "outage")
    imp = dataclasses.replace(
        config_for("tiny").imperfections, missing_usage_days=(1,), empty_usage_days=(2,)
    )
    run_simulate(
        Runtime(outage, spark=spark), START, 3, "tiny", 12, config=_mini(imperfections=imp)
    )
    return {
        "first": first,
        "again": again,
        "outage": Path(outage.landing_uri),
        "landing": landing,
        "students": students,
    }


@pytest.mark.slow
def test_same_seed_same_bytes_and_rerun_replaces_days(mini):
    assert mini["again"] == mini["first"]  # identical bytes, the stale file is gone
    other = _snapshot(mini["outage"])
    snap = "accounts/date=2026-02-02/accounts-000.jsonl"
    assert other[snap] != mini["first"][snap]  # another seed, other accounts


@pytest.mark.slow
def test_outage_knobs(mini):
    usage = mini["outage"] / "usage_events"
    assert not (usage / "date=2026-02-03").exists()
    empty = list((usage / "date=2026-02-04").iterdir())
    assert [p.name for p in empty] == ["events-000.jsonl"] and empty[0].stat().st_size == 0
    assert read_lines(usage / "date=2026-02-02")
    # the other feeds are still delivered on the outage days
    assert (mini["outage"] / "accounts" / "date=2026-02-03").exists()


@pytest.mark.slow
def test_a_class_of_300_on_one_campus_24_same_template_same_hour(mini):
    students = mini["students"]
    assert len(students) == 300 and set(students.values()) == {"education"}
    events = [
        json.loads(line)
        for d in sorted((mini["landing"] / "usage_events").iterdir())
        for _, line in read_lines(d)
        if validate_line(USAGE_EVENTS, line) is None
    ]
    class_events = [ev for ev in events if ev["account_id"] in students]
    assert {prefix_of(ev["client_ip"]) for ev in class_events} == {
        prefix_of(class_events[0]["client_ip"])
    }
    # a session: most students send the week's assignment template in the same clock hour
    buckets: dict[tuple, set] = {}
    for ev in class_events:
        buckets.setdefault((ev["prompt_template_hash"], ev["ts"][:13]), set()).add(ev["account_id"])
    assert max(len(users) for users in buckets.values()) >= 200


def test_refuses_truth_inside_landing_and_bad_arguments(spark, make_settings, tmp_path):
    inside = make_settings(tmp_path, truth=str(tmp_path / "landing" / "truth"))
    with pytest.raises(HydrawatchError, match="outside the landing root"):
        run_simulate(Runtime(inside, spark=spark), START, 1, "tiny", 1)
    with pytest.raises(HydrawatchError, match="--days"):
        run_simulate(Runtime(make_settings(tmp_path), spark=spark), START, 0, "tiny", 1)
    with pytest.raises(HydrawatchError, match="unknown scale"):
        run_simulate(Runtime(make_settings(tmp_path), spark=spark), START, 1, "huge", 1)
