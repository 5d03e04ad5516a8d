"""Pure scoring transforms: roll-up rule, reason codes, risk tiers, model/feature-set checks."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from models import scoring

D = dt.date(2026, 2, 10)


def _scored(spark, rows):
    return spark.createDataFrame(
        rows, "account_id string, score double, coord_cluster_id string, infra_cluster_id string"
    )


def test_rollup_flags_rest_of_cluster_only_when_count_and_share_reached(spark):
    rows = [
        # coordination cluster c1: 3 of 5 flagged by score -> rolled up (3 >= K, 0.6 >= F)
        ("a1", 0.95, "c1", "i1"),
        ("a2", 0.91, "c1", None),
        ("a3", 0.99, "c1", None),
        ("a4", 0.10, "c1", None),
        ("a5", 0.20, "c1", "i9"),
        # c2: 2 of 2 flagged, share 1.0 but fewer than K -> no roll-up
        ("b1", 0.95, "c2", None),
        ("b2", 0.95, "c2", None),
        # c3: 3 of 7 flagged -> share below F, no roll-up
        *[(f"c{i}", 0.95 if i < 3 else 0.1, "c3", None) for i in range(7)],
        # infra cluster i1 has a1 and one other account (size 2): not rolled up, a lone account
        ("x1", 0.05, None, "i1"),
        ("z1", 0.05, None, None),
    ]
    out = scoring.cluster_rollup(scoring.flag_by_score(_scored(spark, rows), 0.9)).select(
        "account_id",
        "flagged",
        "flagged_by",
        "cluster_kind",
        "cluster_id",
        "cluster_size",
        "rollup_reason",
    )
    got = {r.account_id: r for r in out.collect()}
    assert got["a4"].flagged and got["a4"].flagged_by == "cluster"
    assert got["a4"].rollup_reason == "member of flagged coordination cluster c1 (3 of 5 flagged)"
    assert got["a5"].flagged and got["a5"].cluster_id == "c1" and got["a5"].cluster_size == 5
    assert got["a1"].flagged_by == "score" and got["a1"].rollup_reason is not None
    assert not any(got[a].flagged for a in ("c3", "c4", "c5", "c6"))
    assert got["b1"].flagged_by == "score" and got["b1"].rollup_reason is None
    assert got["b1"].cluster_kind == "coordination" and got["b1"].cluster_size == 2
    # x1 shares infrastructure with a1 only: reported, not flagged
    assert not got["x1"].flagged and got["x1"].cluster_kind == "infrastructure"
    assert got["x1"].cluster_size == 2
    assert got["z1"].cluster_id is None and got["z1"].cluster_size == 1
    assert got["z1"].flagged_by is None and not got["z1"].flagged


def test_rollup_by_infrastructure_cluster(spark):
    rows = [(f"a{i}", 0.95 if i < 4 else 0.0, f"solo{i}", "ipnet") for i in range(6)]
    out = scoring.cluster_rollup(scoring.flag_by_score(_scored(spark, rows), 0.5))
    got = {r.account_id: r for r in out.collect()}
    assert got["a5"].flagged and got["a5"].flagged_by == "cluster"
    assert got["a5"].rollup_reason == (
        "member of flagged infrastructure cluster ipnet (4 of 6 flagged)"
    )


def test_reason_codes_top_positive_contributions_largest_first(spark):
    names = ["f_a", "f_b", "f_c", "f_d", "f_e", "f_f", "f_g"]
    contrib = [0.5, -1.0, 2.0, 0.5, 0.0, 0.1, 0.3]
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    row = {"account_id": "a1", "rollup_reason": "member of flagged coordination cluster c1"}
    row.update(dict(zip(names, values, strict=True)))
    row.update({f"contrib__{n}": c for n, c in zip(names, contrib, strict=True)})
    df = spark.createDataFrame([Row(**row)])
    phrases = {"f_c": "share of requests asking for step-by-step reasoning"}
    out = scoring.reason_codes(df, names, phrases).select("reasons", "reasons_text").first()
    assert [(r.feature, r.value, r.contribution) for r in out.reasons] == [
        ("f_c", 3.0, 2.0),
        ("f_a", 1.0, 0.5),  # tie with f_d broken by name
        ("f_d", 4.0, 0.5),
        ("f_g", 7.0, 0.3),
        ("f_f", 6.0, 0.1),
    ]
    assert out.reasons_text.startswith(
        "share of requests asking for step-by-step reasoning = 3.000 (+2.00); f a = 1.000 (+0.50)"
    )
    assert out.reasons_text.endswith("(+0.10); member of flagged coordination cluster c1")


def test_risk_tier_bands(spark):
    df = spark.createDataFrame(
        [(0.95, 1), (0.75, 1), (0.5, 1), (0.5, 12), (0.5, 60)], "score double, size bigint"
    )
    got = df.select(scoring.risk_tier(df.score, df.size).alias("t")).collect()
    assert [r.t for r in got] == ["critical", "high", "medium", "high", "critical"]


def test_first_flagged_dates_ignores_later_days(spark):
    hist = spark.createDataFrame(
        [
            ("a", D - dt.timedelta(days=3), False),
            ("a", D - dt.timedelta(days=2), True),
            ("a", D, True),
            ("b", D + dt.timedelta(days=1), True),
            ("c", D, True),
        ],
        "account_id string, score_date date, flagged boolean",
    )
    assertDataFrameEqual(
        scoring.first_flagged_dates(hist, D),
        [
            Row(account_id="a", first_flagged_date=D - dt.timedelta(days=2)),
            Row(account_id="c", first_flagged_date=D),
        ],
    )


def test_feature_columns_excludes_keys_and_cluster_ids():
    cols = [
        "account_id",
        "feature_date",
        "f1",
        "feature_set_version",
        "infra_cluster_id",
        "coord_cluster_id",
        "f2",
    ]
    assert scoring.feature_columns(cols) == ["f1", "f2"]


# --- structural flags -------------------------------------------------------------------------
EVIDENCE = (
    "feature_date date, cluster_kind string, cluster_id string, members bigint, "
    "active_members bigint, young_share double, median_age_days double, top_org_share double, "
    "ip_prefixes bigint, asns bigint, ip_prefixes_per_account double, "
    "start_spread_minutes double, mean_similarity double"
)


def _evidence(spark, rows):
    return spark.createDataFrame(rows, EVIDENCE)


def test_structure_rule_flags_a_young_cluster_on_a_proxy_network_and_spares_hard_negatives(spark):
    rule = scoring.StructureRule()
    rows = [
        # a hydra cluster: 37 young accounts of no one organisation over 30 /24s and 6 ASNs
        (D, "coordination", "hydra", 37, 30, 0.92, 9.0, 0.05, 30, 6, 1.0, 4.0, 0.4),
        # a university class of 300 on one campus /24: young, one organisation, one ASN
        (D, "coordination", "class", 300, 250, 1.0, 20.0, 1.0, 1, 1, 1 / 250, 2.0, 0.6),
        # the same class without its organisation recorded: still one /24 and one ASN
        (D, "coordination", "class2", 300, 250, 1.0, 20.0, 0.0, 1, 1, 1 / 250, 2.0, 0.6),
        # a reseller's sub-accounts: many /24s and ASNs, but one organisation
        (D, "infrastructure", "reseller", 8, 8, 0.6, 20.0, 1.0, 40, 5, 5.0, 300.0, 0.0),
        # an eval team: older accounts on one corporate /24
        (D, "coordination", "eval", 6, 6, 0.0, 400.0, 1.0, 1, 1, 1 / 6, 5.0, 0.5),
        # a campaign of 3 accounts: too small to be called a cluster on structure alone
        (D, "coordination", "tiny", 3, 3, 1.0, 2.0, 0.0, 5, 4, 5 / 3, 1.0, 0.5),
        # old accounts on proxies (a company's VPN users): not young
        (D, "infrastructure", "vpn", 20, 20, 0.1, 600.0, 0.2, 25, 4, 1.25, 60.0, 0.0),
    ]
    got = {
        r.cluster_id: r.structure_reason
        for r in scoring.structure_flags(_evidence(spark, rows), rule).collect()
    }
    assert set(got) == {"hydra"}
    assert got["hydra"] == (
        "structure: coordination cluster hydra of 37 accounts, 92% created in the last 30 days "
        "(median age 9 days), 5% in its largest organisation, 30 IP prefixes over 6 ASNs from "
        "30 active accounts, first requests of the day within 4 minutes (interquartile)"
    )
    # each bound is what spares its population: loosen the organisation bound and the reseller
    # (many /24s, five ASNs) is flagged too
    loose = scoring.StructureRule(max_top_org_share=1.0)
    flagged = {
        r.cluster_id for r in scoring.structure_flags(_evidence(spark, rows), loose).collect()
    }
    assert flagged == {"hydra", "reseller"}


def test_rollup_flags_structure_clusters_per_day_with_the_evidence_as_reason(spark):
    d2 = D + dt.timedelta(days=1)
    scored = spark.createDataFrame(
        [
            ("h1", D, 0.95, "hyd", "h1"),
            ("h2", D, 0.10, "hyd", "h2"),
            ("h3", D, 0.20, "hyd", "h3"),
            ("h1", d2, 0.10, "hyd", "h1"),  # the next day the cluster is not structure-flagged
            ("x1", D, 0.10, "other", "x1"),
        ],
        "account_id string, feature_date date, score double, coord_cluster_id string, "
        "infra_cluster_id string",
    )
    evidence = _evidence(
        spark,
        [
            (D, "coordination", "hyd", 37, 30, 0.92, 9.0, 0.05, 30, 6, 1.0, 4.0, 0.4),
            (d2, "coordination", "hyd", 1, 1, 1.0, 9.0, 0.0, 1, 1, 1.0, 0.0, 0.0),
        ],
    )
    flags = scoring.structure_flags(evidence, scoring.StructureRule())
    out = scoring.cluster_rollup(scoring.flag_by_score(scored, 0.9), structure=flags)
    got = {(r.account_id, r.feature_date): r for r in out.collect()}
    h2 = got[("h2", D)]
    assert h2.flagged and h2.flagged_by == "structure"
    assert h2.cluster_kind == "coordination" and h2.cluster_id == "hyd" and h2.cluster_size == 3
    assert h2.rollup_reason.startswith("structure: coordination cluster hyd of 37 accounts")
    # flagged by score first; the structural evidence still explains its cluster
    h1 = got[("h1", D)]
    assert h1.flagged_by == "score" and h1.rollup_reason.startswith("structure:")
    assert not got[("h1", d2)].flagged and got[("h1", d2)].rollup_reason is None
    assert not got[("x1", D)].flagged


def test_structure_never_flags_a_member_of_an_established_organisation(spark):
    # a reseller's sub-account shares a proxy range with a campaign and sits in its cluster
    scored = spark.createDataFrame(
        [
            ("h1", D, 0.1, "h1", "net", 0),
            ("h2", D, 0.1, "h2", "net", 1),
            ("r1", D, 0.1, "r1", "net", 6),
        ],
        "account_id string, feature_date date, score double, coord_cluster_id string, "
        "infra_cluster_id string, org_accounts bigint",
    )
    evidence = _evidence(
        spark, [(D, "infrastructure", "net", 40, 30, 0.8, 9.0, 0.15, 200, 20, 6.7, 20.0, 0.0)]
    )
    rule = scoring.StructureRule()
    flags = scoring.structure_flags(evidence, rule)
    out = scoring.cluster_rollup(scoring.flag_by_score(scored, 0.9), structure=flags, rule=rule)
    got = {r.account_id: r.flagged_by for r in out.collect()}
    assert got == {"h1": "structure", "h2": "structure", "r1": None}
    # an organisation of 6 is eligible once the rule allows it
    wide = scoring.StructureRule(max_member_org_accounts=6)
    out = scoring.cluster_rollup(scoring.flag_by_score(scored, 0.9), structure=flags, rule=wide)
    assert {r.account_id for r in out.collect() if r.flagged} == {"h1", "h2", "r1"}


def test_rollup_never_carries_a_member_of_an_established_organisation(spark):
    # 4 of 6 flagged by score: the roll-up flags the others, except the reseller account
    scored = spark.createDataFrame(
        [(f"a{i}", D, 0.95 if i < 4 else 0.1, f"s{i}", "net", 0) for i in range(5)]
        + [("r1", D, 0.1, "r1", "net", 6)],
        "account_id string, feature_date date, score double, coord_cluster_id string, "
        "infra_cluster_id string, org_accounts bigint",
    )
    out = scoring.cluster_rollup(scoring.flag_by_score(scored, 0.9))
    got = {r.account_id: (r.flagged, r.flagged_by) for r in out.collect()}
    assert got["a4"] == (True, "cluster")
    assert got["r1"] == (False, None)
