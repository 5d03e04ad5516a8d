"""Landing lines -> typed rows or quarantine rows, with Spark built-ins only (pure transforms).

Promises:
- `check_lines` gives every input line exactly one outcome: a `reason` code (quarantined, with a
  `detail` naming the field and value at fault) or NULL `reason` and the feed's fields typed as in
  `hydrawatch.contracts.ddl`. Checks run in a fixed order and the first failing one wins: line
  level (`invalid_utf8`, `not_json`, `not_an_object`), then each field in contract order
  (`missing_field`, `wrong_type`, then `bad_enum` / `out_of_range` / `bad_format` /
  `bad_timestamp`), then, for usage events, `ts_out_of_window`. Unknown extra fields are ignored.
- `rank_duplicates` / `classify_lines` mark which valid line of a key is kept, deterministically
  (source_file, then raw line), and which are duplicates within the delivery or of an earlier one.
- `current_labels` answers "what is the decision on each account as of day D".
No I/O here: DataFrames and scalars in, DataFrames out.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from hydrawatch.contracts import SPARK_TYPE, Feed, FieldSpec

# Reason codes written to bronze/quarantine (documented in docs/ingest.md).
INVALID_UTF8 = "invalid_utf8"
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
BAD_ENUM = "bad_enum"
OUT_OF_RANGE = "out_of_range"
BAD_FORMAT = "bad_format"
BAD_TIMESTAMP = "bad_timestamp"
TS_OUT_OF_WINDOW = "ts_out_of_window"
REASONS = (
    INVALID_UTF8,
    NOT_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    WRONG_TYPE,
    BAD_ENUM,
    OUT_OF_RANGE,
    BAD_FORMAT,
    BAD_TIMESTAMP,
    TS_OUT_OF_WINDOW,
)

# Line outcomes used for the audit: lines = kept + duplicates + quarantined.
KEPT = "kept"
DUPLICATE_WITHIN = "duplicate_within"
DUPLICATE_EARLIER = "duplicate_earlier"
QUARANTINED = "quarantined"

# schema_of_variant names of the JSON types each contract kind must arrive as.
_JSON_TYPE = {
    "string": "STRING",
    "enum": "STRING",
    "hex16": "STRING",
    "country": "STRING",
    "ip": "STRING",
    "timestamp": "STRING",
    "long": "BIGINT",
    "bool": "BOOLEAN",
}

# The end of the text. Not `$`: in Java's regular expressions (Spark's `rlike`) as in Python's,
# `$` also matches before a final line terminator, so "1.2.3.4\n" passed as an IP address.
_END = r"(?![\s\S])"
HEX16_RE = rf"^[0-9a-fA-F]{{16}}{_END}"
COUNTRY_RE = rf"^[A-Z]{{2}}{_END}"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4_RE = rf"^{_OCTET}(\.{_OCTET}){{3}}{_END}"
_H = "[0-9a-fA-F]{1,4}"
_V4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
# Every textual IPv6 form of RFC 4291 section 2.2 (with :: compression and an IPv4 tail).
IPV6_RE = (
    "^("
    rf"({_H}:){{7}}{_H}"
    rf"|({_H}:){{1,7}}:"
    rf"|({_H}:){{1,6}}:{_H}"
    rf"|({_H}:){{1,5}}(:{_H}){{1,2}}"
    rf"|({_H}:){{1,4}}(:{_H}){{1,3}}"
    rf"|({_H}:){{1,3}}(:{_H}){{1,4}}"
    rf"|({_H}:){{1,2}}(:{_H}){{1,5}}"
    rf"|{_H}:(:{_H}){{1,6}}"
    rf"|:((:{_H}){{1,7}}|:)"
    rf"|({_H}:){{6}}{_V4}"
    rf"|::({_H}:){{0,5}}{_V4}"
    rf"|({_H}:){{1,5}}:({_H}:){{0,4}}{_V4}"
    f"){_END}"
)
# RFC 3339 date-time; the calendar itself (Feb 30, hour 25) is checked by the cast.
RFC3339_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    rf"([Zz]|[+-][0-9]{{2}}:[0-9]{{2}}){_END}"
)

# The instants a timestamp may be (UTC, microseconds since the epoch): what PySpark can hand to
# Python (`datetime.fromtimestamp` fails on 0001-01-01 and on anything past 9999-12-31).
_EPOCH = dt.datetime(1970, 1, 1)
EARLIEST_MICROS = (dt.datetime(1, 1, 2) - _EPOCH) // dt.timedelta(microseconds=1)
LATEST_MICROS = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // dt.timedelta(
    microseconds=1
)

_DETAIL_MAX = 200
_REPLACEMENT_CHAR = "\ufffd"
_BOM = "\ufeff"
_JSON_SPACE = " \t\n\r"  # RFC 8259 whitespace
_REGEX_SPACE = " \t\n\x0b\f\r"  # what `\s` matched in the check this replaced


def _x(name: str) -> str:
    return f"_x__{name}"


def _t(name: str) -> str:
    return f"_t__{name}"


def _r(name: str) -> str:
    return f"_r__{name}"


def _s(name: str) -> str:
    return f"_s__{name}"


def _typed(spec: FieldSpec) -> Column:
    """The field's value in its bronze type (NULL when absent, JSON null or not castable).

    Read from `_j`, the line parsed a second time by `from_json` with every field as a string
    (a JSON string's text, any other value's JSON text), and cast with `try_cast`: that is
    only trusted when the VARIANT says the field has the contract's JSON type, and then the text
    is the value. Casting each field out of the VARIANT (`try_variant_get`) builds a `Literal`
    and a `Cast` per value and cost more than the second parse (bench/CHANGELOG.md, 2026-12-02).
    """
    text = F.col("_j")[spec.name]
    if spec.kind == "timestamp":
        # RFC 3339 allows a lower-case "t" and "z"; Spark's cast only reads upper case.
        ts = F.upper(text).try_cast("timestamp")
        # An instant outside 0001-01-02..9999-12-31 UTC (9999-12-31T23:00:00-05:00) casts, but
        # no Python reader downstream can hold it: it is no usable instant (bad_timestamp).
        return F.when(F.unix_micros(ts).between(EARLIEST_MICROS, LATEST_MICROS), ts)
    if SPARK_TYPE[spec.kind] == "string":
        return text
    return text.try_cast(SPARK_TYPE[spec.kind])


def _field_reason(spec: FieldSpec) -> Column:
    """The reason code of the first check the field fails, or NULL.

    Kept as one small CASE per field (and not one CASE over the whole line): Spark's optimizer
    and code generator slow down sharply on one expression with hundreds of branches.
    """
    t = F.col(_t(spec.name))
    value = F.col(spec.name)
    absent = t.isNull() | (t == "VOID")
    reason = F.when(absent, F.lit(None if spec.nullable else MISSING_FIELD))
    reason = reason.when(t != _JSON_TYPE[spec.kind], F.lit(WRONG_TYPE))
    if spec.kind == "string" and not spec.nullable:
        # An empty identifier would merge unrelated rows downstream; it counts as missing.
        reason = reason.when(F.trim(value) == "", F.lit(MISSING_FIELD))
    elif spec.kind == "enum":
        reason = reason.when(~value.isin(*spec.enum), F.lit(BAD_ENUM))
    elif spec.kind == "long" and spec.min_value is not None:
        reason = reason.when(value < F.lit(spec.min_value), F.lit(OUT_OF_RANGE))
    elif spec.kind == "hex16":
        reason = reason.when(~value.rlike(HEX16_RE), F.lit(BAD_FORMAT))
    elif spec.kind == "country":
        reason = reason.when(~value.rlike(COUNTRY_RE), F.lit(BAD_FORMAT))
    elif spec.kind == "ip":
        reason = reason.when(~(value.rlike(IPV4_RE) | value.rlike(IPV6_RE)), F.lit(BAD_FORMAT))
    elif spec.kind == "timestamp":
        text = F.col(_s(spec.name))
        reason = reason.when(~text.rlike(RFC3339_RE) | value.isNull(), F.lit(BAD_TIMESTAMP))
    return reason


def _line_reason() -> tuple[Column, Column]:
    """(reason, detail) of the line-level checks, NULL when the line is a JSON object."""
    line = F.col("raw_line")
    checks = [
        (
            # `contains` is a byte search; `instr` walks the line character by character.
            ~F.is_valid_utf8(line) | line.contains(_REPLACEMENT_CHAR),
            INVALID_UTF8,
            F.lit("bytes that are not valid UTF-8 (or U+FFFD, their replacement)"),
        ),
        (
            F.col("_v").isNull(),
            NOT_JSON,
            F.when(F.trim(line) == "", F.lit("empty line")).otherwise(
                F.lit("not valid JSON (or truncated)")
            ),
        ),
        # A parsed value that starts with "{" is an object: a prefix test instead of
        # schema_of_variant on every line, which only the quarantined ones pay (for the detail).
        (
            ~F.col("_opens_object"),
            NOT_AN_OBJECT,
            F.concat(
                F.lit("JSON "), F.lower(F.schema_of_variant("_v")), F.lit(" instead of an object")
            ),
        ),
        # try_parse_json stops after the first value; anything after it is not JSON Lines
        # (two records glued on one line would otherwise lose the second without a trace).
        (
            # The suffix test first: `rtrim` with a trim set allocates two int arrays of the
            # line's length and walks all of it, and only a line with trailing space needs it.
            ~(line.endswith("}") | F.rtrim(line, F.lit(_REGEX_SPACE)).endswith("}"))
            | F.col("_closed_early"),
            NOT_JSON,
            F.lit("characters after the JSON object"),
        ),
    ]
    reason = detail = None
    for cond, code, text in checks:
        reason = F.when(cond, F.lit(code)) if reason is None else reason.when(cond, F.lit(code))
        detail = F.when(cond, text) if detail is None else detail.when(cond, text)
    return reason, detail


# A JSON string literal, possessive so a megabyte-long string does not recurse in the regex.
_STRING_LITERAL = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'


def _closed_early(line: Column) -> Column:
    """True when the line's brackets (outside strings) close to depth 0 before the last one.

    A line holding exactly one JSON value closes its outermost bracket last; `{..} {..}`,
    `{..}}` or `{..},[..]` close it earlier. A line with one "{" and one "}" in all (a flat
    record, nearly every line) cannot: the object that opens at its only "{" closes at its only
    "}". Only the other lines pay for the bracket fold (strings removed, then one step per
    bracket), which cost more than the JSON parse itself.
    """
    return F.when(_single(line, "{") & _single(line, "}"), F.lit(False)).otherwise(
        _bracket_fold(line)
    )


def _single(line: Column, char: str) -> Column:
    """`char` occurs in `line` exactly once (two substring searches, no copy of the line)."""
    first = F.instr(line, char)
    return (first > 0) & (F.call_function("locate", F.lit(char), line, first + 1) == 0)


def _bracket_fold(line: Column) -> Column:
    brackets = F.regexp_replace(F.regexp_replace(line, _STRING_LITERAL, ""), r"[^\[\]{}]", "")
    n = F.length(brackets)

    def step(acc: Column, c: Column) -> Column:
        depth = acc["d"] + F.when(c.isin("{", "["), F.lit(1)).otherwise(F.lit(-1))
        i = acc["i"] + 1
        return F.struct(
            depth.alias("d"), i.alias("i"), (acc["early"] | ((depth == 0) & (i < n))).alias("early")
        )

    zero = F.struct(F.lit(0).alias("d"), F.lit(0).alias("i"), F.lit(False).alias("early"))
    return F.aggregate(F.split(brackets, ""), zero, step)["early"]


def check_lines(
    lines: DataFrame,
    feed: Feed,
    event_window: tuple[dt.date | Column, dt.date | Column] | None = None,
    keep: tuple[str, ...] = (),
) -> DataFrame:
    """Validate landing lines of one feed.

    `lines` has `source_file` and `raw_line`. Returns `source_file`, `raw_line`, `reason`,
    `detail` (both NULL for a valid line) and the feed's fields typed; with `event_window`
    (first, last UTC day allowed for `ts`, inclusive: dates, or date columns of `lines` when
    lines of several deliveries are checked at once) also `event_date`, and a line whose `ts`
    falls outside the window is quarantined as `ts_out_of_window`. The columns named in `keep`
    (e.g. a line's `delivery_date`) are passed through.
    """
    v = F.col("_v")
    raw = F.col("raw_line")
    # A prefix test and a substring, not a regular expression (which copies every line).
    stripped = F.when(raw.startswith(_BOM), F.substring(raw, 2, 1 << 30)).otherwise(raw)
    # One VARIANT parse for the JSON checks and the field types, one struct of the fields as
    # VARIANTs (one read of the object, not one `variant_get` per field), and one `from_json`
    # with every field as text for the values (see `_typed`).
    fields = F.try_variant_get(
        v, "$", "struct<" + ", ".join(f"`{f.name}`: variant" for f in feed.fields) + ">"
    )
    texts = StructType([StructField(f.name, StringType()) for f in feed.fields])
    # A window given as columns is evaluated on the lines, before the selects drop them.
    bounds: tuple[Column, Column] | None = None
    if event_window is not None:
        bounds = (F.lit(event_window[0]).cast("date"), F.lit(event_window[1]).cast("date"))
        lines = lines.select("*", bounds[0].alias("_first_day"), bounds[1].alias("_last_day"))
        keep = (*keep, "_first_day", "_last_day")
    parsed = lines.select(
        "source_file",
        "raw_line",
        *keep,
        F.try_parse_json(stripped).alias("_v"),
        F.from_json(stripped, texts).alias("_j"),
        # The prefix test first: `ltrim` with a trim set may copy the line.
        (stripped.startswith("{") | F.ltrim(stripped, F.lit(_JSON_SPACE)).startswith("{")).alias(
            "_opens_object"
        ),
    )
    parsed = parsed.select(
        "source_file",
        "raw_line",
        *keep,
        "_v",
        "_j",
        "_opens_object",
        _closed_early(raw).alias("_closed_early"),
        fields.alias("_fields"),
    )
    timestamps = [f for f in feed.fields if f.kind == "timestamp"]
    typed = parsed.select(
        "source_file",
        "raw_line",
        *keep,
        "_v",
        "_opens_object",
        "_closed_early",
        *[F.col("_fields")[f.name].alias(_x(f.name)) for f in feed.fields],
        *[F.schema_of_variant(F.col("_fields")[f.name]).alias(_t(f.name)) for f in feed.fields],
        *[F.col("_j")[f.name].alias(_s(f.name)) for f in timestamps],
        *[_typed(f).alias(f.name) for f in feed.fields],
    )
    line_reason, line_detail = _line_reason()
    extra: list[Column] = []
    window_fail = F.lit(False)
    if event_window is not None:
        first, last = F.col("_first_day"), F.col("_last_day")
        extra.append(F.to_date(F.col("ts")).alias("event_date"))
        window_fail = (F.to_date(F.col("ts")) < first) | (F.to_date(F.col("ts")) > last)
    reasons = typed.select(
        "source_file",
        "raw_line",
        *keep,
        *[_x(f.name) for f in feed.fields],
        *feed.names,
        *extra,
        line_reason.alias("_line_reason"),
        line_detail.alias("_line_detail"),
        *[_field_reason(f).alias(_r(f.name)) for f in feed.fields],
        window_fail.alias("_window_fail"),
        *[F.col(_s(f.name)) for f in timestamps],
    )

    first_bad = F.coalesce(
        *[F.when(F.col(_r(f.name)).isNotNull(), F.lit(f.name)) for f in feed.fields]
    )
    reason = F.coalesce(
        F.col("_line_reason"),
        *[F.col(_r(f.name)) for f in feed.fields],
        F.when(F.col("_window_fail"), F.lit(TS_OUT_OF_WINDOW)),
    )
    detail = F.when(F.col("_line_reason").isNotNull(), F.col("_line_detail"))
    for f in feed.fields:
        shown = F.concat(
            F.lit(f"{f.name}="), F.coalesce(F.to_json(F.col(_x(f.name))), F.lit("<absent>"))
        )
        detail = detail.when(F.col("_bad_field") == f.name, F.substring(shown, 1, _DETAIL_MAX))
    if event_window is not None:
        detail = detail.when(
            F.col("_window_fail"),
            F.concat(
                F.lit("ts="),
                F.col(_s("ts")),
                F.lit(" (event day outside "),
                F.col("_first_day").cast("string"),
                F.lit(".."),
                F.col("_last_day").cast("string"),
                F.lit(")"),
            ),
        )
    out = reasons.withColumn("_bad_field", first_bad)
    return out.select(
        "source_file",
        "raw_line",
        *[k for k in keep if k not in ("_first_day", "_last_day")],
        reason.alias("reason"),
        detail.alias("detail"),
        *feed.names,
        # Only a valid line has an event day: a quarantined one's may be any (year 10000 too).
        *(
            [F.when(reason.isNull(), F.col("event_date")).alias("event_date")]
            if event_window
            else []
        ),
    )


def rank_duplicates(
    checked: DataFrame,
    key: tuple[str, ...],
    fields: tuple[str, ...],
    within: tuple[str, ...] = (),
) -> DataFrame:
    """Add `dup_rank`: 1 for the valid line of a key that is kept, 2.. for its duplicates.

    `within`: columns ranked separately (`delivery_date` when several deliveries are checked at
    once: duplicates are counted within each delivery).

    The kept line is the first by source file, then by a 64-bit hash of the raw line, then by
    its typed `fields` (for the vanishingly rare hash tie), so the choice does not depend on how
    Spark split the files. Quarantined lines get NULL.

    Only a quarantined line keeps its `raw_line` (the quarantine table stores it); a valid line's
    is NULL from here on: the ranking's shuffle and the cached frame after it would otherwise
    carry every line's text, the largest column by far.
    """
    valid = F.col("reason").isNull()
    hashed = checked.withColumn("_line_hash", F.when(valid, F.xxhash64("raw_line"))).withColumn(
        "raw_line", F.when(~valid, F.col("raw_line"))
    )
    order = Window.partitionBy(valid, *within, *key).orderBy("source_file", "_line_hash", *fields)
    ranked = hashed.withColumn("dup_rank", F.when(valid, F.row_number().over(order)))
    return ranked.drop("_line_hash")


def classify_lines(
    ranked: DataFrame,
    key: tuple[str, ...],
    delivery_date: dt.date,
    prior: DataFrame | None = None,
) -> DataFrame:
    """Add `line_status`: quarantined, duplicate_within, duplicate_earlier or kept.

    `prior` holds the key columns and `delivery_date` of rows already in bronze; a kept candidate
    whose key is there from an earlier delivery is a duplicate of that delivery (earliest wins).
    """
    status = (
        F.when(F.col("reason").isNotNull(), F.lit(QUARANTINED))
        .when(F.col("dup_rank") > 1, F.lit(DUPLICATE_WITHIN))
        .otherwise(F.lit(KEPT))
    )
    if prior is None:
        return ranked.withColumn("line_status", status)
    earlier = (
        prior.where(F.col("delivery_date") < F.lit(delivery_date))
        .select(*key)
        .distinct()
        .withColumn("_earlier", F.lit(True))
    )
    joined = ranked.join(earlier, on=list(key), how="left")
    return joined.withColumn(
        "line_status",
        F.when((status == KEPT) & F.col("_earlier"), F.lit(DUPLICATE_EARLIER)).otherwise(status),
    ).drop("_earlier")


def classify_deliveries(
    ranked: DataFrame,
    key: tuple[str, ...],
    prior: DataFrame | None = None,
    prior_days: int | None = None,
) -> DataFrame:
    """`classify_lines` for the lines of several deliveries at once (a `delivery_date` column,
    ranked `within` it): each line classified as a run of its own delivery, after the earlier
    ones, would classify it.

    A kept candidate is a duplicate of an earlier delivery when its key is in `prior` (bronze
    rows of deliveries before all of these) or is a candidate (valid, first of its delivery) of
    an earlier delivery of the set, with a `delivery_date` before its own. With `prior_days`
    (usage events), only copies whose `event_date` lies in the `prior_days` days before the
    line's delivery day, or on it, count: the window a single delivery's run looks at.
    """
    status = (
        F.when(F.col("reason").isNotNull(), F.lit(QUARANTINED))
        .when(F.col("dup_rank") > 1, F.lit(DUPLICATE_WITHIN))
        .otherwise(F.lit(KEPT))
    )
    dated = prior_days is not None
    cols = [*key, "delivery_date", *(["event_date"] if dated else [])]
    candidates = ranked.where(F.col("dup_rank") == 1).select(*cols)
    earlier = candidates if prior is None else candidates.unionByName(prior.select(*cols))
    line = candidates.alias("l")
    cond = [F.col(f"l.{k}") == F.col(f"e.{k}") for k in key]
    cond.append(F.col("e.delivery_date") < F.col("l.delivery_date"))
    if dated:
        cond.append(
            F.col("e.event_date").between(
                F.date_sub(F.col("l.delivery_date"), prior_days), F.col("l.delivery_date")
            )
        )
    flagged = (
        line.join(earlier.alias("e"), cond, "left_semi")
        .select(*key, "delivery_date")
        .distinct()
        .withColumn("_earlier", F.lit(True))
    )
    joined = ranked.join(flagged, on=[*key, "delivery_date"], how="left")
    return joined.withColumn(
        "line_status",
        F.when((status == KEPT) & F.col("_earlier"), F.lit(DUPLICATE_EARLIER)).otherwise(status),
    ).drop("_earlier")


def current_labels(labels_df: DataFrame, as_of: dt.date) -> DataFrame:
    """The latest decision per account among labels delivered up to `as_of` (inclusive).

    Latest `decided_at` wins, appeals included; at the same instant an appeal wins (it overturns),
    then the later delivery, then fixed column order, so the answer is deterministic.
    """
    order = Window.partitionBy("account_id").orderBy(
        F.col("decided_at").desc(),
        (F.col("source") == "appeal").desc(),
        F.col("delivery_date").desc(),
        F.col("label").asc(),
        F.col("source").asc(),
        F.col("campaign_id").asc_nulls_last(),
        F.col("source_file").asc(),
    )
    return (
        labels_df.where(F.col("delivery_date") <= F.lit(as_of))
        .withColumn("_rank", F.row_number().over(order))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )
