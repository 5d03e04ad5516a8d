"""What the flows share inside one process: the SparkSession, the jobs, and progress messages.

- `spark_for(settings)`: the session, built once per process by `hydrawatch.spark.build_spark` and
  reused by every task. Tasks look it up here instead of taking it as an argument, because
  Prefect would try to hash and serialise task arguments.
- `job(module, name)`: a job entry point imported on first use, so a job that is not built yet
  gives a one-line `NotBuiltYet` when a command needs it, not an ImportError at CLI start.
- `say(message)`: one progress line, to the Prefect run log (what the UI shows) and to whatever
  the command line registered with `set_reporter` (the terminal).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from hydrawatch.errors import NotBuiltYet
from hydrawatch.settings import Settings

_LOCK = threading.Lock()
_SPARK: dict[tuple, Any] = {}
_REPORTER: list[Callable[[str], None]] = []


def _spark_key(settings: Settings) -> tuple:
    # Only what the session is built from; the roots are passed to jobs, not baked into Spark.
    return (
        settings.spark_master,
        settings.jars_dir,
        settings.spark_driver_memory,
        settings.spark_shuffle_partitions,
        settings.spark_ui,
        settings.spark_event_log_dir,
    )


def spark_for(settings: Settings):
    """The process's SparkSession for `settings`, built on first use."""
    key = _spark_key(settings)
    with _LOCK:
        session = _SPARK.get(key)
        if session is not None and session.sparkContext._jsc is not None:
            return session
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            # A session already running in this process (tests, notebooks): reuse it.
            session = active
        else:
            from hydrawatch.spark import build_spark

            session = build_spark(settings)
        _SPARK[key] = session
        return session


def active_spark(settings: Settings):
    """The session if one is already running in this process, else None (nothing is started)."""
    with _LOCK:
        session = _SPARK.get(_spark_key(settings))
        if session is not None and session.sparkContext._jsc is not None:
            return session
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def job(module: str, name: str) -> Callable[..., Any]:
    """`jobs.<module>.<name>`, or NotBuiltYet naming what is missing."""
    try:
        mod = importlib.import_module(f"jobs.{module}")
    except ModuleNotFoundError as err:
        if err.name in (f"jobs.{module}", "jobs"):
            raise NotBuiltYet(f"jobs.{module} is not built yet (needed for {name})") from None
        raise
    fn = getattr(mod, name, None)
    if fn is None:
        raise NotBuiltYet(f"jobs.{module}.{name} is not built yet")
    return fn


def has_job(module: str, name: str) -> bool:
    try:
        job(module, name)
        return True
    except NotBuiltYet:
        return False


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    """Where progress lines go besides the Prefect log (the CLI's console); None to stop."""
    _REPORTER.clear()
    if reporter is not None:
        _REPORTER.append(reporter)


def say(message: str) -> None:
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().info(message)
    except MissingContextError:
        logging.getLogger("hydrawatch").info(message)
    for reporter in _REPORTER:
        reporter(message)
