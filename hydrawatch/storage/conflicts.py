"""Delta writes that try again when a concurrent writer committed first.

Delta commits optimistically: a write fails with a concurrent-modification error
(`ConcurrentAppendException` and its siblings) when another transaction committed files this one
had read. Runs for different days meet in a few places: the usage-events MERGE of a day looks at
the event days an earlier copy of its events can sit in, which overlap the neighbouring days';
the labels MERGE and the release snapshot read the whole table; and the small unpartitioned meta
tables (`meta/ingest_audit`, `meta/features_runs`, `meta/publications`, `meta/flow_progress`) are
rewritten per day with a predicate Delta cannot prune by partition. Writes to disjoint partitions
with `replaceWhere` on the partition column never conflict.

Every write of the pipeline is idempotent: it replaces exactly what its day owns, computed from
its inputs (a MERGE keeps the earliest delivery of a key whatever it finds). Running the same write
again on the newer table version is therefore safe, and `retry_conflicts` does that, up to
`ATTEMPTS` times with a short randomised pause, logging each retry. Anything else is raised at
once. (The Prefect tasks also retry a failed step as a whole; this keeps a conflict from costing a
whole step.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 8
PAUSE_SECONDS = (0.5, 3.0)  # uniform range of the pause before another attempt
_CONDITIONS = ("DELTA_CONCURRENT", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")

_log = logging.getLogger(__name__)


def is_conflict(err: BaseException) -> bool:
    """True for Delta's concurrent-modification errors (whatever form PySpark gave them)."""
    from delta import exceptions as dx

    kinds = (
        dx.DeltaConcurrentModificationException,
        dx.ConcurrentWriteException,
        dx.MetadataChangedException,
        dx.ProtocolChangedException,
        dx.ConcurrentAppendException,
        dx.ConcurrentDeleteReadException,
        dx.ConcurrentDeleteDeleteException,
        dx.ConcurrentTransactionException,
    )
    if isinstance(err, kinds):
        return True
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    if isinstance(err, PySparkException):
        # Delta's error conditions when PySpark did not map the class (a newer Delta).
        name = err.getCondition() or ""
        return name.startswith(_CONDITIONS)
    if isinstance(err, Py4JJavaError):
        return "io.delta.exceptions.Concurrent" in str(err)[:1000]
    return False


def retry_conflicts(write: Callable[[], T], what: str, attempts: int = ATTEMPTS) -> T:
    """Run `write` (one idempotent Delta write); on a commit conflict run it again."""
    import delta.exceptions  # noqa: F401  (installs the conversion of Delta's Java errors)

    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as err:
            if attempt == attempts or not is_conflict(err):
                raise
            pause = random.uniform(*PAUSE_SECONDS)
            _log.warning(
                "%s: a concurrent writer committed first (%s); attempt %d of %d in %.1fs",
                what,
                type(err).__name__,
                attempt + 1,
                attempts,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable")
