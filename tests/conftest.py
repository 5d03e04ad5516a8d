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


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the flow tests (Prefect's own test harness)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
