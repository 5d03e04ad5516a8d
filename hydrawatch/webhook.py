"""Standard Webhooks deliveries to a downstream queue, with retries (no Spark).

What it promises:
- Signed the Standard Webhooks way (https://www.standardwebhooks.com/, spec 1.0.0). Headers:
  `webhook-id` (the announcement's id: the same on every retry and re-run of one announcement,
  so receivers dedupe on it), `webhook-timestamp` (Unix seconds of this attempt; every retry is
  signed anew) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
  one per signing key, space-separated, the current key first. `Hydrawatch-Key-Ids` names the
  keys in the same order (a hint for receivers that hold several; not signed, and a receiver
  that tries every key it trusts needs it not). The HMAC is the reference implementation's
  (`standardwebhooks` 1.3, MIT, no dependencies).
- Keys: a secret is `whsec_` + the base64 of 24 to 64 random bytes (the spec's bounds), checked
  strictly here: the reference library decodes base64 leniently (it drops stray characters), so
  a mistyped secret would sign with other bytes than the receiver's. Empty, short or
  malformed secrets are refused in one line that never quotes them.
- Targets: `https://`, or plain `http://` to localhost / a loopback address only
  (`check_url`); anything else is refused in one line.
- Delivery (`post_signed`, over httpx): only a 2xx answer is a delivery. A redirect (3xx) is a
  failed delivery, never followed and never retried: a moved receiver gets its new address in
  HYDRAWATCH_WEBHOOK_URL, not the signed body at a place nobody configured. Connection errors,
  timeouts, 429 and 5xx are retried with exponential backoff (`BASE_DELAY_S` doubling, at most
  `MAX_ATTEMPTS` tries; a `Retry-After` in seconds lengthens a wait, up to
  `MAX_RETRY_AFTER_S`); any other 4xx is final at once. Exhausted, refused or redirected ->
  `WebhookError`, a one-line reason without the secret or the URL's credentials/query.
- Secrets are only ever read here, at signing time; never logged, printed or stored.

"Announce each new content of a day once" is the publish job's part: it records deliveries in
meta/webhook_deliveries and builds the id from the day, the announcement's revision and the
export's SHA-256 (jobs/publish.py, docs/publishing.md).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hydrawatch.errors import HydrawatchError, UsageError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
KEY_IDS_HEADER = "Hydrawatch-Key-Ids"
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
MAX_ATTEMPTS = 5
BASE_DELAY_S = 0.5
MAX_RETRY_AFTER_S = 60.0
# The spec recommends 15-30 s for a receiver to answer.
TIMEOUT_S = 15.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAKE_SECRET = (
    "python -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)


class WebhookError(HydrawatchError):
    """The webhook could not be delivered (after retries, refused or redirected)."""


class WebhookConfigError(UsageError):
    """The webhook settings cannot be used (URL scheme, secret, key ids)."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Delivery:
    status_code: int
    attempts: int
    timestamp: int  # the accepted attempt's webhook-timestamp


def parse_secret(value: str, setting: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret, or WebhookConfigError (never quoting it)."""
    if not value:
        raise WebhookConfigError(f"{setting} is empty; make a secret with: {MAKE_SECRET}")
    if not value.startswith(SECRET_PREFIX):
        raise WebhookConfigError(
            f"{setting} must be whsec_ followed by base64 (Standard Webhooks); make one with: "
            f"{MAKE_SECRET}"
        )
    encoded = value[len(SECRET_PREFIX) :]
    try:
        # Unpadded base64 (some providers print it so) is accepted, stray characters are not.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookConfigError(
            f"{setting} is not whsec_ followed by valid base64; make one with: {MAKE_SECRET}"
        ) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise WebhookConfigError(
            f"{setting} holds {len(key)} bytes of key material; Standard Webhooks needs "
            f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}; make one with: {MAKE_SECRET}"
        )
    return key


def check_url(url: str, setting: str = "HYDRAWATCH_WEBHOOK_URL") -> None:
    """https://, or http:// to localhost / a loopback address only; else WebhookConfigError."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if not host or scheme not in ("https", "http"):
        raise WebhookConfigError(
            f"{setting} must be an https:// URL with a host, not {redact_url(url)!r}"
        )
    if scheme == "http" and not _is_loopback(host):
        raise WebhookConfigError(
            f"{setting} must be https:// (plain http only to localhost, 127.0.0.1 or ::1), "
            f"not {redact_url(url)}"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signing_keys(
    key_id: str, secret: str, previous_key_id: str | None = None, previous: str | None = None
) -> tuple[SigningKey, ...]:
    """The current key, then the previous one while a rotation is under way."""
    keys = [SigningKey(key_id, parse_secret(secret, "HYDRAWATCH_WEBHOOK_SECRET"))]
    if previous is not None and previous_key_id is not None:
        keys.append(
            SigningKey(
                previous_key_id, parse_secret(previous, "HYDRAWATCH_WEBHOOK_PREVIOUS_SECRET")
            )
        )
    return tuple(keys)


def signature_header(keys: tuple[SigningKey, ...], msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` per key, space-separated, over `{msg_id}.{timestamp}.{body}`."""
    from standardwebhooks import Webhook

    when = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return " ".join(Webhook(k.secret).sign(msg_id, when, body) for k in keys)


def canonical_json(payload: dict) -> bytes:
    """The body bytes: sorted keys, no spaces, UTF-8, so the same payload signs the same."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def redact_url(url: str) -> str:
    """scheme://host[:port]/path: no user:password, no query (either may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def post_signed(
    url: str,
    body: bytes,
    keys: tuple[SigningKey, ...],
    msg_id: str,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay_s: float = BASE_DELAY_S,
    timeout_s: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Delivery:
    """POST `body` to `url` signed with `keys` as `msg_id`; retry transient failures; raise
    WebhookError when it is not delivered."""
    import httpx

    check_url(url)
    if not keys:
        raise WebhookConfigError("no webhook signing key; set HYDRAWATCH_WEBHOOK_SECRET")
    if "." in msg_id or not msg_id:
        raise WebhookConfigError(f"webhook id {msg_id!r} must be non-empty and hold no '.'")
    target = redact_url(url)
    last = "no attempt made"
    with httpx.Client(follow_redirects=False, timeout=timeout_s) as client:
        for attempt in range(1, max_attempts + 1):
            timestamp = int(clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "hydrawatch-publish",
                ID_HEADER: msg_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature_header(keys, msg_id, timestamp, body),
                KEY_IDS_HEADER: " ".join(k.key_id for k in keys),
            }
            wait = base_delay_s * 2 ** (attempt - 1)
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.TransportError as err:
                last = f"connection failed ({type(err).__name__})"
            else:
                code = response.status_code
                if 200 <= code < 300:
                    return Delivery(status_code=code, attempts=attempt, timestamp=timestamp)
                if 300 <= code < 400:
                    moved = response.headers.get("location")
                    to = f" to {redact_url(str(response.url.join(moved)))}" if moved else ""
                    raise WebhookError(
                        f"webhook {target} answered {msg_id} with a redirect (HTTP {code}{to}); "
                        "redirects are not followed: set HYDRAWATCH_WEBHOOK_URL to the "
                        "receiver's address"
                    )
                if code not in RETRY_STATUSES:
                    raise WebhookError(
                        f"webhook {target} refused delivery {msg_id} with HTTP {code}; check the "
                        "receiver and the shared secret (HYDRAWATCH_WEBHOOK_SECRET)"
                    )
                last = f"HTTP {code}"
                wait = max(wait, _retry_after(response.headers.get("retry-after")))
            if attempt < max_attempts:
                sleep(wait)
    raise WebhookError(
        f"webhook {target} not delivered for {msg_id} after {max_attempts} attempts "
        f"(last: {last}); re-run publish for the day to retry"
    )


def _retry_after(value: str | None) -> float:
    """Seconds of a `Retry-After: <seconds>` header, capped; 0 for none or an HTTP date."""
    try:
        return min(max(int(value or 0), 0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0
