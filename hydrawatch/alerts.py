"""Alerts to the people who run the pipeline: a failed, crashed or late daily run, drift past its
bound, a held-back publication. One signed POST per alert to `settings.alert_url` (no Spark).

What it promises:
- The body is JSON: `type` (one of `ALERT_TYPES`), `day`, `message` (the one-line reason), and,
  when known, `exit_code` and `flow_run_id`. It is signed the Standard Webhooks way with
  `settings.alert_secret` (hydrawatch/webhook.py: the same signing, retries and URL rules as the
  downstream webhook), under the id `hwalert_<type>_<day>_<flow run>`, so a receiver dedupes a
  repeated send of one alert.
- An alert never changes the outcome of the run it reports on: a failed delivery is said on the
  run's reporter (its logs) and the run goes on (or fails with its own reason).
- Nothing secret or personal goes in: reasons are the pipeline's one-line messages, which name
  days, tables and counts, never a secret, an IP, an e-mail or a payment fingerprint.

A crashed run (the process killed) cannot report itself: the daily flow's `on_crashed` hook sends
`day.crashed` from the process that ran it (Prefect's runner under `hydrawatch serve` or a worker,
flows/pipeline.py). A run started by hand in a terminal that is killed has no such process; the
person who started it sees its exit status.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from hydrawatch import webhook
from hydrawatch.settings import Settings

DAY_FAILED = "day.failed"
DAY_LATE = "day.late"
DAY_CRASHED = "day.crashed"
DRIFT = "drift"
PUBLICATION_HELD = "publication.held"
ALERT_TYPES = (DAY_FAILED, DAY_LATE, DAY_CRASHED, DRIFT, PUBLICATION_HELD)


def alert_payload(
    kind: str, day: dt.date, message: str, exit_code: int | None, flow_run_id: str
) -> dict:
    if kind not in ALERT_TYPES:
        raise ValueError(f"unknown alert type {kind!r}")
    body: dict = {"type": f"hydrawatch.{kind}", "day": day.isoformat(), "message": message}
    if exit_code is not None:
        body["exit_code"] = exit_code
    if flow_run_id:
        body["flow_run_id"] = flow_run_id
    return body


def alert_id(kind: str, day: dt.date, flow_run_id: str) -> str:
    """Standard Webhooks ids hold no '.': the type's dot becomes '-'."""
    run = re.sub(r"[^A-Za-z0-9-]", "", flow_run_id)[:36] or "cli"
    return f"hwalert_{kind.replace('.', '-')}_{day.isoformat()}_{run}"


def send_alert(
    settings: Settings,
    kind: str,
    day: dt.date,
    message: str,
    *,
    exit_code: int | None = None,
    flow_run_id: str = "",
    say: Callable[[str], None] = lambda _: None,
) -> bool:
    """POST the alert if `settings.alert_url` is set; True when delivered. Never raises for a
    delivery problem (it is said instead)."""
    if not settings.alert_url or settings.alert_secret is None:
        return False
    keys = (
        webhook.SigningKey(
            settings.webhook_key_id,
            webhook.parse_secret(
                settings.alert_secret.get_secret_value(), "HYDRAWATCH_ALERT_SECRET"
            ),
        ),
    )
    body = webhook.canonical_json(alert_payload(kind, day, message, exit_code, flow_run_id))
    try:
        webhook.post_signed(
            settings.alert_url, body, keys, alert_id(kind, day, flow_run_id), max_attempts=3
        )
    except webhook.WebhookError as err:
        say(f"{day}: alert {kind} not delivered ({err})")
        return False
    say(f"{day}: alert {kind} sent")
    return True
