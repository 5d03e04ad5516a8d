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
from simulator.config import HARD_NEGATIVES, SimConfig
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
from simulator.styles import CAMPAIGN_NETWORKS, Campaign

NEVER = 1_000_000  # a day index that never comes
REFUSE_P = 0.08  # refusals among ordinary policy-sensitive requests

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
    ("style", "string", None),  # campaign style (campaigns only)
    # Per-campaign traits the event generator reads (simulator.styles.Traits); legitimate
    # accounts keep the defaults.
    ("cap", "int", None),  # most events a day
    ("vol_jitter", "double", None),
    ("ordinary_share", "double", 0.0),
    ("sys_share", "double", 0.0),
    ("rl_share", "double", None),
    ("fmt_turns", "int", None),
    ("fmt_tools", "int", None),
    ("image_share", "double", 0.0),
    ("in_scale", "double", 1.0),
    ("out_scale", "double", 1.0),
    ("refuse_p", "double", REFUSE_P),
    ("pacing", "string", None),  # even, burst, night, uniform
    ("active_hours", "double", None),
    ("sessions", "int", None),
    ("night_hour", "double", None),
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


def _span(value) -> tuple[int, int]:
    """A size knob given as an int or as a (lo, hi) range."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _case_kind(values: dict[str, int], kind: Column) -> Column:
    """`values[kind]` for a network-kind column (1 for a kind not listed)."""
    expr = F.lit(1)
    for name, value in values.items():
        expr = F.when(kind == name, F.lit(value)).otherwise(expr)
    return expr


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
    min_size: int | None = None,
) -> DataFrame:
    """`_ids` plus `group_key`: `prefix` + the index of the account's group (app, team, class)
    of `group_size` consecutive accounts. With `min_size`, each group keeps its first
    n accounts, n drawn per group in [min_size, group_size].
    """
    df = _ids(spark, n, population, seed, parts)
    group = F.floor(F.col("k") / group_size).cast("string")
    df = df.withColumn("group_key", F.concat(F.lit(prefix), group))
    if min_size is not None and min_size < group_size:
        size = randint(seed, "group_size", min_size, group_size + 1, Ref("group_key"))
        df = df.filter(F.col("k") % group_size < size)
    return df


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
            weighted(
                [
                    ("residential", 0.78 - p.solo_mobile_share),
                    ("hosting", 0.18),
                    ("proxy", 0.04),
                    ("mobile", p.solo_mobile_share),
                ],
                u("net"),
            ),
        )
        .withColumn(
            "asn_idx",
            F.when(
                F.col("net_kind") == "residential", randint(s, "asn", 0, _n_asn("residential"), key)
            )
            .when(F.col("net_kind") == "hosting", randint(s, "asn", 0, _n_asn("hosting"), key))
            .when(F.col("net_kind") == "mobile", randint(s, "asn", 0, _n_asn("mobile"), key))
            .otherwise(randint(s, "asn", 0, _n_asn("proxy"), key)),
        )
        .withColumn(
            "prefix_j",
            F.when(
                F.col("net_kind") == "residential",
                randint(s, "pfx", 0, W.MAX_PREFIXES_PER_ASN, key),
            )
            .when(F.col("net_kind") == "hosting", randint(s, "pfx", 0, n_host, key))
            .when(
                F.col("net_kind") == "mobile", randint(s, "pfx", 0, W.NET_KINDS["mobile"][2], key)
            )
            .otherwise(randint(s, "pfx", 0, W.NET_KINDS["proxy"][2], key)),
        )
        .withColumn("host", randint(s, "host", 2, 254, key))
        .withColumn("host_fixed", F.col("net_kind") != "mobile")  # CGNAT: a new host often
        .withColumn("ipv6", (F.col("net_kind") == "residential") & (u("v6") < 0.12))
        .withColumn(
            "home_country",
            F.when(F.col("net_kind") == "residential", _country("residential", F.col("asn_idx")))
            .when(F.col("net_kind") == "mobile", _country("mobile", F.col("asn_idx")))
            .otherwise(pick(W.SUPPORTED_COUNTRIES, u("home"))),
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
        # document-processing pipelines: whole documents in, short extractions out
        .withColumn(
            "in_scale",
            F.when(
                F.col("main_task") == "data_analysis", F.lit(4.0) + F.lit(8.0) * u("insize")
            ).otherwise(1.0),
        )
        .withColumn("out_scale", F.when(F.col("main_task") == "data_analysis", 0.5).otherwise(1.0))
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
        .withColumn(
            "main_task",
            F.when(uniform(s, "safety", g) < p.safety_eval_share, "policy_sensitive").otherwise(
                "reasoning_math"
            ),
        )
        # Safety suites probe refusal boundaries: many of their prompts are refused.
        .withColumn(
            "refuse_p",
            F.when(F.col("main_task") == "policy_sensitive", 0.3).otherwise(REFUSE_P),
        )
        .withColumn("switch_p", F.lit(0.85))
        .withColumn("switch_delay_h", uniform(s, "delay", g) * 4)
    )
    return df.withColumn("act_start", F.col("created_day") + 1)


def _classes(spark, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    p = cfg.populations
    s = seed
    lo, hi = _span(p.university_class_size)
    df = _grouped_ids(
        spark, p.university_classes * hi, "university_class", "class-", hi, s, 1, min_size=lo
    )
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


def _reseller_org(df: DataFrame, cfg: SimConfig, seed: int) -> DataFrame:
    """What a reseller's accounts share, keyed by `org_key` (its main account's id): the
    marketplace surface, egress over many hosting /24s, the org's card, domain and billing."""
    p, s, org = cfg.populations, seed, Ref("org_key")
    return (
        df.withColumn("population", F.lit("reseller_marketplace"))
        .withColumn("hard_negative", F.lit(True))
        .withColumn("group_key", F.concat(F.lit("resell-"), F.col(org)))
        .withColumn("signup_channel", F.lit("reseller_partner"))
        .withColumn("net_kind", F.lit("hosting"))
        .withColumn("random_asn", F.lit(True))
        .withColumn("prefix_span", F.lit(p.hosting_prefixes_per_asn))
        .withColumn("host_fixed", F.lit(False))
        .withColumn("resproxy_share", F.lit(0.15))
        .withColumn("billing_country", pick(("US", "GB", "SG", "DE"), uniform(s, "bill", org)))
        .withColumn("payment_fingerprint", hex16(hash64(s, "card", org)))
        .withColumn("email_domain_hash", _domain_hash(s, F.concat(F.lit("corp-"), F.col(org))))
        .withColumn("org_id", _org_id(s, org))
        .withColumn("tz_center", uniform(s, "tz", org) * 24)
        .withColumn("surface", F.lit("cloud_marketplace"))
        .withColumn("switch_p", F.lit(0.35))
        .withColumn("switch_delay_h", F.lit(12.0) + uniform(s, "delay", org) * 24)
    )


def _resellers(spark, cfg: SimConfig, seed: int, horizon: int) -> DataFrame:
    """Reseller orgs: one main account with mixed end-customer traffic, and sub-accounts the
    reseller provisions for its customers (young ones among them, some created in the window)."""
    p, s, key = cfg.populations, seed, Ref("account_id")
    main = _ids(spark, p.reseller_marketplace, "reseller_marketplace", s, 1).withColumn(
        "org_key", F.col(key)
    )
    main = (
        _reseller_org(main, cfg, s)
        .withColumn("created_day", -randint(s, "cday", 100, 900, key))
        .withColumn("verification", F.lit("kyc"))
        .withColumn("plan", F.lit("enterprise"))
        .withColumn(
            "rate",
            F.lit(float(p.reseller_marketplace_rate))
            * (F.lit(0.6) + F.lit(0.8) * uniform(s, "rate", key)),
        )
        .withColumn("ua_mixed", F.lit(True))
        .withColumn("n_keys", F.lit(40))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", F.lit("chat"))
    )
    lo, hi = _span(p.reseller_subaccounts)
    sub = _grouped_ids(
        spark, p.reseller_marketplace * hi, "reseller_subaccount", "sub-", hi, s, 1, min_size=lo
    )
    parent = F.floor(F.col("k") / hi)
    sub = sub.withColumn(
        "org_key", F.concat(F.lit("acct_"), hex16(hash64(s, "reseller_marketplace", parent)))
    )
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    sub = (
        _reseller_org(sub, cfg, s)
        .withColumn(
            "created_day",
            F.when(u("new") < 0.15, randint(s, "cday", 0, horizon, key)).otherwise(
                -randint(s, "cday", 1, 200, key)
            ),
        )
        .withColumn("verification", F.lit("email"))
        .withColumn("plan", F.lit("build"))
        .withColumn(
            "rate", F.lit(float(p.reseller_subaccount_rate)) * lognormal(s, "rate", 0.6, key)
        )
        .withColumn("user_agent", pick(W.USER_AGENTS, u("ua")))
        .withColumn("n_keys", F.lit(2))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", weighted(list(W.ORDINARY_TASKS), u("task")))
    )
    both = _finish(main.withColumn("user_agent", F.lit(None))).unionByName(_finish(sub))
    return both.withColumn("act_start", F.col("created_day") + 1)


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


def _campaign(spark, cfg: SimConfig, c: Campaign, seed: int, horizon: int) -> DataFrame:
    """A campaign's accounts: `slots` running at once, each slot regrowing after a ban or
    rotation, with the traits its style drew (`c.traits`)."""
    s, t, p = seed, c.traits, cfg.populations
    max_gen = 2 + horizon // max(1, min(t.retire_after_days[0], t.label_delay_days[0]))
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

    flagged = lambda g=gen: F.lit(c.labelled) & (g_u("labelled", g) < t.label_coverage)  # noqa: E731
    delay = lambda g=gen: g_int("delay", t.label_delay_days[0], t.label_delay_days[1] + 1, g)  # noqa: E731
    retire = lambda g=gen: g_int("retire", t.retire_after_days[0], t.retire_after_days[1] + 1, g)  # noqa: E731
    regrow = lambda g=gen: g_int("regrow", t.regrow_days[0], t.regrow_days[1] + 1, g)  # noqa: E731

    # Generation 0 exists at the window start (or at the campaign's start); it is computed
    # from the slot alone so every generation's row can see it without a join.
    g0 = 0
    if c.start_day <= 0:
        created0 = -g_int("cday0", 1, t.max_account_age_days + 1, g0)
    else:
        created0 = F.lit(c.start_day) - g_int("cday0", 0, 4, g0)
    act0 = F.greatest(created0 + 1, F.lit(c.start_day))
    label0_raw = act0 + delay(g0)
    # Accounts already active at the window start are reviewed from a backlog in the first days.
    backlog = cfg.labelling.backlog_days
    label0 = F.when(label0_raw < 0, g_int("backlog", 0, backlog + 1, g0)).otherwise(label0_raw)
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
    df = df.withColumn("account_id", F.concat(F.lit("acct_"), hex16(hash64(s, cname, slot, gen))))
    u = lambda salt: uniform(s, salt, key)  # noqa: E731
    # Accounts come in proxy groups: each group rents a few /24s of one network kind (a proxy
    # service, VPS hosting or a mobile carrier's CGNAT ranges), on few or many ASNs.
    n_groups = max(1, c.slots // max(1, t.accounts_per_proxy_group))
    group = (F.col("slot") % n_groups).cast("int")
    ppg = t.prefixes_per_group
    kind = F.col("net_kind")
    n_asn = _case_kind({k: _n_asn(k) for k in CAMPAIGN_NETWORKS}, kind)
    n_pfx = {"proxy": W.NET_KINDS["proxy"][2], "mobile": W.NET_KINDS["mobile"][2]}
    n_pfx["hosting"] = p.hosting_prefixes_per_asn
    pfx_room = _case_kind({k: max(1, n - ppg + 1) for k, n in n_pfx.items()}, kind)
    card_group = F.floor(F.col("slot") / max(1, t.accounts_per_card))
    script_ua = F.element_at(
        F.array(*[F.lit(a) for a in W.USER_AGENTS]),
        (F.lit(c.ua_offset) + randint(s, "ua2", 0, t.user_agents, key)) % len(W.USER_AGENTS) + 1,
    )
    disp = randint(s, "disp", 0, W.DISPOSABLE_DOMAINS_PER_CAMPAIGN, key).cast("string")
    disposable = F.concat(F.lit("disposable-"), cid, disp)
    df = (
        df.withColumn("population", F.lit(c.population))
        .withColumn("campaign_id", cid)
        .withColumn("style", F.lit(c.style))
        .withColumn("is_attacker", F.lit(True))
        .withColumn("group_key", F.concat(cid, F.lit("-g"), group.cast("string")))
        .withColumn(
            "label_source",
            F.when(
                F.col("banned"),
                F.when(u("partner") < t.partner_report_share, "partner_report").otherwise(
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
                    | (u("named") < t.analyst_campaign_share)
                ),
                cid,
            ),
        )
        .withColumn("signup_channel", weighted(list(t.channels), u("chan")))
        .withColumn(
            "verification",
            F.when(u("card") < t.card_share, "card").otherwise(
                F.when(u("verif") < 0.6, "email").otherwise("phone")
            ),
        )
        .withColumn("plan", F.when(F.col("verification") == "card", "build").otherwise("free"))
        .withColumn(
            "billing_country",
            F.when(u("bill") < t.unsupported_billing_share, pick(W.UNSUPPORTED_COUNTRIES, u("bc")))
            .when(u("bill") < t.unsupported_billing_share + t.null_billing_share, F.lit(None))
            .otherwise(pick(W.SUPPORTED_COUNTRIES, u("bc"))),
        )
        .withColumn(
            "payment_fingerprint",
            F.when(F.col("verification") == "card", hex16(hash64(s, "card", cid, card_group))),
        )
        .withColumn(
            "email_domain_hash",
            _person_domain(s, key, u("pubmail") < t.public_mail_share, disposable),
        )
        .withColumn("org_id", F.when(u("org") < 0.3, _org_id(s, key)))
        .withColumn("net_kind", weighted(list(t.networks), uniform(s, "netk", cname, group)))
        .withColumn("asn_idx", ((F.lit(c.net_offset) + group % t.asns) % n_asn).cast("int"))
        .withColumn(
            "prefix_j",
            F.pmod(randint(s, "gpfx", 0, 1_000_000, cname, group), pfx_room).cast("int"),
        )
        .withColumn("prefix_span", F.lit(ppg))
        .withColumn("host_fixed", F.lit(False))
        .withColumn("resproxy_share", F.lit(float(t.residential_exit_share)))
        .withColumn(
            "rate",
            F.least(
                F.lit(float(t.events_per_account_day)) * (F.lit(0.85) + F.lit(0.3) * u("rate")),
                F.lit(float(t.per_account_cap)),
            ),
        )
        .withColumn("cap", F.lit(t.per_account_cap))
        .withColumn("vol_jitter", F.lit(float(t.volume_jitter)))
        .withColumn("p_active", F.lit(float(t.active_days_share)))
        .withColumn("tz_center", u("tz") * 24)
        .withColumn("pacing", weighted(list(t.pacing), u("pacing")))
        .withColumn("regular", F.col("pacing") == "even")
        .withColumn("active_hours", F.lit(float(t.active_hours)))
        .withColumn("sessions", F.lit(t.sessions_per_day))
        .withColumn("night_hour", F.lit(float(t.night_hour)))
        .withColumn(
            "user_agent",
            F.when(u("ua") < 0.85, script_ua).otherwise(pick(W.USER_AGENTS, u("ua3"))),
        )
        .withColumn(
            "surface",
            F.when(u("market") < t.marketplace_share, "cloud_marketplace").otherwise("api"),
        )
        .withColumn("sys_prompt", F.lit("campaign"))
        .withColumn("sys_share", F.lit(float(t.system_prompt_share)))
        .withColumn("ordinary_share", F.lit(float(t.ordinary_share)))
        .withColumn("rl_share", F.lit(float(t.rate_limited_share)))
        .withColumn("fmt_turns", F.lit(t.turns))
        .withColumn("fmt_tools", F.lit(t.tool_count))
        .withColumn("image_share", F.lit(float(t.image_share)))
        .withColumn("in_scale", F.lit(float(t.input_scale)))
        .withColumn("out_scale", F.lit(float(t.output_scale)))
        .withColumn("refuse_p", F.lit(float(t.refusal_share)))
        .withColumn("tpl_key", F.col(key))
        .withColumn("main_task", F.lit(t.lanes[0][0]))
        .withColumn("switch_p", F.lit(float(t.release_jump_share)))
        .withColumn("switch_delay_h", u("delay") * float(t.release_jump_hours))
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
        _resellers(spark, cfg, seed, horizon),
    ]
    legit = None
    for part in parts:
        part = _finish(part)
        legit = part if legit is None else legit.unionByName(part)
    legit = _finish(_hard_negative_reviews(legit, cfg, seed, horizon))
    out = legit
    for c in cfg.campaigns:
        out = out.unionByName(_finish(_campaign(spark, cfg, c, seed, horizon)))
    created_sec = randint(seed, "csec", 0, 86400, F.col("account_id"))
    return out.withColumn("created_sec", created_sec)
