"""Pure validation transforms: one reason per bad line, typed values per good line."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from hydrawatch.contracts import ACCOUNTS, LABEL_DECISIONS, USAGE_EVENTS
from hydrawatch.validation import (
    HEX16_RE,
    IPV4_RE,
    IPV6_RE,
    RFC3339_RE,
    check_lines,
    classify_lines,
    current_labels,
    rank_duplicates,
)

D = dt.date(2026, 2, 10)
WINDOW = (D - dt.timedelta(days=3), D)


def _event(event_id: str, ts: str = "2026-02-10T01:02:03.456Z", **overrides) -> dict:
    record = {
        "event_id": event_id,
        "ts": ts,
        "account_id": "acc-1",
        "org_id": None,
        "api_key_id": "key-1",
        "surface": "api",
        "model": "atlas-3",
        "input_tokens": 10,
        "output_tokens": 20,
        "latency_ms": None,
        "status": "ok",
        "client_ip": "2001:db8::1",
        "asn": None,
        "ip_country": None,
        "user_agent": None,
        "prompt_template_hash": "0123456789ABCDEF",
        "system_prompt_hash": None,
        "task_category": "reasoning_math",
        "cot_elicitation": True,
        "rubric_grading": False,
        "tool_count": 2,
        "has_image": False,
        "turns": 3,
    }
    record.update(overrides)
    return record


def _drop(record: dict, name: str) -> dict:
    return {k: v for k, v in record.items() if k != name}


def _j(record: dict) -> str:
    return json.dumps(record)


ESCAPED = 'say "hi" \\ C:\\dir, caf\u00e9, tab\t, \u2603'

# (line, expected reason, expected detail) for every kind of bad line the contract names.
CASES = [
    (_j(_event("ok1")), None, None),
    (_j(_event("ok2", extra_field={"x": 1})), None, None),
    ("{not json", "not_json", "not valid JSON (or truncated)"),
    (_j(_event("trunc"))[:60], "not_json", "not valid JSON (or truncated)"),
    ("", "not_json", "empty line"),
    (_j(_event("junk")) + " trailing", "not_json", "characters after the JSON object"),
    ("[1, 2]", "not_an_object", "JSON array<bigint> instead of an object"),
    ("null", "not_an_object", "JSON void instead of an object"),
    ('{"event_id": "bad\ufffd"}', "invalid_utf8", None),
    (_j(_drop(_event("m1"), "account_id")), "missing_field", "account_id=<absent>"),
    (_j(_event("m2", api_key_id=None)), "missing_field", "api_key_id=null"),
    (_j(_event("m3", model="")), "missing_field", 'model=""'),
    (_j(_event("w1", input_tokens="12")), "wrong_type", 'input_tokens="12"'),
    (_j(_event("w2", api_key_id=17)), "wrong_type", "api_key_id=17"),
    (_j(_event("w3", cot_elicitation="true")), "wrong_type", 'cot_elicitation="true"'),
    (_j(_event("w4", tool_count=1.5)), "wrong_type", "tool_count=1.5"),
    (_j(_event("w5", turns=2.0)), "wrong_type", "turns=2"),
    (_j(_event("e1", surface="web")), "bad_enum", 'surface="web"'),
    (_j(_event("e2", task_category="Coding")), "bad_enum", 'task_category="Coding"'),
    (_j(_event("r1", output_tokens=-1)), "out_of_range", "output_tokens=-1"),
    (_j(_event("r2", turns=0)), "out_of_range", "turns=0"),
    (_j(_event("r3", latency_ms=-5)), "out_of_range", "latency_ms=-5"),
    (_j(_event("f1", prompt_template_hash="0123456789abcdeg")), "bad_format", None),
    (_j(_event("f2", system_prompt_hash="abc")), "bad_format", 'system_prompt_hash="abc"'),
    (_j(_event("f3", client_ip="256.1.1.1")), "bad_format", 'client_ip="256.1.1.1"'),
    (_j(_event("f4", client_ip="2001:db8:::1")), "bad_format", None),
    (_j(_event("f5", ip_country="usa")), "bad_format", 'ip_country="usa"'),
    (_j(_event("f6", ip_country="de")), "bad_format", None),
    (_j(_event("t1", ts="2026-02-10 25:00")), "bad_timestamp", None),
    (_j(_event("t2", ts="2026-02-30T00:00:00Z")), "bad_timestamp", None),
    (_j(_event("t3", ts="2026-02-10T01:00:00")), "bad_timestamp", None),
    (_j(_event("t4", ts=1770000000)), "wrong_type", "ts=1770000000"),
    (_j(_event("late3", ts="2026-02-07T23:59:59Z")), None, None),
    (_j(_event("late4", ts="2026-02-06T23:59:59Z")), "ts_out_of_window", None),
    (_j(_event("future", ts="2026-02-10T23:00:00-02:00")), "ts_out_of_window", None),
    # First failing check wins: missing account_id comes before the bad surface.
    (_j(_drop(_event("two", surface="web"), "account_id")), "missing_field", "account_id=<absent>"),
    # Found by the generated bad-input suite (tests/jobs/test_ingest_faults.py):
    # RFC 3339 allows lower-case "t" and "z";
    (_j(_event("lower", ts="2026-02-10t01:02:03z")), None, None),
    (_j(_event("space", ts="2026-02-10 01:02:03.5z")), None, None),
    # two records glued on one line, or a stray bracket after the object, are not JSON Lines;
    (_j(_event("glued1")) + _j(_event("glued2")), "not_json", "characters after the JSON object"),
    (_j(_event("glued3")) + " " + _j(_event("glued4")), "not_json", None),
    (_j(_event("brace")) + "}", "not_json", "characters after the JSON object"),
    (_j(_event("comma")) + ",{}", "not_json", None),
    (_j(_event("bracket")) + "]", "not_json", None),
    (_j(_event("quoted")) + ' "}"', "not_json", None),
    (_j(_event("inner", user_agent='} {"x": [ ]} {')), None, None),
    # an RFC 3339 text whose UTC instant Python cannot hold (before 0001-01-02, after 9999) is
    # no usable instant;
    (_j(_event("y10k", ts="9999-12-31T23:30:00-05:00")), "bad_timestamp", None),
    (_j(_event("y0", ts="0001-01-01T00:10:00+01:00")), "bad_timestamp", None),
    (_j(_event("y1jan1", ts="0001-01-01T12:00:00Z")), "bad_timestamp", None),
    # far but usable instants are outside the event window.
    (_j(_event("y9999", ts="9999-12-31T23:59:59Z")), "ts_out_of_window", None),
    (_j(_event("y1", ts="0001-01-02T00:00:00Z")), "ts_out_of_window", None),
    # Values come from a second parse with every field as text (`_typed`): escapes are undone,
    # keys match exactly, and a value of the wrong JSON type is caught by the VARIANT's type.
    (_j(_event("esc", user_agent=ESCAPED)), None, None),
    (_j({**_drop(_event("case"), "account_id"), "Account_ID": "acc-1"}), "missing_field", None),
    (_j(_event("obj", model={"name": "m"})), "wrong_type", 'model={"name":"m"}'),
    (_j(_event("big", input_tokens=2**70)), "wrong_type", "input_tokens=1180591620717411303424"),
    (_j(_event("numtext", latency_ms="7")), "wrong_type", 'latency_ms="7"'),
]


def test_check_lines_gives_each_bad_line_its_reason_and_types_good_ones(spark):
    lines = spark.createDataFrame(
        [(f"f{i:02d}.jsonl", line) for i, (line, _, _) in enumerate(CASES)],
        "source_file string, raw_line string",
    )
    checked = check_lines(lines, USAGE_EVENTS, WINDOW)
    got = {r["source_file"]: r for r in checked.collect()}
    for i, (line, reason, detail) in enumerate(CASES):
        row = got[f"f{i:02d}.jsonl"]
        assert row["reason"] == reason, (line, row["reason"], row["detail"])
        if detail is not None:
            assert row["detail"] == detail, (line, row["detail"])
        # only a valid line has an event day
        assert (row["event_date"] is None) == (reason is not None), line
    ok1 = got["f00.jsonl"]
    assert ok1["ts"] == dt.datetime(2026, 2, 10, 1, 2, 3, 456000)
    assert ok1["event_date"] == D
    assert (ok1["input_tokens"], ok1["cot_elicitation"], ok1["latency_ms"]) == (10, True, None)
    assert ok1["client_ip"] == "2001:db8::1"
    assert got["f32.jsonl"]["event_date"] == dt.date(2026, 2, 7)
    esc = next(r for r in got.values() if r["event_id"] == "esc")
    assert esc["user_agent"] == ESCAPED


def test_far_account_timestamps_are_kept_when_python_can_hold_them(spark):
    def account(name: str, created_at: str) -> tuple[str, str]:
        record = {
            "account_id": name,
            "created_at": created_at,
            "signup_channel": "self_serve",
            "verification": "email",
            "plan": "free",
            "status": "active",
        }
        return name, _j(record)

    lines = spark.createDataFrame(
        [
            account("a", "0001-01-02T00:00:00Z"),
            account("b", "9999-12-31T23:59:59.999999Z"),
            account("c", "9999-12-31T20:00:00-05:00"),
        ],
        "source_file string, raw_line string",
    )
    got = {r.source_file: (r.reason, r.created_at) for r in check_lines(lines, ACCOUNTS).collect()}
    assert got == {
        "a": (None, dt.datetime(1, 1, 2)),
        "b": (None, dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
        "c": ("bad_timestamp", None),
    }


def test_ip_patterns_agree_with_the_standard_library():
    samples = [
        "0.0.0.0",
        "255.255.255.255",
        "10.0.0.01",
        "1.2.3",
        "1.2.3.4.5",
        "::",
        "::1",
        "fe80::1",
        "2001:db8::",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        "::ffff:192.0.2.1",
        "64:ff9b::192.0.2.33",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::",
        "g::1",
        ":1",
        "1:",
        # `$` alone would let a final line terminator through.
        "1.2.3.4\n",
        "::1\n",
    ]
    for text in samples:
        try:
            ipaddress.ip_address(text)
            expected = True
        except ValueError:
            expected = False
        java_like = re.search(IPV4_RE, text) or re.search(IPV6_RE, text)
        assert bool(java_like) == expected, text
    assert re.search(RFC3339_RE, "2026-02-10T13:45:12.345Z")
    assert re.search(RFC3339_RE, "2026-02-10T13:45:12+05:30")
    assert not re.search(RFC3339_RE, "2026-02-10")
    assert not re.search(RFC3339_RE, "2026-02-10T13:45:12Z\n")


def test_format_patterns_reject_a_final_newline_in_spark_too(spark):
    patterns = {"ip4": IPV4_RE, "ip6": IPV6_RE, "ts": RFC3339_RE, "hex": HEX16_RE}
    texts = ["1.2.3.4", "::1", "2026-02-10T13:45:12Z", "0123456789abcdef"]
    df = spark.createDataFrame([(t, t + "\n") for t in texts], "ok string, nl string")
    got = df.select(
        *[F.col("ok").rlike(p).alias(f"ok_{k}") for k, p in patterns.items()],
        *[F.col("nl").rlike(p).alias(f"nl_{k}") for k, p in patterns.items()],
    ).collect()
    # Each text matches its own pattern, and none does with a newline after it.
    for row, key in zip(got, patterns, strict=True):
        assert row[f"ok_{key}"] is True
    assert not any(row[f"nl_{k}"] for row in got for k in patterns)


def test_duplicates_keep_first_line_and_earlier_deliveries_win(spark):
    lines = spark.createDataFrame(
        [
            ("b.jsonl", _j(_event("x", model="from-b"))),
            ("a.jsonl", _j(_event("x", model="from-a"))),
            ("a.jsonl", _j(_event("y"))),
            ("a.jsonl", _j(_event("z"))),
            ("a.jsonl", "{broken"),
        ],
        "source_file string, raw_line string",
    )
    prior = spark.createDataFrame(
        [("y", D, D - dt.timedelta(days=1)), ("z", D, D + dt.timedelta(days=1))],
        "event_id string, event_date date, delivery_date date",
    )
    ranked = rank_duplicates(
        check_lines(lines, USAGE_EVENTS, WINDOW), ("event_id",), USAGE_EVENTS.names
    )
    classified = classify_lines(ranked, ("event_id", "event_date"), D, prior)
    assertDataFrameEqual(
        classified.select("event_id", "model", "line_status"),
        [
            Row(event_id="x", model="from-a", line_status="kept"),
            Row(event_id="x", model="from-b", line_status="duplicate_within"),
            Row(event_id="y", model="atlas-3", line_status="duplicate_earlier"),
            # A later delivery ingested first does not win over this one.
            Row(event_id="z", model="atlas-3", line_status="kept"),
            Row(event_id=None, model=None, line_status="quarantined"),
        ],
    )


def test_duplicates_in_one_file_keep_the_same_copy_whatever_the_split(spark):
    """Copies of one event_id in one file: the kept copy is the same however the lines are
    ordered and partitioned; only quarantined lines keep their raw text."""
    rows = [("a.jsonl", _j(_event("x", model=f"copy-{i}"))) for i in range(6)]
    rows += [("a.jsonl", "{broken")]
    kept = set()
    for order, parts in ((rows, 1), (rows[::-1], 3), (rows[2:] + rows[:2], 2)):
        lines = spark.createDataFrame(order, "source_file string, raw_line string")
        ranked = rank_duplicates(
            check_lines(lines.repartition(parts), USAGE_EVENTS, WINDOW),
            ("event_id",),
            USAGE_EVENTS.names,
        )
        got = ranked.select("event_id", "model", "raw_line", "dup_rank").collect()
        assert sorted(r.dup_rank for r in got if r.event_id) == [1, 2, 3, 4, 5, 6]
        assert [r.raw_line for r in got if r.event_id is None] == ["{broken"]
        assert all(r.raw_line is None for r in got if r.event_id)
        kept |= {r.model for r in got if r.dup_rank == 1}
    assert len(kept) == 1, kept


def test_current_labels_latest_decision_wins_appeals_included(spark):
    ts = dt.datetime
    labels = spark.createDataFrame(
        [
            ("a1", ts(2026, 2, 8, 9), "distillation", "analyst_review", "c1", dt.date(2026, 2, 8)),
            ("a1", ts(2026, 2, 12, 9), "benign", "appeal", None, dt.date(2026, 2, 12)),
            ("a2", ts(2026, 2, 9, 9), "benign", "analyst_review", None, dt.date(2026, 2, 9)),
            (
                "a2",
                ts(2026, 2, 10, 9),
                "distillation",
                "partner_report",
                "c2",
                dt.date(2026, 2, 11),
            ),
            # Same instant: the appeal overturns.
            ("a3", ts(2026, 2, 9, 9), "distillation", "analyst_review", "c3", dt.date(2026, 2, 9)),
            ("a3", ts(2026, 2, 9, 9), "benign", "appeal", None, dt.date(2026, 2, 9)),
        ],
        "account_id string, decided_at timestamp, label string, source string, "
        "campaign_id string, delivery_date date",
    ).withColumn("source_file", F.lit("f"))
    assert set(LABEL_DECISIONS.names) <= set(labels.columns)

    def decisions(as_of):
        return {
            r["account_id"]: (r["label"], r["source"])
            for r in current_labels(labels, as_of).collect()
        }

    assert decisions(dt.date(2026, 2, 11)) == {
        "a1": ("distillation", "analyst_review"),
        "a2": ("distillation", "partner_report"),
        "a3": ("benign", "appeal"),
    }
    assert decisions(dt.date(2026, 2, 12))["a1"] == ("benign", "appeal")
    assert decisions(dt.date(2026, 2, 8)) == {"a1": ("distillation", "analyst_review")}
