"""Network prefix of a client IP, in built-in Spark SQL (no Python UDF).

`ip_prefix(col)` maps IPv4 text to its /24 (`203.0.113.0/24`) and IPv6 text to its /48
(`2001:db8:0::/48`), so accounts behind the same proxy range share an item in the
infrastructure graph. IPv6 is expanded (`::` filled with zero groups, leading zeros dropped,
lower case) before cutting, so every spelling of one address gives the same prefix;
IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4. Text that is neither gives NULL; ingest
only lets valid IPs into bronze, so that never happens there.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

_V4 = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$"
_MAPPED = r"^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$"


def _v4_prefix(text: Column) -> Column:
    parts = [F.regexp_extract(text, _V4, i).try_cast("int").cast("string") for i in (1, 2, 3)]
    return F.concat(F.concat_ws(".", *parts), F.lit(".0/24"))


def _v6_prefix(text: Column) -> Column:
    has_gap = text.contains("::")
    head = F.when(has_gap, F.substring_index(text, "::", 1)).otherwise(text)
    tail = F.when(has_gap, F.substring_index(text, "::", -1)).otherwise(F.lit(""))
    empty = F.array().cast("array<string>")
    head_groups = F.when(head == "", empty).otherwise(F.split(head, ":"))
    tail_groups = F.when(tail == "", empty).otherwise(F.split(tail, ":"))
    # An embedded dotted IPv4 tail fills two 16-bit groups.
    tail_width = F.size(tail_groups) + F.when(tail.contains("."), 1).otherwise(0)
    zeros = F.greatest(F.lit(0), F.lit(8) - F.size(head_groups) - tail_width)
    groups = F.slice(F.concat(head_groups, F.array_repeat(F.lit("0"), zeros), tail_groups), 1, 3)

    def norm(g: Column) -> Column:
        stripped = F.regexp_replace(g, "^0+", "")
        return F.when(stripped == "", F.lit("0")).otherwise(stripped)

    return F.concat(F.concat_ws(":", F.transform(groups, norm)), F.lit("::/48"))


def ip_prefix(col: Column | str) -> Column:
    """The /24 (IPv4) or /48 (IPv6) prefix of an IP address column, as text."""
    raw = F.col(col) if isinstance(col, str) else col
    # Drop an IPv6 zone id; lower-case the hex digits. `translate`, not `lower`: the only
    # letters a valid address has are a-f, and Spark 4's `lower` goes through ICU, whose first
    # use in a JVM costs seconds of one-off set-up (bench/README.md).
    text = F.translate(F.trim(F.regexp_replace(raw, "%.*$", "")), "ABCDEF", "abcdef")
    mapped = F.regexp_extract(text, _MAPPED, 1)
    return (
        F.when(text.rlike(_V4), _v4_prefix(text))
        .when(mapped != "", F.concat(mapped, F.lit(".0/24")))
        .when(text.rlike(r"^[0-9a-f:.]+$") & text.contains(":"), _v6_prefix(text))
        .otherwise(F.lit(None).cast("string"))
    )
