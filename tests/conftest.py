"""Shared test fixtures: one Spark session for the run, and every root in a temporary folder.

The environment is pointed at a temporary folder before anything imports Prefect or MLflow, and
telemetry is off. Tests build their own `Settings` with the `make_settings` fixture so each test
writes its tables, exports and MLflow store under its own folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="hydrawatch-tests-"))
os.environ.update(
    {
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(_SESSION_TMP / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "MLFLOW_TRACKING_URI": f"sqlite:///{_SESSION_TMP / 'mlflow' / 'mlflow.db'}",
        "HYDRAWATCH_LANDING": str(_SESSION_TMP / "landing"),
        "HYDRAWATCH_WAREHOUSE": str(_SESSION_TMP / "warehouse"),
        "HYDRAWATCH_EXPORTS": str(_SESSION_TMP / "exports"),
        "HYDRAWATCH_TRUTH": str(_SESSION_TMP / "truth"),
        "HYDRAWATCH_SPARK_MASTER": "local[2]",
        "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": "2",
        "HYDRAWATCH_SPARK_UI": "false",
        "HYDRAWATCH_SPARK_DRIVER_MEMORY": "2g",
    }
)
(_SESSION_TMP / "mlflow").mkdir(parents=True, exist_ok=True)
os.environ.pop("PREFECT_API_URL", None)


def _make_settings(root: Path, **overrides):
    """Settings whose every root lives under `root` (a test's tmp_path)."""
    from hydrawatch.settings import Settings

    (root / "mlflow").mkdir(parents=True, exist_ok=True)
    values = {
        "landing": str(root / "landing"),
        "warehouse": str(root / "warehouse"),
        "exports": str(root / "exports"),
        "truth": str(root / "truth"),
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        "spark_master": "local[2]",
        "spark_shuffle_partitions": 2,
        "spark_ui": False,
        "spark_driver_memory": "2g",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (local[2], UI off, 2 shuffle partitions)."""
    from hydrawatch.spark import build_spark

    session = build_spark(
        _make_settings(_SESSION_TMP / "spark-session"), app_name="hydrawatch-tests"
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def make_settings():
    """`make_settings(root, **overrides)`: Settings with every root under `root`."""
    return _make_settings


@pytest.fixture
def settings(tmp_path):
    return _make_settings(tmp_path)


# A usage event that passes every check of the landing contract, fields in contract order.
_USAGE_EVENT = {
    "event_id": "evt-1",
    "ts": "2026-02-10T13:45:12.345Z",
    "account_id": "acc-1",
    "org_id": "org-1",
    "api_key_id": "key-1",
    "surface": "api",
    "model": "atlas-3",
    "input_tokens": 120,
    "output_tokens": 300,
    "latency_ms": 850,
    "status": "ok",
    "client_ip": "203.0.113.7",
    "asn": 64500,
    "ip_country": "DE",
    "user_agent": "sdk-py/1.2",
    "prompt_template_hash": "0123456789abcdef",
    "system_prompt_hash": None,
    "task_category": "coding",
    "cot_elicitation": False,
    "rubric_grading": False,
    "tool_count": 0,
    "has_image": False,
    "turns": 1,
}


def _usage_event(event_id: str = "evt-1", ts: str = "2026-02-10T13:45:12.345Z", **overrides):
    return {**_USAGE_EVENT, "event_id": event_id, "ts": ts, **overrides}


@pytest.fixture(scope="session")
def usage_event():
    """`usage_event(event_id, ts, **overrides)`: a usage event (JSON form) that passes every
    check of the landing contract. The one sample event of the suite: tests override the fields
    their expectations depend on (conftest modules are not importable under importlib)."""
    return _usage_event


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the flow tests (Prefect's own test harness)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _settings_env(settings, failpoints: str | None = None) -> dict[str, str]:
    """The environment under which a new process builds the same `Settings` as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRAWATCH_FAILPOINTS")}
    env.update(
        {
            "HYDRAWATCH_LANDING": settings.landing,
            "HYDRAWATCH_WAREHOUSE": settings.warehouse,
            "HYDRAWATCH_EXPORTS": settings.exports,
            "HYDRAWATCH_TRUTH": settings.truth,
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "HYDRAWATCH_SPARK_MASTER": "local[2]",
            "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
            "HYDRAWATCH_SPARK_UI": "false",
            # A second JVM beside the test's own: keep it small, and quick to start (the C1
            # compiler only: these processes live a minute, C2 would cost more than it saves).
            "HYDRAWATCH_SPARK_DRIVER_MEMORY": "1g",
            "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            "HYDRAWATCH_DAY_LOCK": settings.day_lock,
            "HYDRAWATCH_DAY_LOCK_WAIT_SECONDS": str(settings.day_lock_wait_seconds),
        }
    )
    if settings.webhook_url:
        env["HYDRAWATCH_WEBHOOK_URL"] = str(settings.webhook_url)
        env["HYDRAWATCH_WEBHOOK_SECRET"] = settings.webhook_secret.get_secret_value()
    if failpoints:
        env["HYDRAWATCH_FAILPOINTS"] = failpoints
    return env


@pytest.fixture(scope="session")
def process_env():
    """`process_env(settings, failpoints=None)`: the environment of a separate process (a crash
    or concurrency test's second process) that builds the same Settings; with `failpoints`, the
    named fail points (hydrawatch/failpoints.py) kill it."""
    return _settings_env
