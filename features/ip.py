"""Network prefix of a client IP: IPv4 /24, IPv6 /48, whatever the spelling.

`prefix_of(text)` maps IPv4 text to its /24 (`203.0.113.0/24`) and IPv6 text to its /48
(`2001:db8:0::/48`), so accounts behind the same proxy range share an item in the
infrastructure graph. IPv6 is expanded (`::` filled with zero groups, leading zeros dropped,
lower case) before cutting, so every spelling of one address gives the same prefix;
IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4. Text that is neither gives None; ingest
only lets valid IPs into bronze, so that never happens there.

`prefixes_of(texts)` does the same over an Arrow array: plain dotted IPv4 by Arrow kernels,
anything else through `prefix_of` one by one. The silver pass (`features.daily`) calls it on the
distinct addresses of a shuffle partition, not per event
(`features.segments.distinct_mapped_list`).
(It was a chain of Spark SQL expressions, run per account-day over an array of addresses; the
higher-order functions in it are interpreted, and with the sort of the result they cost about
2 s of task CPU at 10M events, against well under 0.1 s here: bench/README.md.)
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# [0-9], not \d: Python's \d also matches non-ASCII digits.
_V4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.[0-9]{1,3}")
_MAPPED = re.compile(r"::ffff:([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}")
_V6_CHARS = re.compile(r"[0-9a-f:.]+")
_LOWER = str.maketrans("ABCDEF", "abcdef")


def _v6_prefix(text: str) -> str:
    # Around a "::" gap (the first and the last, as Spark's substring_index took them).
    parts = text.split("::")
    head, tail = (parts[0], parts[-1]) if len(parts) > 1 else (text, "")
    head_groups = head.split(":") if head else []
    tail_groups = tail.split(":") if tail else []
    # An embedded dotted IPv4 tail fills two 16-bit groups.
    tail_width = len(tail_groups) + (1 if "." in tail else 0)
    zeros = max(0, 8 - len(head_groups) - tail_width)
    groups = (head_groups + ["0"] * zeros + tail_groups)[:3]
    return ":".join(g.lstrip("0") or "0" for g in groups) + "::/48"


def prefix_of(text: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) prefix of an IP address, as text; None if it is neither."""
    if text is None:
        return None
    # Drop an IPv6 zone id; lower-case the hex digits (the only letters a valid address has).
    text = text.split("%", 1)[0].strip(" ").translate(_LOWER)
    if m := _V4.fullmatch(text):
        return ".".join(str(int(g)) for g in m.groups()) + ".0/24"
    if m := _MAPPED.fullmatch(text):
        return m.group(1) + ".0/24"
    if ":" in text and _V6_CHARS.fullmatch(text):
        return _v6_prefix(text)
    return None


# Plain dotted IPv4, nothing around it (RE2: `$` is the end of the text). Text that matches it
# needs none of `prefix_of`'s clean-up, so both give the same prefix.
_PLAIN_V4 = r"^(?P<a>[0-9]{1,3})\.(?P<b>[0-9]{1,3})\.(?P<c>[0-9]{1,3})\.[0-9]{1,3}$"


def prefixes_of(texts: pa.Array) -> pa.Array:
    """`prefix_of` of every element of a string array (NULL where it gives None)."""
    parts = pc.extract_regex(texts, _PLAIN_V4)
    # int and back drops leading zeros, as `prefix_of` does.
    # (`flatten`, not `field`: the fields then carry the struct's NULLs, where no match left "".)
    octets = [f.cast(pa.int32()).cast(pa.string()) for f in parts.flatten()]
    out = pc.binary_join_element_wise(*octets, "0/24", ".")
    rest = np.flatnonzero(pc.and_(out.is_null(), texts.is_valid()).to_numpy(zero_copy_only=False))
    if not len(rest):
        return out
    others = [prefix_of(t) for t in texts.take(pa.array(rest)).to_pylist()]
    mask = np.zeros(len(texts), dtype=bool)
    mask[rest] = True
    return pc.replace_with_mask(out, pa.array(mask), pa.array(others, pa.string()))
