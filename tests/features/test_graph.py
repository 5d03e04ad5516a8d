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
    expected = {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d", "f": "f"}
    comps, rounds = connected_components(m, max_iter=10, driver_max_rows=0)
    assert {r["node"]: r["component"] for r in comps.collect()} == expected
    assert 1 <= rounds <= 3
    # Small enough for the driver: solved there, no propagation round.
    comps, rounds = connected_components(m, max_iter=10)
    assert {r["node"]: r["component"] for r in comps.collect()} == expected
    assert rounds == 0
    # One row over the driver's bound: Spark.
    _, rounds = connected_components(m, max_iter=10, driver_max_rows=6)
    assert rounds >= 1


def test_driver_and_spark_components_agree_on_a_random_graph(spark):
    import random

    rng = random.Random(3)
    ids = [f"acct-{i:03d}" for i in range(300)]
    rows = {(rng.choice(ids), f"g{rng.randrange(220)}") for _ in range(400)}
    rows |= {(ids[i], f"chain{i}") for i in range(0, 40)} | {
        (ids[i + 1], f"chain{i}") for i in range(0, 40)
    }
    m = spark.createDataFrame(sorted(rows), "node string, group string")
    on_driver, _ = connected_components(m, max_iter=100)
    in_spark, _ = connected_components(m, max_iter=100, driver_max_rows=0)
    got = {r["node"]: r["component"] for r in on_driver.collect()}
    assert got == {r["node"]: r["component"] for r in in_spark.collect()}
    assert len(got) == len({n for n, _ in rows})
    assert got[ids[40]] == ids[0]  # the chain ends in its smallest id
    empty, rounds = connected_components(m.limit(0), max_iter=10)
    assert empty.count() == 0 and rounds == 0


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
    # One shared strong item is enough to link here (min_shared=1): the cap is what is tested.
    out, _ = infra_features(silver, snap, active, D, max_item_accounts=3, max_iter=10, min_shared=1)
    got = {r["account_id"]: r.asDict() for r in out.collect()}
    clusters = {a: r["infra_cluster_id"] for a, r in got.items()}
    assert clusters == {"p0": None, "p1": "p1", "p2": "p1", "p3": "p3", "p4": "p3", "p5": None}
    # The sharing counts are not capped: 5 others share the user agent with each.
    assert all(r["shared_user_agent_max_accounts"] == 5 for r in got.values())
    assert got["p1"]["shared_ip_prefix_max_accounts"] == 1
    assert got["p0"]["shared_ip_prefix_max_accounts"] == 0
    assert got["p3"]["shared_payment_max_accounts"] == 1


def test_only_pairs_sharing_several_strong_items_are_linked(spark, make_events, make_accounts):
    # q0..q2: one proxy group (same /24, card and system prompt). q3: a cloud tenant on the same
    # /24 only. q4, q5: a /24 and a card in common, no third item. Everyone shares the ASN and
    # the user agent, which never make edges.
    def event(acct, hour, ip, prompt):
        return {
            "account_id": acct,
            "ts": f"2026-02-10T{hour:02d}:00:00",
            "client_ip": ip,
            "system_prompt_hash": prompt,
        }

    rows = [event(f"q{i}", 8 + i, f"198.51.100.{i + 1}", "00000000000000aa") for i in range(3)]
    rows.append(event("q3", 12, "198.51.100.9", None))
    rows += [event(f"q{i}", 14 + i, "203.0.113.7", None) for i in (4, 5)]
    silver = account_daily(make_events(rows)).localCheckpoint()
    cards = {"q0": "card-g", "q1": "card-g", "q2": "card-g", "q4": "card-h", "q5": "card-h"}
    snap = make_accounts(
        [{"account_id": f"q{i}", "payment_fingerprint": cards.get(f"q{i}")} for i in range(6)],
        D,
    )
    active = silver.select("account_id").distinct()
    out, _ = infra_features(silver, snap, active, D, max_item_accounts=10, max_iter=10)
    got = {r["account_id"]: r.asDict() for r in out.collect()}
    assert {a: r["infra_cluster_id"] for a, r in got.items()} == {
        "q0": "q0",
        "q1": "q0",
        "q2": "q0",
        "q3": None,
        "q4": None,
        "q5": None,
    }
    # The counts still see every shared item.
    assert got["q3"]["shared_ip_prefix_max_accounts"] == 3
    assert got["q4"]["shared_payment_max_accounts"] == 1
    assert got["q0"]["shared_asn_max_accounts"] == 5


def test_hub_accounts_make_no_edges_through_their_many_ranges(spark, make_events, make_accounts):
    # h0 and h1 share three /24s (one proxy group). h2, a reseller-like hub, sends from the same
    # three /24s and four more: with at most 5 items of a kind per account it makes no edges.
    def event(acct, hour, ip):
        return {"account_id": acct, "ts": f"2026-02-10T{hour:02d}:00:00", "client_ip": ip}

    group = [f"198.51.{n}.7" for n in (10, 11, 12)]
    rows = [event(a, 8 + i, ip) for a in ("h0", "h1") for i, ip in enumerate(group)]
    rows += [event("h2", 12 + i, ip) for i, ip in enumerate(group)]
    rows += [event("h2", 16 + i, f"203.0.{n}.9") for i, n in enumerate(range(20, 24))]
    silver = account_daily(make_events(rows)).localCheckpoint()
    snap = make_accounts([{"account_id": a} for a in ("h0", "h1", "h2")], D)
    active = silver.select("account_id").distinct()

    def clusters(max_account_items: int) -> dict[str, str | None]:
        out, _ = infra_features(
            silver, snap, active, D, 10, 10, max_account_items=max_account_items
        )
        return {r["account_id"]: r["infra_cluster_id"] for r in out.collect()}

    assert clusters(200) == {"h0": "h0", "h1": "h0", "h2": "h0"}
    assert clusters(5) == {"h0": "h0", "h1": "h0", "h2": None}


def test_no_edge_crosses_an_established_organisations_boundary(spark, make_events, make_accounts):
    # c0, c1: a proxy group (three /24s in common, no organisation). r0..r2: one reseller
    # organisation of three accounts sending from the same three /24s. s0: an account of a
    # two-account organisation (not established) on the same /24s.
    def event(acct, hour, ip):
        return {"account_id": acct, "ts": f"2026-02-10T{hour:02d}:00:00", "client_ip": ip}

    group = [f"198.51.{n}.7" for n in (10, 11, 12)]
    accts = ("c0", "c1", "r0", "r1", "r2", "s0")
    rows = [event(a, 8 + i, ip) for a in accts for i, ip in enumerate(group)]
    silver = account_daily(make_events(rows)).localCheckpoint()
    orgs = {"r0": "org_r", "r1": "org_r", "r2": "org_r", "s0": "org_s", "s9": "org_s"}
    snap = make_accounts([{"account_id": a, "org_id": orgs.get(a)} for a in (*accts, "s9")], D)
    active = silver.select("account_id").distinct()

    def clusters(max_org_accounts: int | None) -> dict[str, str | None]:
        out, _ = infra_features(silver, snap, active, D, 10, 10, max_org_accounts=max_org_accounts)
        return {r["account_id"]: r["infra_cluster_id"] for r in out.collect()}

    # Without the boundary every account is one component.
    assert set(clusters(None).values()) == {"c0"}
    # With it, the reseller's accounts are a component of their own; the two-account
    # organisation's member is not established and still links with the proxy group.
    assert clusters(2) == {"c0": "c0", "c1": "c0", "s0": "c0", "r0": "r0", "r1": "r0", "r2": "r0"}
    # An organisation of three is not established at a bound of 3.
    assert set(clusters(3).values()) == {"c0"}
