"""Usage events of every account for the days of a window, with their delivery day.

`build_events(accounts, days, cfg, seed, start, n_days)` turns the account frame into one row
per delivered event line: the contract's fields (typed), `event_day` (day index of `ts`),
`delivery_day` (the folder it lands in: later for late events), `copy` (1 for the second copy of
a duplicated event) and `ts_ms` for ordering. Counts come from per-(account, day) draws, then
each account-day is exploded in bounded chunks, so a huge batch account never sits in one row.
Every value is a hash of (seed, account, day, event index): partitioning never changes it.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from simulator import world as W
from simulator.config import SimConfig
from simulator.rand import (
    Ref,
    hash64,
    hex16,
    log_uniform_index,
    lognormal,
    normal,
    pick,
    randint,
    uniform,
    weighted,
)

_EPOCH = dt.date(1970, 1, 1)


def _pop(name: str) -> Column:
    return F.col("population") == name


def _case(mapping: dict[str, object], col: Column, default) -> Column:
    expr = None
    for key, value in mapping.items():
        v = value if isinstance(value, Column) else F.lit(value)
        expr = F.when(col == key, v) if expr is None else expr.when(col == key, v)
    d = default if isinstance(default, Column) else F.lit(default)
    return d if expr is None else expr.otherwise(d)


def account_days(accounts: DataFrame, days: DataFrame, cfg: SimConfig, seed: int) -> DataFrame:
    """One row per (account, day) with traffic, with `n` events and the day's burst state."""
    s = seed
    d = F.col("day")
    key, g, dn = Ref("account_id"), Ref("group_key"), Ref("day")
    suspended = F.coalesce((d >= F.col("susp_from")) & (d < F.col("susp_until")), F.lit(False))
    df = accounts.crossJoin(F.broadcast(days)).filter(
        (d >= F.col("act_start")) & (d < F.col("act_end")) & ~suspended
    )
    # Eval teams run their suite in bursts: right after a release, and now and then.
    burst = _pop("research_eval") & (
        d.between(cfg.release_day, cfg.release_day + 2) | (uniform(s, "burst", g, dn) < 0.12)
    )
    phase = randint(s, "class_phase", 0, 7, g)  # per class
    session = _pop("university_class") & (((d + phase) % 7 == 0) | ((d + phase) % 7 == 3))
    p_active = (
        F.when(burst, F.lit(0.95))
        .when(session, F.lit(0.92))
        .when(_pop("university_class"), F.lit(0.12))
        .otherwise(F.col("p_active"))
    )
    rate = F.col("rate")
    mean = (
        F.when(
            F.col("is_attacker"),
            rate * (F.lit(1.0) + F.col("vol_jitter") * normal(s, "vol", key, dn)),
        )
        .when(_pop("solo_dev"), rate * lognormal(s, "vol", 0.7, key, dn) / F.lit(1.28))
        .when(
            _pop("enterprise_batch") | _pop("reseller_marketplace"),
            rate * (F.lit(1.0) + F.lit(0.05) * normal(s, "vol", key, dn)),
        )
        .when(burst, rate * F.lit(8.0) * (F.lit(1.0) + F.lit(0.3) * normal(s, "vol", key, dn)))
        .when(session, rate * (F.lit(0.7) + F.lit(0.6) * uniform(s, "vol", key, dn)))
        .when(_pop("university_class"), rate * F.lit(0.3))
        .when(_pop("research_eval"), rate * lognormal(s, "vol", 0.5, key, dn))
        .otherwise(rate * (F.lit(1.0) + F.lit(0.2) * normal(s, "vol", key, dn)))
    )
    n = F.greatest(F.round(mean), F.lit(1.0)).cast("int")
    n = F.when(F.col("cap").isNotNull(), F.least(n, F.col("cap"))).otherwise(n)
    return (
        df.filter(uniform(s, "active", key, dn) < p_active)
        .withColumn("n", n)
        .withColumn("burst", burst)
        .withColumn("session", session)
        .withColumn(
            "burst_hour",
            F.floor(F.col("tz_center") + F.lit(24.0) + uniform(s, "bh", g, dn) * 6 - 3) % 24,
        )
        .withColumn("week", F.floor((d + F.lit(7000)) / 7).cast("int"))
    )


def _explode(df: DataFrame, cfg: SimConfig) -> DataFrame:
    chunk = cfg.max_events_per_chunk
    parts = max(1, cfg.generation_partitions)
    n = F.col("n")
    df = df.withColumn(
        "chunk", F.explode(F.sequence(F.lit(0), F.floor((n - 1) / chunk).cast("int")))
    ).repartition(parts, "account_id", "day", "chunk")
    first = F.col("chunk") * chunk
    last = F.least(n, first + chunk) - 1
    return df.withColumn("i", F.explode(F.sequence(first, last)))


def _template(df: DataFrame, cfg: SimConfig, seed: int) -> DataFrame:
    """Pick each event's template (task category, number) and its gateway flags."""
    s = seed
    ek = (Ref("account_id"), Ref("day"), Ref("i"))
    e = lambda salt: uniform(s, salt, *ek)  # noqa: E731
    hour = F.col("hour")
    in_session = F.col("session") & (e("insession") < 0.85)

    # Campaign lanes: synchronised waves, a few templates of the pool per (campaign, hour).
    lane_cat, lane_k = None, None
    for c in cfg.campaigns:
        t = c.traits
        is_c = F.col("campaign_id") == c.campaign_id
        total = sum(w for _, _, w in t.lanes)
        ul = uniform(s, "lane", *ek)
        acc = 0.0
        cat_expr, phase_expr = None, None
        for j, (cat, kind, w) in enumerate(t.lanes):
            acc += w / total
            cond = ul < F.lit(acc) if j < len(t.lanes) - 1 else F.lit(True)
            phase = {"cot": F.lit(1), "rubric": F.lit(2)}.get(
                kind, F.when(e("plainphase") < 0.5, F.lit(0)).otherwise(F.lit(3))
            )
            cat_expr = (
                F.when(cond, F.lit(cat)) if cat_expr is None else cat_expr.when(cond, F.lit(cat))
            )
            phase_expr = F.when(cond, phase) if phase_expr is None else phase_expr.when(cond, phase)
        block = F.floor(hour / max(1, t.wave_hours))
        wave = randint(
            s, "wave", 0, t.pool_size, F.lit(c.campaign_id), F.col("day"), block, cat_expr
        )
        j_idx = (wave + randint(s, "inwave", 0, t.wave_width, *ek)) % t.pool_size
        k_expr = F.lit(4) * (F.lit(t.pool_offset) + j_idx) + phase_expr
        lane_cat = F.when(is_c, cat_expr) if lane_cat is None else lane_cat.when(is_c, cat_expr)
        lane_k = F.when(is_c, k_expr) if lane_k is None else lane_k.when(is_c, k_expr)

    popular_cat = weighted(list(W.ORDINARY_TASKS), e("pcat"))
    popular_k = log_uniform_index(e("pk"), W.SHARED_TEMPLATES)
    private_cat = F.when(e("pvcat") < 0.8, F.col("main_task")).otherwise(popular_cat)
    n_private = (
        F.when(_pop("enterprise_batch"), F.lit(1))
        .when(_pop("product_app") | _pop("release_switcher_app"), F.lit(8))
        .otherwise(F.lit(6))
    )
    # Apps lean on their first templates; the skew makes one template dominate.
    private_idx = F.floor(F.pow(e("pvidx"), F.lit(2.5)) * n_private).cast("int")
    private_src = F.when(
        _pop("reseller_marketplace"), F.concat_ws(":", *[F.col(c).cast("string") for c in ek])
    ).otherwise(F.concat_ws(":", F.col("tpl_key"), private_idx.cast("string")))
    private_k = F.lit(W.PRIVATE_BASE) + F.pmod(hash64(s, "private", private_src), F.lit(10**9))
    eval_kind = weighted([(1, 0.5), (2, 0.3), (0, 0.2)], e("evkind"))
    eval_k = (
        F.lit(4)
        * (
            F.lit(2)
            + randint(s, "suite", 0, 30, F.col("group_key"))
            + randint(s, "suitej", 0, 20, *ek)
        )
        + eval_kind
    )
    class_cot = uniform(s, "classcot", F.col("group_key")) < 0.4
    class_k = F.lit(4) * randint(s, "assign", 2, 60, F.col("group_key"), F.col("week")) + F.when(
        class_cot, F.lit(1)
    ).otherwise(F.lit(0))

    mode = (
        F.when(
            F.col("is_attacker"),
            F.when(e("ordinary") < F.col("ordinary_share"), "popular").otherwise("lane"),
        )
        .when(_pop("solo_dev"), F.when(e("mode") < 0.6, "private").otherwise("popular"))
        .when(
            _pop("product_app") | _pop("release_switcher_app"),
            F.when(e("mode") < 0.9, "private").otherwise("popular"),
        )
        .when(_pop("enterprise_batch"), F.when(e("mode") < 0.98, "private").otherwise("popular"))
        .when(
            _pop("research_eval") & F.col("burst"),
            F.when(e("mode") < 0.9, "suite").otherwise("popular"),
        )
        .when(in_session, "assignment")
        .otherwise(F.when(e("mode") < 0.5, "private").otherwise("popular"))
    )
    df = df.withColumn("mode", mode)
    m = F.col("mode")
    cat = (
        F.when(m == "lane", lane_cat)
        .when(m == "private", private_cat)
        .when(m == "suite", F.col("main_task"))
        .when(m == "assignment", F.col("main_task"))
        .otherwise(popular_cat)
    )
    k = (
        F.when(m == "lane", lane_k)
        .when(m == "private", private_k)
        .when(m == "suite", eval_k)
        .when(m == "assignment", class_k)
        .otherwise(popular_k)
    ).cast("bigint")
    df = df.withColumn("task_category", cat).withColumn("tk", k)
    tc, tk = F.col("task_category"), F.col("tk")
    cot = (tc.isin("reasoning_math", "policy_sensitive") & (tk % 4 == 1)) | (
        tc.isin("coding", "data_analysis", "other") & (tk % 16 == 1)
    )
    rubric = tc.isin("reasoning_math", "other", "creative_writing") & (tk % 4 == 2)
    # A campaign's script fixes its prompt format (its style's turns, tools and images).
    lane = m == "lane"
    tools = (
        F.when(lane & tc.isin("agentic_tool_use", "coding"), F.col("fmt_tools") + tk % 3)
        .when(tc == "agentic_tool_use", F.lit(1) + tk % 12)
        .when(tc == "coding", tk % 3)
        .otherwise(0)
    )
    image = F.when(lane, (tc == "vision") | (e("image") < F.col("image_share"))).otherwise(
        (tc == "vision") | ((tc == "chat") & (tk % 25 == 0))
    )
    turns = (
        F.when(lane, F.col("fmt_turns") + tk % 2 + randint(s, "turns", 0, 2, *ek))
        .when(tc == "agentic_tool_use", F.lit(3) + tk % 10 + randint(s, "turns", 0, 4, *ek))
        .when(tc == "chat", F.lit(1) + randint(s, "turns", 0, 9, *ek))
        .otherwise(F.lit(1) + tk % 2 + randint(s, "turns", 0, 2, *ek))
    )
    return (
        df.withColumn("prompt_template_hash", hex16(hash64(s, "tpl", tc, tk)))
        .withColumn("cot_elicitation", cot)
        .withColumn("rubric_grading", rubric)
        .withColumn("tool_count", tools.cast("bigint"))
        .withColumn("has_image", image)
        .withColumn("turns", turns.cast("bigint"))
    )


def _network(df: DataFrame, cfg: SimConfig, seed: int) -> DataFrame:
    s = seed
    ek = (Ref("account_id"), Ref("day"), Ref("i"))
    e = lambda salt: uniform(s, salt, *ek)  # noqa: E731
    resproxy = e("resproxy") < F.col("resproxy_share")
    kind = F.when(resproxy, F.lit("residential")).otherwise(F.col("net_kind"))
    n_asn = {k: len(v[1]) for k, v in W.NET_KINDS.items()}
    asn_i = (
        F.when(resproxy, randint(s, "rasn", 0, n_asn["residential"], *ek))
        .when(F.col("random_asn"), randint(s, "rasn", 0, _case(n_asn, kind, 1), *ek))
        .otherwise(F.col("asn_idx"))
    )
    j = F.when(resproxy, randint(s, "rpfx", 0, W.MAX_PREFIXES_PER_ASN, *ek)).otherwise(
        F.col("prefix_j") + randint(s, "pfx", 0, F.col("prefix_span"), *ek)
    )
    host = F.when(F.col("host_fixed") & ~resproxy & (e("dyn") < 0.8), F.col("host")).otherwise(
        randint(s, "host", 2, 254, *ek)
    )
    df = df.withColumn("net_e", kind).withColumn("asn_e", asn_i).withColumn("host_e", host)
    prefix = _case(W.NET_BASE, F.col("net_e"), 0) + F.col("asn_e") * W.MAX_PREFIXES_PER_ASN + j
    df = df.withColumn("prefix", prefix)
    p = F.col("prefix")
    v4 = F.concat_ws(
        ".",
        (F.lit(20) + F.floor(p / 65536)).cast("string"),
        (F.floor(p / 256) % 256).cast("string"),
        (p % 256).cast("string"),
        F.col("host_e").cast("string"),
    )
    v6 = F.format_string(
        "2a02:%x:%x:%x::%x",
        F.floor(p / 65536) + 16,
        p % 65536,
        F.col("host_e") * 97 % 65536,
        F.col("host_e"),
    )
    use_v6 = F.col("ipv6") & (F.col("net_e") == "residential") & ~resproxy
    asn_base = {k: v[0] for k, v in W.NET_KINDS.items()}
    country = None
    for k, v in W.NET_KINDS.items():
        arr = F.element_at(F.array(*[F.lit(c) for c in v[1]]), (F.col("asn_e") % len(v[1])) + 1)
        country = (
            F.when(F.col("net_e") == k, arr)
            if country is None
            else country.when(F.col("net_e") == k, arr)
        )
    no_asn = e("noasn") < 0.01
    return (
        df.withColumn("client_ip", F.when(use_v6, v6).otherwise(v4))
        .withColumn(
            "asn",
            F.when(~no_asn, (_case(asn_base, F.col("net_e"), 0) + F.col("asn_e")).cast("bigint")),
        )
        .withColumn("ip_country", F.when(~no_asn & (e("nocountry") >= 0.005), country))
    )


def build_events(
    accounts: DataFrame,
    days: DataFrame,
    cfg: SimConfig,
    seed: int,
    start: dt.date,
    n_days: int,
) -> DataFrame:
    """Delivered event rows for event days in `days` whose delivery day is inside the window."""
    s = seed
    day0_ms = (start - _EPOCH).days * 86_400_000
    release_ms = day0_ms + (cfg.release_day * 24 + cfg.release_hour) * 3_600_000
    df = _explode(account_days(accounts, days, cfg, seed), cfg)
    ek = (Ref("account_id"), Ref("day"), Ref("i"))
    e = lambda salt: uniform(s, salt, *ek)  # noqa: E731

    n = F.col("n").cast("double")
    regular_sod = (
        (F.col("i") + F.lit(0.5) + F.lit(0.3) * (e("jit") - 0.5)) * F.lit(86400.0) / n
        + uniform(s, "phase", F.col("account_id")) * 86400.0
    ) % 86400.0
    diurnal_sod = (
        (F.col("tz_center") + F.lit(3.5) * normal(s, "hour", *ek) + 48.0) % 24.0
    ) * 3600.0
    # Campaign sessions are shared by a proxy group: its accounts send in the same hours.
    session_start = uniform(
        s,
        "session",
        F.col("group_key"),
        F.col("day"),
        randint(s, "sidx", 0, F.col("sessions"), *ek),
    )
    pacing = F.col("pacing")
    sod = (
        F.when(F.col("regular"), regular_sod)
        .when(F.col("burst"), ((F.col("burst_hour") + e("bt") * 3.0) % 24.0) * 3600.0)
        .when(
            F.col("session") & (e("insession") < 0.85),
            (F.floor(F.col("tz_center")) + e("ct")) % 24.0 * 3600.0,
        )
        .when(
            pacing == "burst",
            ((session_start * 24.0 + e("at") * F.col("active_hours")) % 24.0) * 3600.0,
        )
        .when(
            pacing == "night",
            ((F.col("night_hour") + e("at") * F.col("active_hours")) % 24.0) * 3600.0,
        )
        .when(F.col("is_attacker"), e("at") * 86400.0)
        .otherwise(diurnal_sod)
    )
    df = df.withColumn(
        "ts_ms",
        F.lit(day0_ms)
        + F.col("day").cast("bigint") * 86_400_000
        + F.floor(sod * 1000).cast("bigint"),
    )
    df = df.withColumn("hour", F.floor(sod / 3600.0).cast("int"))
    df = _network(_template(df, cfg, seed), cfg, seed)

    switched = (
        F.col("ts_ms") >= F.lit(release_ms) + (F.col("switch_delay_h") * 3_600_000).cast("bigint")
    ) & (e("switch") < F.col("switch_p"))
    model = F.when(switched, F.lit(W.NEW_MODEL)).otherwise(F.col("base_model"))

    tc = F.col("task_category")
    tin = _case({k: v[0] for k, v in W.TOKENS.items()}, tc, 300)
    tout = _case({k: v[1] for k, v in W.TOKENS.items()}, tc, 300)
    kf = F.lit(0.6) + (F.col("tk") % 7).cast("double") * 0.15
    rl = (
        F.when(F.col("is_attacker"), F.col("rl_share"))
        .when(_pop("enterprise_batch") | _pop("reseller_marketplace"), F.lit(0.02))
        .otherwise(F.lit(0.004))
    )
    refused = F.when(tc == "policy_sensitive", F.col("refuse_p")).otherwise(F.lit(0.002))
    r = e("status")
    status = (
        F.when(r < rl, "rate_limited")
        .when(r < rl + refused, "refused")
        .when(r < rl + refused + 0.004, "error")
        .otherwise("ok")
    )
    # Token sizes relative to the category's median: a campaign's script requests and a
    # legitimate account's own requests (document-processing batch jobs send big inputs).
    own = (F.col("mode") == "lane") | ((F.col("mode") == "private") & ~F.col("is_attacker"))
    size_scale = lambda col: F.when(own, F.col(col)).otherwise(1.0)  # noqa: E731
    out_ok = (
        tout
        * size_scale("out_scale")
        * kf
        * lognormal(s, "out", 0.6, *ek)
        * F.when(F.col("cot_elicitation"), 3.5).otherwise(1.0)
    )
    df = df.withColumn("status", status)
    st = F.col("status")
    out_tokens = (
        F.when(st.isin("rate_limited", "error"), F.lit(0))
        .when(st == "refused", randint(s, "refout", 10, 60, *ek))
        .otherwise(F.round(out_ok))
    ).cast("bigint")
    df = df.withColumn("output_tokens", out_tokens)
    latency = F.when(
        (e("nolat") < 0.01) | ((st == "rate_limited") & (e("rllat") < 0.5)), F.lit(None)
    ).otherwise(
        F.round(
            F.lit(120.0)
            + F.col("output_tokens") * (F.lit(6.0) + e("lat") * 6)
            + F.lit(80.0) * lognormal(s, "lat2", 0.5, *ek)
        )
    )
    sys_name = (
        F.when(
            F.col("sys_prompt") == "campaign",
            F.when(
                e("sys") < F.col("sys_share"),
                F.concat(
                    F.lit("cmp-"),
                    F.col("campaign_id"),
                    randint(s, "sysn", 0, 3, *ek).cast("string"),
                ),
            ).when(
                e("sys") < F.col("sys_share") + 0.3,
                F.concat(F.lit("default-"), randint(s, "sysd", 0, 3, *ek).cast("string")),
            ),
        )
        .when(
            _pop("reseller_marketplace") & (e("sys") < 0.6),
            F.concat(F.lit("resell-"), randint(s, "sysr", 0, 50, *ek).cast("string")),
        )
        .otherwise(F.col("sys_prompt"))
    )
    ua = (
        F.when(e("noua") < 0.02, F.lit(None))
        .when(F.col("ua_mixed"), pick(W.USER_AGENTS, e("ua")))
        .otherwise(F.col("user_agent"))
    )
    surface = (
        F.when(F.col("surface") == "cloud_marketplace", F.lit("cloud_marketplace"))
        .when(e("surf") < F.col("console_share"), F.lit("console"))
        .otherwise(F.lit("api"))
    )
    event_id = F.concat(F.lit("evt_"), hex16(hash64(s, "eid1", *ek)), hex16(hash64(s, "eid2", *ek)))
    imp = cfg.imperfections
    late = e("late") < imp.late_rate
    delivery = F.col("day") + F.when(
        late, randint(s, "lateby", 1, imp.late_max_days + 1, *ek)
    ).otherwise(0)
    dup = e("dup") < imp.duplicate_rate
    df = (
        df.withColumn("event_id", event_id)
        .withColumn("ts", F.timestamp_millis(F.col("ts_ms")))
        .withColumn(
            "api_key_id",
            F.concat(
                F.lit("key_"),
                hex16(
                    hash64(
                        s, "key", F.col("account_id"), randint(s, "keyn", 0, F.col("n_keys"), *ek)
                    )
                ),
            ),
        )
        .withColumn("surface", surface)
        .withColumn("model", model)
        .withColumn(
            "input_tokens",
            F.round(tin * size_scale("in_scale") * kf * lognormal(s, "in", 0.5, *ek)).cast(
                "bigint"
            ),
        )
        .withColumn("latency_ms", latency.cast("bigint"))
        .withColumn("user_agent", ua)
        .withColumn(
            "system_prompt_hash", F.when(sys_name.isNotNull(), hex16(hash64(s, "sys", sys_name)))
        )
        .withColumn("event_day", F.col("day"))
        .withColumn("delivery_day", delivery)
        .withColumn(
            "copy",
            F.explode(F.when(dup, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))),
        )
    )
    # A duplicate arrives in the same folder or the next one, never beyond the late limit.
    next_folder = (
        (F.col("copy") == 1)
        & (e("dupnext") < 0.5)
        & (F.col("delivery_day") - F.col("day") < imp.late_max_days)
    )
    df = df.withColumn("delivery_day", F.col("delivery_day") + F.when(next_folder, 1).otherwise(0))
    return df.filter(F.col("delivery_day") < n_days)
