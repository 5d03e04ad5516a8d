"""Standard Webhooks deliveries against a real local HTTP receiver whose verifier is written from
the specification (tests/conftest.py `webhook_receiver`), not from hydrawatch.webhook: accepted
deliveries, key rotation, replays and stale timestamps refused, redirects refused and never
followed, retries, and the one-line refusals of unusable settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
import pytest

from hydrawatch import webhook
from hydrawatch.webhook import (
    SigningKey,
    WebhookConfigError,
    WebhookError,
    canonical_json,
    post_signed,
)

KEY = b"current-key-for-webhook-tests-32"  # 32 bytes
OLD_KEY = b"previous-key-for-rotation-tests!"  # 32 bytes
BODY = canonical_json({"score_date": "2026-02-10", "row_count": 3, "sha256": "ab"})
MSG_ID = "hw_2026-02-10_r1_0123456789abcdef"


def _whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


SECRET, OLD_SECRET = _whsec(KEY), _whsec(OLD_KEY)


def _keys(*pairs: tuple[str, bytes]) -> tuple[SigningKey, ...]:
    return tuple(SigningKey(key_id, key) for key_id, key in pairs)


CURRENT = _keys(("k2", KEY))


def _no_sleep(delays):
    return delays.append


def test_signature_is_the_specs_hmac_over_id_timestamp_and_body():
    # Computed by hand from the spec's definition, independently of the sender's code.
    content = f"{MSG_ID}.1700000000.".encode() + BODY
    expected = "v1," + base64.b64encode(hmac.new(KEY, content, hashlib.sha256).digest()).decode()
    assert webhook.signature_header(CURRENT, MSG_ID, 1700000000, BODY) == expected
    # two keys: one signature each, space-separated, current first
    both = webhook.signature_header(_keys(("k2", KEY), ("k1", OLD_KEY)), MSG_ID, 1700000000, BODY)
    assert both.split(" ")[0] == expected and len(both.split(" ")) == 2


def test_delivery_accepted_by_a_verifier_written_from_the_spec(webhook_receiver):
    with webhook_receiver([SECRET]) as rx:
        got = post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep([]))
    assert (got.status_code, got.attempts) == (204, 1)
    assert rx.verdicts == ["ok"] and len(rx.accepted) == 1
    body, headers = rx.accepted[0]
    assert body == BODY
    assert headers["webhook-id"] == MSG_ID
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert int(headers["webhook-timestamp"]) == got.timestamp
    assert headers["hydrawatch-key-ids"] == "k2"
    assert headers["content-type"] == "application/json"
    # and by the reference implementation's own verifier
    from standardwebhooks import Webhook

    assert Webhook(SECRET).verify(body, headers) == {
        "row_count": 3,
        "score_date": "2026-02-10",
        "sha256": "ab",
    }


def test_during_a_rotation_receivers_with_either_key_accept(webhook_receiver):
    rotating = _keys(("k2", KEY), ("k1", OLD_KEY))
    for secrets in ([SECRET], [OLD_SECRET]):
        with webhook_receiver(secrets) as rx:
            post_signed(rx.url, BODY, rotating, MSG_ID, sleep=_no_sleep([]))
        assert rx.verdicts == ["ok"]
        assert rx.accepted[0][1]["hydrawatch-key-ids"] == "k2 k1"
    # after the rotation the old key alone no longer verifies
    with webhook_receiver([OLD_SECRET]) as rx, pytest.raises(WebhookError, match="HTTP 401"):
        post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep([]))
    assert rx.verdicts == ["bad signature"] and rx.accepted == []


def test_a_replayed_delivery_is_not_processed_again(webhook_receiver):
    with webhook_receiver([SECRET]) as rx:
        post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep([]))
        method, path, headers, body = rx.requests[0]
        # an attacker (or a confused proxy) sends the captured request again, within 5 minutes
        replayed = httpx.post(rx.url, content=body, headers=headers)
        # the sender itself re-sending the same announcement (a crash before it was recorded):
        # freshly signed, same id
        again = post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep([]))
    assert (method, path) == ("POST", "/hooks")
    assert rx.verdicts == ["ok", "replay", "replay"]
    assert len(rx.accepted) == 1  # processed once
    assert replayed.status_code == 200 and again.status_code == 200  # told, not processed


def test_a_stale_or_future_timestamp_is_refused_and_not_retried(webhook_receiver):
    for skew in (-301, +301):
        delays: list[float] = []
        with (
            webhook_receiver([SECRET]) as rx,
            pytest.raises(WebhookError, match=r"refused delivery .* with HTTP 401") as err,
        ):
            post_signed(
                rx.url,
                BODY,
                CURRENT,
                MSG_ID,
                sleep=_no_sleep(delays),
                clock=lambda skew=skew: time.time() + skew,
            )
        assert rx.verdicts == ["stale timestamp"] and rx.accepted == [] and delays == []
        assert "\n" not in str(err.value)
    # a captured delivery replayed after the tolerance: stale, whatever the id
    with webhook_receiver([SECRET]) as rx:
        post_signed(rx.url, BODY, CURRENT, "hw_other", sleep=_no_sleep([]))
        _, _, headers, body = rx.requests[0]
        rx.now = lambda: time.time() + 360
        assert httpx.post(rx.url, content=body, headers=headers).status_code == 401
    assert rx.verdicts == ["ok", "stale timestamp"]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failed_delivery_never_followed(webhook_receiver, status):
    delays: list[float] = []
    with (
        webhook_receiver([SECRET], redirects={"/old": status}) as rx,
        pytest.raises(WebhookError, match=f"redirect \\(HTTP {status} to http://127.0.0.1:"),
    ):
        post_signed(rx.base + "/old", BODY, CURRENT, MSG_ID, sleep=_no_sleep(delays))
    # one request, to the configured address; nothing reached /hooks, by POST or GET
    assert [(m, p) for m, p, _, _ in rx.requests] == [("POST", "/old")]
    assert rx.accepted == [] and delays == []


def test_tampered_body_or_wrong_secret_is_rejected_and_not_retried(webhook_receiver):
    delays: list[float] = []
    refused = pytest.raises(WebhookError, match=f"refused delivery {MSG_ID} with HTTP 401")
    with webhook_receiver([OLD_SECRET]) as rx, refused as err:
        post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep(delays))
    assert rx.verdicts == ["bad signature"] and delays == [] and rx.accepted == []
    assert SECRET not in str(err.value) and KEY.decode() not in str(err.value)
    # the spec's verifier refuses a body changed after signing
    with webhook_receiver([SECRET]) as rx:
        post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep([]))
        _, _, headers, body = rx.requests[0]
        tampered = body.replace(b'"row_count":3', b'"row_count":4')
        assert (
            httpx.post(rx.url, content=tampered, headers={**headers, "webhook-id": "x"}).status_code
            == 401
        )
    assert rx.verdicts == ["ok", "bad signature"]


def test_transient_failures_are_retried_with_backoff_and_signed_anew(webhook_receiver):
    delays: list[float] = []
    ticks = iter(range(1_700_000_000, 1_700_000_100, 7))
    with webhook_receiver([SECRET], fail_first=3, fail_status=503, now=lambda: 1_700_000_030) as rx:
        got = post_signed(
            rx.url,
            BODY,
            CURRENT,
            MSG_ID,
            base_delay_s=0.1,
            sleep=_no_sleep(delays),
            clock=lambda: next(ticks),
        )
    assert got.attempts == 4 and rx.posts == 4 and len(rx.accepted) == 1
    assert delays == [0.1, 0.2, 0.4]
    stamps = [h["webhook-timestamp"] for _, _, h, _ in rx.requests]
    assert stamps == ["1700000000", "1700000007", "1700000014", "1700000021"]
    assert {h["webhook-id"] for _, _, h, _ in rx.requests} == {MSG_ID}
    assert got.timestamp == 1700000021


def test_retry_after_lengthens_the_wait_up_to_a_bound(webhook_receiver):
    for retry_after, expected in ((3, 3.0), (3600, webhook.MAX_RETRY_AFTER_S)):
        delays: list[float] = []
        with webhook_receiver(
            [SECRET], fail_first=1, fail_status=429, retry_after=retry_after
        ) as rx:
            got = post_signed(rx.url, BODY, CURRENT, MSG_ID, sleep=_no_sleep(delays))
        assert got.attempts == 2 and delays == [expected]


def test_gives_up_after_max_attempts_with_one_line_reason(webhook_receiver):
    delays: list[float] = []
    with (
        webhook_receiver([SECRET], fail_first=99, fail_status=500) as rx,
        pytest.raises(WebhookError) as err,
    ):
        post_signed(
            rx.url + "?token=abc", BODY, CURRENT, MSG_ID, max_attempts=3, sleep=_no_sleep(delays)
        )
    assert rx.posts == 3 and len(delays) == 2
    msg = str(err.value)
    assert "after 3 attempts (last: HTTP 500)" in msg and "token" not in msg and "\n" not in msg


def test_connection_refused_is_retried_then_reported(webhook_receiver):
    with webhook_receiver([SECRET]) as rx:
        url = rx.url
    delays: list[float] = []
    with pytest.raises(WebhookError, match="after 2 attempts \\(last: connection failed"):
        post_signed(url, BODY, CURRENT, MSG_ID, max_attempts=2, sleep=_no_sleep(delays))
    assert delays == [webhook.BASE_DELAY_S]


def test_secrets_must_be_whsec_base64_of_24_to_64_bytes():
    assert webhook.parse_secret(SECRET, "S") == KEY
    assert webhook.parse_secret(SECRET.rstrip("="), "S") == KEY  # unpadded base64 too
    refusals = {
        "": "S is empty",
        "a-plain-password-of-forty-characters-long": "S must be whsec_ followed by base64",
        "whsec_not base64!": "S is not whsec_ followed by valid base64",
        _whsec(
            b"sixteen-byte-key"
        ): "S holds 16 bytes of key material; Standard Webhooks needs 24 to 64",
        _whsec(b"x" * 65): "S holds 65 bytes",
    }
    for value, reason in refusals.items():
        with pytest.raises(WebhookConfigError, match=reason) as err:
            webhook.parse_secret(value, "S")
        message = str(err.value)
        assert "\n" not in message and (not value or value not in message)


def test_only_https_or_loopback_http_targets():
    for ok in (
        "https://hooks.example/q",
        "http://127.0.0.1:8080/q",
        "http://localhost/q",
        "http://[::1]:9000/q",
    ):
        webhook.check_url(ok)
    refusals = {
        "http://hooks.example/q": "must be https:// \\(plain http only to localhost",
        "http://u:pw@10.0.0.8/q?token=t": "not http://10.0.0.8/q$",
        "ftp://hooks.example/q": "must be an https:// URL with a host",
        "https:///nohost": "must be an https:// URL with a host",
    }
    for url, reason in refusals.items():
        with pytest.raises(WebhookConfigError, match=reason) as err:
            webhook.check_url(url)
        assert "pw" not in str(err.value) and "token" not in str(err.value)
    # the sender checks it too, before any request
    with pytest.raises(WebhookConfigError, match="plain http only"):
        post_signed("http://hooks.example/q", BODY, CURRENT, MSG_ID)


def test_unusable_webhook_settings_are_refused_in_one_line(monkeypatch, capsys):
    from cli.main import main
    from hydrawatch.settings import Settings

    refusals = [
        (
            {"webhook_url": "http://hooks.example/q", "webhook_secret": SECRET},
            "HYDRAWATCH_WEBHOOK_URL must be https://",
        ),
        (
            {"webhook_url": "https://hooks.example/q", "webhook_secret": _whsec(b"short")},
            "HYDRAWATCH_WEBHOOK_SECRET holds 5 bytes",
        ),
        ({"webhook_url": "https://hooks.example/q", "webhook_secret": ""}, "is empty"),
        ({"webhook_url": "https://hooks.example/q"}, "HYDRAWATCH_WEBHOOK_SECRET is not"),
        (
            {"webhook_secret": SECRET, "webhook_previous_secret": OLD_SECRET},
            "PREVIOUS_SECRET and HYDRAWATCH_WEBHOOK_PREVIOUS_KEY_ID go together",
        ),
        (
            {
                "webhook_secret": SECRET,
                "webhook_previous_secret": _whsec(b"tiny"),
                "webhook_previous_key_id": "k0",
            },
            "HYDRAWATCH_WEBHOOK_PREVIOUS_SECRET holds 4 bytes",
        ),
        (
            {
                "webhook_secret": SECRET,
                "webhook_previous_secret": OLD_SECRET,
                "webhook_previous_key_id": "k1",
            },
            "PREVIOUS_KEY_ID must differ",
        ),
    ]
    for values, reason in refusals:
        with pytest.raises(WebhookConfigError, match=reason):
            Settings(**values)
    rotating = Settings(
        webhook_url="https://hooks.example/q",
        webhook_secret=SECRET,
        webhook_key_id="k2",
        webhook_previous_secret=OLD_SECRET,
        webhook_previous_key_id="k1",
    )
    assert SECRET not in repr(rotating) and OLD_SECRET not in rotating.model_dump_json()
    # from the environment, through the command line: one line, exit code 2, no secret shown
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_URL", "http://hooks.example/q")
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_SECRET", SECRET)
    assert main(["rollback"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hydrawatch: HYDRAWATCH_WEBHOOK_URL must be https://")
    assert err.count("\n") == 1 and SECRET not in err
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_URL", "https://hooks.example/q")
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_SECRET", _whsec(b"0123456789abcdef"))
    assert main(["rollback"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hydrawatch: HYDRAWATCH_WEBHOOK_SECRET holds 16 bytes")
    assert err.count("\n") == 1 and "0123456789abcdef" not in err


def test_redact_url_drops_credentials_and_query():
    assert webhook.redact_url("https://u:p@q.example:8443/x?token=1") == (
        "https://q.example:8443/x"
    )
    assert webhook.redact_url("http://[::1]:9/x") == "http://[::1]:9/x"
