"""Named fail points: where the fault suite kills the process to prove what a crash leaves.

`failpoint("publish.after_table")` does nothing unless the environment variable
`HYDRAWATCH_FAILPOINTS` names it (a comma-separated list); then it kills the process at once with
`os._exit(137)`, the status of a SIGKILL: no `finally`, no `atexit`, no flushing of anything the
code has not flushed itself, exactly like an OOM kill or a pulled plug. The cost when the variable
is unset is one environment lookup, so the calls stay in production code.

A name may carry a hit count, `name@N`: the process dies on the N-th time the point is reached
(`publish.after_table@2` survives the first day of a backfill and dies on the second).

`POINTS` lists every fail point placed in the code, with what a crash there leaves; the fault
suite (docs/reliability.md) injects each of them and checks that a re-run converges to the state
of a clean run.

In process (`injected(...)`, tests only): the named points raise `Crashed`, a `BaseException`
that no `except Exception` of the code catches, instead of killing the process. Unlike a kill,
`finally` blocks and `with` exits still run on the way out: the suite uses it where those touch
nothing durable between the point and the job's return (cached frames, Spark settings of the
session, temporary folders), and a real kill where they do (an MLflow run left running, the
progress the daily flow settles in its `finally`, the export's hidden folder, locks held by
another process).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

ENV = "HYDRAWATCH_FAILPOINTS"
EXIT_STATUS = 137  # 128 + SIGKILL, what a shell reports for a killed process

POINTS: dict[str, str] = {
    "ingest.after_usage_events": "bronze/usage_events merged; accounts, labels, quarantine and "
    "the audit row not written",
    "ingest.before_audit": "every bronze table written; the audit row (the day's completion "
    "mark) not written",
    "features.after_silver": "silver/account_daily replaced; gold and meta/features_runs not",
    "features.before_record": "silver and gold replaced; meta/features_runs not updated",
    "score.after_scores": "gold/account_scores replaced; gold/flag_details not",
    "publish.after_table": "gold/suspicious_accounts replaced; no export folder written yet",
    "export.after_data": "inside the export: the data file written and fsynced, no manifest yet",
    "export.before_swap": "inside the export: the new folder complete but hidden, the old one in "
    "place",
    "export.mid_swap": "inside the export: the old folder renamed away, the new not yet in place",
    "export.store_after_data": "inside an object-store export: the new data file in the day's "
    "folder, the manifest deleted and not yet rewritten",
    "publish.before_webhook": "export and meta/publications written; the webhook not sent",
    "publish.after_webhook": "the webhook accepted by the receiver; meta/webhook_deliveries not "
    "written",
    "daily.before_lock": "a daily run started (its delivery complete when it waited for one), no "
    "lock taken, nothing written: the crash alert's test point",
    "daily.after_step": "the daily flow between two steps (after any step's job returned), "
    "before meta/flow_progress is settled",
    "backfill.after_range_step": "a backfill between two steps, after a range step (ingest or "
    "features over the whole range) returned, before meta/flow_progress is settled",
    "backfill.after_day_step": "a backfill between two days of a per-day step (score, publish), "
    "before meta/flow_progress is settled",
    "retrain.after_run_start": "the MLflow run started, nothing logged to it",
    "registry.after_log_model": "the model logged in the run, no version registered",
    "registry.after_register": "the version registered and tagged, alias `challenger` not set",
    "promote.after_alias": "alias `champion` moved, the move not recorded",
    "rollback.after_alias": "alias `champion` moved back, the rollback not recorded",
}

_hits: dict[str, int] = {}
# name -> [hit count wanted (0: the first), hits so far] while `injected` is active.
_in_process: dict[str, list[int]] = {}


class Crashed(BaseException):
    """Raised at a fail point named by `injected`, in place of the kill. A `BaseException`:
    what the code does not expect (like a kill), not an error it handles."""

    def __init__(self, name: str):
        super().__init__(f"fail point {name} reached (in process)")
        self.point = name


@contextlib.contextmanager
def injected(points: str) -> Iterator[None]:
    """Within the block, the fail points named in `points` (same `name[@n]` list as the
    environment variable) raise `Crashed` instead of killing the process (see module doc)."""
    if _in_process:
        raise RuntimeError("fail points are already injected in this process")
    armed = {}
    for entry in points.split(","):
        point, _, nth = entry.strip().partition("@")
        if point not in POINTS:
            raise ValueError(f"unknown fail point {point!r}")
        armed[point] = [int(nth or 0), 0]
    _in_process.update(armed)
    try:
        yield
    finally:
        _in_process.clear()


def failpoint(name: str) -> None:
    """Kill the process here when `HYDRAWATCH_FAILPOINTS` names `name` (see module doc)."""
    if _in_process and name in _in_process:
        wanted_hit = _in_process[name]
        wanted_hit[1] += 1
        if not wanted_hit[0] or wanted_hit[1] == wanted_hit[0]:
            raise Crashed(name)
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    for entry in wanted.split(","):
        point, _, nth = entry.strip().partition("@")
        if point != name:
            continue
        _hits[name] = _hits.get(name, 0) + 1
        if nth and _hits[name] != int(nth):
            continue
        # One line for the test's log; the point of the exercise is that nothing else runs.
        sys.stderr.write(f"hydrawatch: fail point {name} reached, killing the process\n")
        sys.stderr.flush()
        os._exit(EXIT_STATUS)
