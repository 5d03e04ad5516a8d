"""Alerts: signed POSTs to a real local receiver that verifies them from the specification;
an unreachable receiver never raises."""

from __future__ import annotations

import datetime as dt
import json
import socket

from hydrawatch import alerts

D = dt.date(2026, 2, 10)
KEY = b"alerts-test-secret-key-32-bytes!"


def test_an_alert_is_a_signed_json_post(make_settings, tmp_path, webhook_receiver, make_whsec):
    secret = make_whsec(KEY)
    with webhook_receiver([secret]) as rx:
        settings = make_settings(tmp_path, alert_url=rx.url, alert_secret=secret)
        said: list[str] = []
        sent = alerts.send_alert(
            settings,
            alerts.DAY_FAILED,
            D,
            "no usage_events delivery for 2026-02-10",
            exit_code=3,
            flow_run_id="0b1c2d3e-aaaa-bbbb-cccc-000000000001",
            say=said.append,
        )
        assert sent and rx.verdicts == ["ok"]
        body, headers = rx.accepted[0]
    assert json.loads(body) == {
        "type": "hydrawatch.day.failed",
        "day": "2026-02-10",
        "message": "no usage_events delivery for 2026-02-10",
        "exit_code": 3,
        "flow_run_id": "0b1c2d3e-aaaa-bbbb-cccc-000000000001",
    }
    assert headers["webhook-id"] == (
        "hwalert_day-failed_2026-02-10_0b1c2d3e-aaaa-bbbb-cccc-000000000001"
    )
    assert said == ["2026-02-10: alert day.failed sent"]


def test_no_url_no_alert_and_a_dead_receiver_is_only_said(make_settings, tmp_path, make_whsec):
    assert alerts.send_alert(make_settings(tmp_path), alerts.DRIFT, D, "x") is False
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(
        tmp_path, alert_url=f"http://127.0.0.1:{port}/hooks", alert_secret=make_whsec(KEY)
    )
    said: list[str] = []
    assert alerts.send_alert(settings, alerts.DAY_LATE, D, "late", say=said.append) is False
    assert len(said) == 1 and said[0].startswith("2026-02-10: alert day.late not delivered")
    assert "after 3 attempts (last: connection failed" in said[0]
