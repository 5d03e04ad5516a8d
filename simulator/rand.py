"""Deterministic, partition-independent randomness as Spark column expressions.

Every random draw is a hash of (seed, salt, the row's identity columns): `xxhash64` -> 53 bits ->
a uniform in [0, 1). Unlike `rand()`, a draw does not depend on how rows are partitioned or
ordered, so the same seed gives the same data on one core or on a cluster. `draw` is the same
uniform as a Python float, for the few values drawn while building a config (campaign styles).
"""

from __future__ import annotations

import math
import struct

import xxhash
from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_53 = float(2**53)


class Ref(str):
    """A column name given to a draw. Draws over names and int/str literals only are built as
    one SQL expression (one call into the JVM instead of ten): plan building is the slow part
    of a small simulation."""


def _cols(parts) -> list[Column]:
    out = []
    for p in parts:
        if isinstance(p, Column):
            out.append(p)
        elif isinstance(p, Ref):
            out.append(F.col(p))
        else:
            out.append(F.lit(p))
    return out


def _sql_parts(parts) -> str | None:
    """The parts as SQL, or None if one of them is a Column expression."""
    out = []
    for p in parts:
        if isinstance(p, Ref):
            out.append(f"`{p}`")
        elif isinstance(p, (bool, Column)) or not isinstance(p, (int, str)):
            return None
        elif isinstance(p, int):
            out.append(str(p))
        else:
            out.append("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'")
    return ", ".join(out)


def _hash_sql(seed: int, salt: str, parts) -> str | None:
    sql = _sql_parts((int(seed), salt, *parts))
    return None if sql is None else f"xxhash64({sql})"


def _uniform_sql(seed: int, salt: str, parts) -> str | None:
    h = _hash_sql(seed, salt, parts)
    return None if h is None else f"(CAST(shiftrightunsigned({h}, 11) AS DOUBLE) / {_TWO_53!r}D)"


def _spark_xxhash64(parts) -> int:
    """Spark's `xxhash64(parts...)` (seed 42, each value hashed with the previous hash as seed:
    ints as 4 little-endian bytes, longs as 8, strings as UTF-8), as an unsigned 64-bit int."""
    h = 42
    for p in parts:
        if isinstance(p, str):
            data = p.encode("utf-8")
        elif -(2**31) <= p < 2**31:
            data = struct.pack("<i", p)
        else:
            data = struct.pack("<q", p)
        h = xxhash.xxh64_intdigest(data, seed=h)
    return h


def draw(seed: int, salt: str, *parts: int | str) -> float:
    """`uniform(seed, salt, *parts)` for literal parts, computed in Python: equal to the value
    Spark gives (tested), so config-time and data-time draws are one kind of draw."""
    if any(isinstance(p, bool) or not isinstance(p, (int, str)) for p in (seed, *parts)):
        raise TypeError("draw takes int and str parts only")
    return (_spark_xxhash64((int(seed), salt, *parts)) >> 11) / _TWO_53


def hash64(seed: int, salt: str, *parts) -> Column:
    """A 64-bit hash of the seed, a salt naming the draw, and the given columns/values."""
    sql = _hash_sql(seed, salt, parts)
    if sql is not None:
        return F.expr(sql)
    return F.xxhash64(F.lit(int(seed)), F.lit(salt), *_cols(parts))


def uniform(seed: int, salt: str, *parts) -> Column:
    """Uniform double in [0, 1)."""
    sql = _uniform_sql(seed, salt, parts)
    if sql is not None:
        return F.expr(sql)
    return F.shiftrightunsigned(hash64(seed, salt, *parts), 11).cast("double") / F.lit(_TWO_53)


def randint(seed: int, salt: str, low, high, *parts) -> Column:
    """Uniform integer in [low, high) (`low`/`high` may be columns)."""
    sql = _uniform_sql(seed, salt, parts)
    if sql is not None and isinstance(low, int) and isinstance(high, int):
        return F.expr(f"CAST({low} + floor({sql} * {max(high - low, 1)}) AS INT)")
    low_c = low if isinstance(low, Column) else F.lit(low)
    high_c = high if isinstance(high, Column) else F.lit(high)
    span = F.greatest(high_c - low_c, F.lit(1))
    return (low_c + F.floor(uniform(seed, salt, *parts) * span)).cast("int")


def normal(seed: int, salt: str, *parts) -> Column:
    """Standard normal (Box-Muller over two independent uniforms)."""
    u1s, u2s = _uniform_sql(seed, salt + ":1", parts), _uniform_sql(seed, salt + ":2", parts)
    if u1s is not None and u2s is not None:
        return F.expr(f"sqrt(-2D * ln({u1s} + 1e-12D)) * cos({2 * math.pi!r}D * {u2s})")
    u1 = uniform(seed, salt + ":1", *parts) + F.lit(1e-12)
    u2 = uniform(seed, salt + ":2", *parts)
    return F.sqrt(F.lit(-2.0) * F.ln(u1)) * F.cos(F.lit(2 * math.pi) * u2)


def lognormal(seed: int, salt: str, sigma: float, *parts) -> Column:
    """Log-normal factor with median 1 and mean exp(sigma^2 / 2)."""
    return F.exp(F.lit(float(sigma)) * normal(seed, salt, *parts))


def log_uniform_index(u: Column, size: int) -> Column:
    """Index in [0, size) with a heavy head: popular items get most of the draws (Zipf-like)."""
    return (F.floor(F.exp(u * F.lit(math.log(size + 1)))) - 1).cast("int")


def pick(values, u: Column) -> Column:
    """One element of a fixed Python sequence, chosen uniformly by `u`."""
    values = list(values)
    idx = F.least(F.floor(u * F.lit(len(values))).cast("int"), F.lit(len(values) - 1))
    return F.element_at(F.array(*[F.lit(v) for v in values]), idx + 1)


def weighted(pairs, u: Column) -> Column:
    """One value of [(value, weight), ...] chosen by `u` with the given weights."""
    total = float(sum(w for _, w in pairs))
    expr = None
    acc = 0.0
    for value, weight in pairs[:-1]:
        acc += weight / total
        cond = u < F.lit(acc)
        expr = F.when(cond, F.lit(value)) if expr is None else expr.when(cond, F.lit(value))
    last = F.lit(pairs[-1][0])
    return last if expr is None else expr.otherwise(last)


def hex16(hash_col: Column) -> Column:
    """16 lower-case hex characters of a 64-bit hash."""
    return F.lower(F.lpad(F.hex(hash_col), 16, "0"))
