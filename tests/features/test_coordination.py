"""Coordination (SynchroTrap with MinHash LSH): a synchronised group, not a lone account."""

from __future__ import annotations

import datetime as dt

from features.coordination import coordination_features
from features.daily import account_daily

D = dt.date(2026, 2, 10)


def test_accounts_running_one_template_pool_in_a_week_are_one_cluster(make_events):
    # s0..s3 run the same six templates over the week, on different days and hours (s0 skips
    # one). "other" sends six templates of its own on the feature date. "quiet" shares templates
    # with the group but sent fewer than min_actions of them. A popular template everyone sends
    # (more than the cap of 4 accounts) is dropped before hashing.
    rows = []
    for i in range(4):
        for t in range(5 if i == 0 else 6):
            day = 4 + (i + t) % 7  # spread over 2026-02-04..10
            rows.append(
                {
                    "account_id": f"s{i}",
                    "ts": f"2026-02-{day:02d}T{(3 * i + t) % 24:02d}:10:00",
                    "prompt_template_hash": f"{t:016x}",
                }
            )
        rows.append({"account_id": f"s{i}", "ts": "2026-02-10T20:00:00"})  # active on D
    for t in range(6):
        rows.append(
            {
                "account_id": "other",
                "ts": f"2026-02-10T{t:02d}:00:00",
                "prompt_template_hash": f"{100 + t:016x}",
            }
        )
    rows += [
        {"account_id": "quiet", "ts": "2026-02-10T09:00:00", "prompt_template_hash": f"{t:016x}"}
        for t in (5, 200)
    ]
    popular = "00000000000000ff"
    for acct in ("s0", "s1", "s2", "s3", "other"):
        rows.append(
            {"account_id": acct, "ts": "2026-02-09T07:00:00", "prompt_template_hash": popular}
        )
    # Before the window (2026-02-04..10): does not count.
    rows.append(
        {"account_id": "other", "ts": "2026-02-01T07:00:00", "prompt_template_hash": f"{0:016x}"}
    )
    silver = account_daily(make_events(rows)).localCheckpoint()
    out, rounds = coordination_features(
        silver,
        D,
        window_days=7,
        min_jaccard=0.5,
        min_actions=3,
        max_action_accounts=4,
        num_tables=10,
        seed=7,
        max_iter=10,
    )
    got = {r["account_id"]: r.asDict() for r in out.collect()}
    assert {a: r["coord_cluster_id"] for a, r in got.items()} == {
        "s0": "s0",
        "s1": "s0",
        "s2": "s0",
        "s3": "s0",
        "other": None,
        "quiet": None,
    }
    assert got["s1"]["coord_degree"] == 3 and got["s1"]["coord_max_similarity"] == 1.0
    # The filler event's default template counts too (4 accounts: under the cap); the popular
    # one does not. s0 lacks one of the pool's six: Jaccard 6/7 with the others.
    assert got["s1"]["coord_templates_7d"] == 7
    assert got["s0"]["coord_max_similarity"] == 6 / 7
    assert (got["other"]["coord_degree"], got["other"]["coord_templates_7d"]) == (0, 6)
    assert (got["quiet"]["coord_degree"], got["quiet"]["coord_templates_7d"]) == (0, 0)
    assert rounds == 0  # a handful of links: solved on the driver
