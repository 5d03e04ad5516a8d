"""Deterministic, partition-independent randomness as Spark column expressions.

Every random draw is a hash of (seed, salt, the row's identity columns): `xxhash64` -> 53 bits ->
a uniform in [0, 1). Unlike `rand()`, a draw does not depend on how rows are partitioned or
ordered, so the same seed gives the same data on one core or on a cluster.
"""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_53 = float(2**53)


def _cols(parts) -> list[Column]:
    return [p if isinstance(p, Column) else F.lit(p) for p in parts]


def hash64(seed: int, salt: str, *parts) -> Column:
    """A 64-bit hash of the seed, a salt naming the draw, and the given columns/values."""
    return F.xxhash64(F.lit(int(seed)), F.lit(salt), *_cols(parts))


def uniform(seed: int, salt: str, *parts) -> Column:
    """Uniform double in [0, 1)."""
    return F.shiftrightunsigned(hash64(seed, salt, *parts), 11).cast("double") / F.lit(_TWO_53)


def randint(seed: int, salt: str, low, high, *parts) -> Column:
    """Uniform integer in [low, high) (`low`/`high` may be columns)."""
    low_c = low if isinstance(low, Column) else F.lit(low)
    high_c = high if isinstance(high, Column) else F.lit(high)
    span = F.greatest(high_c - low_c, F.lit(1))
    return (low_c + F.floor(uniform(seed, salt, *parts) * span)).cast("int")


def normal(seed: int, salt: str, *parts) -> Column:
    """Standard normal (Box-Muller over two independent uniforms)."""
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
