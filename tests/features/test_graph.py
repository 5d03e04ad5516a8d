"""Connected components in plain Spark, and the degree cap of the infrastructure graph."""

from __future__ import annotations

import datetime as dt

from features.daily import account_daily
from features.graph import connected_components, infra_features

D = dt.date(2026, 2, 10)


def test_connected_components_min_label(spark):
    # a-b via g1, b-c via g2 (a chain), d-e via g3, f alone in g4.
    m = spark.createDataFrame(
        [("a", "g1"), ("b", "g1"), ("b", "g2"), ("c", "g2"), ("d", "g3"), ("e", "g3"), ("f", "g4")],
        "node string, group string",
    )
    comps, rounds = connected_components(m, max_iter=10)
    got = {r["node"]: r["component"] for r in comps.collect()}
    assert got == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d", "f": "f"}
    assert 1 <= rounds <= 3


def test_degree_cap_prevents_a_giant_component(spark, make_events, make_accounts):
    # Everyone shares the popular SDK's user agent and the cloud's ASN; only p1 and p2 share a
    # rare /24, and p3, p4 share a payment fingerprint.
    rows = []
    for i in range(6):
        rows.append(
            {
                "account_id": f"p{i}",
                "ts": f"2026-02-10T1{i}:00:00",
                "client_ip": "198.51.100.1" if i in (1, 2) else f"10.0.{i}.1",
            }
        )
    silver = account_daily(make_events(rows)).localCheckpoint()
    snap = make_accounts(
        [
            {"account_id": f"p{i}", "payment_fingerprint": "card-x" if i in (3, 4) else None}
            for i in range(6)
        ],
        D,
    )
    active = silver.select("account_id").distinct()
    out, _ = infra_features(silver, snap, active, D, max_item_accounts=3, max_iter=10)
    got = {r["account_id"]: r.asDict() for r in out.collect()}
    clusters = {a: r["infra_cluster_id"] for a, r in got.items()}
    assert clusters == {"p0": None, "p1": "p1", "p2": "p1", "p3": "p3", "p4": "p3", "p5": None}
    # The sharing counts are not capped: 5 others share the user agent with each.
    assert all(r["shared_user_agent_max_accounts"] == 5 for r in got.values())
    assert got["p1"]["shared_ip_prefix_max_accounts"] == 1
    assert got["p0"]["shared_ip_prefix_max_accounts"] == 0
    assert got["p3"]["shared_payment_max_accounts"] == 1
