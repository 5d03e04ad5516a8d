"""Coordination (SynchroTrap with MinHash LSH): a synchronised group, not a lone account."""

from __future__ import annotations

import datetime as dt

from features.coordination import coordination_features
from features.daily import account_daily

D = dt.date(2026, 2, 10)


def test_synchronised_group_is_one_cluster_and_lone_account_is_not(make_events):
    rows = []
    # Four accounts run the same four templates in the same hours (one skips one action).
    for i in range(4):
        for h in range(4 if i else 3):
            rows.append(
                {
                    "account_id": f"s{i}",
                    "ts": f"2026-02-10T{8 + h:02d}:{10 + i:02d}:00",
                    "prompt_template_hash": f"{h:016x}",
                }
            )
    # Same templates at other hours: not synchronised.
    for h in range(4):
        rows.append(
            {
                "account_id": "lone",
                "ts": f"2026-02-10T{16 + h:02d}:00:00",
                "prompt_template_hash": f"{h:016x}",
            }
        )
    # A popular template all five use in one hour is dropped before hashing (cap: 4 accounts).
    for i in range(5):
        rows.append({"account_id": f"s{i % 4}" if i < 4 else "lone", "ts": "2026-02-10T07:00:00"})
    silver = account_daily(make_events(rows)).localCheckpoint()
    out, rounds = coordination_features(
        silver,
        D,
        min_jaccard=0.5,
        min_actions=3,
        max_action_accounts=4,
        num_tables=5,
        seed=7,
        max_iter=10,
    )
    got = {r["account_id"]: r.asDict() for r in out.collect()}
    assert {a: r["coord_cluster_id"] for a, r in got.items()} == {
        "s0": "s0",
        "s1": "s0",
        "s2": "s0",
        "s3": "s0",
        "lone": None,
    }
    assert got["s1"]["coord_degree"] == 3 and got["s1"]["coord_max_similarity"] == 1.0
    # s0 lacks one of the four actions: Jaccard 3/4 with the others.
    assert got["s0"]["coord_max_similarity"] == 0.75
    assert got["lone"]["coord_degree"] == 0 and got["lone"]["coord_actions_1d"] == 5
    assert rounds >= 1
