"""The pure-Python contract validator and the AUC used by the overlap check."""

from __future__ import annotations

import json

from hydrawatch.contracts import LABEL_DECISIONS, USAGE_EVENTS
from hydrawatch.simulator.checks import auc, prefix_of, validate_line

EVENT = {
    "event_id": "evt_1",
    "ts": "2026-02-10T13:45:12.345Z",
    "account_id": "acct_1",
    "org_id": None,
    "api_key_id": "key_1",
    "surface": "api",
    "model": "atlas-3",
    "input_tokens": 10,
    "output_tokens": 5,
    "latency_ms": None,
    "status": "ok",
    "client_ip": "20.1.2.3",
    "asn": 64700,
    "ip_country": "US",
    "user_agent": None,
    "prompt_template_hash": "0123456789abcdef",
    "system_prompt_hash": None,
    "task_category": "coding",
    "cot_elicitation": False,
    "rubric_grading": False,
    "tool_count": 0,
    "has_image": False,
    "turns": 1,
}


def _with(**changes):
    ev = dict(EVENT)
    for key, value in changes.items():
        if value is ...:
            ev.pop(key)
        else:
            ev[key] = value
    return json.dumps(ev)


def test_validator_accepts_good_lines_and_names_each_breakage():
    assert validate_line(USAGE_EVENTS, json.dumps(EVENT)) is None
    assert validate_line(USAGE_EVENTS, _with(extra_field="x")) is None
    assert validate_line(USAGE_EVENTS, _with(client_ip="2a02:10:5:61::1")) is None
    assert validate_line(USAGE_EVENTS, json.dumps(EVENT)[:50]) == "not_json"
    assert validate_line(USAGE_EVENTS, "[1]") == "not_an_object"
    assert validate_line(USAGE_EVENTS, _with(account_id=...)) == "missing_field"
    assert validate_line(USAGE_EVENTS, _with(input_tokens="many")) == "wrong_type"
    assert validate_line(USAGE_EVENTS, _with(has_image=1)) == "wrong_type"
    assert validate_line(USAGE_EVENTS, _with(surface="mobile_app")) == "bad_enum"
    assert validate_line(USAGE_EVENTS, _with(output_tokens=-1)) == "out_of_range"
    assert validate_line(USAGE_EVENTS, _with(ts="31/02/2026 25:61")) == "bad_timestamp"
    assert validate_line(USAGE_EVENTS, _with(client_ip="999.1.1.1")) == "bad_format"
    assert validate_line(USAGE_EVENTS, _with(ip_country="Germany")) == "bad_format"
    label = {"account_id": "a", "decided_at": "2026-02-10T09:00:00.000Z", "label": "benign"}
    assert validate_line(LABEL_DECISIONS, json.dumps(label)) == "missing_field"
    label["source"] = "appeal"
    assert validate_line(LABEL_DECISIONS, json.dumps(label)) is None


def test_auc_and_prefix():
    assert auc([1, 2, 3], [4, 5, 6]) == 1.0
    assert auc([4, 5, 6], [1, 2, 3]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5
    assert prefix_of("20.1.2.3") == "20.1.2"
    assert prefix_of("2a02:10:5:61::1") == "2a02:10:5"
