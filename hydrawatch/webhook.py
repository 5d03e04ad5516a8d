"""Signed webhook POSTs to a downstream queue, with retries (stdlib only, no Spark).

What it promises:
- `signature(body, secret)` is `sha256=<hex HMAC-SHA256 of the exact body bytes>`; the receiver
  recomputes it over the bytes it received and compares in constant time (`verify`).
- `post_signed` sends one JSON body with headers `X-Hydrawatch-Signature` and
  `X-Hydrawatch-Delivery` (an idempotency key the receiver can dedupe on). Connection errors,
  timeouts, 429 and 5xx answers are retried with exponential backoff (`BASE_DELAY_S` doubling, at
  most `MAX_ATTEMPTS` tries); any other 4xx is final at once (retrying a refused request cannot
  help). Exhausted or refused -> `WebhookError`, a one-line reason without the secret or the URL's
  credentials/query.
- The secret is only ever read here, at signing time; it is never logged, printed or stored.

"Never twice for the same day and model version" is the publish job's part: it records each
delivery in meta/webhook_deliveries and skips recorded ones (jobs/publish.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from hydrawatch.errors import HydrawatchError

SIGNATURE_HEADER = "X-Hydrawatch-Signature"
DELIVERY_HEADER = "X-Hydrawatch-Delivery"
MAX_ATTEMPTS = 5
BASE_DELAY_S = 0.5
TIMEOUT_S = 10.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class WebhookError(HydrawatchError):
    """The webhook could not be delivered (after retries, or refused)."""


@dataclass(frozen=True)
class Delivery:
    status_code: int
    attempts: int


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header_value: str | None) -> bool:
    """Receiver side: does `header_value` sign exactly `body` with `secret`?"""
    return bool(header_value) and hmac.compare_digest(signature(body, secret), header_value)


def canonical_json(payload: dict) -> bytes:
    """The body bytes: sorted keys, no spaces, UTF-8, so the same payload signs the same."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def redact_url(url: str) -> str:
    """scheme://host[:port]/path: no user:password, no query (either may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def post_signed(
    url: str,
    body: bytes,
    secret: str,
    delivery_id: str,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay_s: float = BASE_DELAY_S,
    timeout_s: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` to `url` signed with `secret`; retry transient failures; raise WebhookError."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "hydrawatch-publish",
        SIGNATURE_HEADER: signature(body, secret),
        DELIVERY_HEADER: delivery_id,
    }
    last = "no attempt made"
    for attempt in range(1, max_attempts + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return Delivery(status_code=response.status, attempts=attempt)
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
            if err.code not in RETRY_STATUSES:
                raise WebhookError(
                    f"webhook {redact_url(url)} refused delivery {delivery_id} with {last}; "
                    "check the receiver and the shared secret (HYDRAWATCH_WEBHOOK_SECRET)"
                ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            reason = getattr(err, "reason", err)
            last = f"connection failed ({type(reason).__name__})"
        if attempt < max_attempts:
            sleep(base_delay_s * 2 ** (attempt - 1))
    raise WebhookError(
        f"webhook {redact_url(url)} not delivered for {delivery_id} after {max_attempts} "
        f"attempts (last: {last}); re-run publish for the day to retry"
    )
