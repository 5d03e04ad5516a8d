"""The account population: one row per account that exists at some point of the simulated world.

`build_accounts(spark, cfg, seed, horizon)` returns the legitimate populations and the campaign
accounts (with hydra regrowth) in one frame with a fixed schema (`ACCOUNT_SCHEMA`): the account
fields of the landing contract, the truth (population, campaign), the life cycle (active days,
label and suspension days) and the behaviour parameters the event generator reads. Days are
integers counted from the window start. Only `spark.range` is used: no I/O, no driver loops
over accounts.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from simulator import world as W
from simulator.config import HARD_NEGATIVES, Campaign, SimConfig
from simulator.rand import (
    Ref,
    hash64,
    hex16,
    log_uniform_index,
    lognormal,
    pick,
    randint,
    uniform,
    weighted,
)

NEVER = 1_000_000  # a day index that never comes

# (column, Spark type, default) in output order; defaults fill what a population leaves unset.
ACCOUNT_COLUMNS: tuple[tuple[str, str, object], ...] = (
    ("account_id", "string", None),
    ("population", "string", None),
    ("campaign_id", "string", None),
    ("is_attacker", "boolean", False),
    ("hard_negative", "boolean", False),
    ("group_key", "string", None),  # app, org, team, class or hydra slot
    ("slot", "bigint", None),
    ("generation", "int", 0),
    ("org_id", "string", None),
    ("created_day", "int", None),
    ("created_sec", "int", None),
    ("signup_channel", "string", None),
    ("verification", "string", None),
    ("billing_country", "string", None),
    ("payment_fingerprint", "string", None),
    ("email_domain_hash", "string", None),
    ("plan", "string", None),
    ("act_start", "int", None),  # first day with traffic (never the sign-up day itself)
    ("act_end", "int", NEVER),  # first day without (ban, rotation)
    ("label_day", "int", None),  # distillation label (true or false positive)
    ("label_source", "string", None),
    ("label_campaign", "string", None),
    ("benign_day", "int", None),  # benign label after review, or the appeal that clears
    ("benign_source", "string", None),
    ("susp_from", "int", None),
    ("susp_until", "int", NEVER),
    ("rate", "double", None),  # mean events per active day
    ("p_active", "double", 1.0),
    ("tz_center", "double", 14.0),  # UTC hour around which a human's day is centred
    ("regular", "boolean", False),  # evenly spaced requests (batch jobs, load-balanced hydras)
    ("net_kind", "string", None),
    ("asn_idx", "int", 0),
    ("prefix_j", "int", 0),
    ("prefix_span", "int", 1),
    ("host", "int", 10),
    ("host_fixed", "boolean", True),
    ("random_asn", "boolean", False),
    ("resproxy_share", "double", 0.0),
    ("ipv6", "boolean", False),
    ("user_agent", "string", None),
    ("ua_mixed", "boolean", False),
    ("n_keys", "int", 1),
    ("console_share", "double", 0.0),
    ("surface", "string", "api"),
    ("sys_prompt", "string", None),
    ("tpl_key", "string", None),  # seeds the account's (or app's, class's) own templates
    ("main_task", "string", "chat"),
    ("base_model", "string", "atlas-3"),
    ("switch_p", "double", 0.0),
    ("switch_delay_h", "double", 0.0),
    ("campaign_idx", "int", None),
)


def _domain_hash(seed: int, name: Column) -> Column:
    return hex16(hash64(seed, "domain", name))


def _public_domain(seed: int, salt: str, key: Column) -> Column:
    idx = log_uniform_index(uniform(seed, salt, key), W.PUBLIC_EMAIL_DOMAINS)
    return F.concat(F.lit("public-"), idx.cast("string"))


def _org_id(seed: int, key: Ref) -> Column:
    return F.concat(F.lit("org_"), hex16(hash64(seed, "org", key)))


def _person_domain(seed: int, key: Ref, public: Column, otherwise: Column) -> Column:
    """An individual's e-mail domain hash: a university's for education sign-ups, else a public
    domain where `public` holds, else `otherwise`."""
    uni = F.concat(F.lit("uni-"), randint(seed, "uni", 0, W.UNIVERSITIES, key).cast("string"))
    return _domain_hash(
        seed,
        F.when(F.col("signup_channel") == "education", uni)
        .when(public, _public_domain(seed, "pub", key))
        .otherwise(otherwise),
    )


def _country(kind: str, asn_idx: Column) -> Column:
    countries = W.NET_KINDS[kind][1]
    return F.element_at(F.array(*[F.lit(c) for c in countries]), (asn_idx % len(countries)) + 1)


def _n_asn(kind: str) -> int:
    return len(W.NET_KINDS[kind][1])


def _finish(df: DataFrame) -> DataFrame:
    present = set(df.columns)
    cols = []
    for name, typ, default in ACCOUNT_COLUMNS:
        if name in present:
            cols.append(F.col(name).cast(typ).alias(name))
        else:
            cols.append(F.lit(default).cast(typ).alias(name))
    return df.select(*cols)


def _ids(spark: SparkSession, n: int, population: str, seed: int, parts: int) -> DataFrame:
    df = spark.range(0, max(int(n), 0), 1, parts).withColumnRenamed("id", "k")
    return df.withColumn(
        "account_id", F.concat(F.lit("acct_"), hex16(hash64(seed, population, F.col("k"))))
    )


def _grouped_ids(
    spark: SparkSession,
    n: int,
    population: str,
    prefix: str,
    group_size: int,
    seed: int,
    parts: int,
) -> DataFrame:
    """`_ids` plus `group_key`: `prefix` + the index of the account's group (app, team, class)
    of `group_size` consecutive accounts.
    """
    df = _ids(spark, n, population, seed, parts)
    group = F.floor(F.col("k") / group_size).cast("string")
    return df.withColumn("group_key", F.concat(F.lit(prefix), group))


def _solo(spark, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    p = cfg.populations
    s, key = seed, Ref("account_id")
    df = _ids(spark, p.solo_dev, "solo_dev", s, cfg.generation_partitions)
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    n_host = p.hosting_prefixes_per_asn
    df = (
        df.withColumn("population", F.lit("solo_dev"))
        .withColumn(
            "created_day",
            F.when(u("new") < p.solo_new_share, randint(s, "cday", 0, horizon, key)).otherwise(
                -randint(s, "cday", 30, 1100, key)
            ),
        )
        .withColumn(
            "signup_channel",
            weighted(
                [
                    ("self_serve", 0.9),
                    ("startup_program", 0.05),
                    ("education", 0.035),
                    ("security_research", 0.015),
                ],
                u("chan"),
            ),
        )
        .withColumn(
            "verification",
            weighted([("none", 5), ("email", 40), ("phone", 20), ("card", 35)], u("verif")),
        )
        .withColumn(
            "plan",
            F.when(
                F.col("verification") == "card",
                F.when(u("plan") < 0.8, "build").otherwise("scale"),
            ).otherwise("free"),
        )
        .withColumn(
            "net_kind",
            weighted([("residential", 78), ("hosting", 18), ("proxy", 4)], u("net")),
        )
        .withColumn(
            "asn_idx",
            F.when(
                F.col("net_kind") == "residential", randint(s, "asn", 0, _n_asn("residential"), key)
            )
            .when(F.col("net_kind") == "hosting", randint(s, "asn", 0, _n_asn("hosting"), key))
            .otherwise(randint(s, "asn", 0, _n_asn("proxy"), key)),
        )
        .withColumn(
            "prefix_j",
            F.when(
                F.col("net_kind") == "residential",
                randint(s, "pfx", 0, W.MAX_PREFIXES_PER_ASN, key),
            )
            .when(F.col("net_kind") == "hosting", randint(s, "pfx", 0, n_host, key))
            .otherwise(randint(s, "pfx", 0, W.NET_KINDS["proxy"][2], key)),
        )
        .withColumn("host", randint(s, "host", 2, 254, key))
        .withColumn("ipv6", (F.col("net_kind") == "residential") & (u("v6") < 0.12))
        .withColumn(
            "home_country",
            F.when(
                F.col("net_kind") == "residential", _country("residential", F.col("asn_idx"))
            ).otherwise(pick(W.SUPPORTED_COUNTRIES, u("home"))),
        )
        .withColumn(
            "billing_country",
            F.when(u("travel") < 0.05, pick(W.SUPPORTED_COUNTRIES, u("bc")))
            .when((F.col("verification") != "card") & (u("nobill") < 0.5), F.lit(None))
            .otherwise(F.col("home_country")),
        )
        .withColumn(
            "payment_fingerprint",
            F.when(F.col("verification") == "card", hex16(hash64(s, "card", key))),
        )
        .withColumn(
            "email_domain_hash",
            _person_domain(s, key, u("pubmail") < 0.8, F.concat(F.lit("own-"), key)),
        )
        .withColumn("org_id", F.when(u("org") < 0.3, _org_id(s, key)))
        .withColumn(
            "rate", F.lit(float(p.solo_dev_rate)) * lognormal(s, "rate", 0.9, key) / F.lit(1.5)
        )
        .withColumn("p_active", F.lit(0.15) + F.lit(0.7) * u("pact"))
        .withColumn("tz_center", u("tz") * 24)
        .withColumn(
            "user_agent",
            F.element_at(
                F.array(*[F.lit(a) for a in W.USER_AGENTS]),
                log_uniform_index(u("ua"), len(W.USER_AGENTS)) + 1,
            ),
        )
        .withColumn("n_keys", randint(s, "keys", 1, 3, key))
        .withColumn("console_share", F.when(u("console") < 0.3, F.lit(0.5)).otherwise(F.lit(0.02)))
        .withColumn(
            "sys_prompt",
            F.when(u("sys") < 0.5, F.lit(None))
            .when(
                u("sys") < 0.85,
                F.concat(F.lit("default-"), randint(s, "sysd", 0, 3, key).cast("string")),
            )
            .otherwise(F.concat(F.lit("own-"), key)),
        )
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", weighted(list(W.ORDINARY_TASKS), u("task")))
        .withColumn("base_model", F.when(u("model") < 0.8, "atlas-3").otherwise("atlas-3-mini"))
        .withColumn("switch_p", F.lit(0.15) + F.lit(0.4) * u("adopt"))
        .withColumn("switch_delay_h", u("adopt_delay") * 72)
    )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _apps(spark, cfg: SimConfig, seed: int, switchers: bool) -> DataFrame:
    p = cfg.populations
    pop = "release_switcher_app" if switchers else "product_app"
    n = p.release_switcher_app if switchers else p.product_app
    rate = p.release_switcher_rate if switchers else p.product_app_rate
    s = seed
    df = _grouped_ids(spark, n, pop, pop + "-", 2, s, cfg.generation_partitions)
    g, key = Ref("group_key"), Ref("account_id")
    ug = lambda salt: uniform(s, salt, g)  # noqa: E731
    df = (
        df.withColumn("population", F.lit(pop))
        .withColumn("hard_negative", F.lit(pop in HARD_NEGATIVES))
        .withColumn(
            "created_day", -randint(s, "cday", 20, 900, g) + randint(s, "cday2", 0, 10, key)
        )
        .withColumn(
            "signup_channel", F.when(ug("chan") < 0.7, "self_serve").otherwise("startup_program")
        )
        .withColumn("verification", F.when(ug("verif") < 0.8, "card").otherwise("kyc"))
        .withColumn("plan", F.when(ug("plan") < 0.6, "build").otherwise("scale"))
        .withColumn("net_kind", F.lit("hosting"))
        .withColumn("asn_idx", randint(s, "asn", 0, _n_asn("hosting"), g))
        .withColumn("prefix_j", randint(s, "pfx", 0, p.hosting_prefixes_per_asn, g))
        .withColumn("prefix_span", F.lit(1))
        .withColumn("host", randint(s, "host", 2, 254, key))
        .withColumn("billing_country", pick(W.SUPPORTED_COUNTRIES, ug("bill")))
        .withColumn("payment_fingerprint", hex16(hash64(s, "card", g)))
        .withColumn("email_domain_hash", _domain_hash(s, F.concat(F.lit("corp-"), g)))
        .withColumn("org_id", _org_id(s, g))
        .withColumn("rate", F.lit(float(rate)) * lognormal(s, "rate", 0.6, g) / F.lit(1.2))
        .withColumn("p_active", F.lit(0.97))
        .withColumn("tz_center", ug("tz") * 24)
        .withColumn("user_agent", pick(W.USER_AGENTS[:6], ug("ua")))
        .withColumn("n_keys", randint(s, "keys", 1, 4, key))
        .withColumn("sys_prompt", F.concat(F.lit("app-"), g))
        .withColumn("tpl_key", F.col(g))
        .withColumn("main_task", weighted(list(W.ORDINARY_TASKS), ug("task")))
        .withColumn("base_model", F.lit("atlas-3"))
    )
    if switchers:
        df = df.withColumn("switch_p", F.lit(0.92)).withColumn("switch_delay_h", ug("delay") * 6)
    else:
        df = df.withColumn("switch_p", F.lit(0.1) + F.lit(0.3) * ug("adopt")).withColumn(
            "switch_delay_h", F.lit(24.0) + ug("delay") * 96
        )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _batch(spark, cfg: SimConfig, seed: int) -> DataFrame:
    p = cfg.populations
    s = seed
    df = _ids(spark, p.enterprise_batch, "enterprise_batch", s, 1)
    key = Ref("account_id")
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    df = (
        df.withColumn("population", F.lit("enterprise_batch"))
        .withColumn("hard_negative", F.lit(True))
        .withColumn("group_key", F.concat(F.lit("ent-"), key))
        .withColumn("created_day", -randint(s, "cday", 60, 900, key))
        .withColumn("signup_channel", F.lit("enterprise"))
        .withColumn("verification", F.lit("kyc"))
        .withColumn("plan", F.lit("enterprise"))
        .withColumn("net_kind", F.when(u("net") < 0.6, "hosting").otherwise("corporate"))
        .withColumn("asn_idx", randint(s, "asn", 0, 6, key))
        .withColumn("prefix_j", randint(s, "pfx", 0, p.hosting_prefixes_per_asn, key))
        .withColumn("billing_country", pick(("US", "DE", "GB", "JP", "FR"), u("bill")))
        .withColumn("payment_fingerprint", hex16(hash64(s, "card", F.col("group_key"))))
        .withColumn("email_domain_hash", _domain_hash(s, F.col("group_key")))
        .withColumn("org_id", _org_id(s, key))
        .withColumn("rate", F.lit(float(p.enterprise_batch_rate)) * (F.lit(0.5) + u("rate")))
        .withColumn("regular", F.lit(True))
        .withColumn("user_agent", pick(("atlas-sdk-python/2.14.0", "atlas-sdk-go/0.8.1"), u("ua")))
        .withColumn("sys_prompt", F.concat(F.lit("batch-"), key))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", pick(("data_analysis", "coding", "other"), u("task")))
        .withColumn("base_model", F.when(u("model") < 0.5, W.LEGACY_MODEL).otherwise("atlas-3"))
    )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _eval_teams(spark, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    p = cfg.populations
    s = seed
    size = p.research_eval_team_size
    df = _grouped_ids(spark, p.research_eval_teams * size, "research_eval", "team-", size, s, 1)
    g, key = Ref("group_key"), Ref("account_id")
    df = (
        df.withColumn("population", F.lit("research_eval"))
        .withColumn("hard_negative", F.lit(True))
        .withColumn(
            "created_day",
            F.when(
                uniform(s, "new", key) < 0.25, randint(s, "cday", -15, horizon // 2, key)
            ).otherwise(-randint(s, "cday", 30, 700, key)),
        )
        .withColumn(
            "signup_channel",
            weighted(
                [("enterprise", 0.4), ("self_serve", 0.25), ("security_research", 0.35)],
                uniform(s, "chan", key),
            ),
        )
        .withColumn(
            "verification", F.when(uniform(s, "verif", key) < 0.5, "card").otherwise("phone")
        )
        .withColumn("plan", F.when(F.col("verification") == "card", "scale").otherwise("build"))
        .withColumn("net_kind", F.lit("corporate"))
        .withColumn("asn_idx", randint(s, "asn", 0, _n_asn("corporate"), g))
        .withColumn("prefix_j", randint(s, "pfx", 0, W.NET_KINDS["corporate"][2], g))
        .withColumn("host", randint(s, "host", 2, 254, key))
        .withColumn("host_fixed", F.lit(False))
        .withColumn("billing_country", _country("corporate", F.col("asn_idx")))
        .withColumn(
            "payment_fingerprint",
            F.when(F.col("verification") == "card", hex16(hash64(s, "card", g))),
        )
        .withColumn("email_domain_hash", _domain_hash(s, F.concat(F.lit("lab-"), g)))
        .withColumn("org_id", _org_id(s, g))
        .withColumn("rate", F.lit(float(p.research_eval_rate)) * lognormal(s, "rate", 0.4, key))
        .withColumn("p_active", F.lit(0.5))
        .withColumn("tz_center", uniform(s, "tz", g) * 24)
        .withColumn("user_agent", pick(W.USER_AGENTS[:6], uniform(s, "ua", key)))
        .withColumn("n_keys", F.lit(2))
        .withColumn("sys_prompt", F.when(uniform(s, "sys", key) < 0.5, F.concat(F.lit("eval-"), g)))
        .withColumn("tpl_key", F.col(g))
        .withColumn("main_task", F.lit("reasoning_math"))
        .withColumn("switch_p", F.lit(0.85))
        .withColumn("switch_delay_h", uniform(s, "delay", g) * 4)
    )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _classes(spark, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    p = cfg.populations
    s = seed
    size = p.university_class_size
    df = _grouped_ids(spark, p.university_classes * size, "university_class", "class-", size, s, 1)
    g, key = Ref("group_key"), Ref("account_id")
    uni = randint(s, "uni", 0, W.UNIVERSITIES, g)
    # Students sign up in the days before the course's first session, some inside the window.
    course_start = randint(s, "course", -6, max(2, horizon // 4), g)
    df = (
        df.withColumn("population", F.lit("university_class"))
        .withColumn("hard_negative", F.lit(True))
        .withColumn("uni", uni)
        .withColumn("created_day", course_start - randint(s, "cday", 0, 6, key))
        .withColumn("signup_channel", F.lit("education"))
        .withColumn(
            "verification", F.when(uniform(s, "verif", key) < 0.8, "email").otherwise("phone")
        )
        .withColumn("plan", F.lit("free"))
        .withColumn("net_kind", F.lit("campus"))
        .withColumn("asn_idx", F.col("uni") % _n_asn("campus"))
        .withColumn("prefix_j", F.col("uni"))
        .withColumn("host", randint(s, "host", 2, 254, key))
        .withColumn("host_fixed", F.lit(False))
        .withColumn(
            "billing_country",
            F.when(uniform(s, "bill", key) < 0.3, _country("campus", F.col("asn_idx"))),
        )
        .withColumn(
            "email_domain_hash",
            _domain_hash(s, F.concat(F.lit("uni-"), F.col("uni").cast("string"))),
        )
        .withColumn("rate", F.lit(float(p.university_class_rate)) * lognormal(s, "rate", 0.3, key))
        .withColumn("p_active", F.lit(0.9))
        .withColumn("tz_center", uniform(s, "tz", g) * 24)
        .withColumn(
            "user_agent",
            pick(("atlas-console/2026.02", "atlas-sdk-python/2.15.1"), uniform(s, "ua", key)),
        )
        .withColumn("console_share", F.lit(0.5))
        .withColumn(
            "sys_prompt", F.when(uniform(s, "sys", key) < 0.3, F.concat(F.lit("course-"), g))
        )
        .withColumn("tpl_key", F.col(g))
        .withColumn(
            "main_task", F.when(uniform(s, "task", g) < 0.5, "reasoning_math").otherwise("coding")
        )
        .withColumn("switch_p", F.lit(0.2))
        .withColumn("switch_delay_h", F.lit(48.0))
    )
    return df.withColumn("act_start", F.greatest(F.col("created_day") + 1, course_start))


def _resellers(spark, cfg: SimConfig, seed: int) -> DataFrame:
    p = cfg.populations
    s = seed
    df = _ids(spark, p.reseller_marketplace, "reseller_marketplace", s, 1)
    key = Ref("account_id")
    df = (
        df.withColumn("population", F.lit("reseller_marketplace"))
        .withColumn("hard_negative", F.lit(True))
        .withColumn("group_key", F.concat(F.lit("resell-"), key))
        .withColumn("created_day", -randint(s, "cday", 100, 900, key))
        .withColumn("signup_channel", F.lit("reseller_partner"))
        .withColumn("verification", F.lit("kyc"))
        .withColumn("plan", F.lit("enterprise"))
        .withColumn("net_kind", F.lit("hosting"))
        .withColumn("random_asn", F.lit(True))
        .withColumn("prefix_span", F.lit(p.hosting_prefixes_per_asn))
        .withColumn("host_fixed", F.lit(False))
        .withColumn("resproxy_share", F.lit(0.15))
        .withColumn("billing_country", pick(("US", "GB", "SG", "DE"), uniform(s, "bill", key)))
        .withColumn("payment_fingerprint", hex16(hash64(s, "card", key)))
        .withColumn("email_domain_hash", _domain_hash(s, F.concat(F.lit("corp-"), key)))
        .withColumn("org_id", _org_id(s, key))
        .withColumn(
            "rate",
            F.lit(float(p.reseller_marketplace_rate))
            * (F.lit(0.6) + F.lit(0.8) * uniform(s, "rate", key)),
        )
        .withColumn("tz_center", uniform(s, "tz", key) * 24)
        .withColumn("ua_mixed", F.lit(True))
        .withColumn("n_keys", F.lit(40))
        .withColumn("surface", F.lit("cloud_marketplace"))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", F.lit("chat"))
        .withColumn("switch_p", F.lit(0.35))
        .withColumn("switch_delay_h", F.lit(12.0) + uniform(s, "delay", key) * 24)
    )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _hard_negative_reviews(df: DataFrame, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    """Benign reviews of hard negatives, and a few false bans cleared on appeal."""
    s, key, lab = seed, F.col("account_id"), cfg.labelling
    first = F.greatest(F.col("act_start") + 2, F.lit(0))
    reviewed = F.col("hard_negative") & (uniform(s, "review", key) < lab.benign_review_share)
    false_ban = F.col("hard_negative") & (uniform(s, "fp", key) < lab.false_positive_share)
    fp_day = first + randint(s, "fpday", 0, max(1, horizon - 4), key)
    appeal = fp_day + randint(
        s, "appeal", lab.appeal_after_days[0], lab.appeal_after_days[1] + 1, key
    )
    review_day = first + randint(s, "rday", 0, max(1, horizon - 2), key)
    return (
        df.withColumn("label_day", F.when(false_ban, fp_day))
        .withColumn("label_source", F.when(false_ban, F.lit("analyst_review")))
        .withColumn("susp_from", F.when(false_ban, fp_day))
        .withColumn("susp_until", F.when(false_ban, appeal).otherwise(F.lit(NEVER)))
        .withColumn("benign_day", F.when(false_ban, appeal).when(reviewed, review_day))
        .withColumn(
            "benign_source",
            F.when(false_ban, F.lit("appeal")).when(reviewed, F.lit("analyst_review")),
        )
    )


def _campaign(spark, cfg: SimConfig, c: Campaign, idx: int, seed: int, horizon: int) -> DataFrame:
    """A campaign's accounts: `slots` running at once, each slot regrowing after a ban or rotation."""
    s, h, p = seed, cfg.hydra, cfg.populations
    max_gen = 2 + horizon // max(1, min(h.retire_after_days[0], h.label_delay_days[0]))
    df = (
        spark.range(0, c.slots, 1, cfg.generation_partitions)
        .withColumnRenamed("id", "slot")
        .withColumn("generation", F.explode(F.sequence(F.lit(0), F.lit(max_gen - 1))))
    )
    slot, gen = Ref("slot"), Ref("generation")
    cid = F.lit(c.campaign_id)
    cname = c.campaign_id

    def g_u(salt, g=gen):
        return uniform(s, salt, cname, slot, g)

    def g_int(salt, lo, hi, g=gen):
        return randint(s, salt, lo, hi, cname, slot, g)

    flagged = lambda g=gen: F.lit(c.labelled) & (g_u("labelled", g) < h.label_coverage)  # noqa: E731
    delay = lambda g=gen: g_int("delay", h.label_delay_days[0], h.label_delay_days[1] + 1, g)  # noqa: E731
    retire = lambda g=gen: g_int("retire", h.retire_after_days[0], h.retire_after_days[1] + 1, g)  # noqa: E731
    regrow = lambda g=gen: g_int("regrow", h.regrow_days[0], h.regrow_days[1] + 1, g)  # noqa: E731

    # Generation 0 exists at the window start (or at the campaign's start); it is computed
    # from the slot alone so every generation's row can see it without a join.
    g0 = 0
    if c.start_day <= 0:
        created0 = -g_int("cday0", 1, h.max_account_age_days + 1, g0)
    else:
        created0 = F.lit(c.start_day) - g_int("cday0", 0, 4, g0)
    act0 = F.greatest(created0 + 1, F.lit(c.start_day))
    label0_raw = act0 + delay(g0)
    # Accounts already active at the window start are reviewed from a backlog in the first days.
    label0 = F.when(label0_raw < 0, g_int("backlog", 0, h.backlog_days + 1, g0)).otherwise(
        label0_raw
    )
    retire0_raw = act0 + retire(g0)
    retire0 = F.when(retire0_raw < 3, F.lit(3) + g_int("retire0", 0, 9, g0)).otherwise(retire0_raw)
    banned0 = flagged(g0) & (label0 < retire0)
    end0 = F.when(banned0, label0).otherwise(retire0)

    life = F.when(flagged() & (delay() < retire()), delay()).otherwise(retire())
    step = F.when(F.col("generation") == 0, regrow()).otherwise(F.lit(1) + life + regrow())
    before = (
        Window.partitionBy("slot").orderBy("generation").rowsBetween(Window.unboundedPreceding, -1)
    )
    df = df.withColumn("step", step).withColumn(
        "created_day",
        F.when(F.col("generation") == 0, created0)
        .otherwise(end0 + F.sum("step").over(before))
        .cast("int"),
    )
    df = df.filter(F.col("created_day") < horizon)
    banned = F.when(F.col("generation") == 0, banned0).otherwise(flagged() & (delay() < retire()))
    act = F.when(F.col("generation") == 0, act0).otherwise(F.col("created_day") + 1)
    end = F.when(F.col("generation") == 0, end0).otherwise(F.col("created_day") + 1 + life)
    df = (
        df.withColumn("act_start", act)
        .withColumn("act_end", end)
        .withColumn("banned", banned)
        .withColumn("label_day", F.when(F.col("banned"), F.col("act_end")))
        .withColumn("susp_from", F.col("label_day"))
    )
    key = Ref("account_id")
    df = df.withColumn(
        "account_id", F.concat(F.lit("acct_"), hex16(hash64(s, c.population, slot, gen)))
    )
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    # Accounts come in proxy groups: each group rents a few /24s (3 proxy /24s, or one VPS /24).
    n_groups = max(1, c.slots // max(1, h.accounts_per_proxy_group))
    group = (F.col("slot") % n_groups).cast("int")
    n_proxy_pfx = W.NET_KINDS["proxy"][2]
    farmed = ("education", "startup_program", "security_research")
    card_group = F.floor(F.col("slot") / max(1, h.accounts_per_card))
    uas = (W.USER_AGENTS[idx % 3], W.USER_AGENTS[(idx + 3) % 6])
    disp = randint(s, "disp", 0, W.DISPOSABLE_DOMAINS_PER_CAMPAIGN, key).cast("string")
    disposable = F.concat(F.lit("disposable-"), cid, disp)
    df = (
        df.withColumn("population", F.lit(c.population))
        .withColumn("campaign_id", cid)
        .withColumn("campaign_idx", F.lit(idx))
        .withColumn("is_attacker", F.lit(True))
        .withColumn("group_key", F.concat(cid, F.lit("-g"), group.cast("string")))
        .withColumn(
            "label_source",
            F.when(
                F.col("banned"),
                F.when(u("partner") < h.partner_report_share, "partner_report").otherwise(
                    "analyst_review"
                ),
            ),
        )
        .withColumn(
            "label_campaign",
            F.when(
                F.col("banned")
                & (
                    (F.col("label_source") == "partner_report")
                    | (u("named") < h.analyst_campaign_share)
                ),
                cid,
            ),
        )
        .withColumn(
            "signup_channel",
            F.when(u("farmed") < h.farmed_channel_share, pick(farmed, u("chan"))).otherwise(
                "self_serve"
            ),
        )
        .withColumn(
            "verification",
            F.when(u("card") < h.card_share, "card").otherwise(
                F.when(u("verif") < 0.6, "email").otherwise("phone")
            ),
        )
        .withColumn("plan", F.when(F.col("verification") == "card", "build").otherwise("free"))
        .withColumn(
            "billing_country",
            F.when(u("bill") < h.unsupported_billing_share, pick(W.UNSUPPORTED_COUNTRIES, u("bc")))
            .when(u("bill") < h.unsupported_billing_share + h.null_billing_share, F.lit(None))
            .otherwise(pick(W.SUPPORTED_COUNTRIES, u("bc"))),
        )
        .withColumn(
            "payment_fingerprint",
            F.when(F.col("verification") == "card", hex16(hash64(s, "card", cid, card_group))),
        )
        .withColumn(
            "email_domain_hash",
            _person_domain(s, key, u("pubmail") < 0.55, disposable),
        )
        .withColumn("org_id", F.when(u("org") < 0.3, _org_id(s, key)))
        .withColumn("net_kind", F.when(u("netk") < h.proxy_share, "proxy").otherwise("hosting"))
        .withColumn(
            "asn_idx",
            F.when(F.col("net_kind") == "proxy", (F.lit(idx) + group) % _n_asn("proxy")).otherwise(
                ((F.lit(idx * 3) + group) % _n_asn("hosting")).cast("int")
            ),
        )
        .withColumn(
            "prefix_j",
            F.when(
                F.col("net_kind") == "proxy",
                (F.lit(idx * 80) + F.floor(group / _n_asn("proxy")) * 3) % F.lit(n_proxy_pfx - 3),
            ).otherwise(randint(s, "hpfx", 0, p.hosting_prefixes_per_asn, cid, group)),
        )
        .withColumn(
            "prefix_span", F.when(F.col("net_kind") == "proxy", F.lit(3)).otherwise(F.lit(1))
        )
        .withColumn("host_fixed", F.lit(False))
        .withColumn("resproxy_share", F.lit(h.residential_proxy_share))
        .withColumn(
            "rate",
            F.least(
                F.lit(float(c.events_per_account_day)) * (F.lit(0.85) + F.lit(0.3) * u("rate")),
                F.lit(float(h.per_account_cap)),
            ),
        )
        .withColumn("p_active", F.lit(0.95))
        .withColumn("tz_center", u("tz") * 24)
        .withColumn("regular", u("regular") < h.load_balanced_share)
        .withColumn(
            "user_agent",
            F.when(u("ua") < 0.85, pick(uas, u("ua2"))).otherwise(pick(W.USER_AGENTS, u("ua3"))),
        )
        .withColumn("sys_prompt", F.lit("campaign"))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", F.lit(c.lanes[0][0]))
        .withColumn("switch_p", F.lit(c.release_jump_share))
        .withColumn("switch_delay_h", u("delay") * c.release_jump_hours)
    )
    return df


def build_accounts(spark: SparkSession, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    """Every account of the world (legitimate and campaign), schema `ACCOUNT_COLUMNS`."""
    parts = [
        _solo(spark, cfg, seed, horizon),
        _apps(spark, cfg, seed, switchers=False),
        _apps(spark, cfg, seed, switchers=True),
        _batch(spark, cfg, seed),
        _eval_teams(spark, cfg, seed, horizon),
        _classes(spark, cfg, seed, horizon),
        _resellers(spark, cfg, seed),
    ]
    legit = None
    for part in parts:
        part = _finish(part)
        legit = part if legit is None else legit.unionByName(part)
    legit = _finish(_hard_negative_reviews(legit, cfg, seed, horizon))
    out = legit
    for idx, c in enumerate(cfg.campaigns):
        out = out.unionByName(_finish(_campaign(spark, cfg, c, idx, seed, horizon)))
    created_sec = randint(seed, "csec", 0, 86400, F.col("account_id"))
    return out.withColumn("created_sec", created_sec)
