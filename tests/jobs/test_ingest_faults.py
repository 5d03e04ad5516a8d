"""Fault suite, bad input: landing lines generated from the contract, damaged, and ingested.

Every line a delivery holds must end in bronze (kept or dropped as a duplicate) or in quarantine
with a reason code, the job must not crash on data, and `meta/ingest_audit` must add up per file:
lines = kept + duplicates + quarantined. The lines are generated from `hydrawatch.contracts.FEEDS`
(every field of every per-day feed, by its kind), then damaged one way each: truncation, wrong
encodings (latin-1, UTF-16, invalid UTF-8 bytes), NUL bytes, type swaps per field, missing and
null fields, values outside enums, ranges and formats, timestamps far in the past or future,
huge lines, duplicated lines and files, BOM, CRLF and empty files, gzip or not.

Each hypothesis example is one real ingest (Spark, Delta) over a batch of a few hundred lines, so
the examples are few and derandomized (same lines in CI every run).
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from hydrawatch.contracts import ACCOUNTS, FEEDS, USAGE_EVENTS, Feed, FieldSpec
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from hydrawatch.validation import (
    BAD_ENUM,
    BAD_FORMAT,
    BAD_TIMESTAMP,
    INVALID_UTF8,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    NOT_JSON,
    OUT_OF_RANGE,
    REASONS,
    TS_OUT_OF_WINDOW,
    WRONG_TYPE,
)
from jobs.ingest import run_ingest

pytestmark = pytest.mark.faults

D = dt.date(2026, 2, 10)
MAX_LATE_DAYS = 3
DAY_FEEDS = tuple(f for f in FEEDS.values() if f.per_day)
LINES_PER_FEED = (40, 90)
EXAMPLES = 4
HUGE_SIZES = (300_000, 2_000_000)  # characters in one field: lines of 0.3 and 2 MB

# --- valid values, by the contract's field kinds ------------------------------------------------

_TEXT = "abcXYZ019 _-./:+éßø中文🙂Ωж"


def _text(rnd: random.Random, n: int = 12) -> str:
    s = "".join(rnd.choice(_TEXT) for _ in range(rnd.randint(1, n)))
    return s if s.strip(" ") else "x" + s


def _instant(rnd: random.Random, first: dt.datetime, last: dt.datetime) -> dt.datetime:
    span = int((last - first).total_seconds())
    return first + dt.timedelta(seconds=rnd.randint(0, span), microseconds=rnd.randint(0, 999999))


def rfc3339(rnd: random.Random, utc: dt.datetime) -> str:
    """One RFC 3339 rendering of a UTC instant: Z/z or an offset, 0-9 fraction digits, T or space."""
    offset = rnd.choice([0, 0, 60, -300, 330, 14 * 60 - 1, -(12 * 60)])
    try:
        local = utc + dt.timedelta(minutes=offset)
    except OverflowError:  # local time past year 9999: say it in UTC
        offset, local = 0, utc
    digits = rnd.choice([0, 3, 6])
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    sep = rnd.choice("TT t")
    if offset == 0 and rnd.random() < 0.8:
        zone = rnd.choice("ZZz")
    else:
        sign = "+" if offset >= 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    # Years below 1000 are printed with four digits, as RFC 3339 wants.
    return f"{local.year:04d}-{local:%m-%d}{sep}{local:%H:%M:%S}{frac}{zone}"


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def valid_value(spec: FieldSpec, rnd: random.Random, feed: Feed):
    if spec.nullable and rnd.random() < 0.25:
        return None
    kind = spec.kind
    if kind == "string":
        return _text(rnd)
    if kind == "timestamp":
        if feed is USAGE_EVENTS:
            first = _utc_midnight(D - dt.timedelta(days=MAX_LATE_DAYS))
            last = _utc_midnight(D + dt.timedelta(days=1)) - dt.timedelta(seconds=1)
            return rfc3339(rnd, _instant(rnd, first, last))
        # accounts and labels have no window: any instant of 0001-01-02..9999-12-31 is valid
        first = dt.datetime(1, 1, 2) if rnd.random() < 0.1 else dt.datetime(2020, 1, 1)
        last = dt.datetime(9999, 12, 30) if rnd.random() < 0.1 else dt.datetime(2026, 2, 10)
        return rfc3339(rnd, _instant(rnd, first, last))
    if kind == "long":
        low = spec.min_value if spec.min_value is not None else -(2**63)
        return rnd.choice([low, low + 1, rnd.randint(low, 10**6), rnd.randint(low, 2**63 - 1)])
    if kind == "bool":
        return rnd.random() < 0.5
    if kind == "enum":
        return rnd.choice(spec.enum)
    if kind == "hex16":
        return "".join(rnd.choice("0123456789abcdefABCDEF") for _ in range(16))
    if kind == "country":
        return rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if kind == "ip":
        if rnd.random() < 0.5:
            return str(ipaddress.IPv4Address(rnd.getrandbits(32)))
        v6 = ipaddress.IPv6Address(
            rnd.getrandbits(128) if rnd.random() < 0.5 else rnd.getrandbits(16)
        )
        return v6.exploded if rnd.random() < 0.3 else v6.compressed
    raise AssertionError(kind)


def valid_record(feed: Feed, rnd: random.Random, key: str) -> dict:
    record = {}
    for spec in feed.fields:
        value = valid_value(spec, rnd, feed)
        if value is None and rnd.random() < 0.5:
            continue  # an absent nullable field is as good as null
        record[spec.name] = value
    record[feed.key[0]] = key  # the first key field names the line, so it can be found again
    if rnd.random() < 0.15:
        record["upstream_added_" + _text(rnd, 4)] = {"nested": [1, "x", None]}
    return record


# --- damage: each returns (record or raw text, allowed reasons) ---------------------------------

# Another JSON type for each kind: never the contract's own.
_SWAPS = {
    "string": [17, 1.5, True, ["x"], {"a": 1}],
    "enum": [3, False, ["api"]],
    "hex16": [1234567890123456, ["0123456789abcdef"]],
    "country": [49, True],
    "ip": [3232235777, ["10.0.0.1"]],
    "timestamp": [1770000000, 1.77e9, True, {"s": 1}],
    "long": ["12", 2.0, 1e3, 2**64, True, [1]],
    "bool": [0, 1, "true", "false", "yes"],
}
_BAD_FORMATS = {
    "hex16": ["0123456789abcdeg", "abc", "0123456789abcdef0", ""],
    "country": ["de", "DEU", "D", "d3", ""],
    "ip": ["256.1.1.1", "1.2.3", "2001:db8:::1", "localhost", "", "10.0.0.01"],
}
_BAD_TIMESTAMPS = [
    "2026-02-30T00:00:00Z",
    "2026-02-10T25:00:00Z",
    "2026-02-10 08:00",
    "10/02/2026 08:30",
    "2026-02-10T08:00:00",
    "+10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-02-10T08:00:00+2400",
    "",
    # RFC 3339 texts whose UTC instant Python cannot hold (before 0001-01-02, after 9999)
    "9999-12-31T23:30:00-05:00",
    "0001-01-01T00:10:00+01:00",
    "0001-01-01T12:00:00Z",
]
_FAR_DAYS = [
    dt.datetime(1, 1, 2, 12),
    dt.datetime(1970, 1, 1),
    dt.datetime(2026, 2, 6, 23, 59, 59),  # one day older than the window allows
    dt.datetime(2026, 2, 11, 0, 0, 1),  # the next day, i.e. the future
    dt.datetime(2999, 6, 1),
    dt.datetime(9999, 12, 31, 23),
]


@dataclass
class Line:
    data: bytes
    key: str | None  # the key value of a line expected in bronze
    allowed: frozenset[str] = frozenset()  # reasons allowed for a line expected in quarantine
    field: str | None = None  # the field a field-level reason must name in `detail`

    @property
    def bad(self) -> bool:
        return bool(self.allowed)


def _dump(record, ascii_only: bool) -> bytes:
    if isinstance(record, str):
        return record.encode("utf-8")
    return json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8")


def damage(feed: Feed, how: str, rnd: random.Random, key: str) -> Line:
    """One line of `feed` damaged the `how` way (or valid for `how` in the valid kinds)."""
    record = valid_record(feed, rnd, key)
    ascii_only = rnd.random() < 0.3
    spec = rnd.choice(feed.fields)
    bad = lambda reason, data, field=None: Line(data, None, frozenset({reason}), field)  # noqa: E731

    if how == "valid":
        return Line(_dump(record, ascii_only), key)
    if how == "valid_bom":
        return Line(b"\xef\xbb\xbf" + _dump(record, ascii_only), key)
    if how == "valid_huge":
        # a non-key string field: the key must stay the one the line is found again by
        names = [f.name for f in feed.fields if f.kind == "string" and f.name not in feed.key]
        record[rnd.choice(names)] = "é" * rnd.choice(HUGE_SIZES)
        return Line(_dump(record, False), key)
    if how == "truncated":
        data = _dump(record, ascii_only)
        cut = rnd.randint(0, len(data) - 1)
        return Line(data[:cut], None, frozenset({NOT_JSON, INVALID_UTF8}))
    if how == "latin1":
        record[rnd.choice([f.name for f in feed.fields if f.kind == "string"])] = "café"
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        return bad(INVALID_UTF8, text.encode("utf-8", "replace").replace("é".encode(), b"\xe9"))
    if how == "invalid_bytes":
        data = _dump(record, ascii_only)
        at = rnd.randint(0, len(data))
        junk = rnd.choice([b"\xff", b"\xfe\xff", b"\xc0\x80", b"\x80", b"\xed\xa0\x80", b"\xf8"])
        return bad(INVALID_UTF8, data[:at] + junk + data[at:])
    if how == "nul":
        text = _dump(record, ascii_only).decode("utf-8")
        at = rnd.randint(0, len(text))  # between characters: the bytes stay UTF-8
        return bad(NOT_JSON, (text[:at] + "\x00" + text[at:]).encode("utf-8"))
    if how == "not_json":
        junk = rnd.choice(["", "   ", "{", "}", "{oops", "<xml/>", "NaN", "{'a': 1}"])
        # two records glued on one line, or a stray bracket, comma or word after the object
        glued = _dump(valid_record(feed, rnd, key + "-glued"), True)
        after = rnd.choice([b"x", b"{}", b"1", b"}", b"]", b",{}", b' "}"', glued, b" " + glued])
        trailer = _dump(record, ascii_only) + after
        return bad(NOT_JSON, rnd.choice([junk.encode(), trailer]))
    if how == "not_object":
        return bad(NOT_AN_OBJECT, rnd.choice([b"[1,2]", b"null", b'"text"', b"42", b"true"]))
    if how == "missing":
        spec = rnd.choice([f for f in feed.fields if not f.nullable])
        if rnd.random() < 0.5:
            record.pop(spec.name, None)
        else:
            record[spec.name] = None if spec.kind != "string" else rnd.choice([None, "", "   "])
        return bad(MISSING_FIELD, _dump(record, ascii_only), spec.name)
    if how == "type_swap":
        record[spec.name] = rnd.choice(_SWAPS[spec.kind])
        return bad(WRONG_TYPE, _dump(record, ascii_only), spec.name)
    if how == "bad_value":
        choices = [f for f in feed.fields if f.kind in ("enum", "hex16", "country", "ip")]
        choices += [f for f in feed.fields if f.kind == "long" and f.min_value is not None]
        spec = rnd.choice(choices)
        if spec.kind == "enum":
            value = rnd.choice([spec.enum[0].upper(), spec.enum[0] + " ", "web", "", "null"])
            reason = BAD_ENUM
        elif spec.kind == "long":
            value, reason = spec.min_value - rnd.choice([1, 2, 10**12]), OUT_OF_RANGE
        else:
            value, reason = rnd.choice(_BAD_FORMATS[spec.kind]), BAD_FORMAT
        record[spec.name] = value
        return bad(reason, _dump(record, ascii_only), spec.name)
    if how == "bad_timestamp":
        spec = rnd.choice([f for f in feed.fields if f.kind == "timestamp"])
        record[spec.name] = rnd.choice(_BAD_TIMESTAMPS)
        return bad(BAD_TIMESTAMP, _dump(record, ascii_only), spec.name)
    if how == "far_timestamp":
        spec = rnd.choice([f for f in feed.fields if f.kind == "timestamp"])
        record[spec.name] = rfc3339(rnd, rnd.choice(_FAR_DAYS))
        if feed is USAGE_EVENTS:
            return bad(TS_OUT_OF_WINDOW, _dump(record, ascii_only))
        # accounts and labels have no event window: a far but real instant is kept
        return Line(_dump(record, ascii_only), key)
    raise AssertionError(how)


VALID_KINDS = ("valid", "valid", "valid", "valid_bom", "valid_huge")
BAD_KINDS = (
    "truncated",
    "latin1",
    "invalid_bytes",
    "nul",
    "not_json",
    "not_object",
    "missing",
    "type_swap",
    "type_swap",
    "bad_value",
    "bad_timestamp",
    "far_timestamp",
)


# --- files ---------------------------------------------------------------------------------------


@dataclass
class LandingFile:
    name: str
    lines: list[Line] = field(default_factory=list)
    crlf: bool = False
    gz: bool = False
    utf16: bool = False
    bom: bool = False

    def payload(self) -> bytes:
        """The bytes as written (before gzip)."""
        if self.utf16:
            text = "\n".join(x.data.decode("utf-8", "replace") for x in self.lines) + "\n"
            return text.encode("utf-16")
        end = b"\r\n" if self.crlf else b"\n"
        body = b"".join(x.data + end for x in self.lines)
        # A file BOM, unless the first line brings its own (two would not be one BOM).
        bom = self.bom and not body.startswith(b"\xef\xbb\xbf")
        return (b"\xef\xbb\xbf" if bom else b"") + body

    def expected_lines(self) -> list[Line]:
        """The lines the job reads, as Hadoop splits them (LF, CR or CRLF), with expectations."""
        if not self.utf16:
            return self.lines
        # UTF-16: every second byte of ASCII text is NUL, its BOM is not UTF-8: all quarantined.
        pieces = physical_lines(self.payload())
        return [Line(p, None, frozenset({NOT_JSON, INVALID_UTF8})) for p in pieces]


def physical_lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    pieces = re.split(rb"\r\n|\r|\n", data)
    return pieces[:-1] if re.search(rb"(\r\n|\r|\n)$", data) else pieces


@st.composite
def deliveries(draw):
    """Per feed: how many lines, what damage each gets, how they spread over files."""
    plan = {}
    for feed in DAY_FEEDS:
        n = draw(st.integers(*LINES_PER_FEED))
        # bad kinds first: hypothesis's first (simplest) example is then a wholly bad feed
        kinds = draw(st.lists(st.sampled_from(BAD_KINDS + VALID_KINDS), min_size=n, max_size=n))
        files = draw(st.integers(1, 3))
        layout = [
            draw(
                st.fixed_dictionaries(
                    {"crlf": st.booleans(), "gz": st.booleans(), "bom": st.booleans()}
                )
            )
            for _ in range(files)
        ]
        extras = draw(
            st.lists(
                st.sampled_from(["empty", "utf16", "copy", "dup_lines"]), max_size=3, unique=True
            )
        )
        plan[feed.name] = (kinds, layout, extras)
    seed = draw(st.integers(0, 2**32 - 1))
    return plan, seed


def build(plan, seed) -> dict[str, list[LandingFile]]:
    rnd = random.Random(seed)
    out: dict[str, list[LandingFile]] = {}
    for feed in DAY_FEEDS:
        kinds, layout, extras = plan[feed.name]
        files = [LandingFile(f"part-{i}.jsonl", **opts) for i, opts in enumerate(layout)]
        huge_left = 1  # one huge line per feed at most: bounded memory and time
        for i, how in enumerate(kinds):
            if how == "valid_huge":
                how = "valid" if huge_left == 0 else how
                huge_left = 0
            line = damage(feed, how, rnd, f"{feed.name[:2]}-{seed % 9973}-{i:03d}")
            rnd.choice(files).lines.append(line)
        if "dup_lines" in extras:
            source = [x for f in files for x in f.lines]
            for x in rnd.sample(source, min(5, len(source))):
                rnd.choice(files).lines.append(Line(x.data, x.key, x.allowed, x.field))
        if "empty" in extras:
            files.append(LandingFile("empty.jsonl"))
        if "copy" in extras:
            original = rnd.choice(files)
            files.append(
                LandingFile(
                    "copy-of-" + original.name,
                    list(original.lines),
                    original.crlf,
                    False,
                    original.utf16,
                    original.bom,
                )
            )
        if "utf16" in extras:
            lines = [damage(feed, "valid", rnd, f"{feed.name[:2]}-u16-{i}") for i in range(3)]
            files.append(LandingFile("utf16.jsonl", lines, utf16=True))
        for f in files:
            if f.gz:
                f.name += ".gz"
        out[feed.name] = files
    return out


def write_landing(root: Path, day: dt.date, files: dict[str, list[LandingFile]]) -> None:
    for feed, feed_files in files.items():
        folder = root / feed / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in feed_files:
            data = f.payload()
            (folder / f.name).write_bytes(gzip.compress(data, mtime=0) if f.gz else data)


# --- checking ------------------------------------------------------------------------------------


def _read(spark, settings, name):
    return spark.read.format("delta").load(name.location(settings))


def check_accounted(spark, settings, day, files: dict[str, list[LandingFile]]) -> Counter:
    """Assert every line is accounted for; return what was tried, for the figures."""
    tried: Counter = Counter()
    audit = {
        r.feed: r
        for r in _read(spark, settings, tables.INGEST_AUDIT)
        .where(F.col("delivery_date") == day)
        .collect()
    }
    quarantine = _read(spark, settings, tables.BRONZE_QUARANTINE).where(
        F.col("delivery_date") == day
    )
    for feed in DAY_FEEDS:
        feed_files = files[feed.name]
        row = audit[feed.name]
        per_file = {Path(f.file).name: f for f in row.files}
        assert set(per_file) == {f.name for f in feed_files}, feed.name
        lines = [x for f in feed_files for x in f.expected_lines()]
        good = [x for x in lines if not x.bad]
        bad = [x for x in lines if x.bad]
        keys = Counter(x.key for x in good)
        for f in feed_files:
            got = per_file[f.name]
            expected = f.expected_lines()
            assert got.lines == len(expected), (feed.name, f.name)
            assert got.lines == got.kept + got.duplicates + got.quarantined, (feed.name, f.name)
            assert got.quarantined == sum(x.bad for x in expected), (feed.name, f.name)
        assert row.status == "ok"
        assert row.lines == len(lines) == row.kept + row.duplicates + row.quarantined
        assert (row.kept, row.duplicates, row.quarantined) == (
            len(keys),
            len(good) - len(keys),
            len(bad),
        ), feed.name
        assert row.duplicates == row.duplicates_within + row.duplicates_earlier

        # bronze holds each expected key once, from this delivery
        if feed is USAGE_EVENTS:
            stored = _read(spark, settings, tables.BRONZE_USAGE_EVENTS).where(
                F.col("delivery_date") == day
            )
        elif feed is ACCOUNTS:
            stored = _read(spark, settings, tables.BRONZE_ACCOUNTS).where(
                F.col("snapshot_date") == day
            )
        else:
            stored = _read(spark, settings, tables.BRONZE_LABELS).where(
                F.col("delivery_date") == day
            )
        stored_keys = Counter(r.k for r in stored.select(F.col(feed.key[0]).alias("k")).collect())
        assert stored_keys == Counter(set(keys)), feed.name

        # quarantine: one row per bad line, its reason one of those the damage allows
        rows = (
            quarantine.where(F.col("feed") == feed.name)
            .select("raw_line", "reason", "detail")
            .collect()
        )
        assert len(rows) == len(bad), feed.name
        assert all(r.reason in REASONS and r.detail for r in rows)
        by_text: dict[str, list] = {}
        for r in rows:
            by_text.setdefault(r.raw_line.lstrip("\ufeff"), []).append(r)
        for x in bad:
            try:
                text = x.data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if "\ufffd" in text:
                continue
            candidates = by_text.get(text.lstrip("\ufeff"), [])
            assert candidates, (feed.name, text[:200])
            r = candidates.pop()
            assert r.reason in x.allowed, (feed.name, text[:200], r.reason, r.detail)
            if x.field and r.reason not in (NOT_JSON, INVALID_UTF8, NOT_AN_OBJECT):
                assert r.detail.startswith(f"{x.field}="), (r.reason, r.detail)
        reasons = Counter(r.reason for r in rows)
        tried.update(
            {
                "lines": len(lines),
                "bad_lines": len(bad),
                "quarantined": row.quarantined,
                "kept": row.kept,
                "duplicates": row.duplicates,
                "files": len(feed_files),
            }
        )
        tried.update({f"reason:{k}": v for k, v in reasons.items()})
    return tried


def test_generated_bad_lines_each_end_in_bronze_or_quarantine(
    spark, make_settings, tmp_path_factory
):
    totals: Counter = Counter()

    @hsettings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(deliveries())
    def one_delivery(drawn):
        plan, seed = drawn
        root = tmp_path_factory.mktemp("bad-input")
        settings = make_settings(root, quarantine_max_share=1.0, max_late_days=MAX_LATE_DAYS)
        files = build(plan, seed)
        write_landing(Path(settings.landing), D, files)
        result = run_ingest(Runtime(settings, spark=spark), D)
        assert result.feeds["model_releases"].status == "missing"
        totals.update(check_accounted(spark, settings, D, files))
        totals["ingests"] += 1

    one_delivery()
    print(f"\nbad-input figures: {dict(sorted(totals.items()))}")
    assert totals["ingests"] == EXAMPLES
    assert totals["bad_lines"] >= 100 and totals["lines"] == (
        totals["kept"] + totals["duplicates"] + totals["quarantined"]
    )


# --- files Spark cannot read, and a column whose type changes between days ----------------------


def _valid_lines(feed: Feed, n: int, prefix: str, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [damage(feed, "valid", rnd, f"{prefix}-{i}").data for i in range(n)]


def test_truncated_or_corrupt_gzip_stops_the_day_naming_the_file(spark, settings):
    from jobs.ingest import UnreadableLandingFile

    usage = Path(settings.landing) / "usage_events" / f"date={D}"
    accounts = Path(settings.landing) / "accounts" / f"date={D}"
    usage.mkdir(parents=True)
    accounts.mkdir(parents=True)
    (accounts / "a.jsonl").write_bytes(b"\n".join(_valid_lines(ACCOUNTS, 3, "acc")) + b"\n")
    lines = _valid_lines(USAGE_EVENTS, 200, "ev")
    body = b"\n".join(lines) + b"\n"
    (usage / "good.jsonl").write_bytes(b"\n".join(lines[:100]) + b"\n")
    whole = gzip.compress(body, mtime=0)
    for name, data, cause in [
        ("cut.jsonl.gz", whole[: len(whole) // 2], "EOFException"),
        ("junk.jsonl.gz", b"this is no gzip stream\n" * 10, "IOException: not a gzip file"),
    ]:
        (usage / name).write_bytes(data)
        with pytest.raises(UnreadableLandingFile) as err:
            run_ingest(Runtime(settings, spark=spark), D)
        message = str(err.value)
        assert f"{name} of delivery {D} cannot be read to its end ({cause}" in message
        assert "nothing was written" in message and "\n" not in message
        assert not Path(settings.warehouse).exists()
        (usage / name).unlink()
    # the file delivered again, whole: the day runs and every line is counted
    (usage / "cut.jsonl.gz").write_bytes(whole)
    result = run_ingest(Runtime(settings, spark=spark), D)
    assert result.feeds["usage_events"].lines == 300
    assert result.feeds["usage_events"].kept == 200  # the half in good.jsonl is duplicates
    assert result.feeds["usage_events"].duplicates == 100


def test_a_column_whose_type_changes_the_next_day_is_quarantined_per_line(
    spark, make_settings, tmp_path
):
    """Day 1 delivers every field as the contract says; day 2 one line per field arrives with
    that field in another JSON type. Day 2's lines go to quarantine naming the field; the
    bronze schema and day 1's rows stay as they were."""
    settings = make_settings(tmp_path, quarantine_max_share=1.0)
    d2 = D + dt.timedelta(days=1)
    rnd = random.Random(3)
    root = Path(settings.landing)
    for day in (D, d2):
        folder = root / "accounts" / f"date={day}"
        folder.mkdir(parents=True)
        (folder / "a.jsonl").write_bytes(b"\n".join(_valid_lines(ACCOUNTS, 2, "acc")) + b"\n")
    day1 = root / "usage_events" / f"date={D}"
    day1.mkdir(parents=True)
    (day1 / "a.jsonl").write_bytes(b"\n".join(_valid_lines(USAGE_EVENTS, 5, "d1")) + b"\n")
    changed = []
    for spec in USAGE_EVENTS.fields:
        record = valid_record(USAGE_EVENTS, rnd, f"d2-{spec.name}")
        record["ts"] = rfc3339(rnd, _utc_midnight(d2) + dt.timedelta(hours=9))
        record[spec.name] = _SWAPS[spec.kind][0]
        changed.append((spec.name, json.dumps(record)))
    day2 = root / "usage_events" / f"date={d2}"
    day2.mkdir(parents=True)
    ok = _valid_lines(USAGE_EVENTS, 2, "d2-ok", seed=4)
    ok = [
        json.dumps({**json.loads(x), "ts": f"{d2}T10:00:00Z"}).encode()
        for x in ok  # valid lines of the same day, for contrast
    ]
    (day2 / "a.jsonl").write_bytes(b"\n".join([*(t.encode() for _, t in changed), *ok]) + b"\n")

    run_ingest(Runtime(settings, spark=spark), D)
    events = _read(spark, settings, tables.BRONZE_USAGE_EVENTS)
    schema_before, rows_before = events.schema, sorted(r.event_id for r in events.collect())
    result = run_ingest(Runtime(settings, spark=spark), d2)

    usage = result.feeds["usage_events"]
    assert (usage.lines, usage.kept, usage.quarantined) == (len(changed) + 2, 2, len(changed))
    assert usage.quarantined_by_reason == {"wrong_type": len(changed)}
    quarantined = _read(spark, settings, tables.BRONZE_QUARANTINE).where(
        F.col("delivery_date") == d2
    )
    details = sorted(r.detail.split("=", 1)[0] for r in quarantined.collect())
    assert details == sorted(name for name, _ in changed)
    events = _read(spark, settings, tables.BRONZE_USAGE_EVENTS)
    assert events.schema == schema_before
    assert sorted(r.event_id for r in events.where(F.col("delivery_date") == D).collect()) == (
        rows_before
    )
