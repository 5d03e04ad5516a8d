"""The pure-Python contract validator and the AUC used by the overlap check."""

from __future__ import annotations

import json

from hydrawatch.contracts import LABEL_DECISIONS, USAGE_EVENTS
from simulator.checks import auc, prefix_of, validate_line


def _with(event: dict, **changes) -> str:
    ev = dict(event)
    for key, value in changes.items():
        if value is ...:
            ev.pop(key)
        else:
            ev[key] = value
    return json.dumps(ev)


def test_validator_accepts_good_lines_and_names_each_breakage(usage_event):
    # Optional fields left null are valid too.
    event = usage_event(org_id=None, latency_ms=None, user_agent=None)
    assert validate_line(USAGE_EVENTS, json.dumps(event)) is None
    assert validate_line(USAGE_EVENTS, _with(event, extra_field="x")) is None
    assert validate_line(USAGE_EVENTS, _with(event, client_ip="2a02:10:5:61::1")) is None
    assert validate_line(USAGE_EVENTS, json.dumps(event)[:50]) == "not_json"
    assert validate_line(USAGE_EVENTS, "[1]") == "not_an_object"
    assert validate_line(USAGE_EVENTS, _with(event, account_id=...)) == "missing_field"
    assert validate_line(USAGE_EVENTS, _with(event, input_tokens="many")) == "wrong_type"
    assert validate_line(USAGE_EVENTS, _with(event, has_image=1)) == "wrong_type"
    assert validate_line(USAGE_EVENTS, _with(event, surface="mobile_app")) == "bad_enum"
    assert validate_line(USAGE_EVENTS, _with(event, output_tokens=-1)) == "out_of_range"
    assert validate_line(USAGE_EVENTS, _with(event, ts="31/02/2026 25:61")) == "bad_timestamp"
    assert validate_line(USAGE_EVENTS, _with(event, client_ip="999.1.1.1")) == "bad_format"
    assert validate_line(USAGE_EVENTS, _with(event, ip_country="Germany")) == "bad_format"
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
