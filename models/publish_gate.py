"""The publish gate: when a scored day must not be published as it is. Pure policy, no I/O.

(models/validation.py is the other gate, the promotion's.) `jobs/publish.py` gathers the inputs
and raises; the daily report draws the jump gate's band.

- `hold_back_reason`: the day's inputs are not fit to publish (an ingest that did not complete, a
  quarantine share above its bound). Cannot be overridden: the inputs must be fixed.
- `jump_reason`: the flagged count jumped beyond `JUMP_FACTOR` x the median of the last
  `JUMP_HISTORY_DAYS` published days (only from `JUMP_MIN_COUNT` accounts on, so small numbers
  never trip it). A real campaign wave can do that too: a person looks, then may release the day
  (`hydrawatch publish --accept-jump --reason`).
"""

from __future__ import annotations

import statistics

# Flagged-count jump gate: hold the day when today's flagged count exceeds JUMP_FACTOR x the
# median of the last JUMP_HISTORY_DAYS published days. A real campaign wave can do that too; a
# person then looks before thousands of accounts land in the review queue.
JUMP_FACTOR = 3.0
JUMP_HISTORY_DAYS = 7
# ...but never for small counts, where 2 -> 7 is noise, not a broken model or input.
JUMP_MIN_COUNT = 50
INGEST_FEEDS_REQUIRED = ("usage_events", "accounts")


def hold_back_reason(audit_rows: dict[str, dict], max_quarantine_share: float) -> str | None:
    """Why the day's inputs must not be published, or None. Pure: the job gathers the inputs.

    `audit_rows`: feed -> its meta/ingest_audit row for the day.
    """
    for feed in INGEST_FEEDS_REQUIRED:
        row = audit_rows.get(feed)
        if row is None:
            return f"no ingest audit for {feed}: the day's ingest did not complete; run ingest"
        if row.get("status") != "ok":
            return f"ingest of {feed} is {row.get('status')!r}, not ok"
    usage = audit_rows["usage_events"]
    lines, quarantined = int(usage.get("lines") or 0), int(usage.get("quarantined") or 0)
    if lines and quarantined / lines > max_quarantine_share:
        return (
            f"{quarantined} of {lines} usage lines quarantined "
            f"({quarantined / lines:.1%} > {max_quarantine_share:.1%})"
        )
    return None


def jump_reason(flagged_today: int, recent_counts: list[int]) -> str | None:
    """Why the day's flagged count needs a person's look first, or None. Pure.

    `recent_counts`: the flagged counts of the last published days before it (most recent
    first, at most JUMP_HISTORY_DAYS are used).
    """
    if recent_counts and flagged_today >= JUMP_MIN_COUNT:
        median = statistics.median(recent_counts[:JUMP_HISTORY_DAYS])
        if flagged_today > JUMP_FACTOR * median:
            return (
                f"{flagged_today} accounts flagged, more than {JUMP_FACTOR:g}x the median "
                f"{median:g} of the last {len(recent_counts[:JUMP_HISTORY_DAYS])} published "
                "days; review the model and the day's inputs"
            )
    return None
