"""Signed POST against a real local HTTP server: signature, tampering, retries, refusals."""

from __future__ import annotations

import http.server
import threading

import pytest

from hydrawatch import webhook
from hydrawatch.webhook import WebhookError, canonical_json, post_signed, signature, verify

SECRET = "s3cret-for-tests"


class Receiver:
    """A real HTTP server on 127.0.0.1 that verifies signatures and can fail the first N posts."""

    def __init__(self, secret=SECRET, fail_first=0, fail_status=503):
        self.secret, self.fail_first, self.fail_status = secret, fail_first, fail_status
        self.received: list[tuple[bytes, dict]] = []
        self.attempts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.attempts <= outer.fail_first:
                    self.send_response(outer.fail_status)
                elif not verify(body, outer.secret, self.headers.get(webhook.SIGNATURE_HEADER)):
                    self.send_response(401)
                else:
                    outer.received.append((body, dict(self.headers)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/hydrawatch"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _no_sleep(delays):
    return delays.append


def test_signature_is_hmac_sha256_of_the_body():
    # reference value: HMAC-SHA256(key=b"k", msg=b"{}") computed independently
    assert signature(b"{}", "k") == (
        "sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff"
    )
    assert verify(b"{}", "k", signature(b"{}", "k"))
    assert not verify(b"{ }", "k", signature(b"{}", "k"))
    assert not verify(b"{}", "k", None)


def test_delivered_once_and_signature_verified_by_receiver():
    body = canonical_json({"score_date": "2026-02-10", "row_count": 3, "sha256": "ab"})
    with Receiver() as rx:
        got = post_signed(rx.url, body, SECRET, "2026-02-10/7", sleep=_no_sleep([]))
    assert (got.status_code, got.attempts) == (204, 1)
    assert len(rx.received) == 1
    received, headers = rx.received[0]
    assert received == body and headers[webhook.DELIVERY_HEADER] == "2026-02-10/7"


def test_tampered_body_or_wrong_secret_is_rejected_and_not_retried():
    body = canonical_json({"row_count": 3})
    delays: list[float] = []
    refused = pytest.raises(WebhookError, match="refused delivery d1 with HTTP 401")
    with Receiver(secret="another-secret") as rx, refused as err:
        post_signed(rx.url, body, SECRET, "d1", sleep=_no_sleep(delays))
    assert rx.attempts == 1 and delays == [] and rx.received == []
    assert SECRET not in str(err.value)


def test_transient_failures_are_retried_with_exponential_backoff():
    delays: list[float] = []
    with Receiver(fail_first=3, fail_status=503) as rx:
        got = post_signed(rx.url, b"{}", SECRET, "d", base_delay_s=0.1, sleep=_no_sleep(delays))
    assert got.attempts == 4 and rx.attempts == 4 and len(rx.received) == 1
    assert delays == [0.1, 0.2, 0.4]


def test_gives_up_after_max_attempts_with_one_line_reason():
    delays: list[float] = []
    with Receiver(fail_first=99, fail_status=500) as rx, pytest.raises(WebhookError) as err:
        post_signed(
            rx.url + "?token=abc", b"{}", SECRET, "d", max_attempts=3, sleep=_no_sleep(delays)
        )
    assert rx.attempts == 3 and len(delays) == 2
    msg = str(err.value)
    assert "after 3 attempts (last: HTTP 500)" in msg and "token" not in msg and "\n" not in msg


def test_connection_refused_is_retried_then_reported():
    with Receiver() as rx:
        url = rx.url
    delays: list[float] = []
    with pytest.raises(WebhookError, match="after 2 attempts \\(last: connection failed"):
        post_signed(url, b"{}", SECRET, "d", max_attempts=2, sleep=_no_sleep(delays))
    assert delays == [webhook.BASE_DELAY_S]


def test_redact_url_drops_credentials_and_query():
    assert webhook.redact_url("https://u:p@q.example:8443/x?token=1") == (
        "https://q.example:8443/x"
    )
